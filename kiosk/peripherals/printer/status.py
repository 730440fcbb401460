"""What the printer says about itself: status bytes, process ID answers, its model and firmware.

Queries (Epson ESC/POS; the Chinese kiosk printers follow it, not always all of it):
    DLE EOT 2  offline cause: cover open (bit 2), stopped by paper end (bit 5), error (bit 6)
    DLE EOT 4  roll paper sensor: near end (bits 2,3), paper end (bits 5,6)
    GS r 1     paper sensor: near end (bits 0,1), end (bits 2,3). Not real-time: answered in order
               with the data, so one sent after a cut is answered once the cut is done
    GS ( H     "tell me when you got this far": answered 37 22 d1 d2 d3 d4 00 once printed
    GS I 67/65 model name / firmware version, answered 5F text 00, in order with the data

A DLE EOT answer always has bit 4 set and a GS r 1 answer never does, so the two are told apart
by shape, whatever order they come in. Many printers sold in China answer DLE EOT and GS r but
not GS ( H; some answer no GS I. `Answers` is what one printer answered when asked (the probe).

A printer that does not answer has an UNKNOWN paper level, never "out": python-escpos reads
silence as plenty of paper and Odoo's IoT box reads it as none; both are guesses.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from kiosk.core.devices import Level
from kiosk.peripherals.printer.escpos.encode import INIT

DLE_EOT_OFFLINE = b"\x10\x04\x02"
DLE_EOT_PAPER = b"\x10\x04\x04"
GS_R_PAPER = b"\x1dr\x01"
GS_I_MODEL = b"\x1dIC"  # GS I 67
GS_I_FIRMWARE = b"\x1dIA"  # GS I 65
PROCESS_ID_HEAD = b"\x37\x22"
PROCESS_ID_LENGTH = 7
INFO_HEAD = 0x5F  # never a status byte: bit 0 rules out DLE EOT, bit 4 GS r
INFO_MAX = 80  # the longest text a GS I answer holds

# How a job was counted printed: the printer answered its GS ( H after the cut; or it took every
# byte and its status after the cut was fine (delivered, not confirmed); or nothing could be read.
Confirmation = Literal["process_id", "status", "none"]


def process_id_request(token: bytes) -> bytes:
    """GS ( H fn=48 m=48 with four bytes of ours (printable ASCII)."""
    if len(token) != 4 or not all(0x20 <= b <= 0x7E for b in token):
        raise ValueError("a process ID is four printable ASCII bytes")
    return b"\x1d(H\x06\x00\x30\x30" + token


def identify_request(token: bytes | None) -> bytes:
    """The probe's questions: model, process ID (when the profile allows it), GS r last.

    All three are answered in order, so the GS r answer says that the others have come or never
    will: no waiting out a timeout for a printer that ignores GS ( H or GS I. A printer that does
    not know a command may keep its bytes as text: ESC @ clears them, and feeds no paper.
    """
    return GS_I_MODEL + (process_id_request(token) if token else b"") + GS_R_PAPER + INIT


def firmware_request(end_with_gs_r: bool) -> bytes:
    """Asked only of a printer that told its model; GS r after it, when answered, ends the wait."""
    return GS_I_FIRMWARE + (GS_R_PAPER if end_with_gs_r else b"") + INIT


@dataclass(frozen=True)
class Answers:
    """What the printer on one connection answered when asked, and so how its jobs are confirmed."""

    dle_eot: bool = False  # real-time status
    gs_r: bool = False  # status in order with the data
    process_id: bool = False  # GS ( H
    model: str | None = None  # GS I 67
    firmware: str | None = None  # GS I 65

    @property
    def confirmation(self) -> Confirmation:
        if self.process_id:
            return "process_id"
        return "status" if self.dle_eot or self.gs_r else "none"


NOTHING = Answers()


@dataclass(frozen=True)
class PaperStatus:
    paper: Level
    cover_open: bool = False
    error: bool = False  # a mechanical or cutter error the printer reports


UNKNOWN = PaperStatus(Level.UNKNOWN)


def is_dle_eot_answer(byte: int) -> bool:
    return byte & 0x93 == 0x12  # bits 1 and 4 set, 0 and 7 clear in every DLE EOT answer


def is_gs_r_answer(byte: int) -> bool:
    return byte & 0x90 == 0  # bits 4 and 7 are always clear in a GS r 1 answer


def from_dle_eot(offline: int, sensor: int) -> PaperStatus:
    """From the answers to DLE EOT 2 and DLE EOT 4; UNKNOWN if they are not DLE EOT answers."""
    if not (is_dle_eot_answer(offline) and is_dle_eot_answer(sensor)):
        return UNKNOWN
    if sensor & 0x60 or offline & 0x20:
        paper = Level.OUT
    elif sensor & 0x0C:
        paper = Level.LOW
    else:
        paper = Level.OK
    return PaperStatus(paper, cover_open=bool(offline & 0x04), error=bool(offline & 0x40))


def from_gs_r(sensor: int) -> PaperStatus:
    if not is_gs_r_answer(sensor):
        return UNKNOWN
    if sensor & 0x0C:
        return PaperStatus(Level.OUT)
    return PaperStatus(Level.LOW if sensor & 0x03 else Level.OK)


class Inbox:
    """Bytes from the printer, sorted: process ID answers and printer info apart, status bytes in order."""

    def __init__(self) -> None:
        self._pending = bytearray()
        self.status_bytes: list[int] = []
        self.process_ids: list[bytes] = []
        self.infos: list[str] = []  # GS I answers, in order

    def feed(self, data: bytes) -> None:
        self._pending += data
        while self._pending:
            if self._pending[:2] == PROCESS_ID_HEAD[: len(self._pending[:2])] and self._pending[0] == 0x37:
                if len(self._pending) < PROCESS_ID_LENGTH:
                    return  # the rest of the answer is on its way
                self.process_ids.append(bytes(self._pending[2:6]))
                del self._pending[:PROCESS_ID_LENGTH]
                continue
            if self._pending[0] == INFO_HEAD:
                end = self._pending.find(0, 1, INFO_MAX + 2)
                if end > 0:
                    text = bytes(self._pending[1:end]).decode("ascii", errors="replace")
                    self.infos.append("".join(ch for ch in text if ch.isprintable()).strip())
                    del self._pending[: end + 1]
                    continue
                if len(self._pending) < INFO_MAX + 2:
                    return  # the rest of the answer is on its way
                # no NUL where an answer must have one: a stray byte, not an answer
            self.status_bytes.append(self._pending.pop(0))

    def answers_to(self, shape: Callable[[int], bool]) -> list[int]:
        """The status bytes of one kind (`is_dle_eot_answer`, `is_gs_r_answer`), in order."""
        return [byte for byte in self.status_bytes if shape(byte)]

    def take(self, shape: Callable[[int], bool]) -> list[int]:
        """The status bytes of one kind, taken out; the other kind stays, bytes of neither go."""
        taken = self.answers_to(shape)
        self.status_bytes[:] = [
            b for b in self.status_bytes if not shape(b) and (is_dle_eot_answer(b) or is_gs_r_answer(b))
        ]
        return taken

    def forget_answers(self) -> None:
        """Drop what was answered so far; an answer still arriving is kept whole, so that its tail
        is never read as status bytes."""
        self.status_bytes.clear()
        self.process_ids.clear()
        self.infos.clear()

    def clear(self) -> None:
        """Everything, half an answer too: for a new line, where the old one's bytes mean nothing."""
        self._pending.clear()
        self.forget_answers()
