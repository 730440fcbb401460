"""The outbox worker against a protocol-v2 hall over real HTTP (tests/support/v2_hall.py), with faults."""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import os
import socket
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from kiosk.core.hall_client import HallClient, HallClock
from kiosk.core.outbox import Outbox
from kiosk.core.receipt_number import format_number
from kiosk.core.sealing import Sealer
from kiosk.core.uploader import CHUNK_BYTES, Uploader
from tests.support.net import free_port
from tests.support.v2_hall import CITIZEN_ID, CITIZEN_NAME, Fault, V2Hall, citizen_application

TERMINAL = "DEMO0001"
KEY = bytes(range(32))
TIMEOUT_S = 1.0


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


class Rng:
    """Hands out the given values in turn and remembers how many it gave."""

    def __init__(self, *values: float) -> None:
        self.values, self.calls = list(values), 0

    def __call__(self) -> float:
        self.calls += 1
        return self.values[(self.calls - 1) % len(self.values)]


def receipt(sequence: int) -> str:
    return format_number(TERMINAL, dt.date(2026, 11, 24), sequence)


@pytest.fixture
def hall() -> Iterator[V2Hall]:
    with V2Hall({TERMINAL: KEY}) as server:
        yield server


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def box(tmp_path: Path, clock: Clock) -> Iterator[Outbox]:
    outbox = Outbox(tmp_path / "outbox", Sealer(os.urandom(32)), min_free_mb=1, clock=clock)
    yield outbox
    outbox.close()


def client(base_url: str, key: bytes = KEY, skew: float = 0.0) -> HallClient:
    return HallClient(base_url, key, TERMINAL, timeout=TIMEOUT_S, clock=HallClock(lambda: time.time() + skew))


@pytest.fixture
def uploader(hall: V2Hall, box: Outbox, clock: Clock) -> Uploader:
    return Uploader(box, client(hall.base_url), clock=clock, rng=Rng(0.5))


def enqueue(box: Outbox, sequence: int, pages: int = 2, page_bytes: int = 600_000) -> list[tuple[str, bytes]]:
    application, parts = citizen_application(receipt(sequence), pages=pages, page_bytes=page_bytes)
    box.enqueue(receipt(sequence), application, parts)
    return parts


def state(box: Outbox, sequence: int) -> tuple[str, int, str | None, float]:
    with sqlite3.connect(box.directory / "outbox.db") as db:
        return db.execute(
            "SELECT state, attempts, last_error, next_try_at FROM applications WHERE receipt_no = ?",
            (receipt(sequence),),
        ).fetchone()


def assert_delivered(hall: V2Hall, sequence: int, parts: list[tuple[str, bytes]]) -> None:
    """At the hall exactly once, every part byte for byte."""
    assert hall.state.applications[receipt(sequence)].commits == 1
    held = hall.documents(receipt(sequence))
    assert {name: hashlib.sha256(data).hexdigest() for name, data in held.items()} == {
        name: hashlib.sha256(data).hexdigest() for name, data in parts
    }


def drain_until_empty(uploader: Uploader, box: Outbox, clock: Clock, rounds: int = 20) -> list[str]:
    """Drain, moving the clock past each back-off, until nothing is left to send."""
    delivered = []
    for _ in range(rounds):
        if not box.depth():
            return delivered
        finished = uploader.drain_once()
        if finished:
            delivered.append(finished)
        else:
            clock.now += 301
    raise AssertionError("the outbox did not drain")


def test_every_application_arrives_once_byte_for_byte(hall: V2Hall, box: Outbox, uploader: Uploader) -> None:
    sent = {n: enqueue(box, n) for n in (1, 2, 3)}
    assert [uploader.drain_once() for _ in range(4)] == [receipt(1), receipt(2), receipt(3), None]
    for n, parts in sent.items():
        assert_delivered(hall, n, parts)
    chunks = [s for s in hall.seen if s.method == "PUT" and s.path.startswith("/v1/blobs/")]
    assert len(chunks) == 3 * 2 * 3  # 600 000 bytes: 256 KiB + 256 KiB + the rest
    assert max(s.length for s in chunks) == CHUNK_BYTES
    assert box.depth() == 0 and not list(box.blobs.iterdir())


