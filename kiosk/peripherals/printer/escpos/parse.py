"""ESC/POS bytes → what the printer would print: lines with their style, symbols, images, cuts.

Reads the command subset that encode.py writes, plus what a real driver (python-escpos) sends:
raster and column images, GS k barcodes, real-time status requests. Strictly: an unknown
command is an error with its offset, never skipped silently, so a test finds out when the
encoder sends something the halls' printers may not know.

`StreamParser` is incremental, for the printer emulator: it takes bytes as they arrive, a
command cut off at the end of a chunk waits for the rest, and it hands out events in order —
printed items, and requests the printer must answer (status, process ID, printer ID). `parse`
reads one whole buffer.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from kiosk.core.documents import Align
from kiosk.peripherals.printer.paper import code128
from kiosk.peripherals.printer.paper.layout import Bars, Line, Raster

_ALIGN = {0: Align.LEFT, 48: Align.LEFT, 1: Align.CENTER, 49: Align.CENTER, 2: Align.RIGHT, 50: Align.RIGHT}
_QR_ECC = {48: "L", 49: "M", 50: "Q", 51: "H"}
_CUT_WITH_FEED = {65, 66, 97, 98, 103, 104}
_CUT_PLAIN = {0, 1, 48, 49}
_HRI = {0: (False, False), 1: (True, False), 2: (False, True), 3: (True, True)}  # (above, below)
_GS_R = {1: "paper", 49: "paper", 2: "drawer", 50: "drawer"}
# GS I n: 1-3 (49-51) one-byte IDs; 65 firmware, 66 maker, 67 model, 68 serial, 69 fonts (5F text NUL)
_GS_I = {1, 2, 3, 49, 50, 51, 65, 66, 67, 68, 69}
# ESC * m: (dots per column, horizontal and vertical magnification on a 203 dpi head)
_COLUMN_MODES = {0: (8, 2, 3), 1: (8, 1, 3), 32: (24, 2, 1), 33: (24, 1, 1)}
DEFAULT_BARCODE_HEIGHT = 162
DEFAULT_BARCODE_MODULE = 3


class EscPosError(ValueError):
    def __init__(self, offset: int, message: str) -> None:
        super().__init__(f"byte {offset}: {message}")
        self.offset = offset
        self.message = message


class _Incomplete(Exception):
    """The command at the end of the buffer is cut off: wait for more bytes."""


@dataclass(frozen=True)
class PrintedQR:
    payload: bytes
    model: int
    module: int
    ecc: str

    @property
    def text(self) -> str:
        return self.payload.decode("utf-8")


@dataclass(frozen=True)
class Cut:
    partial: bool
    feed_dots: int


@dataclass(frozen=True)
class StatusRequest:
    """DLE EOT n (real-time, `realtime=True`) or GS r n (processed in order with the data)."""

    realtime: bool
    n: int  # DLE EOT: 1 printer, 2 offline cause, 3 error cause, 4 roll paper; GS r: 1 paper, 2 drawer


@dataclass(frozen=True)
class ProcessIdRequest:
    """GS ( H fn 48: answer 0x37 0x22 + `ids` + NUL once everything before it is printed."""

    ids: bytes


@dataclass(frozen=True)
class InfoRequest:
    """GS I n: the printer's model, firmware and the like, answered in order with the data."""

    n: int


@dataclass(frozen=True)
class Reset:
    """ESC @: print modes back to their defaults."""


@dataclass(frozen=True)
class RealTimeRequest:
    """DLE ENQ n (recover from an error) or DLE DC4 fn (1 drawer pulse, 8 clear the buffers)."""

    command: str  # "DLE ENQ" or "DLE DC4"
    fn: int


@dataclass(frozen=True)
class ParseError:
    """An unknown or malformed command; the stream parser skips it and goes on."""

    offset: int
    message: str


Printed = Line | PrintedQR | Bars | Raster | Cut
Request = StatusRequest | ProcessIdRequest | InfoRequest | Reset | RealTimeRequest
Event = Printed | Request | ParseError


@dataclass(frozen=True)
class Parsed:
    """An event and the stream offset just after the bytes that produced it."""

    event: Event
    end: int


@dataclass
class Printout:
    items: list[Printed] = field(default_factory=list)
    requests: list[Request] = field(default_factory=list)
    initialised: bool = False  # ESC @ seen
    chinese_mode: bool = False  # FS & seen (and not cancelled) at the end

    def lines(self) -> list[Line]:
        return [item for item in self.items if isinstance(item, Line)]

    def text_lines(self) -> list[str]:
        return [line.text for line in self.lines()]

    def qr_codes(self) -> list[PrintedQR]:
        return [item for item in self.items if isinstance(item, PrintedQR)]

    def qr_payloads(self) -> list[str]:
        return [code.text for code in self.qr_codes()]

    def barcodes(self) -> list[Bars]:
        return [item for item in self.items if isinstance(item, Bars)]

    def rasters(self) -> list[Raster]:
        return [item for item in self.items if isinstance(item, Raster)]

    @property
    def cut(self) -> bool:
        return bool(self.items) and isinstance(self.items[-1], Cut)


def pack_rows(bits: np.ndarray) -> bytes:
    """A 0/1 array of rows → packed 1-bit rows, MSB first (the Raster format)."""
    return np.packbits(bits.astype(np.uint8), axis=1).tobytes()


def unpack_rows(raster: Raster) -> np.ndarray:
    """A Raster's bits as a (height, width) 0/1 array."""
    packed = np.frombuffer(raster.rows, np.uint8).reshape(raster.height, -1)
    return np.unpackbits(packed, axis=1)[:, : raster.width]


class StreamParser:
    """Incremental ESC/POS reader: `feed` chunks, get the events they complete, in order.

    `paper_dots` only places images narrower than the paper by the ESC a alignment.
    """

    def __init__(self, paper_dots: int = 576) -> None:
        self.paper_dots = paper_dots
        self.buf = bytearray()
        self.base = 0  # stream offset of buf[0]
        self.pos = 0  # read position in buf
        self.chinese = False
        self.events: list[Parsed] = []
        self.graphics: tuple[np.ndarray, int, int] | None = None  # GS ( L stored image, bx, by
        self._reset()

    def _reset(self) -> None:
        self.align = Align.LEFT
        self.bold = False
        self.width = 1
        self.height = 1
        self.chinese = False
        self.qr_model, self.qr_module, self.qr_ecc = 50, 3, "L"
        self.qr_store: bytes | None = None
        self.bar_height, self.bar_module, self.hri = DEFAULT_BARCODE_HEIGHT, DEFAULT_BARCODE_MODULE, 0
        self.text = bytearray()
        self.text_start = 0
        self.text_style: tuple[Align, bool, int, int] | None = None
        self.column_image = False  # an ESC * stripe is on the current line: its LF adds no text line

    # -- input ---------------------------------------------------------------------------

    @property
    def offset(self) -> int:
        return self.base + self.pos

    def feed(self, data: bytes) -> list[Parsed]:
        """The events completed by `data`; a command cut off at its end waits for the next chunk."""
        self.buf += data
        while self.pos < len(self.buf):
            start = self.pos
            try:
                self._command()
            except _Incomplete:
                self.pos = start  # commands change no state before all their bytes are in
                break
            except EscPosError as exc:
                self._emit(ParseError(exc.offset, exc.message))
                self.pos = max(self.pos, start + 1)  # skip what was read of the bad command
        del self.buf[: self.pos]
        self.base += self.pos
        self.pos = 0
        events, self.events = self.events, []
        return events

    def finish(self) -> list[Parsed]:
        """End of the data: a cut-off command is an error, text without LF is shown as a line."""
        if self.buf:
            self._emit(ParseError(self.offset, f"command at the end truncated (0x{self.buf[0]:02x}…)"))
            self.base += len(self.buf)
            self.buf.clear()
        if self.text:
            self.flush()  # a real printer would keep it in the buffer; show it rather than lose it
        events, self.events = self.events, []
        return events

    def clear_line(self) -> None:
        """Drop text not yet printed (the printer went offline or its buffer was cleared)."""
        self.text.clear()
        self.text_style = None

    # -- helpers -------------------------------------------------------------------------

    def _emit(self, event: Event) -> None:
        self.events.append(Parsed(event, self.offset))

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.buf):
            raise _Incomplete
        chunk = bytes(self.buf[self.pos : self.pos + n])
        self.pos += n
        return chunk

    def byte(self) -> int:
        return self.take(1)[0]

    def flush(self) -> None:
        """A line ends (LF, feed, a symbol): decode what the buffer holds."""
        encoding = "gb18030" if self.chinese else "ascii"
        try:
            text = bytes(self.text).decode(encoding)
        except UnicodeDecodeError as exc:
            self._emit(ParseError(self.text_start + exc.start, f"text is not valid {encoding}"))
            text = bytes(self.text).decode(encoding, errors="replace")
        align, bold, width, height = self.text_style or (self.align, self.bold, self.width, self.height)
        self._emit(Line(text, align, bold, width, height))
        self.clear_line()

    def flush_pending(self) -> None:
        """Before a symbol, image or cut: text on the current line is printed first."""
        if self.text:
            self.flush()
        self.column_image = False

    def _left(self, width: int) -> int:
        if self.align is Align.CENTER:
            return max(0, (self.paper_dots - width) // 2)
        if self.align is Align.RIGHT:
            return max(0, self.paper_dots - width)
        return 0

    def _raster(self, bits: np.ndarray, sx: int, sy: int) -> None:
        bits = np.repeat(np.repeat(bits, sy, axis=0), sx, axis=1)
        height, width = bits.shape
        self._emit(Raster(width, height, pack_rows(bits), self._left(width)))

    # -- commands ------------------------------------------------------------------------

    def _command(self) -> None:
        start = self.offset
        byte = self.byte()
        if byte == 0x0A:
            if self.column_image and not self.text:
                self.column_image = False  # the stripe's LF advances exactly the stripe: no extra line
            else:
                self.flush()
        elif byte == 0x0D:
            pass  # carriage return: ignored while auto line feed is off
        elif byte == 0x1B:
            self.esc(start)
        elif byte == 0x1D:
            self.gs(start)
        elif byte == 0x1C:
            self.fs(start)
        elif byte == 0x10:
            self.dle(start)
        elif byte < 0x20 or byte == 0x7F:
            raise EscPosError(start, f"unknown control byte 0x{byte:02x}")
        elif byte >= 0x80 and not self.chinese:
            raise EscPosError(start, f"byte 0x{byte:02x} outside Chinese mode (FS &)")
        else:
            if not self.text:  # style of a line is the one its first character had
                self.text_style = (self.align, self.bold, self.width, self.height)
                self.text_start = start
            self.text.append(byte)

    def dle(self, start: int) -> None:
        cmd = self.byte()
        if cmd == 0x04:
            n = self.byte()
            if not 1 <= n <= 4:
                raise EscPosError(start, f"DLE EOT {n}: only 1–4 are known")
            self._emit(StatusRequest(realtime=True, n=n))
        elif cmd == 0x05:
            n = self.byte()
            if n > 2:
                raise EscPosError(start, f"DLE ENQ {n}: no such request")
            self._emit(RealTimeRequest("DLE ENQ", n))
        elif cmd == 0x14:
            fn = self.byte()
            if fn == 1:
                self.take(2)  # m (drawer pin), t (pulse time): nothing to print
            elif fn == 8:
                if self.take(6) != bytes([1, 3, 20, 1, 0, 0]):
                    raise EscPosError(start, "DLE DC4 8: wrong confirmation bytes")
                self.clear_line()
            else:
                raise EscPosError(start, f"DLE DC4 fn={fn}: only 1 (pulse) and 8 (clear) are known")
            self._emit(RealTimeRequest("DLE DC4", fn))
        else:
            raise EscPosError(start, f"unknown command DLE 0x{cmd:02x}")

    def esc(self, start: int) -> None:
        cmd = self.byte()
        if cmd == ord("@"):
            self._reset()  # Chinese mode too: our driver sends FS & again after it
            self._emit(Reset())
        elif cmd == ord("a"):
            n = self.byte()
            if n not in _ALIGN:
                raise EscPosError(start, f"ESC a {n}: no such alignment")
            self.align = _ALIGN[n]
        elif cmd == ord("E"):
            self.bold = bool(self.byte() & 1)
        elif cmd == ord("!"):  # print mode: bold bit 3, double height bit 4, double width bit 5
            n = self.byte()
            self.bold = bool(n & 0x08)
            self.height = 2 if n & 0x10 else 1
            self.width = 2 if n & 0x20 else 1
        elif cmd == ord("d"):
            n = self.byte()
            if self.text:
                self.flush()
                n -= 1
            for _ in range(max(n, 0)):
                self.flush()
        elif cmd == ord("J"):
            self.byte()  # feed n dots: ends the current line, adds no text line
            self.flush_pending()
        elif cmd == ord("2"):
            pass  # default line spacing
        elif cmd in b"3tMR-":
            self.byte()  # line spacing, code table, font, character set, underline: no effect on content
        elif cmd == ord("*"):
            self.column_stripe(start)
        else:
            raise EscPosError(start, f"unknown command ESC 0x{cmd:02x}")

    def column_stripe(self, start: int) -> None:
        """ESC * m nL nH data: one stripe of 8- or 24-dot columns, MSB at the top."""
        m, n_l, n_h = self.take(3)
        if m not in _COLUMN_MODES:
            raise EscPosError(start, f"ESC * {m}: no such bit image mode")
        dots, sx, sy = _COLUMN_MODES[m]
        columns = n_l + 256 * n_h
        data = self.take(columns * dots // 8)
        if self.text:
            self.flush()
        column_bits = np.unpackbits(np.frombuffer(data, np.uint8).reshape(columns, dots // 8), axis=1)
        self._raster(column_bits.T, sx, sy)
        self.column_image = True

    def fs(self, start: int) -> None:
        cmd = self.byte()
        if cmd == ord("&"):
            self.chinese = True
        elif cmd == ord("."):
            self.chinese = False
        elif cmd == ord("C"):
            self.byte()  # Chinese code system: GB18030 is all our printers have
        else:
            raise EscPosError(start, f"unknown command FS 0x{cmd:02x}")

    def gs(self, start: int) -> None:
        cmd = self.byte()
        if cmd == ord("!"):
            n = self.byte()
            width, height = (n >> 4) + 1, (n & 0x0F) + 1
            if width > 8 or height > 8:
                raise EscPosError(start, f"GS ! 0x{n:02x}: magnification over 8")
            self.width, self.height = width, height
        elif cmd == ord("V"):
            m = self.byte()
            if m in _CUT_WITH_FEED:
                feed = self.byte()
            elif m in _CUT_PLAIN:
                feed = 0
            else:
                raise EscPosError(start, f"GS V {m}: no such cut")
            self.flush_pending()
            self._emit(Cut(partial=m in (1, 49, 66, 98, 104), feed_dots=feed))
        elif cmd == ord("("):
            sub = self.byte()
            if sub == ord("k"):
                self.symbol(start)
            elif sub == ord("H"):
                self.process_id(start)
            elif sub == ord("L"):
                p_l, p_h = self.take(2)
                self.graphics_function(start, self.take(p_l + 256 * p_h))
            else:
                raise EscPosError(start, f"GS ( 0x{sub:02x}: only GS ( k, GS ( H and GS ( L are known")
        elif cmd == ord("8"):
            if self.byte() != ord("L"):
                raise EscPosError(start, "only GS 8 L is known")
            size = int.from_bytes(self.take(4), "little")
            self.graphics_function(start, self.take(size))
        elif cmd == ord("v"):
            self.raster_image(start)
        elif cmd == ord("r"):
            n = self.byte()
            if n not in _GS_R:
                raise EscPosError(start, f"GS r {n}: only 1/49 (paper) and 2/50 (drawer) are known")
            self._emit(StatusRequest(realtime=False, n=n & 0x0F))
        elif cmd == ord("I"):
            n = self.byte()
            if n not in _GS_I:
                raise EscPosError(start, f"GS I {n}: no such printer ID request")
            self._emit(InfoRequest(n))
        elif cmd == ord("h"):
            n = self.byte()
            if n == 0:
                raise EscPosError(start, "GS h 0: barcode height must be 1–255")
            self.bar_height = n
        elif cmd == ord("w"):
            n = self.byte()
            if not 1 <= n <= 6:
                raise EscPosError(start, f"GS w {n}: module width must be 1–6")
            self.bar_module = n
        elif cmd == ord("H"):
            n = self.byte()
            if n not in (0, 1, 2, 3, 48, 49, 50, 51):
                raise EscPosError(start, f"GS H {n}: no such HRI position")
            self.hri = n & 0x0F
        elif cmd in b"fB":
            self.byte()  # HRI font, reverse printing: no effect on content
        elif cmd == ord("k"):
            self.barcode(start)
        else:
            raise EscPosError(start, f"unknown command GS 0x{cmd:02x}")

    def raster_image(self, start: int) -> None:
        """GS v 0 m xL xH yL yH data: xL+xH·256 bytes a row, rows top to bottom."""
        if self.byte() != ord("0"):
            raise EscPosError(start, "only GS v 0 is known")
        m, x_l, x_h, y_l, y_h = self.take(5)
        if m & 0x0F > 3 or m not in (0, 1, 2, 3, 48, 49, 50, 51):
            raise EscPosError(start, f"GS v 0 mode {m}")
        row_bytes, height = x_l + 256 * x_h, y_l + 256 * y_h
        data = self.take(row_bytes * height)
        self.flush_pending()
        bits = np.unpackbits(np.frombuffer(data, np.uint8).reshape(height, row_bytes), axis=1)
        self._raster(bits, 1 + (m & 1), 1 + (m >> 1 & 1))

    def graphics_function(self, start: int, body: bytes) -> None:
        """GS ( L / GS 8 L body (m fn params): store raster graphics (fn 112), print them (fn 50)."""
        if len(body) < 2 or body[0] != 48:
            raise EscPosError(start, "GS ( L: m must be 48")
        fn = body[1]
        if fn == 112:
            if len(body) < 10:
                raise EscPosError(start, "GS ( L fn 112: header too short")
            tone, bx, by, colour = body[2:6]
            width, height = body[6] + 256 * body[7], body[8] + 256 * body[9]
            row_bytes = (width + 7) // 8
            if tone != 48 or colour != 49 or bx not in (1, 2) or by not in (1, 2):
                raise EscPosError(start, f"GS ( L fn 112: a={tone} bx={bx} by={by} c={colour} not supported")
            if len(body) - 10 != row_bytes * height:
                raise EscPosError(start, f"GS ( L fn 112: {len(body) - 10} data bytes for {width}×{height}")
            packed = np.frombuffer(body[10:], np.uint8).reshape(height, row_bytes)
            self.graphics = (np.unpackbits(packed, axis=1)[:, :width], bx, by)
        elif fn in (50, 2):
            if self.graphics is None:
                raise EscPosError(start, "GS ( L: print with no graphics stored")
            self.flush_pending()
            bits, bx, by = self.graphics
            self._raster(bits, bx, by)
        else:
            raise EscPosError(start, f"GS ( L fn {fn}: only 112 (store) and 50 (print) are known")

    def process_id(self, start: int) -> None:
        p_l, p_h = self.take(2)
        body = self.take(p_l + 256 * p_h)
        if len(body) != 6 or body[:2] != b"00":
            raise EscPosError(start, "GS ( H: only fn 48 m 48 with 4 ID bytes is known")
        self.flush_pending()
        self._emit(ProcessIdRequest(body[2:]))

    def barcode(self, start: int) -> None:
        m = self.byte()
        if m != 73:
            raise EscPosError(start, f"GS k {m}: only CODE128 (73) is known")
        payload = code128_text(self.take(self.byte()), start)
        try:
            row = code128.modules(payload)[code128.QUIET_MODULES : -code128.QUIET_MODULES]
        except ValueError:
            raise EscPosError(start, "CODE128: only printable ASCII is supported here") from None
        self.flush_pending()
        above, below = _HRI[self.hri]
        if above:
            self._emit(Line(payload, Align.CENTER))
        self._emit(Bars(payload, tuple(bool(m) for m in row), self.bar_module, self.bar_height))
        if below:
            self._emit(Line(payload, Align.CENTER))

    def symbol(self, start: int) -> None:
        p_l, p_h = self.take(2)
        length = p_l + 256 * p_h
        if length < 2:
            raise EscPosError(start, "GS ( k: too short")
        body = self.take(length)
        cn, fn, params = body[0], body[1], body[2:]
        if cn != 49:
            raise EscPosError(start, f"GS ( k cn={cn}: only QR code (49) is known")
        if fn == 65:
            self.qr_model = params[0]
        elif fn == 67:
            if not 1 <= params[0] <= 16:
                raise EscPosError(start, f"QR module size {params[0]} out of range")
            self.qr_module = params[0]
        elif fn == 69:
            if params[0] not in _QR_ECC:
                raise EscPosError(start, f"QR error correction {params[0]}")
            self.qr_ecc = _QR_ECC[params[0]]
        elif fn == 80:
            if params[:1] != b"0":
                raise EscPosError(start, "QR store: m must be 48")
            self.qr_store = bytes(params[1:])
        elif fn == 81:
            if self.qr_store is None:
                raise EscPosError(start, "QR print with nothing stored")
            self.flush_pending()
            self._emit(PrintedQR(self.qr_store, self.qr_model - 48, self.qr_module, self.qr_ecc))
        else:
            raise EscPosError(start, f"GS ( k QR function {fn} unknown")


def code128_text(data: bytes, offset: int) -> str:
    """GS k 73 data → the text it encodes: "{A"/"{B"/"{C" select a code set, "{{" is "{"."""
    out: list[str] = []
    code_set = ""
    i = 0
    while i < len(data):
        byte = data[i]
        if byte == ord("{"):  # set C values stop at 99, so "{" is always a prefix there
            selector = data[i + 1 : i + 2]
            if selector in (b"A", b"B", b"C"):
                code_set = selector.decode()
                i += 2
                continue
            if selector != b"{" or code_set != "B":  # "{{" is "{", which only set B has
                raise EscPosError(offset, f"CODE128: {{{selector.decode('latin-1')} is not supported")
            i += 1
        if not code_set:
            raise EscPosError(offset, "CODE128 data must start with {A, {B or {C")
        if code_set == "C":
            if byte > 99:
                raise EscPosError(offset, f"CODE128 set C value {byte} over 99")
            out.append(f"{byte:02d}")
        elif (code_set == "A" and byte > 0x5F) or (code_set == "B" and not 0x20 <= byte <= 0x7F):
            raise EscPosError(offset, f"CODE128 set {code_set}: byte 0x{byte:02x}")
        else:
            out.append(chr(byte))
        i += 1
    return "".join(out)


def parse(data: bytes, paper_dots: int = 576) -> Printout:
    """What `data` prints; raises EscPosError on anything outside the known subset."""
    parser = StreamParser(paper_dots)
    out = Printout()
    for parsed in [*parser.feed(data), *parser.finish()]:
        event = parsed.event
        if isinstance(event, ParseError):
            raise EscPosError(event.offset, event.message)
        if isinstance(event, Reset):
            out.initialised = True
        if isinstance(event, Request):
            out.requests.append(event)
        else:
            out.items.append(event)
    out.chinese_mode = parser.chinese
    return out
