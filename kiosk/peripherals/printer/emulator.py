"""An ESC/POS receipt printer on TCP, for tests and for technicians without a printer.

`PrinterMachine` is the printer itself, with no transport: bytes in, answer bytes out. It parses
with escpos.parse.StreamParser, answers status queries (DLE EOT, GS r) from a scripted paper
state, acknowledges process IDs (GS ( H), tells its model and firmware (GS I 67 / 65) when it is
given them, and renders each paper — everything between two cuts — as NNNN.png / .txt / .json /
.bin. `PrinterEmulator` puts it behind a TCP port, like a network printer on port 9100.

`process_id=False` is the printer many Chinese models are: it answers status but ignores GS ( H.

Offline (paper out, cover open) it behaves like the real thing: it prints nothing and discards
what it receives, answers only the real-time status requests, and the paper that was printing
is kept as an incomplete fragment (`NNNN-partial.*`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import socketserver
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import qrcode
from qrcode import constants

from kiosk.core.devices import Level
from kiosk.peripherals.printer.escpos.parse import (
    Cut,
    InfoRequest,
    Parsed,
    ParseError,
    PrintedQR,
    ProcessIdRequest,
    RealTimeRequest,
    Reset,
    StatusRequest,
    StreamParser,
)
from kiosk.peripherals.printer.paper import render
from kiosk.peripherals.printer.paper.layout import Bars, Item, Line, Symbol, paper

log = logging.getLogger(__name__)

NEAR_END_DOTS = 600
CUT_FEED_DOTS = render.MARGIN_BOTTOM  # the stretch fed out to the cutter
PROCESS_ID_HEADER = bytes([0x37, 0x22])
INFO_HEADER = bytes([0x5F])  # GS I 65-69: 5F text NUL
INFO_FIRMWARE, INFO_MODEL = 65, 67
CLEAR_RESPONSE = bytes([0x37, 0x25, 0x00])  # DLE DC4 8
_FIXED = 0x12  # bits 1 and 4 of every DLE EOT answer are fixed to 1
_QR_ECC = {
    "L": constants.ERROR_CORRECT_L,
    "M": constants.ERROR_CORRECT_M,
    "Q": constants.ERROR_CORRECT_Q,
    "H": constants.ERROR_CORRECT_H,
}


@dataclass
class PrintedPaper:
    """One paper out of the printer: cut off (complete) or left when it went offline (fragment)."""

    seq: int
    complete: bool
    items: list[Item]
    raw: bytes
    process_ids: list[bytes] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    files: dict[str, Path] = field(default_factory=dict)  # suffix ("png", "txt", "json", "bin") → path

    @property
    def name(self) -> str:
        return f"{self.seq:04d}" if self.complete else f"{self.seq:04d}-partial"

    @property
    def png(self) -> Path | None:
        return self.files.get("png")

    def text_lines(self) -> list[str]:
        return [item.text for item in self.items if isinstance(item, Line)]

    def qr_payloads(self) -> list[str]:
        return [item.payload for item in self.items if isinstance(item, Symbol)]

    def barcodes(self) -> list[str]:
        return [item.payload for item in self.items if isinstance(item, Bars)]

    def summary(self) -> dict[str, object]:
        """The .json file's content."""
        return {
            "seq": self.seq,
            "complete": self.complete,
            "qr": self.qr_payloads(),
            "barcodes": self.barcodes(),
            "process_ids": [pid.decode("latin-1") for pid in self.process_ids],
            "lines": self.text_lines(),
            "bytes": len(self.raw),
            "errors": self.errors,
        }


def qr_symbol(code: PrintedQR) -> Symbol:
    """The symbol the printer draws for a stored GS ( k payload, at its error correction."""
    qr = qrcode.QRCode(error_correction=_QR_ECC[code.ecc], border=0)
    qr.add_data(code.payload)
    qr.make(fit=True)
    matrix = tuple(tuple(bool(m) for m in row) for row in qr.get_matrix())
    return Symbol(code.payload.decode("utf-8", errors="replace"), code.module, matrix)


