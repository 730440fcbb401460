"""Soak: 1,000 card insert/remove cycles through the real stack with the kiosk's PC/SC driver.

pcscd polls each vpcd slot every ~400 ms, so one insert + remove cycle takes ~0.8 s of wall time
per reader: 1,000 cycles one after the other would take ~14 minutes. So eight vpcd readers run
in parallel in one pcscd (eight is pcscd's limit: PCSCLITE_MAX_READERS_CONTEXTS is 16 PC/SC
readers, and vpcd gives each reader.conf entry two, "<name> 00 00" and "<name> 00 01"; a ninth
entry never comes up), each with its own copy of the vpcd library (PcscdServer does that), and
one PcscCardReader watches all eight "... 00 00" slots.

Each reader does WARM_UP cycles first (3: the worker process, contexts and imports settle),
then the footprint is taken (threads, files, child processes and their threads and files), then
CYCLES more (125: 8 × 125 = 1,000 cycles between the two readings, ~100 s), then the footprint
again with every card out. 1,024 cycles in all, and every one must give exactly one identity.

The driver's events do not name their reader. So every card carries a distinct identity: the ID
number's birth day says which reader it went into, its sequence number and the card number say
which cycle, and the name differs per reader. An identity then proves which insertion it came
from. `card_removed` cannot be told apart that way, so the test also watches pcscd itself
(`PcscdWatch`, from a child process: a second context in this process would race with the
driver's monitor over libpcsclite's one reader-state array per process). A slot thread puts its
next card in only once pcscd has seen its own reader empty and the driver has counted at least
as many removals as pcscd has seen in all. Otherwise a card put back before pcscd's next poll is
never seen out, and the cycle would be lost through no fault of the driver.

KIOSK_SOAK_PCSCD_DEBUG=1 runs pcscd with its debug log, which slows pcscd between writing a
reader's state and its event counter: at 997c86a the driver then reported phantom swaps (one or
two card_inserted/card_removed more than cycles, with the right identities) in 5 of 7 runs, none
without it in about ten; since e14e6f0, none either way. See test_pcsc_card_swap.py, 4.
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
from kiosk.peripherals.cards.pcsc.reader import PcscCardReader
from tests.support.pcsc_fixtures import require_pcscd
from tests.support.pcscd import PcscdServer, process_socket_dir
from tests.support.pcscd_watch import PcscdWatch
from tests.support.ssse_records import SocialSecurityIdentity
from tests.support.vpcd_card import CardSlot, SocialSecurityCard

READERS = 8  # pcscd's limit with vpcd (see above)
WARM_UP = 3  # cycles per reader before the baseline: the worker process, contexts, imports
CYCLES = 125  # cycles per reader between the two measurements: 8 × 125 = 1,000
READER_NAMES = [f"Soak Reader {index}" for index in range(READERS)]
SURNAMES = "赵钱孙李周吴郑王"
PCSCD_DEBUG = os.environ.get("KIOSK_SOAK_PCSCD_DEBUG") == "1"
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
        self.times: list[tuple[float, str]] = []  # when each event other than "state" came

    def __call__(self, event: DeviceEvent) -> None:  # runs in the driver's threads: never blocks
        if event.kind != "state":
            self.times.append((time.monotonic(), event.kind))
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


@dataclass(frozen=True)
class Footprint:
    """What a leak would grow: in this process, and in its children (pcscd, the read worker)."""

    threads: int  # threading.active_count()
    tasks: int  # /proc/self/task: native threads as well
    fds: int
    children: tuple[str, ...]  # "pid name" of each child process
    child_tasks: int  # pcscd runs one thread per client context: a leaked context shows here
    child_fds: int


NUMBERS = ("threads", "tasks", "fds", "child_tasks", "child_fds")


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
        kinds = {"spawn_main": "read worker", "resource_tracker": "resource tracker", "SCardGetStatusChange": "watcher"}
        kind = next((name for key, name in kinds.items() if key in cmdline), "")
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
    return now.children == limit.children and all(getattr(now, n) <= getattr(limit, n) for n in NUMBERS)


def _stats(samples: list[float]) -> str:
    ms = sorted(s * 1000 for s in samples)
    p95 = statistics.quantiles(ms, n=100, method="inclusive")[94]
    return f"median {statistics.median(ms):6.1f} ms  p95 {p95:6.1f} ms  max {ms[-1]:6.1f} ms"


@pytest.fixture
def soak_pcscd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[PcscdServer]:
    require_pcscd()
    server = PcscdServer(READER_NAMES, tmp_path / "pcscd", socket_dir=process_socket_dir(), debug=PCSCD_DEBUG)
    monkeypatch.setenv("PCSCLITE_CSOCK_NAME", str(server.socket_path))  # this process and the worker
    try:
        server.start()
        yield server
    finally:
        server.kill()


@pytest.mark.timeout(600, method="thread")  # a PC/SC call stuck in C ignores SIGALRM
def test_a_thousand_cards_in_eight_readers_read_right_and_leak_nothing(soak_pcscd: PcscdServer, tmp_path: Path) -> None:
    server = soak_pcscd
    pcsc_names = [server.pcsc_name(name) for name in READER_NAMES]
    device = PcscCardReader("card_reader", reader="soak reader * 00 00", read_timeout=5.0)
    tally = Tally()
    device.subscribe(tally)
    watch = PcscdWatch(pcsc_names)
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
                    started = time.monotonic()
                    slot.insert(SocialSecurityCard(expected))
                    try:
                        identity = inbox.get(timeout=IDENTITY_TIMEOUT)
                    except queue.Empty:
                        return fail(f"{where}: no identity within {IDENTITY_TIMEOUT} s ({dict(tally.counts)})")
                    read_at = time.monotonic()
                    got = (identity.id_number, identity.name, identity.document_number)
                    want = (expected.id_number, expected.name, expected.card_number)
                    if got != want:
                        return fail(f"{where}: read {got}, the card holds {want}")
                    slot.remove()
                    if not watch.wait_removals(name, cycle + 1, REMOVAL_TIMEOUT):
                        return fail(f"{where}: pcscd did not see the card out ({watch.error or 'timeout'})")
                    seen = watch.total_removals()
                    if not tally.wait_count("card_removed", seen, REMOVAL_TIMEOUT):
                        return fail(f"{where}: driver counted {tally.counts['card_removed']} removals, pcscd {seen}")
                    if cycle >= WARM_UP:
                        with samples_lock:
                            latencies.append(read_at - started)
                            cycle_times.append(time.monotonic() - started)
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
        run_started = time.monotonic()
        for thread in threads:
            thread.start()
        try:
            barrier.wait()
            before = settled_footprint()
            counts_before = Counter(tally.counts)
            started = time.monotonic()
            barrier.wait()
            barrier.wait()
            wall = time.monotonic() - started
            after = settled_footprint(limit=before)
            barrier.wait()
            run_wall = time.monotonic() - run_started
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
        watch.close()

    total = READERS * (WARM_UP + CYCLES)
    measured = READERS * CYCLES
    print(f"\nsoak: {measured} insert/remove cycles on {READERS} readers in {wall:.1f} s ({measured / wall:.1f}/s);")
    print(f"  {total} with the warm-up and both footprints in {run_wall:.1f} s. Per cycle (the {measured}):")
    print(f"  insert → identity event   {_stats(latencies)}")
    print(f"  insert → removal counted  {_stats(cycle_times)}  (one reader's whole cycle)")
    print(f"  driver events: {dict(tally.counts)}; odd pcscd states: {len(watch.oddities())}")
    print(f"  before: {before}\n  after:  {after}")

    wrong = [f"identities from no card of ours: {tally.strays}"] if tally.strays else []
    for kind in ("card_inserted", "identity", "card_removed"):
        if tally.counts[kind] != total or tally.counts[kind] - counts_before[kind] != measured:
            wrong.append(f"{tally.counts[kind]} {kind} events for {total} cycles")
    if tally.counts["read_failed"]:
        wrong.append(f"{tally.counts['read_failed']} read_failed events")
    if watch.total_removals() != total:
        wrong.append(f"pcscd reported {watch.total_removals()} removals for {total} cycles: {watch.removals}")
    if wrong:
        log = tmp_path / "pcscd-watch.log"
        lines = [f"{at:.3f} pcscd {name} {state:#x}" for at, name, state in watch.history]
        lines += [f"{at:.3f} driver {kind}" for at, kind in tally.times]
        log.write_text("\n".join(sorted(lines, key=lambda line: float(line.split()[0]))))
        odd = watch.oddities()
        pytest.fail(f"{'; '.join(wrong)}; odd pcscd states {odd[:10]}; pcscd's states and the driver's events in {log}")
    # No growth at all, no slack: the read worker, its resource tracker, the monitor, the pcscd
    # watcher (process and thread) and the eight slot threads exist at both readings; everything
    # else comes and goes with each card.
    assert after.children == before.children, "a child process was replaced (a read was killed?) or added"
    grown = {n: (getattr(before, n), getattr(after, n)) for n in NUMBERS if getattr(after, n) > getattr(before, n)}
    assert not grown, f"grew (before, after): {grown}; child_* are pcscd, the worker and the watcher: a context leaked?"
