"""`kiosk printer-emulator --port P --out DIR`: an ESC/POS receipt printer on TCP, without a printer.

Point a kiosk's printer at tcp://HOST:P and every paper it prints lands in DIR as NNNN.png,
.txt, .json and .bin (NNNN-partial.* for a paper cut short by paper out or a closed cover).
Prints {"listening": "tcp://host:port"} once ready, then one JSON line per paper:
{"seq", "complete", "png", "lines"}. Runs until SIGINT or SIGTERM. The lines are what was
printed, which can be personal data: they go to stdout only, as the technician asked, never to
the log.
"""

from __future__ import annotations

import argparse
import json
import signal
import threading
from pathlib import Path
from types import FrameType

from kiosk.core.devices import Level
from kiosk.peripherals.printer.emulator import PrintedPaper, PrinterEmulator, PrinterMachine


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    p = sub.add_parser("printer-emulator", help="an ESC/POS receipt printer on TCP that prints to files")
    p.add_argument("--port", type=int, required=True, help="TCP port (0: a free one, see the listening line)")
    p.add_argument("--out", type=Path, required=True, help="directory for the printed papers")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--width", type=int, choices=(58, 80), default=58, help="paper width in mm")
    p.add_argument("--paper", choices=("ok", "low", "out"), default="ok", help="what the paper sensors report")
    p.add_argument("--roll-dots", type=int, help="paper left on the roll, in dots: it runs out while printing")
    p.add_argument("--silent", action="store_true", help="answer no status queries (status unreadable)")
    p.add_argument(
        "--no-process-id",
        dest="process_id",
        action="store_false",
        help="answer status (DLE EOT, GS r) but not GS ( H, as many printers sold in China do",
    )
    p.add_argument("--model", type=_ascii, help="what GS I 67 answers (model name); not given: not answered")
    p.add_argument("--firmware", type=_ascii, help="what GS I 65 answers (firmware version)")
    p.set_defaults(func=run)
    return p


def _ascii(text: str) -> str:
    """A GS I answer is printable ASCII, at most 80 characters, as printers send it."""
    if not (text.isascii() and text.isprintable() and 0 < len(text) <= 80):
        raise argparse.ArgumentTypeError(f"{text!r}: 1-80 printable ASCII characters")
    return text


def _announce(paper: PrintedPaper) -> None:
    png = str(paper.png) if paper.png else None
    line = {"seq": paper.seq, "complete": paper.complete, "png": png, "lines": paper.text_lines()}
    print(json.dumps(line, ensure_ascii=False), flush=True)


def run(args: argparse.Namespace) -> int:
    machine = PrinterMachine(
        args.width,
        args.out,
        Level(args.paper),
        args.roll_dots,
        on_paper=_announce,
        process_id=args.process_id,
        model=args.model,
        firmware=args.firmware,
    )
    machine.silent(args.silent)
    stopping = threading.Event()

    def stop(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    with PrinterEmulator(machine, args.host, args.port) as emulator:
        print(json.dumps({"listening": emulator.url}), flush=True)
        stopping.wait()
    return 0
