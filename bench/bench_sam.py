"""How long a resident ID card read takes through the SAM driver, beside the time the wire alone needs.

    .venv/bin/python bench/bench_sam.py [--reads 50] [--baud 115200] [--poll 0.1] [--think 0]

The emulator paces every byte at the line's speed (10 bits a byte, 8N1), so the figures include
the serial transfer a real module would impose; `--think` adds the module's own time per
answer (the radio read and SAM crypto of a real module, not emulated by default). Prints, never
asserts: compare the measured column with the wire column.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kiosk.core.devices import DeviceEvent, DeviceState
from kiosk.peripherals.cards.sam.frames import READ_DATA_LENGTH, wire_seconds
from kiosk.peripherals.cards.sam.reader import SamIdReader
from tests.support.sam_cards import MAINLAND
from tests.support.sam_emulator import SamEmulator

COMMAND = 10  # every command here: preamble 5 + LEN 2 + CMD PARA + CHK
FIND_ANSWER = 11 + 4  # SW + 4 bytes the module sends with 9F
SELECT_ANSWER = 11 + 8
READ_ANSWER = 11 + READ_DATA_LENGTH  # 1295 bytes


class Stopwatch:
    """Times from a mark to the next event of one kind."""

    def __init__(self) -> None:
        self._seen: dict[str, threading.Event] = {}
        self.at: dict[str, float] = {}

    def arm(self, kind: str) -> threading.Event:
        self._seen[kind] = threading.Event()
        return self._seen[kind]

    def __call__(self, event: DeviceEvent) -> None:
        seen = self._seen.get(event.kind)
        if seen is not None and not seen.is_set():
            self.at[event.kind] = time.perf_counter()
            seen.set()


def percentile(samples: list[float], pct: int) -> float:
    return statistics.quantiles(samples, n=100, method="inclusive")[pct - 1] if len(samples) > 1 else samples[0]


def run(reads: int, baud: int, poll: float, think: float) -> tuple[list[float], list[float]]:
    placed: list[float] = []
    in_place: list[float] = []
    with SamEmulator(baud, think_s=think) as emulator:
        reader = SamIdReader("id_reader", emulator.port, baud, poll_interval=poll)
        watch = Stopwatch()
        reader.subscribe(watch)
        reader.open()
        deadline = time.monotonic() + 5
        while reader.status().state is not DeviceState.READY and time.monotonic() < deadline:
            time.sleep(0.01)
        try:
            phase = random.Random(3304)
            for _ in range(reads):
                # A citizen arrives at any moment of the poll cycle, not just after a removal was seen.
                time.sleep(phase.uniform(0, poll))
                got = watch.arm("identity")
                started = time.perf_counter()
                emulator.place(MAINLAND)
                if not got.wait(10):
                    raise SystemExit("no identity event within 10 s")
                placed.append(watch.at["identity"] - started)
                started = time.perf_counter()
                reader.read_identity(timeout=10)
                in_place.append(time.perf_counter() - started)
                gone = watch.arm("card_removed")
                emulator.remove()
                if not gone.wait(10):
                    raise SystemExit("no card_removed event within 10 s")
        finally:
            reader.close()
    return placed, in_place


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reads", type=int, default=50)
    parser.add_argument("--baud", type=int, default=115200)
    parser.add_argument("--poll", type=float, default=0.1, help="poll interval of the driver, seconds")
    parser.add_argument("--think", type=float, default=0.0, help="module time per answer, seconds")
    args = parser.parse_args()

    placed, in_place = run(args.reads, args.baud, args.poll, args.think)
    wire = wire_seconds(3 * COMMAND + FIND_ANSWER + SELECT_ANSWER + READ_ANSWER, args.baud)
    think = 3 * args.think
    ms = 1000
    print(f"SAM ID card read at {args.baud} baud 8N1 over the pty emulator: {args.reads} reads")
    print(f"driver poll interval {args.poll * ms:.0f} ms, module think time {args.think * ms:.0f} ms per answer")
    print(f"{'':34} {'median':>9} {'p95':>9} {'wire + think (theory)':>24}")
    rows = (
        ("place card → identity event", placed, f"+ 0–{args.poll * ms:.0f} ms poll wait"),
        ("read_identity, card in place", in_place, "(find + select + read)"),
    )
    for label, samples, note in rows:
        print(
            f"{label:34} {statistics.median(samples) * ms:7.1f} ms {percentile(samples, 95) * ms:6.1f} ms"
            f" {(wire + think) * ms:9.1f} ms  {note}"
        )
    print(f"(the 30 01 answer alone is {READ_ANSWER} bytes = {wire_seconds(READ_ANSWER, args.baud) * ms:.1f} ms)")


if __name__ == "__main__":
    main()
