"""Layout items → ESC/POS bytes for a Chinese thermal receipt printer, as its profile says.

Text, styles, QR codes (GS ( k), barcodes (GS k) and cuts we write ourselves: the subset every
GB18030 printer of the halls accepts, and parse.py beside it reads back. Bitmaps (a QR code on a
printer without GS ( k, the test page's raster ladder) go through python-escpos's `image()`,
in the profile's image method and fragment height.

Every text line goes out in the profile's encoding, in Chinese mode (FS &), whatever it holds:
a line of only punctuation or only Latin letters is encoded the same way as a line of Han
characters, so "：" or "—" never come out as "?".
"""

from __future__ import annotations

import logging

from escpos.printer import Dummy
from PIL import Image

from kiosk.core.documents import Align, Document
from kiosk.peripherals.printer.paper import code128
from kiosk.peripherals.printer.paper.layout import Bars, Item, Line, Raster, Symbol, layout, paper
from kiosk.peripherals.printer.profile import PrinterProfile

log = logging.getLogger(__name__)

ESC, GS, FS, DLE, LF = b"\x1b", b"\x1d", b"\x1c", b"\x10", b"\n"

INIT = ESC + b"@"
CHINESE_MODE = FS + b"&"  # bytes >= 0x81 start a GB18030 character from here on
_ALIGN = {Align.LEFT: 0, Align.CENTER: 1, Align.RIGHT: 2}
_CUT = {"full": GS + b"V" + bytes([65, 24]), "partial": GS + b"V" + bytes([66, 24])}
TEAR_OFF_FEED = ESC + b"d" + bytes([4])  # no cutter: feed the last line past the tear bar
GBK_MISSING = "〓"  # printed for a character GBK firmware has no glyph for: visible, never "?"

QR_MAX_BYTES = 7089  # GS ( k store: pL + pH×256 ≤ 7092, of which 3 are cn fn m


def align(value: Align) -> bytes:
    return ESC + b"a" + bytes([_ALIGN[value]])


def bold(on: bool) -> bytes:
    return ESC + b"E" + bytes([1 if on else 0])


def size(width: int, height: int) -> bytes:
    """GS ! n: high nibble width, low nibble height magnification, each 1–8."""
    if not (1 <= width <= 8 and 1 <= height <= 8):
        raise ValueError(f"magnification {width}×{height} out of range")
    return GS + b"!" + bytes([(width - 1) << 4 | (height - 1)])


def _qr_function(fn: int, params: bytes) -> bytes:
    """GS ( k pL pH cn fn params, with cn = 49 (QR code)."""
    length = len(params) + 2
    return GS + b"(k" + bytes([length & 0xFF, length >> 8, 49, fn]) + params


def qr(payload: str, module: int) -> bytes:
    """Model 2, module size, correction M, store, print: the printer draws the symbol itself."""
    data = payload.encode("utf-8")
    if len(data) > QR_MAX_BYTES:
        raise ValueError(f"QR payload of {len(data)} bytes is over {QR_MAX_BYTES}")
    if not 1 <= module <= 16:
        raise ValueError(f"QR module size {module} out of range 1–16")
    return (
        _qr_function(65, bytes([50, 0]))  # model 2
        + _qr_function(67, bytes([module]))
        + _qr_function(69, bytes([49]))  # error correction M (48 L, 49 M, 50 Q, 51 H)
        + _qr_function(80, b"0" + data)  # store in the symbol area
        + _qr_function(81, b"0")  # print it
    )


def code128_data(payload: str) -> bytes:
    """GS k 73 data: the same code sets paper/code128.py chose, so the printed width is the laid-out one."""
    values = code128.symbol_values(payload)[:-1]  # the printer adds the check character
    out = bytearray()
    code_set = ""
    for index, value in enumerate(values):
        if index == 0 or value in (code128.CODE_B, code128.CODE_C):
            code_set = "C" if value in (code128.START_C, code128.CODE_C) else "B"
            out += b"{" + code_set.encode()
        elif code_set == "C":
            out.append(value)
        else:
            char = value + 32
            out += b"{{" if char == ord("{") else bytes([char])
    return bytes(out)