def _write(path: Path, data: bytes) -> None:
    """Whole or not at all: a reader polling the directory never sees half a file."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


class PrinterMachine:
    """The printer without its transport. Thread-safe: one print head, one `feed` at a time.

    Paper: a scripted level (`set_paper`) or a roll of `paper_left_dots` (`load_paper(dots)`)
    that every printed item uses up, near end under `near_end_dots`, out at 0.
    """

    def __init__(
        self,
        paper_width_mm: int = 58,
        out_dir: Path | None = None,
        paper_level: Level = Level.OK,
        roll_dots: int | None = None,
        near_end_dots: int = NEAR_END_DOTS,
        on_paper: Callable[[PrintedPaper], None] | None = None,
        process_id: bool = True,
        model: str | None = None,
        firmware: str | None = None,
    ) -> None:
        self.paper_dots = paper(paper_width_mm).dots
        self.process_id = process_id  # False: GS ( H is ignored, as many printers sold in China do
        # what GS I 67 / 65 answer, in ASCII as printers send it; a request not in it is not answered
        self.info = {n: text.encode("ascii") for n, text in ((INFO_MODEL, model), (INFO_FIRMWARE, firmware)) if text}
        self.out_dir = out_dir
        self.near_end_dots = near_end_dots
        self.on_paper = on_paper
        self.papers: list[PrintedPaper] = []
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._parser = StreamParser(self.paper_dots)
        self._level = Level.OK
        self.paper_left_dots: int | None = None
        self.cover_open = False
        self.is_silent = False
        self._job = 0  # the connection feeding now: ESC @ from another one closes an unfinished paper
        self._paper_job = 0
        self._items: list[Item] = []
        self._ids: list[bytes] = []
        self._errors: list[str] = []
        self._raw = bytearray()  # bytes of the paper in progress, from `_raw_start` in the stream
        self._raw_start = 0
        self._pending = bytearray()  # bytes fed but not yet part of a finished paper
        if roll_dots is not None:
            self.load_paper(roll_dots)
        else:
            self.set_paper(paper_level)

    # -- scripted state ------------------------------------------------------------------

    @property
    def level(self) -> Level:
        with self._lock:
            if self.paper_left_dots is None:
                return self._level
            if self.paper_left_dots <= 0:
                return Level.OUT
            return Level.LOW if self.paper_left_dots < self.near_end_dots else Level.OK

    @property
    def offline(self) -> bool:
        return self.cover_open or self.level is Level.OUT

    def set_paper(self, level: Level | str) -> None:
        """Scripted sensor level; forgets the roll length. Out of paper ends the paper in progress."""
        level = Level(level)
        if level is Level.UNKNOWN:
            raise ValueError("a paper sensor reads ok, low or out")
        with self._lock:
            self._level, self.paper_left_dots = level, None
            self._went_offline(self._parser.offset)

    def load_paper(self, dots: int | None = None) -> None:
        """A new roll: level ok, `dots` long (None: endless)."""
        with self._lock:
            self._level, self.paper_left_dots = Level.OK, dots
            self._went_offline(self._parser.offset)

    def open_cover(self) -> None:
        with self._lock:
            self.cover_open = True
            self._went_offline(self._parser.offset)

    def close_cover(self) -> None:
        with self._lock:
            self.cover_open = False

    def silent(self, on: bool = True) -> None:
        """A printer whose status cannot be read: it prints, but answers nothing."""
        with self._lock:
            self.is_silent = on

    # -- status bytes (Epson ESC/POS) ----------------------------------------------------

    def status(self, request: StatusRequest) -> bytes:
        level = self.level
        near_end = level in (Level.LOW, Level.OUT)  # no paper at the near-end sensor either
        if not request.realtime:  # GS r: 1 roll paper sensor, 2 drawer (pin 3 low)
            if request.n == 2:
                return bytes([0x00])
            return bytes([(0x03 if near_end else 0) | (0x0C if level is Level.OUT else 0)])
        if request.n == 1:  # printer: bit 3 offline
            return bytes([_FIXED | (0x08 if self.offline else 0)])
        if request.n == 2:  # offline cause: bit 2 cover open, bit 5 stopped by paper end
            return bytes([_FIXED | (0x04 if self.cover_open else 0) | (0x20 if level is Level.OUT else 0)])
        if request.n == 3:  # error cause: none scripted
            return bytes([_FIXED])
        return bytes([_FIXED | (0x0C if near_end else 0) | (0x60 if level is Level.OUT else 0)])

    # -- data ----------------------------------------------------------------------------

    def feed(self, data: bytes, job: int = 0) -> bytes:
        """Receive `data` from connection `job`; what the printer sends back."""
        answer = bytearray()
        with self._lock:
            self._job = job
            self._pending += data
            for parsed in self._parser.feed(data):
                answer += self._handle(parsed)
        return b"" if self.is_silent else bytes(answer)

    def flush(self) -> None:
        """End of input (the emulator stops): a paper in progress is kept as a fragment."""
        with self._lock:
            for parsed in self._parser.finish():
                self._handle(parsed)
            self._finish(complete=False, end=self._parser.offset)

    def _handle(self, parsed: Parsed) -> bytes:
        event = parsed.event
        if isinstance(event, StatusRequest) and (event.realtime or not self.offline):
            return self.status(event)
        if isinstance(event, RealTimeRequest):
            if event.command == "DLE DC4" and event.fn == 8:
                return CLEAR_RESPONSE
            return b""
        if self.offline:
            self._discard(parsed.end)
            return b""
        if isinstance(event, Reset):
            if self._items and self._paper_job != self._job:  # a new job must not continue an old paper
                self._finish(complete=False, end=parsed.end - 2)
        elif isinstance(event, ProcessIdRequest):
            if not self.process_id:
                return b""
            if self._items:
                self._ids.append(event.ids)
            elif self.papers and self._paper_job == self._job:  # right after this line's cut: that paper's
                self.papers[-1].process_ids.append(event.ids)
                self._save_summary(self.papers[-1])
            # else a question about no paper (a driver probing what the printer answers)
            return PROCESS_ID_HEADER + event.ids + b"\x00"
        elif isinstance(event, InfoRequest):
            text = self.info.get(event.n)
            return b"" if text is None else INFO_HEADER + text + b"\x00"
        elif isinstance(event, ParseError):
            log.warning("printer emulator: %s at byte %d", event.message, event.offset)
            self._errors.append(f"byte {event.offset}: {event.message}")
        elif isinstance(event, Cut):
            self._use_paper(CUT_FEED_DOTS, parsed.end)
            if not self.offline:
                self._finish(complete=True, end=parsed.end)
        else:
            item = qr_symbol(event) if isinstance(event, PrintedQR) else event
            if not self._items:
                self._paper_job = self._job
            self._items.append(item)
            self._use_paper(render.item_height(item), parsed.end)
        return b""

    def _use_paper(self, dots: int, end: int) -> None:
        """The roll runs out in the middle of whatever is printing: that ends the paper at `end`."""
        if self.paper_left_dots is None:
            return
        self.paper_left_dots = max(0, self.paper_left_dots - dots)
        if self.paper_left_dots == 0:
            self._went_offline(end)

    def _went_offline(self, end: int) -> None:
        if self.offline:
            self._parser.clear_line()
            self._finish(complete=False, end=end)

    def _discard(self, end: int) -> None:
        """Offline: received bytes are thrown away, they belong to no paper."""
        del self._pending[: max(0, end - self._raw_start)]
        self._raw_start = max(self._raw_start, end)

    def _finish(self, complete: bool, end: int) -> None:
        """The paper in progress ends at stream offset `end`."""
        size = max(0, end - self._raw_start)
        raw = bytes(self._pending[:size])
        del self._pending[:size]
        self._raw_start += size
        if not self._items:
            return  # nothing printed: init bytes and the like make no paper
        done = PrintedPaper(len(self.papers) + 1, complete, self._items, raw, self._ids, self._errors)
        self._items, self._ids, self._errors = [], [], []
        if self.out_dir is not None:
            self._save(done)
        self.papers.append(done)
        self._changed.notify_all()
        if self.on_paper is not None:
            self.on_paper(done)

    def _save(self, done: PrintedPaper) -> None:
        assert self.out_dir is not None
        self.out_dir.mkdir(parents=True, exist_ok=True)
        image = render.render_items(done.items, self.paper_dots)
        contents = {
            "png": render.png_bytes(image),
            "txt": "".join(line + "\n" for line in done.text_lines()).encode("utf-8"),
            "json": json.dumps(done.summary(), ensure_ascii=False).encode("utf-8"),
            "bin": done.raw,
        }
        for suffix, data in contents.items():
            path = self.out_dir / f"{done.name}.{suffix}"
            _write(path, data)
            done.files[suffix] = path

    def _save_summary(self, done: PrintedPaper) -> None:
        if "json" in done.files:
            _write(done.files["json"], json.dumps(done.summary(), ensure_ascii=False).encode("utf-8"))

    def wait_papers(self, n: int, timeout: float) -> list[PrintedPaper]:
        """The first `n` papers, once there are; TimeoutError if they do not come in time."""
        with self._changed:
            if not self._changed.wait_for(lambda: len(self.papers) >= n, timeout):
                raise TimeoutError(f"{len(self.papers)} of {n} papers after {timeout} s")
            return self.papers[:n]


class _Connection(socketserver.BaseRequestHandler):
    server: _Server

    def handle(self) -> None:
        emulator = self.server.emulator
        sock: socket.socket = self.request
        budget: int | None = None
        with emulator.head:
            self.server.jobs += 1
            job = self.server.jobs
            self.server.connections.add(sock)
        try:
            while True:
                data = sock.recv(4096)
                if not data:
                    return
                if emulator.chunk_delay:  # outside the lock: status polls on other connections go on
                    time.sleep(emulator.chunk_delay)
                with emulator.head:  # one print head: chunks are printed in arrival order
                    if budget is None:
                        budget, emulator.drop_budget = emulator.drop_budget, None
                    if budget is not None:
                        data = data[:budget]
                        budget -= len(data)
                    answer = emulator.machine.feed(data, job)
                if answer:
                    sock.sendall(answer)
                if budget == 0:
                    sock.shutdown(socket.SHUT_RDWR)  # the scripted drop: the cable pulled
                    return
        except OSError:
            return  # the peer went away, or stop() closed the socket
        finally:
            with emulator.head:
                self.server.connections.discard(sock)


class _Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    block_on_close = True  # server_close() joins the connection threads

    def __init__(self, address: tuple[str, int], emulator: PrinterEmulator) -> None:
        self.emulator = emulator
        self.jobs = 0
        self.connections: set[socket.socket] = set()
        super().__init__(address, _Connection)


class PrinterEmulator:
    """`PrinterMachine` on a TCP port (0: a free one, see `.port`). Use as a context manager."""

    def __init__(self, machine: PrinterMachine, host: str = "127.0.0.1", port: int = 0) -> None:
        self.machine = machine
        self.head = threading.Lock()
        self.drop_budget: int | None = None
        self.chunk_delay = 0.0
        self._server = _Server((host, port), self)
        self.host, self.port = self._server.server_address[:2]
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"tcp://{self.host}:{self.port}"

    def drop_after(self, n_bytes: int) -> None:
        """The next connection to send data is closed once it has sent `n_bytes` more."""
        with self.head:
            self.drop_budget = n_bytes

    def delay(self, seconds: float) -> None:
        """Every received chunk takes this long to print: a slow printer."""
        self.chunk_delay = seconds

    def drop_connections(self) -> None:
        """The printer closes every open connection: a cable pulled, the printer switched off and on."""
        with self.head:
            for sock in self._server.connections:
                with contextlib.suppress(OSError):  # already closed by the peer
                    sock.shutdown(socket.SHUT_RDWR)  # wakes its thread out of recv()

    def start(self) -> PrinterEmulator:
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="printer-emulator", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:  # shutdown() waits for a serve_forever that must have started
            self._server.shutdown()
        self.drop_connections()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join()
        self.machine.flush()

    def __enter__(self) -> PrinterEmulator:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
