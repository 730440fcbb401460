"""Bytes and milliseconds per 受理凭证: the QR drawn by the printer (GS ( k) against sent as an image.

    .venv/bin/python bench/bench_print.py [--jobs 30]

For 58 and 80 mm paper and each way of sending the QR code (native; raster by GS v 0, GS ( L
and ESC *), one row with: the bytes of one receipt; the median and p95 time to encode it; the
median and p95 time to print it through the driver to the printer emulator over loopback TCP,
from the status query to the printer's process ID answer (so: encode, status, send, the
emulator's parse, its answer); and the time the bytes alone take on a serial line at 9600 and
115200 baud (10 bits a byte), which is where a raster QR costs a real printer (python-escpos
PR #113: 1.85 s against 0.07 s). The last rows are python-escpos's own `qr()`, native and as
an image, for the QR code alone: the baseline. Prints, never asserts.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kiosk.core.messages import Messages
from kiosk.peripherals.printer.driver import EscPosPrinter
from kiosk.peripherals.printer.emulator import PrinterEmulator, PrinterMachine
from kiosk.peripherals.printer.escpos import encode as escpos
from kiosk.peripherals.printer.profile import PrinterProfile, load_profile
from tests.unit.paper_fixtures import PROGRESS_URL, make_receipt

METHODS = {
    "native GS ( k": {"native_qr": True},
    "raster GS v 0": {"native_qr": False, "image_method": "bitImageRaster"},
    "raster GS ( L": {"native_qr": False, "image_method": "graphics"},
    "raster ESC *": {"native_qr": False, "image_method": "bitImageColumn"},
}


def timings(run: Callable[[], object], count: int) -> tuple[float, float]:
    """Median and p95 in ms."""
    spent = []
    for _ in range(count):
        started = time.perf_counter()
        run()
        spent.append((time.perf_counter() - started) * 1000)
    spent.sort()
    return statistics.median(spent), spent[min(len(spent) - 1, int(len(spent) * 0.95))]


def wire_ms(size: int, baud: int) -> float:
    return size * 10 / baud * 1000


def print_times(profile: PrinterProfile, jobs: int) -> tuple[float, float]:
    document = make_receipt(Messages())
    machine = PrinterMachine(profile.paper_width_mm)  # no out_dir: no PNG is drawn, as on a real printer
    with PrinterEmulator(machine) as emulator, tempfile.TemporaryDirectory() as scratch:
        printer = EscPosPrinter("printer", emulator.url, profile, Path(scratch) / "jobs.jsonl")
        printer.open()
        numbers = iter(range(jobs))
        try:
            return timings(lambda: printer.print_document(document, f"job-{next(numbers)}", 30), jobs)
        finally:
            printer.close()
            assert all(paper.complete for paper in machine.papers) and len(machine.papers) == jobs


def row(name: str, size: int, encode: tuple[float, float], printed: tuple[float, float] | None) -> str:
    printed_text = f"{printed[0]:7.1f} {printed[1]:7.1f}" if printed else f"{'-':>7} {'-':>7}"
    return (
        f"{name:28} {size:8d} {encode[0]:7.2f} {encode[1]:7.2f} {printed_text} "
        f"{wire_ms(size, 9600):9.0f} {wire_ms(size, 115200):9.1f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=30, help="receipts printed per row")
    args = parser.parse_args()
    document = make_receipt(Messages())
    print(f"受理凭证, {args.jobs} receipts per row; times in ms (median, p95); wire = bytes on a serial line")
    print(
        f"{'paper / QR':28} {'bytes':>8} {'enc p50':>7} {'enc p95':>7} {'prt p50':>7} {'prt p95':>7} "
        f"{'9600 bd':>9} {'115200 bd':>9}"
    )
    for width in (58, 80):
        for method, changes in METHODS.items():
            profile = load_profile(f"generic-{width}").model_copy(update=changes)
            data = escpos.encode(document, profile)
            encode = timings(lambda profile=profile: escpos.encode(document, profile), args.jobs)
            print(row(f"{width} mm, {method}", len(data), encode, print_times(profile, args.jobs)))
    print("baseline: python-escpos qr() for the QR code alone (size 6, as on 80 mm)")
    for native in (True, False):

        def qr_only(native: bool = native) -> bytes:
            dummy = escpos.byte_collector(80)
            dummy.qr(PROGRESS_URL, size=6, native=native)
            return bytes(dummy.output)

        encode = timings(qr_only, args.jobs)
        print(row(f"python-escpos {'native' if native else 'image'}", len(qr_only()), encode, None))


if __name__ == "__main__":
    main()