def barcode(bars: Bars) -> bytes:
    """Code128, no human-readable line from the printer: the caption is our own GB18030 text."""
    data = code128_data(bars.payload)
    if len(data) > 255:
        raise ValueError(f"barcode data of {len(data)} bytes is over 255")
    return (
        GS + b"h" + bytes([bars.height])
        + GS + b"w" + bytes([bars.module])
        + GS + b"H" + bytes([0])
        + GS + b"k" + bytes([73, len(data)]) + data
    )  # fmt: skip


def byte_collector(paper_width_mm: int) -> Dummy:
    """A python-escpos printer that only collects bytes, told the paper's width in dots.

    python-escpos checks images against its own profile's width, and says so on stdout when
    that is unknown; ours knows the paper.
    """
    printer = Dummy()
    media = {"width": {"pixels": paper(paper_width_mm).dots}}
    printer.profile.profile_data = {**printer.profile.profile_data, "media": media}
    return printer


def _image(picture: Image.Image, profile: PrinterProfile) -> bytes:
    """A black-on-white picture (mode "1" or "L") as the profile's image command, in fragments."""
    printer = byte_collector(profile.paper_width_mm)
    printer.image(picture, impl=profile.image_method, fragment_height=profile.fragment_height)
    return bytes(printer.output)


def qr_picture(symbol: Symbol) -> Image.Image:
    """The symbol as the printer would draw it, to send as an image: 1 dot per dot, no quiet zone."""
    side = len(symbol.matrix)
    picture = Image.new("1", (side, side), 1)
    picture.putdata([0 if dark else 1 for row in symbol.matrix for dark in row])
    return picture.resize((symbol.size, symbol.size), Image.Resampling.NEAREST)


def raster_picture(raster: Raster) -> Image.Image:
    """Our packed rows (1 = black) as a PIL image (0 = black)."""
    picture = Image.frombytes("1", (raster.width, raster.height), raster.rows)
    return picture.point(lambda value: 255 - value, mode="1")


def encode_text(text: str, encoding: str) -> bytes:
    if encoding == "gb18030":
        return text.encode("gb18030")
    out = bytearray()
    missing = 0
    for ch in text:
        try:
            out += ch.encode(encoding)
        except UnicodeEncodeError:
            out += GBK_MISSING.encode(encoding)
            missing += 1
    if missing:  # the text may be personal: say how many, not which
        log.warning("%d characters have no %s glyph: printed as %s", missing, encoding, GBK_MISSING)
    return bytes(out)


def encode_items(items: list[Item], profile: PrinterProfile) -> bytes:
    """The bytes for `items` on this printer, from ESC @ to the cut."""
    out = bytearray(INIT + CHINESE_MODE)
    # after ESC @ the printer is left-aligned, regular, 1×1; send a command only on a change
    state: tuple[Align, bool, int, int] = (Align.LEFT, False, 1, 1)

    def centred() -> None:
        nonlocal state
        if state[0] is not Align.CENTER:
            out.extend(align(Align.CENTER))
            state = (Align.CENTER, *state[1:])

    for item in items:
        if isinstance(item, Line):
            if item.text:  # style of an empty line is invisible: do not spend bytes on it
                if item.align is not state[0]:
                    out += align(item.align)
                if item.bold != state[1]:
                    out += bold(item.bold)
                if (item.width, item.height) != state[2:]:
                    out += size(item.width, item.height)
                state = (item.align, item.bold, item.width, item.height)
                out += encode_text(item.text, profile.encoding)
            out += LF
            continue
        centred()
        if isinstance(item, Symbol):
            native = profile.native_qr and not item.raster
            out += qr(item.payload, item.module) if native else _image(qr_picture(item), profile)
        elif isinstance(item, Bars):
            out += barcode(item)
        else:
            out += _image(raster_picture(item), profile)
    out += _CUT.get(profile.cutter, TEAR_OFF_FEED)
    return bytes(out)


def encode(document: Document, profile: PrinterProfile) -> bytes:
    """The bytes to send to the printer for `document`."""
    return encode_items(layout(document, profile.paper_width_mm), profile)
