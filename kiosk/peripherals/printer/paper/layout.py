"""Lay a Document out on a thermal paper roll: the one place that decides what goes on which line.

Both the ESC/POS encoder (escpos/encode.py) and the PNG preview (paper/render.py) consume
`layout()`, so the picture a technician sees is line for line what the printer prints.

The grid is the printer's own: Font A is 12×24 dots, a column is 12 dots, and in Chinese mode
(FS &) every character that takes two bytes in GB18030 is printed full width, two columns. So a
character's width is its encoded width, not its Unicode East Asian width: "·" or "—" are
"ambiguous" in Unicode but always full width on a Chinese printer.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

import numpy as np
import qrcode
from qrcode.constants import ERROR_CORRECT_M

from kiosk.core.documents import QR, Align, Barcode, Blank, Document, Footer, RasterTest, Row, Rule, Text, Title
from kiosk.peripherals.printer.paper import code128

DOTS_PER_COLUMN = 12  # Font A: 12×24 dots
GLYPH_HEIGHT = 24
ENCODING = "gb18030"
BARCODE_HEIGHT = 64  # dots, 8 mm: enough for a hand scanner held at a slant
# Dots per Code128 module, widest first. Under 2 dots (0.25 mm) thermal bars bleed into each other.
BARCODE_MODULES = (3, 2)


@dataclass(frozen=True)
class Paper:
    width_mm: int
    dots: int  # printable width in dots at 203 dpi
    columns: int  # Font A columns (a CJK character takes two)


PAPERS = {58: Paper(58, 384, 32), 80: Paper(80, 576, 48)}


def paper(width_mm: int) -> Paper:
    try:
        return PAPERS[width_mm]
    except KeyError:
        raise ValueError(f"paper width {width_mm} mm: supported are {sorted(PAPERS)}") from None


@dataclass(frozen=True)
class Line:
    """One printed line. `width`/`height` are the GS ! magnifications (1 or 2)."""

    text: str
    align: Align = Align.LEFT
    bold: bool = False
    width: int = 1
    height: int = 1

    @property
    def columns(self) -> int:
        return text_width(self.text) * self.width


@dataclass(frozen=True)
class Symbol:
    """A QR code, model 2, error correction M; `module` is the module size in dots."""

    payload: str
    module: int
    matrix: tuple[tuple[bool, ...], ...]  # dark modules, without quiet zone
    raster: bool = False  # sent as an image even where the printer draws QR codes itself

    @property
    def size(self) -> int:
        """Side of the printed symbol in dots."""
        return len(self.matrix) * self.module


@dataclass(frozen=True)
class Bars:
    """A Code128 barcode the printer draws itself (GS k); `modules` without quiet zone, True = bar."""

    payload: str
    modules: tuple[bool, ...]
    module: int  # dots per module (GS w, 2–6)
    height: int  # bar height in dots (GS h)

    @property
    def width(self) -> int:
        return len(self.modules) * self.module


@dataclass(frozen=True)
class Raster:
    """A bitmap sent as dots (GS v 0, GS ( L or ESC *), placed `left` dots from the paper's edge.

    `rows` are packed 1-bit rows, MSB first, ceil(width / 8) bytes each, 1 = black: the printer's
    own raster format, so the emulator can hand what it received straight to the renderer.
    """

    width: int
    height: int
    rows: bytes
    left: int = 0


Item = Line | Symbol | Bars | Raster

# A line must not begin with these (禁则): closing punctuation hangs on to the word before it.
_NO_LINE_START = set("，。、；：！？）】》」』”’…—,.;:!?)]}%·")
# …and must not end with these: an opening bracket goes down with what it opens.
_NO_LINE_END = set("（【《「『“‘([{")


def cell_width(ch: str) -> int:
    """Columns a character takes on the printer: 1 for ASCII, 2 for a GB18030 multibyte character."""
    return 1 if ord(ch) < 0x80 else 2


def text_width(text: str) -> int:
    return sum(cell_width(ch) for ch in text)


def sanitize(text: str) -> str:
    """Drop control and format characters so that data can never inject printer commands.

    Tabs become a space; newlines are kept, `wrap` treats them as line breaks.
    """
    out = []
    for ch in text.replace("\r\n", "\n").replace("\t", " "):
        if ch == "\n" or unicodedata.category(ch) not in ("Cc", "Cf", "Cs", "Co", "Cn"):
            out.append(ch)
    return "".join(out)


def _tokens(paragraph: str) -> list[str]:
    """Latin words stay whole (URLs, numbers); every other character is its own token."""
    tokens: list[str] = []
    word = ""
    for ch in paragraph:
        if "!" <= ch <= "~":
            word += ch
            continue
        if word:
            tokens.append(word)
            word = ""
        tokens.append(ch)
    if word:
        tokens.append(word)
    return tokens


def _wrap_paragraph(paragraph: str, columns: int) -> list[str]:
    lines: list[str] = []
    line = ""
    for token in _tokens(paragraph):
        if token == " " and not line:
            continue  # no leading blanks on a wrapped line
        if text_width(line) + text_width(token) <= columns:
            line += token
            continue
        if token == " ":
            lines.append(line)
            line = ""
            continue
        if text_width(token) > columns:  # a word longer than a line: break it where it must
            for ch in token:
                if text_width(line) + cell_width(ch) > columns:
                    lines.append(line)
                    line = ""
                line += ch
            continue
        carry = ""
        if token in _NO_LINE_START and len(line) > 1:
            carry, line = line[-1], line[:-1]
        while len(line) > 1 and line[-1] in _NO_LINE_END:
            carry, line = line[-1] + carry, line[:-1]
        lines.append(line)
        line = carry + token
    lines.append(line)
    return [text.rstrip(" ") for text in lines]


def wrap(text: str, columns: int) -> list[str]:
    """Break `text` into lines of at most `columns` printer columns (CJK = 2).

    Breaks between CJK characters anywhere, between Latin words at spaces, keeps closing
    punctuation off the start of a line. An empty text is one empty line.
    """
    if columns < 2:
        raise ValueError("a line needs at least two columns")
    lines: list[str] = []
    for paragraph in sanitize(text).split("\n"):
        lines.extend(_wrap_paragraph(paragraph, columns))
    return lines


def _large(text: str, align: Align, bold: bool, columns: int) -> list[Line]:
    """Double width and height if the text fits on one line so, else double height only.

    A receipt number on 58 mm paper does not fit at double width; split over two lines it
    would be misread, so it is printed tall instead.
    """
    clean = sanitize(text)
    if "\n" not in clean and text_width(clean) <= columns // 2:
        return [Line(clean, align, bold, 2, 2)]
    return [Line(part, align, bold, 1, 2) for part in wrap(clean, columns)]


def _row(row: Row, columns: int) -> list[Line]:
    """A "key：value" line; continuation lines are indented under the value when the key is short."""
    key = sanitize(row.key).replace("\n", " ") + "："
    indent = text_width(key)
    if indent > columns // 2:
        return [Line(part) for part in wrap(key + row.value, columns)]
    parts = wrap(row.value, columns - indent)
    return [Line(key + parts[0])] + [Line(" " * indent + part) for part in parts[1:]]


def qr_matrix(payload: str) -> tuple[tuple[bool, ...], ...]:
    """The QR symbol the printer draws for GS ( k with model 2 and correction M."""
    code = qrcode.QRCode(error_correction=ERROR_CORRECT_M, border=0)
    code.add_data(payload.encode("utf-8"))
    code.make(fit=True)
    return tuple(tuple(bool(m) for m in row) for row in code.get_matrix())


def qr_module_size(modules: int, dots: int) -> int:
    """Module size in dots: the symbol takes about half the paper, 3–7 dots a module.

    Under 3 dots (0.375 mm) phone cameras start to fail. At most 7 so that the blank line
    above and below (30 dots) is the 4-module quiet zone a scanner needs.
    """
    return max(3, min(7, dots // 2 // modules))


def barcode_bars(payload: str, dots: int) -> Bars | Symbol:
    """`payload` as Code128 at the widest module for which symbol and quiet zones fit `dots`.

    A payload too long for the paper even at 2 dots a module (a receipt number on 58 mm) is
    printed as a QR code of the same text: hall scanners read both, and nothing is dropped.
    ValueError for a payload that is not printable ASCII.
    """
    row = code128.modules(payload)  # ValueError unless printable ASCII
    quiet = code128.QUIET_MODULES
    for module in BARCODE_MODULES:
        if len(row) * module <= dots:
            bars = tuple(bool(m) for m in row[quiet:-quiet])
            return Bars(payload, bars, module, BARCODE_HEIGHT)
    return qr_symbol(payload, dots)


def stripe_pattern(width: int, height: int) -> Raster:
    """Diagonal stripes in a one-dot frame, packed rows MSB first, 1 = black.

    A fragment of an image sent at the wrong offset breaks the diagonals; a dropped row or
    column breaks the frame.
    """
    if height < 1:
        raise ValueError("a test pattern needs at least one row")
    y, x = np.mgrid[0:height, 0:width]
    black = ((x + y) // 8) % 2 == 0
    black[[0, -1], :] = True
    black[:, [0, -1]] = True
    return Raster(width, height, np.packbits(black, axis=1).tobytes())


def _centred(text: str, columns: int) -> list[Line]:
    return [Line(part, Align.CENTER) for part in wrap(text, columns)]


def _captioned(item: Item, caption: str, columns: int) -> list[Item]:
    """A symbol between blank lines (the quiet zone a scanner needs), then its caption."""
    items: list[Item] = [Line(""), item, Line("")]
    return items + (_centred(caption, columns) if caption else [])


def qr_symbol(payload: str, dots: int, raster: bool = False) -> Symbol:
    matrix = qr_matrix(payload)
    return Symbol(payload, qr_module_size(len(matrix), dots), matrix, raster)


def layout(document: Document, paper_width_mm: int) -> list[Item]:
    """The printed lines and symbols of `document`, top to bottom."""
    spec = paper(paper_width_mm)
    rule = Line("-" * spec.columns)
    items: list[Item] = []
    for block in document.blocks:
        if isinstance(block, Title):
            items.extend(_large(block.text, Align.CENTER, True, spec.columns))
        elif isinstance(block, Text):
            if block.large:
                items.extend(_large(block.text, block.align, block.bold, spec.columns))
            else:
                items.extend(Line(part, block.align, block.bold) for part in wrap(block.text, spec.columns))
        elif isinstance(block, Row):
            items.extend(_row(block, spec.columns))
        elif isinstance(block, QR):
            items.extend(_captioned(qr_symbol(block.payload, spec.dots, block.raster), block.caption, spec.columns))
        elif isinstance(block, Barcode):
            items.extend(_captioned(barcode_bars(block.payload, spec.dots), block.caption, spec.columns))
        elif isinstance(block, RasterTest):
            items.append(stripe_pattern(spec.dots, block.height_dots))
            items.extend(_centred(block.caption, spec.columns))
        elif isinstance(block, Rule):
            items.append(rule)
        elif isinstance(block, Blank):
            items.extend(Line("") for _ in range(block.lines))
        elif isinstance(block, Footer):
            items.append(rule)
            items.extend(_centred(block.text, spec.columns))
        else:  # a new block type must be laid out here before it can be printed
            raise TypeError(f"cannot lay out {type(block).__name__}")
    return items
