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


@dataclass(frozen=True)
class Rule:
    """A horizontal separator."""


@dataclass(frozen=True)
class Blank:
    lines: int = 1


Block = Title | Text | Row | QR | Rule | Blank


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
            elif isinstance(block, QR) and block.caption:
                lines.append(block.caption)
        return lines

    def qr_payloads(self) -> list[str]:
        return [block.payload for block in self.blocks if isinstance(block, QR)]