def test_a_page_the_hall_holds_is_not_sent_again(hall: V2Hall, box: Outbox, uploader: Uploader) -> None:
    first = enqueue(box, 1)
    second_application, second = citizen_application(receipt(2), page_bytes=600_000)
    second[0] = first[0]
    box.enqueue(receipt(2), second_application, second)
    assert uploader.drain_once() == receipt(1) and uploader.drain_once() == receipt(2)
    assert len(hall.chunk_puts(hashlib.sha256(first[0][1]).hexdigest())) == 3
    assert_delivered(hall, 2, second)


@pytest.mark.parametrize("nth", [1, 2, 4, 8])  # create, first chunk, a later chunk, commit
def test_server_error_backs_off_then_resumes(
    hall: V2Hall, box: Outbox, uploader: Uploader, clock: Clock, nth: int
) -> None:
    parts = enqueue(box, 1)
    hall.inject(Fault("*", "/", "status", 500, nth=nth))
    assert uploader.drain_once() is None
    assert state(box, 1) == ("retrying", 1, "hall.internal", clock.now + 0.5)
    assert box.next_due(clock.now) is None
    clock.now += 0.5
    assert uploader.drain_once() == receipt(1)
    assert_delivered(hall, 1, parts)
    # Resumed, not restarted: each chunk went through once.
    for _, data in parts:
        starts = [s.start for s in hall.chunk_puts(hashlib.sha256(data).hexdigest()) if s.status == 200]
        assert starts == [0, CHUNK_BYTES, 2 * CHUNK_BYTES]


def test_connection_reset_mid_chunk_resumes_from_the_halls_offset(
    hall: V2Hall, box: Outbox, uploader: Uploader, clock: Clock
) -> None:
    parts = enqueue(box, 1)
    sha = hashlib.sha256(parts[0][1]).hexdigest()
    hall.inject(Fault("PUT", f"/v1/blobs/{sha}", "reset", 100_000, nth=2))
    assert uploader.drain_once() is None
    assert state(box, 1)[:3] == ("retrying", 1, "hall.unreachable")
    held = len(hall.state.partial[sha])
    assert CHUNK_BYTES < held <= CHUNK_BYTES + 100_000  # the hall kept what arrived

    clock.now += 1
    assert uploader.drain_once() == receipt(1)
    assert_delivered(hall, 1, parts)
    assert [s.start for s in hall.chunk_puts(sha)] == [0, CHUNK_BYTES, held]  # the rest fits one chunk


def test_answer_too_slow_is_retried_and_committed_once(
    hall: V2Hall, box: Outbox, uploader: Uploader, clock: Clock
) -> None:
    parts = enqueue(box, 1)
    hall.inject(Fault("POST", "/v1/applications/", "delay", TIMEOUT_S * 2))
    started = time.monotonic()
    assert uploader.drain_once() is None
    assert time.monotonic() - started < TIMEOUT_S * 2
    assert state(box, 1)[:3] == ("retrying", 1, "hall.unreachable")
    assert hall.state.applications[receipt(1)].commits == 1  # the hall did commit; the answer was lost

    clock.now += 1
    assert uploader.drain_once() == receipt(1)
    assert_delivered(hall, 1, parts)
    assert len([s for s in hall.seen if s.method == "PUT" and "/blobs/" in s.path]) == 6  # nothing sent twice


def test_offset_conflict_resumes_from_head(hall: V2Hall, box: Outbox, uploader: Uploader) -> None:
    parts = enqueue(box, 1)
    sha = hashlib.sha256(parts[0][1]).hexdigest()
    hall.inject(Fault("PUT", f"/v1/blobs/{sha}", "forget", 1000, nth=2))  # the hall lost all but 1000 bytes
    assert uploader.drain_once() == receipt(1)  # in the same try
    assert_delivered(hall, 1, parts)
    puts = hall.chunk_puts(sha)
    assert [(s.start, s.status) for s in puts] == [
        (0, 200), (CHUNK_BYTES, 409), (1000, 200), (1000 + CHUNK_BYTES, 200), (1000 + 2 * CHUNK_BYTES, 200)
    ]  # fmt: skip
    assert ("HEAD", f"/v1/blobs/{sha}") in [(s.method, s.path) for s in hall.seen]


