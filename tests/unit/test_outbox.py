"""The durable outbox: what is queued survives, is sealed, and is gone once the hall has it."""

from __future__ import annotations

import datetime as dt
import logging
import os
import shutil
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from kiosk.core import outbox as outbox_module
from kiosk.core.errors import KioskError
from kiosk.core.outbox import Outbox
from kiosk.core.receipt_number import format_number
from kiosk.core.sealing import Sealer, load_or_create_key
from tests.conftest import ROOT
from tests.support.v2_hall import CITIZEN_ID, CITIZEN_NAME, PAGE_MARKER, citizen_application

NEEDLES = [
    CITIZEN_NAME.encode("utf-8"),
    CITIZEN_NAME.encode("gb18030"),
    CITIZEN_ID.encode("ascii"),
    "北京市朝阳区".encode(),
    PAGE_MARKER,
]


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def receipt(sequence: int) -> str:
    return format_number("DEMO0001", dt.date(2026, 11, 24), sequence)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def sealer(tmp_path: Path) -> Sealer:
    return Sealer(load_or_create_key(tmp_path / "outbox.key"))


@pytest.fixture
def box(tmp_path: Path, sealer: Sealer, clock: Clock) -> Iterator[Outbox]:
    outbox = Outbox(tmp_path / "outbox", sealer, min_free_mb=1, clock=clock)
    yield outbox
    outbox.close()


def stored_bytes(directory: Path) -> bytes:
    """Every byte of every file under the outbox folder (database, WAL, blobs)."""
    return b"".join(p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file())


def blob_files(box: Outbox) -> list[str]:
    return sorted(p.name for p in box.blobs.iterdir())


def test_queued_application_comes_back_whole(box: Outbox, clock: Clock) -> None:
    application, parts = citizen_application(receipt(1))
    box.enqueue(receipt(1), application, parts)

    item = box.next_due(clock.now)
    assert item is not None
    assert (item.receipt_no, item.application, item.attempts) == (receipt(1), application, 0)
    assert [(name, size) for name, _, size in item.parts] == [(name, len(data)) for name, data in parts]
    assert [box.part_bytes(sha) for _, sha, _ in item.parts] == [data for _, data in parts]
    assert box.depth() == 1
    assert box.stats() == {
        "queued": 1, "retrying": 0, "stuck": 0, "done": 0, "depth": 1, "oldest_queued_age_s": 0.0, "ratings": 0
    }  # fmt: skip
    clock.now += 30
    assert box.stats()["oldest_queued_age_s"] == 30


def test_database_is_wal(box: Outbox) -> None:
    with sqlite3.connect(box.directory / "outbox.db") as db:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    assert oct(box.directory.stat().st_mode & 0o777) == "0o700"


