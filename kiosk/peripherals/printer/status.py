"""What the printer says about itself: the real-time status bytes and the process ID answer.

Queries (Epson ESC/POS, which the Chinese kiosk printers follow):
    DLE EOT 2  offline cause: cover open (bit 2), stopped by paper end (bit 5), error (bit 6)
    DLE EOT 4  roll paper sensor: near end (bits 2,3), paper end (bits 5,6)
    GS r 1     paper sensor, for printers without DLE EOT 4: near end (bits 0,1), end (bits 2,3)
    GS ( H     "tell me when you got this far": answered 37 22 d1 d2 d3 d4 00 once printed

A printer that does not answer has an UNKNOWN paper level, never "out": python-escpos reads
silence as plenty of paper and Odoo's IoT box reads it as none; both are guesses.
"""

from __future__ import annotations

from dataclasses import dataclass

from kiosk.core.devices import Level

DLE_EOT_OFFLINE = b"\x10\x04\x02"
DLE_EOT_PAPER = b"\x10\x04\x04"
GS_R_PAPER = b"\x1dr\x01"
PROCESS_ID_HEAD = b"\x37\x22"
PROCESS_ID_LENGTH = 7


def process_id_request(token: bytes) -> bytes:
    """GS ( H fn=48 m=48 with four bytes of ours (printable ASCII)."""
    if len(token) != 4 or not all(0x20 <= b <= 0x7E for b in token):
        raise ValueError("a process ID is four printable ASCII bytes")
    return b"\x1d(H\x06\x00\x30\x30" + token


@dataclass(frozen=True)
class PaperStatus:
    paper: Level
    cover_open: bool = False
    error: bool = False  # a mechanical or cutter error the printer reports


UNKNOWN = PaperStatus(Level.UNKNOWN)


def _is_dle_eot(byte: int) -> bool:
    return byte & 0x93 == 0x12  # bits 1 and 4 set, 0 and 7 clear in every DLE EOT answer


def from_dle_eot(offline: int, sensor: int) -> PaperStatus:
    """From the answers to DLE EOT 2 and DLE EOT 4; UNKNOWN if they are not DLE EOT answers."""
    if not (_is_dle_eot(offline) and _is_dle_eot(sensor)):
        return UNKNOWN
    if sensor & 0x60 or offline & 0x20:
        paper = Level.OUT
    elif sensor & 0x0C:
        paper = Level.LOW
    else:
        paper = Level.OK
    return PaperStatus(paper, cover_open=bool(offline & 0x04), error=bool(offline & 0x40))


def from_gs_r(sensor: int) -> PaperStatus:
    if sensor & 0x90:  # bits 4 and 7 are always clear in a GS r 1 answer
        return UNKNOWN
    if sensor & 0x0C:
        return PaperStatus(Level.OUT)
    return PaperStatus(Level.LOW if sensor & 0x03 else Level.OK)


class Inbox:
    """Bytes from the printer, sorted: process ID answers apart, status bytes in order."""

    def __init__(self) -> None:
        self._pending = bytearray()
        self.status_bytes: list[int] = []
        self.process_ids: list[bytes] = []

    def feed(self, data: bytes) -> None:
        self._pending += data
        while self._pending:
            if self._pending[:2] == PROCESS_ID_HEAD[: len(self._pending[:2])] and self._pending[0] == 0x37:
                if len(self._pending) < PROCESS_ID_LENGTH:
                    return  # the rest of the answer is on its way
                self.process_ids.append(bytes(self._pending[2:6]))
                del self._pending[:PROCESS_ID_LENGTH]
                continue
            self.status_bytes.append(self._pending.pop(0))

    def clear(self) -> None:
        self._pending.clear()
        self.status_bytes.clear()
        self.process_ids.clear()
