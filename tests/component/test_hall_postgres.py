"""The hall on PostgreSQL where more than one connection, worker or process is at work.

The other hall tests run on SQLite and on PostgreSQL (tests/conftest.py: hall_backend); these need
PostgreSQL's concurrency: a transaction that waits for another rather than a file lock.
"""

from __future__ import annotations

import functools
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from hall.server import EmbeddedHall
from kiosk.core.signing import signed_headers
from tests.component.test_hall import make_application, make_pages
from tests.component.test_hall_v2 import KEY, KEYS, RECEIPT, TERMINAL, blobs, manifest
from tests.support.hall_put import manifest_body, put_application, signed
from tests.support.staff import STAFF_USERS, staff_get

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def pg_url(postgres_server: Any) -> Iterator[str]:
    """An empty PostgreSQL schema of this test's own, as a database URL."""
    url = postgres_server.create_schema()
    yield url
    postgres_server.drop(url)


def all_at_once(*calls: Any) -> list[Any]:
    """Run the calls on threads released together; their results in order."""
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)

    def run(i: int) -> None:
        barrier.wait()
        results[i] = calls[i]()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results


def test_concurrent_creates_of_one_receipt_number_store_one_application(pg_url: str, tmp_path: Path) -> None:
    with EmbeddedHall(pg_url, tmp_path / "documents", terminal_keys=KEYS, staff_users=STAFF_USERS) as hall:
        for n in range(5):  # several rounds: the two requests must really meet in the database
            application = make_application(f"T0001-20240501-000{n}-K")
            target, body = f"/v1/applications/{application['receipt_no']}", manifest_body(application, make_pages())
            create = functools.partial(signed, hall.url, "PUT", target, KEY, TERMINAL, body)  # a new nonce each
            answers = all_at_once(create, create)
            assert sorted(a.status_code for a in answers) == [200, 201], [a.text for a in answers]
            assert answers[0].json() == answers[1].json()
            put_application(hall.url, application, make_pages(), KEY)  # the parts, and commit
        listing = staff_get(hall.url, "/v1/applications", params={"limit": 50}).json()
        assert listing["total"] == 5
        assert sorted(item["receipt_no"] for item in listing["items"]) == [f"T0001-20240501-000{n}-K" for n in range(5)]
        assert all(len(item["documents"]) == 3 for item in listing["items"])


def test_a_nonce_is_refused_by_every_worker_on_the_database(pg_url: str, tmp_path: Path) -> None:
    # Two hall workers: two processes' worth of pools and state, one database between them.
    with (
        EmbeddedHall(pg_url, tmp_path / "documents", terminal_keys=KEYS) as one,
        EmbeddedHall(pg_url, tmp_path / "documents", terminal_keys=KEYS) as two,
    ):
        target = f"/v1/applications/{RECEIPT}"
        body = json.dumps(manifest(blobs())).encode()
        signed = signed_headers(KEY, TERMINAL, "PUT", target, body)
        assert requests.put(one.url + target, data=body, headers=signed, timeout=10).status_code == 201
        replay = requests.put(two.url + target, data=body, headers=signed, timeout=10)
        assert (replay.status_code, replay.json()["error"]["code"]) == (401, "hall.signature.replay")

        # The same signed request reaching both workers at the same moment: one of them takes it.
        for n in range(5):
            other = f"/v1/applications/T0001-20240501-010{n}-K"
            body = json.dumps(manifest(blobs(), receipt_no=f"T0001-20240501-010{n}-K")).encode()
            signed = signed_headers(KEY, TERMINAL, "PUT", other, body)
            answers = all_at_once(*(put(hall.url + other, body, signed) for hall in (one, two)))
            assert sorted(a.status_code for a in answers) == [201, 401], [a.text for a in answers]


def put(url: str, body: bytes, headers: dict[str, str]) -> Any:
    return lambda: requests.put(url, data=body, headers=headers, timeout=10)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_kiosk_hall_runs_on_a_postgresql_url(pg_url: str, tmp_path: Path) -> None:
    port = _free_port()
    command = [sys.executable, "main.py", "hall", "--port", str(port), "--data", str(tmp_path), "--db", pg_url]
    command += ["--terminal-key", f"{TERMINAL}={KEY.hex()}"]
    proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=dict(os.environ))
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, proc.communicate()[0].decode(errors="replace")
            try:
                answer = requests.get(f"http://127.0.0.1:{port}/v1/health", timeout=2)
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline, "kiosk hall did not answer within 30 s"
                time.sleep(0.1)
        assert answer.status_code == 200
        assert answer.json()["status"] == "ok"
        assert (
            put_application(f"http://127.0.0.1:{port}", make_application(), make_pages(), KEY)["state"] == "committed"
        )
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    # What it stored is in PostgreSQL, not in a SQLite file under --data.
    assert not (tmp_path / "hall.db").exists()
    with EmbeddedHall(pg_url, tmp_path / "documents", staff_users=STAFF_USERS) as hall:
        assert staff_get(hall.url, "/v1/applications").json()["total"] == 1
