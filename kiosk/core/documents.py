"""Papers as documents: what to print, independent of any printer language.

Core builds documents (kiosk.core.papers); printer drivers render them (ESC/POS, PNG).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Align(StrEnum):
    LEFT = "left"
    CENTER = "center"
    RIGHT = "right"


@dataclass(frozen=True)
class Title:
    text: str


@dataclass(frozen=True)
class Text:
    text: str
    align: Align = Align.LEFT
    bold: bool = False
    large: bool = False


@dataclass(frozen=True)
class Row:
    """A key/value line: "受理编号：…"."""

    key: str
    value: str


@dataclass(frozen=True)
class QR:
    payload: str
    caption: str = ""
    raster: bool = False  # send as an image even where the printer draws QR codes itself (the test page)


@dataclass(frozen=True)
class Barcode:
    """A Code128 barcode of printable ASCII (a receipt number for the window's scanner); caption under it."""

    payload: str
    caption: str = ""


@dataclass(frozen=True)
class Footer:
    """Small print at the bottom, centred, after a rule: terminal id and print time."""

    text: str


@dataclass(frozen=True)
class RasterTest:
    """A black-and-white pattern `height_dots` tall, full paper width, always sent as an image.

    For the printer test page: a stack of these at different heights shows whether the driver
    splits images into fragments the printer takes.
    """

    height_dots: int
    caption: str


@dataclass(frozen=True)
class Rule:
    """A horizontal separator."""


@dataclass(frozen=True)
class Blank:
    lines: int = 1


Block = Title | Text | Row | QR | Barcode | RasterTest | Rule | Blank | Footer


@dataclass(frozen=True)
class Document:
    kind: str  # "acceptance", "checklist", …
    blocks: tuple[Block, ...] = field(default_factory=tuple)

    def text_lines(self) -> list[str]:
        """The document's text as a person reads it, for tests and the on-screen copy."""
        lines: list[str] = []
        for block in self.blocks:
            if isinstance(block, Title | Text):
                lines.append(block.text)
            elif isinstance(block, Row):
                lines.append(f"{block.key}：{block.value}")
            elif isinstance(block, QR | Barcode | RasterTest) and block.caption:
                lines.append(block.caption)
            elif isinstance(block, Footer):
                lines.append(block.text)
        return lines

    def qr_payloads(self) -> list[str]:
        return [block.payload for block in self.blocks if isinstance(block, QR)]

    def barcode_payloads(self) -> list[str]:
        return [block.payload for block in self.blocks if isinstance(block, Barcode)]
