"""Layout items → PNG: what the paper will look like, for the simulated printer, the printer
emulator and on-screen copies.

It draws the items of layout.py (lines, QR symbols, barcodes, bitmaps) on the printer's dot grid
(12×24-dot cells, a CJK character two cells), so the picture breaks lines exactly where the
printer does. `render_items` draws any list of items: a Document's layout or what the emulator
parsed from ESC/POS.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Sequence
from functools import cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from kiosk.core.documents import Align, Document
from kiosk.peripherals.printer.paper.layout import (
    DOTS_PER_COLUMN,
    GLYPH_HEIGHT,
    Bars,
    Item,
    Line,
    Raster,
    Symbol,
    cell_width,
    layout,
    paper,
)

log = logging.getLogger(__name__)

FONT_DIR = Path("/usr/share/fonts/opentype/noto")
FONT_FILES = {False: FONT_DIR / "NotoSansCJK-Regular.ttc", True: FONT_DIR / "NotoSansCJK-Bold.ttc"}
# The monospaced face draws Latin at exactly half the CJK width, like the printer's Font A;
# the proportional SC face is the fallback (its Latin glyphs are centred in their cell).
FACES = ("Noto Sans Mono CJK SC", "Noto Sans CJK SC")

LINE_GAP = 6  # dots between lines (ESC 2 default spacing is 30 dots for 24-dot glyphs)
BASELINE = 21  # in a 24-dot cell: Noto CJK's ascender is 0.88 em
MARGIN_TOP = 12
MARGIN_BOTTOM = 48  # the stretch fed out to the cutter
BARS_GAP = LINE_GAP  # below a barcode, so the caption under it does not touch the bars


@cache
def font(bold: bool = False) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """The Simplified Chinese face of Noto Sans CJK, found by name: the .ttc index differs by face."""
    path = FONT_FILES[bold]
    faces: dict[str, int] = {}
    for index in range(16):
        try:
            family = ImageFont.truetype(str(path), GLYPH_HEIGHT, index=index).getname()[0]
        except OSError:
            break
        faces.setdefault(family or "", index)
    for face in FACES:
        if face in faces:
            # one character at a time needs no shaping: the basic engine is 7× faster than raqm
            return ImageFont.truetype(str(path), GLYPH_HEIGHT, index=faces[face], layout_engine=ImageFont.Layout.BASIC)
    log.warning("no Noto Sans CJK SC in %s: Chinese will not render", path)
    return ImageFont.load_default(GLYPH_HEIGHT)


def item_height(item: Item) -> int:
    """Dots of paper `item` takes: also what the printer emulator's roll loses to it."""
    if isinstance(item, Symbol):
        return item.size
    if isinstance(item, Bars):
        return item.height + BARS_GAP
    if isinstance(item, Raster):
        return item.height  # image stripes follow each other with no gap
    return GLYPH_HEIGHT * item.height + LINE_GAP


def _draw_line(image: Image.Image, line: Line, top: int) -> None:
    if not line.text:
        return
    columns = sum(cell_width(ch) for ch in line.text)
    strip = Image.new("L", (columns * DOTS_PER_COLUMN, GLYPH_HEIGHT), 255)
    draw = ImageDraw.Draw(strip)
    face = font(line.bold)
    column = 0
    for ch in line.text:
        cells = cell_width(ch)
        if not ch.isspace():  # each character centred in its own cells: the grid never drifts
            centre = (column + cells / 2) * DOTS_PER_COLUMN
            draw.text((centre, BASELINE), ch, font=face, fill=0, anchor="ms")
        column += cells
    if (line.width, line.height) != (1, 1):  # GS ! doubles dots, it does not use a bigger font
        strip = strip.resize((strip.width * line.width, strip.height * line.height), Image.Resampling.NEAREST)
    image.paste(strip, (_left(image.width, strip.width, line.align), top))


def _left(paper_dots: int, width: int, align: Align) -> int:
    if align is Align.CENTER:
        return max(0, (paper_dots - width) // 2)
    if align is Align.RIGHT:
        return max(0, paper_dots - width)
    return 0


def _draw_symbol(image: Image.Image, symbol: Symbol, top: int) -> None:
    draw = ImageDraw.Draw(image)
    left = _left(image.width, symbol.size, Align.CENTER)  # escpos/encode.py centres symbols too
    m = symbol.module
    for y, row in enumerate(symbol.matrix):
        for x, dark in enumerate(row):
            if dark:
                draw.rectangle((left + x * m, top + y * m, left + (x + 1) * m - 1, top + (y + 1) * m - 1), fill=0)


def _draw_bars(image: Image.Image, bars: Bars, top: int) -> None:
    row = np.repeat(np.array(bars.modules, dtype=bool), bars.module)
    strip = np.where(np.broadcast_to(row, (bars.height, row.size)), 0, 255).astype(np.uint8)
    image.paste(Image.fromarray(strip, "L"), (_left(image.width, bars.width, Align.CENTER), top))


def _draw_raster(image: Image.Image, raster: Raster, top: int) -> None:
    packed = np.frombuffer(raster.rows, np.uint8).reshape(raster.height, -1)
    bits = np.unpackbits(packed, axis=1)[:, : raster.width]
    image.paste(Image.fromarray(np.where(bits, 0, 255).astype(np.uint8), "L"), (raster.left, top))


def render_items(items: Sequence[Item], paper_dots: int) -> Image.Image:
    """The printed paper as a greyscale image, one pixel per printer dot, `paper_dots` wide."""
    height = MARGIN_TOP + sum(item_height(item) for item in items) + MARGIN_BOTTOM
    image = Image.new("L", (paper_dots, height), 255)
    top = MARGIN_TOP
    for item in items:
        if isinstance(item, Symbol):
            _draw_symbol(image, item, top)
        elif isinstance(item, Bars):
            _draw_bars(image, item, top)
        elif isinstance(item, Raster):
            _draw_raster(image, item, top)
        else:
            _draw_line(image, item, top)
        top += item_height(item)
    return image


def render_image(document: Document, paper_width_mm: int) -> Image.Image:
    """The printed paper of `document` as a greyscale image, one pixel per printer dot."""
    return render_items(layout(document, paper_width_mm), paper(paper_width_mm).dots)


def png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def render_png(document: Document, paper_width_mm: int) -> bytes:
    """PNG bytes of `render_image`."""
    return png_bytes(render_image(document, paper_width_mm))
