"""`kiosk demo-submit` under faults: real processes, real HTTP, a real hall (EmbeddedHall on SQLite).

Every scenario ends with the same checks (`check_delivered`): each application the outbox ever
took is at the hall exactly once, committed, each document byte-identical to the page generated
(hashes recorded by --record before the enqueue), nothing at the hall that the outbox never took,
and no test citizen's name or ID number readable anywhere in the terminal's data folder.

Clock skew is not here: the hall's Verifier binds time.time at import and demo-submit signs with
the real clock, so skewing either needs a production clock hook, which we do not add.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hall.server import EmbeddedHall
from kiosk.demo.identities import DEMO_CITIZENS
from tests.conftest import ROOT
from tests.support.fault_proxy import FaultProxy
from tests.support.halls import start_hall
from tests.support.net import free_port
from tests.support.parts import require
from tests.support.reset_proxy import ResetProxy
from tests.support.staff import document, staff_get
from tests.support.terminal_keys import TERMINAL_KEYS, write_key_file
from tests.support.v2_hall import Fault, V2Hall

TERMINAL = "TEST0001"
# Until kiosk.cli wires demo-submit in, run its parser through this stand-in for main.py.
SECRETS = [
    text.encode(encoding)
    for citizen in DEMO_CITIZENS
    for text in (citizen.name, citizen.address)
    if text
    for encoding in ("utf-8", "gb18030")
] + [citizen.id_number.encode("ascii") for citizen in DEMO_CITIZENS]


class Terminal:
    """A kiosk's config and data folder in tmp_path, and demo-submit runs against it."""

    def __init__(self, root: Path, data_dir: Path | None = None, timeout_s: float = 2.0) -> None:
        self.data_dir = data_dir or root / "kiosk-data"
        self.clock_offset = ""  # e.g. "+2h": the terminal's clock that far off the real one
        self.record = root / "record.jsonl"  # outside the data folder: the scan covers only the terminal's files
        self.config = root / "kiosk.toml"
        self.config.write_text(
            f"""
[terminal]
id = "{TERMINAL}"
hall_name = "测试县政务服务中心"
consult_phone = "0571-12345678"
opening_hours = "7×24 小时"

[hall]
url = "http://127.0.0.1:9"
timeout_s = {timeout_s}

[storage]
data_dir = "{self.data_dir}"
min_free_mb = 10
""",
            encoding="utf-8",
        )
        write_key_file(self.data_dir / "keys" / "hall-signing.key", TERMINAL)

    def argv(self, hall_url: str, count: int, seed: int = 0, give_up_s: float = 30.0) -> list[str]:
        # `faketime` (libfaketime) sets this process's clock off the hall's, when a test asks for it
        return [
            *(["faketime", "-f", self.clock_offset] if self.clock_offset else []),
            sys.executable,
            "main.py",
            "demo-submit",
            "--hall",
            hall_url,
            "--count",
            str(count),
            "--config",
            str(self.config),
            "--seed",
            str(seed),
            "--give-up-s",
            str(give_up_s),
            "--record",
            str(self.record),
        ]

    def start(self, hall_url: str, count: int, seed: int = 0, give_up_s: float = 30.0) -> subprocess.Popen[str]:
        return subprocess.Popen(
            self.argv(hall_url, count, seed, give_up_s),
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def run(self, hall_url: str, count: int, seed: int = 0, give_up_s: float = 30.0) -> tuple[int, dict[str, Any]]:
        """Run to the end: (exit code, the final summary line)."""
        proc = self.start(hall_url, count, seed, give_up_s)
        out, err = proc.communicate(timeout=give_up_s + 60)
        return proc.returncode, finish(out, err)

    def outbox_rows(self) -> dict[str, str]:
        """receipt number → state, for every application the outbox ever took (done rows are tombstones)."""
        with contextlib.closing(sqlite3.connect(self.data_dir / "outbox" / "outbox.db")) as db:
            return dict(db.execute("SELECT receipt_no, state FROM applications").fetchall())

    def records(self) -> dict[str, dict[str, str]]:
        """What demo-submit generated, before each enqueue: receipt number → {part name: sha256}."""
        found = {}
        for line in self.record.read_text().splitlines():
            entry = json.loads(line)
            found[entry["receipt_no"]] = entry["parts"]
        return found


def finish(out: str, err: str) -> dict[str, Any]:
    lines = [json.loads(line) for line in out.splitlines()]
    assert lines and "queued" in lines[-1], f"no summary line; stderr:\n{err[-2000:]}"
    assert all(set(line) == {"receipt_no", "ms"} for line in lines[:-1])
    return lines[-1]


@pytest.fixture
def hall(tmp_path: Path) -> Iterator[EmbeddedHall]:
    server = start_hall(tmp_path)
    yield server
    server.stop()


def check_delivered(terminal: Terminal, hall_url: str) -> None:
    rows, records = terminal.outbox_rows(), terminal.records()
    assert rows == dict.fromkeys(rows, "done")
    listing = staff_get(hall_url, "/v1/applications", params={"limit": 200}).json()
    at_hall = [item["receipt_no"] for item in listing["items"]]
    assert len(at_hall) == len(set(at_hall)) == listing["total"]  # exactly once
    # A record without an outbox row: killed between generating and enqueueing; it must not be at the hall.
    assert set(at_hall) == set(rows)
    for item in listing["items"]:
        assert item["state"] != "open"
        parts = {f"{d['material_id']}/{d['page']}.jpg": d["sha256"] for d in item["documents"]}
        assert parts == records[item["receipt_no"]]
        for doc in item["documents"]:
            body = document(hall_url, item["receipt_no"], doc["material_id"], doc["page"])
            assert hashlib.sha256(body).hexdigest() == doc["sha256"]
    check_no_personal_data(terminal.data_dir)


def check_no_personal_data(data_dir: Path) -> None:
    for path in data_dir.rglob("*"):
        if path.is_file():
            content = path.read_bytes()
            leaked = [secret for secret in SECRETS if secret in content]
            assert not leaked, f"{path.relative_to(data_dir)} holds personal data in the clear"


def expect_done(summary: dict[str, Any], terminal: Terminal) -> None:
    """A run that ended with nothing to send and nothing parked."""
    assert summary["left"] == 0 and summary["stuck"] == 0


def test_kill_9_anywhere_then_rerun_finishes(tmp_path: Path, hall: EmbeddedHall) -> None:
    terminal = Terminal(tmp_path)
    started = time.monotonic()
    code, summary = terminal.run(hall.url, 3, seed=100)
    normal = time.monotonic() - started
    assert summary["queued"] == 3
    expect_done(summary, terminal)
    rng = random.Random(20261124)
    killed = 0
    for trial in range(12):
        proc = terminal.start(hall.url, 3, seed=trial)
        time.sleep(rng.uniform(0.05, normal))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            killed += 1
        proc.communicate(timeout=30)
    assert killed >= 6  # the delays are spread over a normal run: most land inside one
    code, summary = terminal.run(hall.url, 0)
    expect_done(summary, terminal)
    assert code == (1 if summary["stuck"] else 0)
    check_delivered(terminal, hall.url)


def test_hall_down_at_start_is_waited_for(tmp_path: Path) -> None:
    terminal = Terminal(tmp_path)
    port = free_port()
    proc = terminal.start(f"http://127.0.0.1:{port}", 3, give_up_s=30)
    time.sleep(3)
    assert proc.poll() is None  # still retrying
    hall = start_hall(tmp_path, port=port)
    try:
        out, err = proc.communicate(timeout=60)
        summary = finish(out, err)
        assert summary["queued"] == 3
        expect_done(summary, terminal)
        check_delivered(terminal, hall.url)
    finally:
        hall.stop()


def test_hall_down_for_good_gives_up_and_keeps_everything(tmp_path: Path, hall: EmbeddedHall) -> None:
    terminal = Terminal(tmp_path)
    code, summary = terminal.run(f"http://127.0.0.1:{free_port()}", 2, give_up_s=2)
    assert code == 1
    assert summary == {**summary, "queued": 2, "delivered": 0, "left": 2}
    check_no_personal_data(terminal.data_dir)
    code, summary = terminal.run(hall.url, 0)
    assert summary["delivered"] == 2 - summary["stuck"]
    expect_done(summary, terminal)
    check_delivered(terminal, hall.url)


def test_hall_errors_and_slowness_are_retried(tmp_path: Path, hall: EmbeddedHall) -> None:
    terminal = Terminal(tmp_path, timeout_s=1.0)
    proxy = FaultProxy(hall.url).start()
    try:
        proxy.fail_next("/v1/applications/", status=500, times=2)
        proxy.fail_next("/v1/blobs/", status=503)
        proxy.delay_next("/v1/blobs/", seconds=2.5)  # longer than the client's 1 s timeout
        _, summary = terminal.run(proxy.url, 3)
    finally:
        proxy.stop()
    assert summary["queued"] == 3
    expect_done(summary, terminal)
    assert sorted(status for _, _, status in proxy.seen if status >= 500) == [500, 500, 503]
    check_delivered(terminal, hall.url)


def test_connection_reset_mid_upload(tmp_path: Path, hall: EmbeddedHall) -> None:
    terminal = Terminal(tmp_path)
    proxy = ResetProxy(int(hall.url.rsplit(":", 1)[1])).start()
    try:
        proxy.reset_after(700_000)  # inside the second page's body
        _, summary = terminal.run(proxy.url, 3)
        assert proxy.resets == 1
    finally:
        proxy.stop()
    assert summary["queued"] == 3
    expect_done(summary, terminal)
    check_delivered(terminal, hall.url)


def test_network_cut_for_a_few_seconds(tmp_path: Path, hall: EmbeddedHall) -> None:
    terminal = Terminal(tmp_path, timeout_s=1.0)
    proxy = ResetProxy(int(hall.url.rsplit(":", 1)[1])).start()
    try:
        proc = terminal.start(proxy.url, 3)
        time.sleep(1.2)  # past the interpreter's start: into the first uploads
        proxy.cut(3.0)
        out, err = proc.communicate(timeout=90)
    finally:
        proxy.stop()
    summary = finish(out, err)
    assert summary["queued"] == 3
    expect_done(summary, terminal)
    check_delivered(terminal, hall.url)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 16 MB tmpfs: room for the 10 MB reserve and a few applications."""
    mount = tmp_path / "small-disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16M", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        require("tmpfs", False, f"cannot mount a tmpfs here: {done.stderr.decode(errors='replace').strip()}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(directory: Path, leave: int) -> Path:
    """Write a file until only `leave` bytes are free."""
    filler = directory / "filler"
    with open(filler, "wb") as fh:
        while (free := os.statvfs(directory).f_bavail * os.statvfs(directory).f_frsize - leave) > 0:
            fh.write(b"\0" * min(free, 2**20))
            fh.flush()
    return filler


def test_disk_full_refuses_new_and_keeps_queued(tmp_path: Path, hall: EmbeddedHall, small_disk: Path) -> None:
    terminal = Terminal(tmp_path, data_dir=small_disk / "data")
    unreachable = f"http://127.0.0.1:{free_port()}"
    code, summary = terminal.run(unreachable, 6, give_up_s=1)
    assert code == 1 and summary["error"] == "storage.full"
    queued = summary["queued"]
    assert 1 <= queued < 6 and summary["left"] + summary["stuck"] == queued
    filler = fill(small_disk, leave=2**20)
    code, summary = terminal.run(unreachable, 1, give_up_s=1)
    assert code == 1 and summary["error"] == "storage.full" and summary["queued"] == 0
    os.unlink(filler)
    # Not a byte left: SQLite cannot even make its WAL files. Still storage.full, nothing lost.
    filler = fill(small_disk, leave=0)
    for count in (1, 0):
        code, summary = terminal.run(unreachable, count, give_up_s=1)
        assert code == 1 and summary["error"] == "storage.full", summary
    os.unlink(filler)
    code, summary = terminal.run(hall.url, 0)
    expect_done(summary, terminal)
    assert len(terminal.outbox_rows()) == queued
    check_delivered(terminal, hall.url)


def outbox_tool(terminal: Terminal, *args: str) -> tuple[int, list[dict[str, Any]]]:
    done = subprocess.run(
        [sys.executable, "main.py", "outbox", "--config", str(terminal.config), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return done.returncode, [json.loads(line) for line in done.stdout.splitlines()]


def test_a_technician_lists_requeues_and_purges_with_kiosk_outbox(tmp_path: Path) -> None:
    terminal = Terminal(tmp_path)
    with V2Hall(TERMINAL_KEYS) as hall:
        hall.inject(Fault("PUT", "/v1/applications/", "status", 409, code="hall.conflict"))
        code, summary = terminal.run(hall.base_url, 1, give_up_s=5)
        assert code == 1 and summary["stuck"] == 1
        (receipt_no,) = terminal.outbox_rows()

        code, rows = outbox_tool(terminal, "list")
        assert code == 0
        assert rows[0] | {"age_s": 0} == {
            "key": receipt_no, "kind": "application", "state": "stuck", "attempts": 1,
            "last_error": "hall.conflict", "age_s": 0, "next_try_in_s": None,
        }  # fmt: skip
        assert rows[-1]["stats"]["stuck"] == 1
        assert outbox_tool(terminal, "requeue", "NO-SUCH-NUMBER") == (1, [{"key": "NO-SUCH-NUMBER", "requeued": False}])
        assert outbox_tool(terminal, "requeue", receipt_no) == (0, [{"key": receipt_no, "requeued": True}])

        code, summary = terminal.run(hall.base_url, 0)
        assert code == 0 and summary["delivered"] == 1 and terminal.outbox_rows() == {receipt_no: "done"}
        assert set(hall.documents(receipt_no)) == set(terminal.records()[receipt_no])
    assert outbox_tool(terminal, "purge", "--older-than-days", "1") == (0, [{"purged": 0}])
    assert outbox_tool(terminal, "purge", "--older-than-days", "0") == (0, [{"purged": 1}])
    assert terminal.outbox_rows() == {}


@pytest.mark.parametrize("offset", ["+2h", "-1d"])
def test_a_terminal_clock_far_off_still_delivers_exactly_once(tmp_path: Path, hall: EmbeddedHall, offset: str) -> None:
    require("faketime", shutil.which("faketime") is not None, "no faketime on PATH")
    terminal = Terminal(tmp_path)
    terminal.clock_offset = offset
    code, summary = terminal.run(hall.url, 3)
    assert code == 0 and summary["queued"] == 3
    expect_done(summary, terminal)
    check_delivered(terminal, hall.url)