def test_a_terminal_clock_far_off_learns_the_halls_and_delivers(
    hall: V2Hall, box: Outbox, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    parts = enqueue(box, 1)
    skewed_client = client(hall.base_url, skew=-1000)
    skewed = Uploader(box, skewed_client, clock=clock, rng=Rng(0.25))
    caplog.set_level(logging.INFO)
    assert skewed.drain_once() == receipt(1)
    assert_delivered(hall, 1, parts)
    assert 999 <= skewed_client.clock.skew_s <= 1001
    stale = [s for s in hall.seen if s.status == 401]
    assert len(stale) == 1  # the first request only; every later one was signed with the hall's time
    skew_lines = [r.getMessage() for r in caplog.records if "clock" in r.getMessage()]
    assert len(skew_lines) == 1
    assert "-1000 s" in skew_lines[0] or "-999 s" in skew_lines[0]  # behind the hall

    parts = enqueue(box, 2)
    assert skewed.drain_once() == receipt(2)
    assert_delivered(hall, 2, parts)
    assert len([s for s in hall.seen if s.status == 401]) == 1


def test_ratings_wait_in_the_outbox_until_the_hall_takes_them(hall: V2Hall, box: Outbox, clock: Clock) -> None:
    rating = {"receipt_no": None, "item_id": "id-card-renewal", "terminal_id": TERMINAL, "session_id": "s-1",
              "level": 1, "reasons": ["slow"], "comment": "欧阳建国 等了很久"}  # fmt: skip
    down = Uploader(box, client(f"http://127.0.0.1:{free_port()}"), clock=clock, rng=Rng(0.5))
    box.enqueue_rating(rating)
    box.enqueue_rating({**rating, "level": 5})  # one per session: a second one is ignored
    assert down.drain_once() is None
    assert [(w["kind"], w["state"]) for w in box.waiting()] == [("rating", "retrying")]
    assert box.stats()["ratings"] == 1
    assert "欧阳建国".encode() not in b"".join(p.read_bytes() for p in box.directory.rglob("*") if p.is_file())

    clock.now += 10
    up = Uploader(box, client(hall.base_url), clock=clock, rng=Rng(0.5))
    assert up.drain_once() == "s-1"
    assert hall.state.ratings == {(TERMINAL, "s-1"): rating}
    assert box.waiting() == [] and box.stats()["ratings"] == 0
    assert up.drain_once() is None


def test_a_parked_application_is_requeued_by_a_technician(hall: V2Hall, box: Outbox, clock: Clock) -> None:
    parts = enqueue(box, 1)
    hall.inject(Fault("PUT", "/v1/applications/", "status", 409, code="hall.conflict"))
    uploader = Uploader(box, client(hall.base_url), clock=clock, rng=Rng(0.5))
    assert uploader.drain_once() is None
    assert state(box, 1)[0] == "stuck"
    assert uploader.drain_once() is None  # the worker leaves it alone
    assert box.requeue(receipt(1)) is True
    assert box.requeue(receipt(1)) is False  # only what is parked
    assert uploader.drain_once() == receipt(1)
    assert_delivered(hall, 1, parts)
    assert box.purge(older_than_s=3600) == 0
    clock.now += 3601
    assert box.purge(older_than_s=3600) == 1
    assert box.stats()["done"] == 0


def test_conflict_parks_the_application(hall: V2Hall, box: Outbox, uploader: Uploader, clock: Clock) -> None:
    other_application, other_parts = citizen_application(receipt(1), page_bytes=1000)
    other_application["item_id"] = "passport"
    rogue = client(hall.base_url)
    rogue.create(receipt(1), other_application, [(n, hashlib.sha256(d).hexdigest(), len(d)) for n, d in other_parts])

    enqueue(box, 1)
    assert uploader.drain_once() is None
    assert state(box, 1)[:3] == ("stuck", 1, "hall.conflict")
    assert hall.state.applications[receipt(1)].application == other_application  # never overwritten
    clock.now += 10_000
    assert box.next_due(clock.now) is None and box.depth() == 0
    assert len(list(box.blobs.iterdir())) == 2  # kept for the technician


@pytest.mark.parametrize(
    ("status", "code", "outcome"),
    [
        (503, "hall.internal", "retrying"),
        (403, "hall.forbidden", "stuck"),
        (422, "hall.invalid", "stuck"),
        (404, "hall.not_found", "stuck"),
        (409, "hall.incomplete", "retrying"),
    ],
)
def test_what_each_refusal_means(
    hall: V2Hall, box: Outbox, uploader: Uploader, status: int, code: str, outcome: str
) -> None:
    enqueue(box, 1)
    hall.inject(Fault("POST", "/v1/applications/", "status", status, code=code))
    assert uploader.drain_once() is None
    assert state(box, 1)[:3] == (outcome, 1, code)


def test_damaged_in_transit_is_sent_again_once(hall: V2Hall, box: Outbox, uploader: Uploader) -> None:
    parts = enqueue(box, 1)
    sha = hashlib.sha256(parts[1][1]).hexdigest()
    hall.inject(Fault("PUT", f"/v1/blobs/{sha}", "corrupt", nth=2))
    assert uploader.drain_once() == receipt(1)
    assert [(s.start, s.status) for s in hall.chunk_puts(sha)] == [
        (0, 200), (CHUNK_BYTES, 200), (2 * CHUNK_BYTES, 422), (0, 200), (CHUNK_BYTES, 200), (2 * CHUNK_BYTES, 200)
    ]  # fmt: skip
    assert_delivered(hall, 1, parts)


def test_damaged_in_transit_twice_is_parked(hall: V2Hall, box: Outbox, uploader: Uploader) -> None:
    parts = enqueue(box, 1)
    sha = hashlib.sha256(parts[0][1]).hexdigest()
    hall.inject(Fault("PUT", f"/v1/blobs/{sha}", "corrupt", nth=1))
    hall.inject(Fault("PUT", f"/v1/blobs/{sha}", "corrupt", nth=4))
    assert uploader.drain_once() is None
    assert state(box, 1)[:3] == ("stuck", 1, "hall.blob.hash")


def test_wrong_key_is_parked(hall: V2Hall, box: Outbox, clock: Clock) -> None:
    enqueue(box, 1)
    assert Uploader(box, client(hall.base_url, key=bytes(32)), clock=clock).drain_once() is None
    assert state(box, 1)[:3] == ("stuck", 1, "hall.signature.bad")


def test_backoff_is_full_jitter_doubling_to_five_minutes(box: Outbox, clock: Clock) -> None:
    with socket.socket() as probe:  # a port with nobody listening: connection refused
        probe.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{probe.getsockname()[1]}"
    rng = Rng(1.0, 0.5, 0.0, 0.999)
    uploader = Uploader(box, client(dead), clock=clock, rng=rng)
    enqueue(box, 1, page_bytes=1000)
    delays = []
    for attempts in range(12):
        assert uploader.drain_once() is None
        _, count, error, next_try_at = state(box, 1)
        assert (count, error) == (attempts + 1, "hall.unreachable")
        delays.append(next_try_at - clock.now)
        clock.now = next_try_at
    expected = [rng.values[n % 4] * min(300, 2**n) for n in range(12)]
    assert delays == pytest.approx(expected)
    assert max(delays) <= 300


def test_run_drains_on_wake_and_stops(hall: V2Hall, box: Outbox, clock: Clock) -> None:
    uploader = Uploader(box, client(hall.base_url), clock=clock)
    stop = threading.Event()
    worker = threading.Thread(target=uploader.run, args=(stop,))
    worker.start()
    try:
        time.sleep(0.2)  # let it go idle first
        parts = enqueue(box, 1, page_bytes=1000)
        woken = time.monotonic()
        uploader.wake()
        while box.depth() and time.monotonic() - woken < 5:
            time.sleep(0.01)
        assert box.depth() == 0 and time.monotonic() - woken < 1.5  # sooner than the 2 s idle round
        assert_delivered(hall, 1, parts)
    finally:
        stop.set()
        worker.join(timeout=2)
    assert not worker.is_alive()


def test_many_faults_still_exactly_once(hall: V2Hall, box: Outbox, uploader: Uploader, clock: Clock) -> None:
    sent = {n: enqueue(box, n, pages=3, page_bytes=400_000) for n in range(1, 6)}
    for nth in (3, 7, 11, 19, 23):
        hall.inject(Fault("PUT", "/v1/blobs/", "status", 502, nth=nth))
    hall.inject(Fault("PUT", "/v1/blobs/", "reset", 50_000, nth=13))
    hall.inject(Fault("POST", "/v1/applications/", "delay", TIMEOUT_S * 2, nth=2))
    hall.inject(Fault("PUT", "/v1/applications/", "status", 500, nth=4))
    assert sorted(drain_until_empty(uploader, box, clock)) == [receipt(n) for n in sent]
    for n, parts in sent.items():
        assert_delivered(hall, n, parts)


def test_nothing_personal_in_logs(hall: V2Hall, box: Outbox, clock: Clock, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    enqueue(box, 1)
    hall.inject(Fault("PUT", "/v1/blobs/", "status", 500))
    uploader = Uploader(box, client(hall.base_url), clock=clock, rng=Rng(0.0))
    drain_until_empty(uploader, box, clock)
    assert CITIZEN_NAME not in caplog.text and CITIZEN_ID not in caplog.text
