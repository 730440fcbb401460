"""Soak: 1,000 card insert/remove cycles through the real stack with the kiosk's PC/SC driver.

pcscd polls each vpcd slot every ~400 ms, so one insert + remove cycle takes ~0.8 s of wall time
per reader: 1,000 cycles one after the other would take ~14 minutes. So eight vpcd readers run
in parallel in one pcscd (eight is pcscd's limit: PCSCLITE_MAX_READERS_CONTEXTS is 16 PC/SC
readers, and vpcd gives each reader.conf entry two, "<name> 00 00" and "<name> 00 01"; a ninth
entry never comes up), each with its own copy of the vpcd library (PcscdServer does that), and
one PcscCardReader watches all eight "... 00 00" slots.

The driver's events do not name their reader. So every card carries a distinct identity: the ID
number's birth day says which reader it went into, its sequence number and the card number say
which cycle, and the name differs per reader. An identity then proves which insertion it came
from. `card_removed` cannot be told apart that way, so the test also watches pcscd itself from
a context of its own (`PcscdView`): a slot thread puts its next card in only once pcscd has seen
its own reader empty and the driver has counted at least as many removals as pcscd has seen in
all. Otherwise a card put back before pcscd's next poll is never seen out, and the cycle would
be lost through no fault of the driver.
"""

from __future__ import annotations

import os
import queue
import statistics
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from kiosk.core.devices import DeviceEvent, DeviceState
from kiosk.core.identity import Identity, id_check_char
from kiosk.peripherals.pcsc.reader import PcscCardReader
from tests.support.pcscd import PcscdServer, process_socket_dir
from tests.support.ssse_records import SocialSecurityIdentity
from tests.support.vpcd_card import CardSlot, SocialSecurityCard

READERS = 8  # pcscd's limit with vpcd (see above)
WARM_UP = 3  # cycles per reader before the baseline: the worker process, contexts, imports
CYCLES = 125  # cycles per reader between the two measurements: 8 × 125 = 1,000
READER_NAMES = [f"Soak Reader {index}" for index in range(READERS)]
SURNAMES = "赵钱孙李周吴郑王"
IDENTITY_TIMEOUT = 10.0  # insert → identity; normally under 0.5 s
REMOVAL_TIMEOUT = 5.0  # pull → removal seen by pcscd and by the driver; normally under 0.45 s


def holder(reader: int, cycle: int) -> SocialSecurityIdentity:
    """A card for `reader` at `cycle`: the birth day names the reader, the sequence the cycle."""
    birth_date = f"199001{reader + 1:02d}"
    first17 = f"110105{birth_date}{cycle + 1:03d}"
    return SocialSecurityIdentity(
        card_number=f"A{reader:02d}{cycle:06d}",
        id_number=first17 + id_check_char(first17),
        name=f"{SURNAMES[reader]}卡{reader}",
        sex="1" if reader % 2 else "2",
        birth_date=birth_date,
    )


def reader_of(identity: Identity) -> int | None:
    """Which reader's card an identity came from (None: not one of ours)."""
    day = identity.id_number[12:14]
    return int(day) - 1 if day.isdigit() and 1 <= int(day) <= READERS else None