def test_nothing_personal_is_stored_in_the_clear(box: Outbox, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    for sequence in (1, 2):
        box.enqueue(receipt(sequence), *citizen_application(receipt(sequence)))
    everything = stored_bytes(box.directory)
    assert len(everything) > 2 * 300_000  # the pages are there, sealed
    for needle in NEEDLES:
        assert needle not in everything
        assert needle.decode("utf-8", "replace") not in caplog.text


def test_same_content_twice_is_a_no_op(box: Outbox) -> None:
    application, parts = citizen_application(receipt(1))
    box.enqueue(receipt(1), application, parts)
    before = (blob_files(box), stored_bytes(box.directory / "blobs"))
    box.enqueue(receipt(1), dict(application), list(parts))
    assert (blob_files(box), stored_bytes(box.directory / "blobs")) == before
    assert box.depth() == 1


@pytest.mark.parametrize("change", ["application", "part", "extra part", "part name"])
def test_other_content_under_the_same_number_is_a_conflict(box: Outbox, change: str) -> None:
    application, parts = citizen_application(receipt(1))
    box.enqueue(receipt(1), application, parts)
    other_application, other_parts = dict(application), list(parts)
    if change == "application":
        other_application["item_id"] = "passport"
    elif change == "part":
        other_parts[0] = (parts[0][0], parts[0][1] + b"!")
    elif change == "extra part":
        other_parts.append(("id-card/document.pdf", b"%PDF-1.4"))
    else:
        other_parts[0] = ("id-card/9.jpg", parts[0][1])
    files = blob_files(box)
    with pytest.raises(KioskError) as caught:
        box.enqueue(receipt(1), other_application, other_parts)
    assert caught.value.code == "outbox.conflict"
    assert blob_files(box) == files


def test_conflict_is_caught_after_done_too(box: Outbox) -> None:
    application, parts = citizen_application(receipt(1))
    box.enqueue(receipt(1), application, parts)
    box.mark_done(receipt(1))
    box.enqueue(receipt(1), application, parts)  # a repeat of what was sent: nothing to do
    assert box.depth() == 0 and blob_files(box) == []
    with pytest.raises(KioskError) as caught:
        box.enqueue(receipt(1), {**application, "item_id": "passport"}, parts)
    assert caught.value.code == "outbox.conflict"


@pytest.mark.parametrize("name", ["id-card", "id-card/0.jpg", "id-card/1.png", "/1.jpg", "a/b/1.jpg", "x y/1.jpg"])
def test_bad_part_names_are_refused(box: Outbox, name: str) -> None:
    with pytest.raises(KioskError) as caught:
        box.enqueue(receipt(1), {"receipt_no": receipt(1)}, [(name, b"data")])
    assert caught.value.code == "outbox.bad_part"


def test_duplicate_or_empty_parts_are_refused(box: Outbox) -> None:
    for parts in ([("m/1.jpg", b"a"), ("m/1.jpg", b"b")], [("m/1.jpg", b"")]):
        with pytest.raises(KioskError) as caught:
            box.enqueue(receipt(1), {"receipt_no": receipt(1)}, parts)
        assert caught.value.code == "outbox.bad_part"


def test_full_disk_refuses_and_writes_nothing(tmp_path: Path, box: Outbox, sealer: Sealer) -> None:
    box.enqueue(receipt(1), *citizen_application(receipt(1)))
    queued = (blob_files(box), box.part_bytes(box.next_due(2e9).parts[0][1]))
    assert box.has_room()

    free_mb = shutil.disk_usage(tmp_path).free // 2**20
    full = Outbox(box.directory, sealer, min_free_mb=free_mb + 1)
    assert not full.has_room()
    with pytest.raises(KioskError) as caught:
        full.enqueue(receipt(2), *citizen_application(receipt(2)))
    assert caught.value.code == "storage.full"
    assert blob_files(full) == queued[0]
    assert full.depth() == 1 and full.next_due(2e9).receipt_no == receipt(1)
    assert full.part_bytes(full.next_due(2e9).parts[0][1]) == queued[1]
    full.close()


def test_disk_filling_up_mid_write_fails_that_enqueue_only(box: Outbox, monkeypatch: pytest.MonkeyPatch) -> None:
    box.enqueue(receipt(1), *citizen_application(receipt(1)))
    files = blob_files(box)
    calls = []

    def fsync(fd: int) -> None:
        calls.append(fd)
        if len(calls) == 2:  # the second new part does not fit
            raise OSError(28, "No space left on device")

    monkeypatch.setattr(outbox_module.os, "fsync", fsync)
    with pytest.raises(KioskError) as caught:
        box.enqueue(receipt(2), *citizen_application(receipt(2), pages=3))
    assert caught.value.code == "storage.full"
    monkeypatch.undo()
    assert blob_files(box) == files
    assert box.depth() == 1
    item = box.next_due(2e9)
    assert all(box.part_bytes(sha) for _, sha, _ in item.parts)


def test_crash_before_the_transaction_leaves_orphans_that_sweep_removes(tmp_path: Path, box: Outbox) -> None:
    """A real process dies between writing the parts and recording them: nothing is queued, and
    the files it wrote are removed when the outbox is next opened."""
    box.enqueue(receipt(1), *citizen_application(receipt(1)))
    kept = blob_files(box)
    script = f"""
import os
from pathlib import Path
from kiosk.core import outbox
from kiosk.core.sealing import Sealer, load_or_create_key
from tests.support.v2_hall import citizen_application

def crash(self):
    os._exit(9)

outbox.Outbox._transaction = crash
box = outbox.Outbox(Path({str(box.directory)!r}), Sealer(load_or_create_key(Path({str(tmp_path / "outbox.key")!r}))))
box.enqueue({receipt(2)!r}, *citizen_application({receipt(2)!r}))
"""
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, timeout=60, capture_output=True)
    assert result.returncode == 9, result.stderr.decode()
    orphans = set(blob_files(box)) - set(kept)
    assert len(orphans) == 2  # the crashed enqueue's two pages

    assert box.sweep() == 2
    assert blob_files(box) == kept
    assert box.depth() == 1 and box.next_due(2e9).receipt_no == receipt(1)


def test_sweep_runs_at_open(tmp_path: Path, box: Outbox, sealer: Sealer) -> None:
    (box.blobs / f"{'0' * 64}.bin").write_bytes(b"left over")
    (box.blobs / f".{'1' * 64}.abcd.tmp").write_bytes(b"half written")
    Outbox(box.directory, sealer).close()
    assert blob_files(box) == []


def test_retry_and_stuck(box: Outbox, clock: Clock) -> None:
    for sequence in (1, 2):
        box.enqueue(receipt(sequence), *citizen_application(receipt(sequence)))
        clock.now += 1
    box.mark_retry(receipt(1), "hall.unreachable", clock.now + 10)
    assert box.next_due(clock.now).receipt_no == receipt(2)
    box.mark_stuck(receipt(2), "hall.conflict")
    assert box.next_due(clock.now) is None
    clock.now += 10
    item = box.next_due(clock.now)
    assert (item.receipt_no, item.attempts) == (receipt(1), 1)
    assert box.depth() == 1
    assert {k: v for k, v in box.stats().items() if k in ("retrying", "stuck")} == {"retrying": 1, "stuck": 1}
    with sqlite3.connect(box.directory / "outbox.db") as db:
        row = db.execute("SELECT state, last_error FROM applications WHERE receipt_no = ?", (receipt(2),)).fetchone()
    assert row == ("stuck", "hall.conflict")
    assert len(blob_files(box)) == 4  # a stuck application keeps everything for the technician


