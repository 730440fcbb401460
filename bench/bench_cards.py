"""Every card figure in one run: social security cards through a real pcscd, and resident ID cards over SAM.

    .venv/bin/python bench/bench_cards.py [--inserts 30] [--restarts 5] [--down 0 1] [--sam-reads 30]

(a) insert → identity through a private pcscd (vpcd reader, our SocialSecurityCard emulator, T=1)
    with the kiosk's driver, PcscCardReader: monitor thread, read in its child process;
(b) the same cards through a plain pyscard loop in this process: SCardGetStatusChange until
    present, then connect and the same APDUs (the kiosk's read_social_security over a bare
    SCardTransmit), no child process: the difference is the cost of the driver's design;
(c) pcscd killed and started again: from the moment a new client gets answers again (a probe
    in a process of its own) to the driver's status being READY; once started again at once,
    once after 1 s down (by then the driver's reconnect backoff has reached its cap);
(d) bench_sam.py's measurement of the SAM resident ID reader.

Cards arrive at a random moment of pcscd's 400 ms poll, as citizens do, so every insert figure
includes 0–400 ms of waiting for the poll: that interval is the floor no driver goes under.
Prints, never asserts. Needs pcscd and vsmartcard-vpcd (docs/pcsc-testing.md) and root, or a
user namespace, to run the private pcscd. Takes about 80 s.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

# Imported in the read worker too (spawn re-imports this module): keep the top level light.
from kiosk.core.devices import DeviceEvent, DeviceState
from kiosk.peripherals.cards.pcsc.reader import BACKOFF, PcscCardReader
from kiosk.peripherals.cards.pcsc.social_security import read_social_security
from tests.support.pcscd import PcscdServer, process_socket_dir
from tests.support.ssse_records import SocialSecurityIdentity
from tests.support.vpcd_card import CardSlot, SocialSecurityCard

READER = "Bench Citizen Slot"
POLL_S = 0.4  # pcscd asks each vpcd slot for its ATR this often
HOLDER = SocialSecurityIdentity(
    card_number="A12345678",
    id_number="440524188001010014",
    name="阿卜杜热合曼·买买提依明·阿不都热西提",  # long: the 4E name-extension record is read too
    sex="1",
    ethnicity="05",
    birth_date="18800101",
)
WAIT_S = 10.0
MS = 1000


class Stopwatch:
    """The time of the next event of each armed kind (bench_sam's, plus READY states)."""

    def __init__(self) -> None:
        self._seen: dict[str, threading.Event] = {}
        self.at: dict[str, float] = {}

    def arm(self, *kinds: str) -> None:
        for kind in kinds:
            self._seen[kind] = threading.Event()
            self.at.pop(kind, None)

    def wait(self, kind: str, timeout: float = WAIT_S) -> float:
        if not self._seen[kind].wait(timeout):
            raise SystemExit(f"no {kind} event within {timeout} s")
        return self.at[kind]

    def __call__(self, event: DeviceEvent) -> None:
        kind = event.kind
        if kind == "state":
            kind = f"state:{event.payload.state.value}"
        seen = self._seen.get(kind)
        if seen is not None and not seen.is_set():
            self.at[kind] = time.monotonic()
            seen.set()


def wait_state(device: PcscCardReader, state: DeviceState, timeout: float = WAIT_S) -> None:
    deadline = time.monotonic() + timeout
    while device.status().state is not state:
        if time.monotonic() > deadline:
            raise SystemExit(f"driver is {device.status()}, not {state.value}, after {timeout} s")
        time.sleep(0.005)


def kiosk_driver(slot: CardSlot, inserts: int, phase: random.Random) -> dict[str, list[float]]:
    """(a): insert → card_inserted and → identity events of PcscCardReader."""
    found: dict[str, list[float]] = {"detected": [], "identity": [], "read": []}
    device = PcscCardReader("card_reader", reader=f"{READER.lower()}*")
    watch = Stopwatch()
    device.subscribe(watch)
    device.open()
    try:
        wait_state(device, DeviceState.READY)
        for index in range(inserts + 1):  # the first one warms up, and is not counted
            time.sleep(phase.uniform(0, POLL_S))
            watch.arm("card_inserted", "identity", "card_removed")
            started = time.monotonic()
            slot.insert(SocialSecurityCard(HOLDER))
            identity_at = watch.wait("identity")
            inserted_at = watch.wait("card_inserted")
            if index:
                found["detected"].append(inserted_at - started)
                found["identity"].append(identity_at - started)
                found["read"].append(identity_at - inserted_at)
            slot.remove()
            watch.wait("card_removed")
    finally:
        device.close()
    return found


def plain_pyscard(slot: CardSlot, reader: str, inserts: int, phase: random.Random) -> dict[str, list[float]]:
    """(b): the least a reader can do: one context, wait for the card, connect, the same APDUs."""
    from smartcard import scard as sc

    found: dict[str, list[float]] = {"detected": [], "identity": [], "read": []}
    hresult, context = sc.SCardEstablishContext(sc.SCARD_SCOPE_USER)
    if hresult != sc.SCARD_S_SUCCESS:
        raise SystemExit(f"no PC/SC context: {sc.SCardGetErrorMessage(hresult)}")

    def wait_until(present: bool, state: int) -> int:
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            hresult, states = sc.SCardGetStatusChange(context, int(WAIT_S * MS), [(reader, state)])
            if hresult != sc.SCARD_S_SUCCESS:
                raise SystemExit(f"SCardGetStatusChange: {sc.SCardGetErrorMessage(hresult)}")
            state = states[0][1] & ~sc.SCARD_STATE_CHANGED
            if bool(state & sc.SCARD_STATE_PRESENT) == present:
                return state
        raise SystemExit(f"the card was not {'in' if present else 'out'} within {WAIT_S} s")

    def transmit(card: int, protocol: int, apdu: bytes) -> bytes:
        hresult, response = sc.SCardTransmit(card, protocol, list(apdu))
        if hresult != sc.SCARD_S_SUCCESS:
            raise SystemExit(f"SCardTransmit: {sc.SCardGetErrorMessage(hresult)}")
        return bytes(response)

    try:
        state = wait_until(False, sc.SCARD_STATE_UNAWARE)
        for index in range(inserts + 1):
            time.sleep(phase.uniform(0, POLL_S))
            started = time.monotonic()
            slot.insert(SocialSecurityCard(HOLDER))
            state = wait_until(True, state)
            present_at = time.monotonic()
            hresult, card, protocol = sc.SCardConnect(
                context, reader, sc.SCARD_SHARE_EXCLUSIVE, sc.SCARD_PROTOCOL_T0 | sc.SCARD_PROTOCOL_T1
            )
            if hresult != sc.SCARD_S_SUCCESS:
                raise SystemExit(f"SCardConnect: {sc.SCardGetErrorMessage(hresult)}")
            try:
                identity = read_social_security(
                    lambda apdu, card=card, protocol=protocol: transmit(card, protocol, apdu)
                )
            finally:
                sc.SCardDisconnect(card, sc.SCARD_LEAVE_CARD)
            done_at = time.monotonic()
            if identity.id_number != HOLDER.id_number:
                raise SystemExit("the plain loop read the wrong card")
            if index:
                found["detected"].append(present_at - started)
                found["identity"].append(done_at - started)
                found["read"].append(done_at - present_at)
            slot.remove()
            state = wait_until(False, state)
    finally:
        sc.SCardReleaseContext(context)
    return found


# A separate process, so that it does not share libpcsclite's one reader-state array per process
# with the driver's monitor (tests/support/pcscd_watch.py). It says "armed", waits for pcscd to go,
# then prints the time.monotonic() (one clock for all processes) at which a new client first
# lists the reader again.
_PROBE = r"""
import sys, time
from smartcard import scard as sc

def answers(reader):
    hresult, context = sc.SCardEstablishContext(sc.SCARD_SCOPE_USER)
    if hresult != sc.SCARD_S_SUCCESS:
        return False
    hresult, names = sc.SCardListReaders(context, [])
    sc.SCardReleaseContext(context)
    return hresult == sc.SCARD_S_SUCCESS and reader in names

print("armed", flush=True)
while answers(sys.argv[1]):
    time.sleep(0.002)
while not answers(sys.argv[1]):
    time.sleep(0.002)
print(time.monotonic(), flush=True)
"""


def restarts(server: PcscdServer, reader: str, count: int, down: float) -> dict[str, list[float]]:
    """(c): pcscd killed, started again; when does the driver say READY?"""
    found: dict[str, list[float]] = {"recovery": [], "from_kill": []}
    device = PcscCardReader("card_reader", reader=f"{READER.lower()}*")
    watch = Stopwatch()
    device.subscribe(watch)
    device.open()
    try:
        wait_state(device, DeviceState.READY)
        for _ in range(count):
            probe = subprocess.Popen([sys.executable, "-c", _PROBE, reader], stdout=subprocess.PIPE, text=True)
            assert probe.stdout is not None
            if probe.stdout.readline().strip() != "armed":
                raise SystemExit("the pcscd probe did not start")
            time.sleep(0.3)  # settled: the driver is in GetStatusChange, as it is most of the time
            watch.arm("state:disconnected", "state:ready")
            killed = time.monotonic()
            server.kill()
            watch.wait("state:disconnected")
            time.sleep(down)
            server.start()  # returns once a client in a fresh process lists the reader
            ready = watch.wait("state:ready")
            try:
                answered = float(probe.stdout.readline())
            except ValueError:
                raise SystemExit("the pcscd probe never saw pcscd answer") from None
            finally:
                probe.stdout.close()
                probe.wait(5)
            found["recovery"].append(ready - answered)
            found["from_kill"].append(ready - killed)
    finally:
        device.close()
    return found


def percentile(samples: list[float], pct: int) -> float:
    return statistics.quantiles(samples, n=100, method="inclusive")[pct - 1] if len(samples) > 1 else samples[0]


def row(label: str, samples: list[float], note: str = "") -> None:
    median, p95, top = statistics.median(samples), percentile(samples, 95), max(samples)
    print(f"  {label:36} {median * MS:7.1f} ms {p95 * MS:7.1f} ms {top * MS:7.1f} ms  {note}".rstrip())


def goal(samples: list[float], limit: float, how: Callable[[list[float]], float], what: str) -> str:
    value = how(samples)
    return f"goal ≤ {limit * MS:.0f} ms: {'met' if value <= limit else 'MISSED'} ({what})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inserts", type=int, default=30, help="card insertions for (a) and for (b)")
    parser.add_argument("--restarts", type=int, default=5, help="pcscd restarts for (c)")
    parser.add_argument(
        "--down", type=float, nargs="+", default=[0.0, 1.0], help="seconds pcscd stays down in (c), one series each"
    )
    parser.add_argument("--sam-reads", type=int, default=30, help="reads for (d), bench_sam.py's measurement")
    args = parser.parse_args()

    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="bench-cards-") as folder:
        server = PcscdServer([READER], Path(folder), socket_dir=process_socket_dir())
        # Before this process's first PC/SC call (libpcsclite reads it once), and for the worker.
        os.environ.update(server.env)
        reader = server.pcsc_name(READER)
        with server, CardSlot(server.port(READER)) as slot:
            driver = kiosk_driver(slot, args.inserts, random.Random(400))
            plain = plain_pyscard(slot, reader, args.inserts, random.Random(400))
            recovery = {down: restarts(server, reader, args.restarts, down) for down in args.down}
    from bench_sam import run as sam_run  # here, not at the top: the read worker imports this module

    sam_baud, sam_poll = 115200, 0.1
    sam_placed, sam_in_place = sam_run(args.sam_reads, sam_baud, sam_poll, 0.0)

    print(f"Card reads, one run ({time.monotonic() - started:.0f} s). pcscd + vpcd, social security card T=1;")
    print(f"pcscd polls each slot every {POLL_S * MS:.0f} ms: 0–{POLL_S * MS:.0f} ms of every insert figure is that")
    print("wait (cards arrive at a random moment of the poll), the floor for any driver.")
    print(f"  {'':36} {'median':>10} {'p95':>10} {'max':>10}")
    print(f"social security, kiosk driver (PcscCardReader), {args.inserts} inserts")
    row("insert → card_inserted event", driver["detected"], "pcscd's poll")
    row("insert → identity event", driver["identity"], goal(driver["identity"], 0.4, percentile_95, "p95"))
    row("card_inserted → identity (the read)", driver["read"], "thread + worker process + own context")
    print(f"social security, plain pyscard loop in one process, {args.inserts} inserts")
    row("insert → SCARD_STATE_PRESENT", plain["detected"], "pcscd's poll")
    row("insert → identity", plain["identity"])
    row("present → identity (connect + APDUs)", plain["read"], "same APDUs, same card")
    extra = statistics.median(driver["read"]) - statistics.median(plain["read"])
    print(f"  the driver's design costs {extra * MS:.1f} ms a read (median, read vs read)")
    print(f"pcscd killed and started again, {args.restarts} times each; driver backoff {BACKOFF} s, then its cap")
    for down, found in recovery.items():
        row(
            f"down {down:.1f} s: pcscd answers → READY",
            found["recovery"],
            goal(found["recovery"], 2.0, statistics.median, "median"),
        )
        row(f"down {down:.1f} s: pcscd killed → READY", found["from_kill"])
    print(
        f"resident ID card, SAM driver: {args.sam_reads} reads at {sam_baud} baud, driver poll {sam_poll * MS:.0f} ms"
    )
    row("place card → identity event", sam_placed, f"0–{sam_poll * MS:.0f} ms poll wait (bench_sam.py)")
    row("read_identity, card in place", sam_in_place, "find + select + read over the wire")


def percentile_95(samples: list[float]) -> float:
    return percentile(samples, 95)


if __name__ == "__main__":
    main()