class Tally:
    """Every driver event counted by kind; identities sorted into one inbox per reader."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.changed = threading.Condition()
        self.inbox: list[queue.Queue[Identity]] = [queue.Queue() for _ in range(READERS)]
        self.strays: list[str] = []  # identities no reader's card could have given

    def __call__(self, event: DeviceEvent) -> None:  # runs in the driver's threads: never blocks
        if event.kind == "identity":
            owner = reader_of(event.payload)
            if owner is None:
                self.strays.append(repr(event.payload))
            else:
                self.inbox[owner].put(event.payload)
        with self.changed:
            self.counts[event.kind] += 1
            self.changed.notify_all()

    def wait_count(self, kind: str, at_least: int, timeout: float) -> bool:
        with self.changed:
            return self.changed.wait_for(lambda: self.counts[kind] >= at_least, timeout)


class PcscdView:
    """pcscd's own view of each reader, from one context of the test's, in one thread."""

    def __init__(self, readers: list[str]) -> None:
        from smartcard import scard

        self._sc = scard
        self._readers = readers
        self.removals = dict.fromkeys(readers, 0)
        self.changed = threading.Condition()
        self.error: str | None = None
        self._stop = threading.Event()
        hresult, self._context = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
        assert hresult == scard.SCARD_S_SUCCESS, scard.SCardGetErrorMessage(hresult)
        self._thread = threading.Thread(target=self._watch, name="pcscd-view", daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        sc = self._sc
        states = [(name, sc.SCARD_STATE_UNAWARE) for name in self._readers]
        present = dict.fromkeys(self._readers, False)
        while not self._stop.is_set():
            hresult, changes = sc.SCardGetStatusChange(self._context, 200, states)
            if hresult == sc.SCARD_E_TIMEOUT:
                continue
            if hresult != sc.SCARD_S_SUCCESS:
                with self.changed:
                    self.error = sc.SCardGetErrorMessage(hresult)
                    self.changed.notify_all()
                return
            with self.changed:
                for name, event_state, _atr in changes:
                    now = bool(event_state & sc.SCARD_STATE_PRESENT)
                    if present[name] and not now:
                        self.removals[name] += 1
                    present[name] = now
                self.changed.notify_all()
            states = [(name, event_state & ~sc.SCARD_STATE_CHANGED) for name, event_state, _atr in changes]

    def total_removals(self) -> int:
        with self.changed:
            return sum(self.removals.values())

    def wait_removals(self, reader: str, at_least: int, timeout: float) -> bool:
        with self.changed:
            return self.changed.wait_for(lambda: self.error is not None or self.removals[reader] >= at_least, timeout)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self._sc.SCardReleaseContext(self._context)


@dataclass(frozen=True)
class Footprint:
    """What a leak would grow: in this process, and in its children (pcscd, the read worker)."""

    threads: int  # threading.active_count()
    tasks: int  # /proc/self/task: native threads as well
    fds: int
    children: tuple[str, ...]  # "pid name" of each child process
    child_tasks: int  # pcscd runs one thread per client context: a leaked context shows here
    child_fds: int


def _children() -> list[int]:
    me = os.getpid()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == me:  # the name may hold spaces and ")"
            found.append(int(entry))
    return sorted(found)


def _count(path: str) -> int:
    try:
        return len(os.listdir(path))
    except OSError:  # the process just ended
        return 0


def footprint() -> Footprint:
    children = _children()
    names = []
    for pid in children:
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            cmdline = "?"
        kind = "read worker" if "spawn_main" in cmdline else "resource tracker" if "resource_tracker" in cmdline else ""
        names.append(f"{pid} {kind or cmdline.split(' ')[0].rsplit('/', 1)[-1]}")
    return Footprint(
        threads=threading.active_count(),
        tasks=_count("/proc/self/task"),
        fds=_count("/proc/self/fd"),
        children=tuple(names),
        child_tasks=sum(_count(f"/proc/{pid}/task") for pid in children),
        child_fds=sum(_count(f"/proc/{pid}/fd") for pid in children),
    )


def settled_footprint(limit: Footprint | None = None, timeout: float = 5.0) -> Footprint:
    """The footprint once two readings 0.2 s apart agree (transient threads have ended), or once
    it is within `limit`; the last reading after `timeout`."""
    deadline = time.monotonic() + timeout
    last = footprint()
    while time.monotonic() < deadline:
        time.sleep(0.2)
        now = footprint()
        if limit is not None and _within(now, limit):
            return now
        if limit is None and now == last:
            return now
        last = now
    return last


def _within(now: Footprint, limit: Footprint) -> bool:
    numbers = ("threads", "tasks", "fds", "child_tasks", "child_fds")
    return now.children == limit.children and all(getattr(now, n) <= getattr(limit, n) for n in numbers)


def _stats(samples: list[float]) -> str:
    ms = sorted(s * 1000 for s in samples)
    p95 = statistics.quantiles(ms, n=100, method="inclusive")[94]
    return f"median {statistics.median(ms):6.1f} ms  p95 {p95:6.1f} ms  max {ms[-1]:6.1f} ms"


@pytest.fixture
def soak_pcscd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[PcscdServer]:
    server = PcscdServer(READER_NAMES, tmp_path / "pcscd", socket_dir=process_socket_dir())
    monkeypatch.setenv("PCSCLITE_CSOCK_NAME", str(server.socket_path))  # this process and the worker
    try:
        server.start()
        yield server
    finally:
        server.kill()


@pytest.mark.timeout(600, method="thread")  # a PC/SC call stuck in C ignores SIGALRM
def test_a_thousand_cards_in_eight_readers_read_right_and_leak_nothing(soak_pcscd: PcscdServer) -> None:
    server = soak_pcscd
    pcsc_names = [server.pcsc_name(name) for name in READER_NAMES]
    device = PcscCardReader("card_reader", reader="soak reader * 00 00", read_timeout=5.0)
    tally = Tally()
    device.subscribe(tally)
    view = PcscdView(pcsc_names)
    barrier = threading.Barrier(READERS + 1, timeout=400)
    abort = threading.Event()
    failures: list[str] = []
    latencies: list[float] = []  # insert → identity event
    cycle_times: list[float] = []  # insert → removal counted by the driver
    samples_lock = threading.Lock()

    def fail(message: str) -> None:
        failures.append(message)
        abort.set()
        barrier.abort()

    def run_slot(index: int) -> None:
        name = pcsc_names[index]
        inbox = tally.inbox[index]
        try:
            with CardSlot(server.port(READER_NAMES[index])) as slot:
                for cycle in range(WARM_UP + CYCLES):
                    if cycle == WARM_UP:
                        barrier.wait()  # warmed up: the main thread measures...
                        barrier.wait()  # ...and lets everyone go on
                    if abort.is_set():
                        return
                    expected = holder(index, cycle)
                    where = f"reader {index} cycle {cycle}"
                    if not inbox.empty():
                        return fail(f"{where}: an identity nobody inserted: {inbox.get()!r}")
                    started = time.perf_counter()
                    slot.insert(SocialSecurityCard(expected))
                    try:
                        identity = inbox.get(timeout=IDENTITY_TIMEOUT)
                    except queue.Empty:
                        return fail(f"{where}: no identity within {IDENTITY_TIMEOUT} s ({dict(tally.counts)})")
                    read_at = time.perf_counter()
                    got = (identity.id_number, identity.name, identity.document_number)
                    want = (expected.id_number, expected.name, expected.card_number)
                    if got != want:
                        return fail(f"{where}: read {got}, the card holds {want}")
                    slot.remove()
                    if not view.wait_removals(name, cycle + 1, REMOVAL_TIMEOUT) or view.error:
                        return fail(f"{where}: pcscd did not see the card out ({view.error or 'timeout'})")
                    seen = view.total_removals()
                    if not tally.wait_count("card_removed", seen, REMOVAL_TIMEOUT):
                        return fail(f"{where}: driver counted {tally.counts['card_removed']} removals, pcscd {seen}")
                    with samples_lock:
                        latencies.append(read_at - started)
                        cycle_times.append(time.perf_counter() - started)
            barrier.wait()  # all cards out: the main thread measures again
            barrier.wait()
        except threading.BrokenBarrierError:
            abort.set()
        except Exception as exc:  # reported by the main thread
            fail(f"reader {index}: {exc!r}")

    device.open()
    threads = [threading.Thread(target=run_slot, args=(i,), name=f"soak-slot-{i}") for i in range(READERS)]
    try:
        deadline = time.monotonic() + 5
        while device.status().state is not DeviceState.READY or len(device.readers()) < READERS:
            assert time.monotonic() < deadline, f"driver not ready: {device.status()}, {device.readers()}"
            time.sleep(0.01)
        assert sorted(device.readers()) == sorted(pcsc_names)
        for thread in threads:
            thread.start()
        try:
            barrier.wait()
            before = settled_footprint()
            counts_before = Counter(tally.counts)
            started = time.perf_counter()
            barrier.wait()
            barrier.wait()
            wall = time.perf_counter() - started
            after = settled_footprint(limit=before)
            barrier.wait()
        except threading.BrokenBarrierError:
            abort.set()
            failures.append("a slot thread failed, or a phase overran the barrier's timeout")
        for thread in threads:
            thread.join(timeout=30)
        assert not failures, "\n".join(failures)
        assert not any(thread.is_alive() for thread in threads), "a slot thread is stuck"
    finally:
        abort.set()
        device.close()
        view.close()

    total = READERS * (WARM_UP + CYCLES)
    measured = READERS * CYCLES
    print(f"\nsoak: {measured} insert/remove cycles on {READERS} readers in {wall:.1f} s ({measured / wall:.1f}/s)")
    print(f"  insert → identity        {_stats(latencies)}")
    print(f"  insert → removal counted {_stats(cycle_times)}  (per reader, one cycle)")
    print(f"  driver events: {dict(tally.counts)}")
    print(f"  before: {before}\n  after:  {after}")

    assert not tally.strays, tally.strays
    for kind in ("card_inserted", "identity", "card_removed"):
        assert tally.counts[kind] == total, f"{tally.counts[kind]} {kind} events for {total} cycles"
        assert tally.counts[kind] - counts_before[kind] == measured
    assert tally.counts["read_failed"] == 0
    assert view.total_removals() == total
    # No growth at all, no slack: the worker, its resource tracker, the monitor, the view and the
    # eight slot threads all exist at both readings; everything else comes and goes per card.
    assert after.children == before.children, "a child process was replaced (a read was killed?) or added"
    assert after.threads <= before.threads and after.tasks <= before.tasks and after.fds <= before.fds
    assert after.child_tasks <= before.child_tasks, "pcscd or the worker has more threads: a context leaked?"
    assert after.child_fds <= before.child_fds, "pcscd or the worker has more files: a handle leaked?"
