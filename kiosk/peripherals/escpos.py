"""Document → ESC/POS bytes for a Chinese thermal receipt printer.

A small encoder of our own, kept to the commands every GB18030 printer of the halls accepts;
escpos_parse.py reads the same subset back. What goes on which line is decided by layout.py.
"""

from __future__ import annotations

from kiosk.core.documents import Align, Document
from kiosk.peripherals.layout import ENCODING, Line, Symbol, layout

ESC, GS, FS, LF = b"\x1b", b"\x1d", b"\x1c", b"\n"

INIT = ESC + b"@"
CHINESE_MODE = FS + b"&"  # bytes >= 0x81 start a GB18030 character from here on
FULL_CUT_AFTER_FEED = GS + b"V" + bytes([65, 24])  # function B: feed to the cutter + 24 dots, cut
_ALIGN = {Align.LEFT: 0, Align.CENTER: 1, Align.RIGHT: 2}

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


def encode(document: Document, paper_width_mm: int) -> bytes:
    """The bytes to send to the printer for `document` on `paper_width_mm` paper (58 or 80)."""
    out = bytearray(INIT + CHINESE_MODE)
    # after ESC @ the printer is left-aligned, regular, 1×1; send a command only on a change
    state: tuple[Align, bool, int, int] = (Align.LEFT, False, 1, 1)
    for item in layout(document, paper_width_mm):
        if isinstance(item, Symbol):
            if state[0] is not Align.CENTER:
                out += align(Align.CENTER)
                state = (Align.CENTER, *state[1:])
            out += qr(item.payload, item.module)
            continue
        assert isinstance(item, Line)
        if item.text:  # style of an empty line is invisible: do not spend bytes on it
            if item.align is not state[0]:
                out += align(item.align)
            if item.bold != state[1]:
                out += bold(item.bold)
            if (item.width, item.height) != state[2:]:
                out += size(item.width, item.height)
            state = (item.align, item.bold, item.width, item.height)
            out += item.text.encode(ENCODING)
        out += LF
    out += FULL_CUT_AFTER_FEED
    return bytes(out)
