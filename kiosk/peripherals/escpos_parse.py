"""ESC/POS bytes → what the printer would print: lines with their style, QR symbols, cuts.

Reads the command subset that escpos.py writes (plus a few neighbours a real driver sends),
strictly: an unknown command is an error with its offset, never skipped, so a test finds out
when the encoder sends something the halls' printers may not know. The printer emulator of the
component tests is meant to grow from this module.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from kiosk.core.documents import Align
from kiosk.peripherals.layout import Line

_ALIGN = {0: Align.LEFT, 48: Align.LEFT, 1: Align.CENTER, 49: Align.CENTER, 2: Align.RIGHT, 50: Align.RIGHT}
_QR_ECC = {48: "L", 49: "M", 50: "Q", 51: "H"}
_CUT_WITH_FEED = {65, 66, 97, 98, 103, 104}
_CUT_PLAIN = {0, 1, 48, 49}


class EscPosError(ValueError):
    def __init__(self, offset: int, message: str) -> None:
        super().__init__(f"byte {offset}: {message}")
        self.offset = offset


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


@dataclass
class Printout:
    items: list[Line | PrintedQR | Cut] = field(default_factory=list)
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

    @property
    def cut(self) -> bool:
        return bool(self.items) and isinstance(self.items[-1], Cut)


class _Parser:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0
        self.out = Printout()
        self._reset()

    def _reset(self) -> None:
        self.align = Align.LEFT
        self.bold = False
        self.width = 1
        self.height = 1
        self.chinese = False
        self.qr_model, self.qr_module, self.qr_ecc = 50, 3, "L"
        self.qr_store: bytes | None = None
        self.text = bytearray()
        self.text_style: tuple[Align, bool, int, int] | None = None

    def take(self, n: int, what: str) -> bytes:
        if self.pos + n > len(self.data):
            raise EscPosError(self.pos, f"{what}: truncated")
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def flush(self) -> None:
        """A line ends (LF, feed, a symbol): decode what the buffer holds."""
        start = self.pos
        try:
            text = bytes(self.text).decode("gb18030" if self.chinese else "cp437")
        except UnicodeDecodeError as exc:
            raise EscPosError(start, f"text is not valid GB18030: {exc}") from None
        align, bold, width, height = self.text_style or (self.align, self.bold, self.width, self.height)
        self.out.items.append(Line(text, align, bold, width, height))
        self.text.clear()
        self.text_style = None

    def parse(self) -> Printout:
        while self.pos < len(self.data):
            start = self.pos
            byte = self.data[self.pos]
            self.pos += 1
            if byte == 0x0A:
                self.flush()
            elif byte == 0x0D:
                pass  # carriage return: ignored while auto line feed is off
            elif byte == 0x1B:
                self.esc(start)
            elif byte == 0x1D:
                self.gs(start)
            elif byte == 0x1C:
                self.fs(start)
            elif byte < 0x20 or byte == 0x7F:
                raise EscPosError(start, f"unknown control byte 0x{byte:02x}")
            else:
                if not self.text:  # style of a line is the one its first character had
                    self.text_style = (self.align, self.bold, self.width, self.height)
                self.text.append(byte)
        if self.text:
            self.flush()  # a real printer would keep it in the buffer; show it rather than lose it
        self.out.chinese_mode = self.chinese
        return self.out

    def esc(self, start: int) -> None:
        cmd = self.take(1, "ESC")[0]
        if cmd == ord("@"):
            self._reset()
            self.out.initialised = True
        elif cmd == ord("a"):
            n = self.take(1, "ESC a")[0]
            if n not in _ALIGN:
                raise EscPosError(start, f"ESC a {n}: no such alignment")
            self.align = _ALIGN[n]
        elif cmd == ord("E"):
            self.bold = bool(self.take(1, "ESC E")[0] & 1)
        elif cmd == ord("!"):  # print mode: bold bit 3, double height bit 4, double width bit 5
            n = self.take(1, "ESC !")[0]
            self.bold = bool(n & 0x08)
            self.height = 2 if n & 0x10 else 1
            self.width = 2 if n & 0x20 else 1
        elif cmd == ord("d"):
            n = self.take(1, "ESC d")[0]
            if self.text:
                self.flush()
                n -= 1
            for _ in range(max(n, 0)):
                self.flush()
        elif cmd == ord("2"):
            pass  # default line spacing
        elif cmd in (ord("3"), ord("t")):
            self.take(1, "ESC 3 / ESC t")  # line spacing, code table: no effect on content
        else:
            raise EscPosError(start, f"unknown command ESC 0x{cmd:02x}")

    def fs(self, start: int) -> None:
        cmd = self.take(1, "FS")[0]
        if cmd == ord("&"):
            self.chinese = True
        elif cmd == ord("."):
            self.chinese = False
        else:
            raise EscPosError(start, f"unknown command FS 0x{cmd:02x}")

    def gs(self, start: int) -> None:
        cmd = self.take(1, "GS")[0]
        if cmd == ord("!"):
            n = self.take(1, "GS !")[0]
            self.width, self.height = (n >> 4) + 1, (n & 0x0F) + 1
            if self.width > 8 or self.height > 8:
                raise EscPosError(start, f"GS ! 0x{n:02x}: magnification over 8")
        elif cmd == ord("V"):
            m = self.take(1, "GS V")[0]
            if m in _CUT_WITH_FEED:
                feed = self.take(1, "GS V")[0]
            elif m in _CUT_PLAIN:
                feed = 0
            else:
                raise EscPosError(start, f"GS V {m}: no such cut")
            if self.text:
                self.flush()
            self.out.items.append(Cut(partial=m in (1, 49, 66, 98, 104), feed_dots=feed))
        elif cmd == ord("("):
            if self.take(1, "GS (")[0] != ord("k"):
                raise EscPosError(start, "only GS ( k is known")
            self.symbol(start)
        else:
            raise EscPosError(start, f"unknown command GS 0x{cmd:02x}")

    def symbol(self, start: int) -> None:
        p_l, p_h = self.take(2, "GS ( k length")
        length = p_l + 256 * p_h
        if length < 2:
            raise EscPosError(start, "GS ( k: too short")
        body = self.take(length, "GS ( k")
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
            if self.text:
                self.flush()
            self.out.items.append(PrintedQR(self.qr_store, self.qr_model - 48, self.qr_module, self.qr_ecc))
        else:
            raise EscPosError(start, f"GS ( k QR function {fn} unknown")


def parse(data: bytes) -> Printout:
    """What `data` prints; raises EscPosError on anything outside the known subset."""
    return _Parser(data).parse()