def test_done_leaves_a_tombstone_without_personal_data(box: Outbox, clock: Clock) -> None:
    box.enqueue(receipt(1), *citizen_application(receipt(1)))
    box.mark_retry(receipt(1), "hall.unreachable", clock.now)
    box.mark_done(receipt(1))
    assert blob_files(box) == []
    assert box.next_due(2e9) is None and box.depth() == 0 and box.stats()["done"] == 1
    with sqlite3.connect(box.directory / "outbox.db") as db:
        row = db.execute("SELECT state, application, last_error FROM applications").fetchone()
        assert row == ("done", None, None)
        assert db.execute("SELECT COUNT(*) FROM parts").fetchone() == (0,)
    for needle in NEEDLES:
        assert needle not in stored_bytes(box.directory)


def test_shared_part_is_deleted_when_the_last_application_using_it_is_done(box: Outbox) -> None:
    first_application, first_parts = citizen_application(receipt(1))
    second_application, second_parts = citizen_application(receipt(2))
    second_parts[0] = first_parts[0]  # the same page in both
    box.enqueue(receipt(1), first_application, first_parts)
    box.enqueue(receipt(2), second_application, second_parts)
    assert len(blob_files(box)) == 3

    box.mark_done(receipt(1))
    assert len(blob_files(box)) == 2
    second = box.next_due(2e9)
    assert [box.part_bytes(sha) for _, sha, _ in second.parts] == [data for _, data in second_parts]
    box.mark_done(receipt(2))
    assert blob_files(box) == []


def test_changed_or_swapped_part_is_corrupt(box: Outbox) -> None:
    box.enqueue(receipt(1), *citizen_application(receipt(1)))
    (name_a, sha_a, _), (_, sha_b, _) = box.next_due(2e9).parts
    path_a, path_b = box.blobs / f"{sha_a}.bin", box.blobs / f"{sha_b}.bin"
    path_a.write_bytes(path_b.read_bytes())  # a valid sealed file, under the wrong name
    for sha in (sha_a, "f" * 64):
        with pytest.raises(KioskError) as caught:
            box.part_bytes(sha)
        assert caught.value.code == "storage.corrupt"
    # Queueing the page again replaces the damaged copy rather than trusting it.
    box.enqueue(receipt(2), {"receipt_no": receipt(2)}, [(name_a, citizen_application(receipt(1))[1][0][1])])
    assert box.part_bytes(sha_a)


def test_application_that_no_longer_opens_is_parked(box: Outbox, tmp_path: Path, clock: Clock) -> None:
    box.enqueue(receipt(1), *citizen_application(receipt(1)))
    box.enqueue(receipt(2), *citizen_application(receipt(2)))
    box.close()
    with sqlite3.connect(box.directory / "outbox.db") as db:  # someone swapped the sealed applications
        db.execute(
            "UPDATE applications SET application = (SELECT application FROM applications WHERE receipt_no = ?)"
            " WHERE receipt_no = ?",
            (receipt(2), receipt(1)),
        )
    reopened = Outbox(box.directory, Sealer(load_or_create_key(tmp_path / "outbox.key")), clock=clock)
    assert reopened.next_due(2e9).receipt_no == receipt(2)
    assert reopened.stats()["stuck"] == 1
    reopened.close()


def test_threads_enqueue_while_another_drains(box: Outbox) -> None:
    done: list[str] = []
    stop = threading.Event()

    def drain() -> None:
        while not stop.is_set() or box.depth():
            item = box.next_due(2e9)
            if item is not None:
                assert all(box.part_bytes(sha) for _, sha, _ in item.parts)
                box.mark_done(item.receipt_no)
                done.append(item.receipt_no)

    def produce(first: int) -> None:
        for sequence in range(first, first + 10):
            box.enqueue(receipt(sequence), *citizen_application(receipt(sequence), page_bytes=5_000))

    drainer = threading.Thread(target=drain)
    drainer.start()
    producers = [threading.Thread(target=produce, args=(first,)) for first in (1, 11, 21)]
    for thread in producers:
        thread.start()
    for thread in producers:
        thread.join()
    stop.set()
    drainer.join(timeout=30)
    assert sorted(done) == sorted(receipt(n) for n in range(1, 31))
    assert blob_files(box) == [] and box.stats()["done"] == 30


def test_key_lost_means_nothing_opens(tmp_path: Path, box: Outbox) -> None:
    """Without the key file the queued data is unreadable: the outbox is only as private as its key."""
    box.enqueue(receipt(1), *citizen_application(receipt(1)))
    other = Outbox(box.directory, Sealer(os.urandom(32)))
    assert other.next_due(2e9) is None  # parked, not handed out
    assert other.stats()["stuck"] == 1
    other.close()
