"""The SAM module's frame protocol (GA 467 family), both directions.

To the module:   AA AA AA 96 69 | LEN (2, big-endian) | CMD PARA [data] | CHK
From the module: AA AA AA 96 69 | LEN                 | SW1 SW2 SW3 [data] | CHK
LEN counts every byte after itself, CHK included; CHK is the XOR of every byte after the
5-byte preamble (LEN included), CHK excluded. Source: /work/shared/CARDS.md; the fixed frames
public readers send (find card = ... 00 03 20 01 22) agree.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import reduce
from typing import NamedTuple

from kiosk.peripherals.cards.sam.errors import FrameChecksumError, FrameLengthError

PREAMBLE = bytes.fromhex("AAAAAA9669")
HEADER_LENGTH = len(PREAMBLE) + 2  # preamble + LEN
MAX_LENGTH = 4096  # the largest real answer (text + photo + fingerprint) is 2314: more is noise


class Command(NamedTuple):
    cmd: int
    para: int


RESET = Command(0x10, 0xFF)
STATUS = Command(0x11, 0xFF)
SAM_ID = Command(0x12, 0xFF)
FIND_CARD = Command(0x20, 0x01)
SELECT_CARD = Command(0x20, 0x02)
READ_TEXT_PHOTO = Command(0x30, 0x01)
READ_APPENDED_ADDRESS = Command(0x30, 0x03)
READ_WITH_FINGERPRINT = Command(0x30, 0x10)  # never sent: fingerprints are not ours to read

TEXT_LENGTH = 256
PHOTO_LENGTH = 1024
# 30 01 answer data: text length (2) + photo length (2) + text + photo
READ_DATA_LENGTH = 4 + TEXT_LENGTH + PHOTO_LENGTH


def checksum(data: bytes) -> int:
    return reduce(lambda acc, byte: acc ^ byte, data, 0)


def encode_frame(body: bytes) -> bytes:
    """Preamble, LEN and CHK around `body` (CMD PARA data, or SW1 SW2 SW3 data)."""
    length = (len(body) + 1).to_bytes(2, "big")
    return PREAMBLE + length + body + bytes([checksum(length + body)])


def encode_command(cmd: int, para: int, data: bytes = b"") -> bytes:
    return encode_frame(bytes([cmd, para]) + data)


def encode_answer(sw1: int, sw2: int, sw3: int, data: bytes = b"") -> bytes:
    return encode_frame(bytes([sw1, sw2, sw3]) + data)


def wire_seconds(byte_count: int, baudrate: int) -> float:
    """Time on an 8N1 line: 10 bits a byte (start + 8 data + stop)."""
    return byte_count * 10 / baudrate


@dataclass(frozen=True, repr=False)
class Answer:
    sw1: int
    sw2: int
    sw3: int
    data: bytes

    @classmethod
    def from_body(cls, body: bytes) -> Answer:
        if len(body) < 3:
            raise FrameLengthError(f"answer body of {len(body)} bytes")
        return cls(body[0], body[1], body[2], body[3:])

    def __repr__(self) -> str:  # data may be a citizen's card text
        return f"Answer(SW {self.sw1:02X} {self.sw2:02X} {self.sw3:02X}, {len(self.data)} bytes)"


@dataclass(frozen=True)
class Request:
    """A command as the module receives it (the emulator's side)."""

    command: Command
    data: bytes

    @classmethod
    def from_body(cls, body: bytes) -> Request:
        if len(body) < 2:
            raise FrameLengthError(f"command body of {len(body)} bytes")
        return cls(Command(body[0], body[1]), body[2:])


class FrameReader:
    """Bytes in, frame bodies out; finds frames among garbage and split reads.

    `next_frame()` raises on a frame with a bad LEN or CHK after dropping only that frame's
    preamble, so a good frame hidden in the rejected bytes (say the module restarted mid-answer)
    is still found by the next call.
    """

    def __init__(self, min_length: int = 4, max_length: int = MAX_LENGTH) -> None:
        self.min_length = min_length  # answers: SW1 SW2 SW3 CHK; commands: CMD PARA CHK (3)
        self.max_length = max_length
        self._buffer = bytearray()
        self.discarded = 0  # garbage bytes skipped, for diagnostics

    def feed(self, data: bytes) -> None:
        self._buffer += data

    def clear(self) -> None:
        self._buffer.clear()

    @property
    def pending(self) -> int:
        return len(self._buffer)

    def next_frame(self) -> bytes | None:
        """The next whole frame's body (between LEN and CHK), None until one is complete."""
        buffer = self._buffer
        start = buffer.find(PREAMBLE)
        if start < 0:
            keep = _partial_preamble(buffer)
            self.discarded += len(buffer) - keep
            del buffer[: len(buffer) - keep]
            return None
        self.discarded += start
        del buffer[:start]
        if len(buffer) < HEADER_LENGTH:
            return None
        length = int.from_bytes(buffer[5:7], "big")
        if not self.min_length <= length <= self.max_length:
            del buffer[: len(PREAMBLE)]
            self.discarded += len(PREAMBLE)
            raise FrameLengthError(f"LEN {length} outside {self.min_length}..{self.max_length}")
        end = HEADER_LENGTH + length
        if len(buffer) < end:
            return None
        frame = bytes(buffer[:end])
        if checksum(frame[len(PREAMBLE) : -1]) != frame[-1]:
            del buffer[: len(PREAMBLE)]
            self.discarded += len(PREAMBLE)
            raise FrameChecksumError(f"bad CHK on a frame of LEN {length}")
        del buffer[:end]
        return frame[HEADER_LENGTH:-1]


def _partial_preamble(buffer: bytearray) -> int:
    """How many bytes at the end of `buffer` could be the start of a preamble."""
    for size in range(min(len(PREAMBLE) - 1, len(buffer)), 0, -1):
        if buffer.endswith(PREAMBLE[:size]):
            return size
    return 0


def split_text_photo(data: bytes) -> tuple[bytes, bytes]:
    """A 30 01 answer's data → (256 bytes of text, 1024 bytes of WLT photo)."""
    if len(data) != READ_DATA_LENGTH:
        raise FrameLengthError(f"read answer of {len(data)} bytes, not {READ_DATA_LENGTH}")
    text_length = int.from_bytes(data[0:2], "big")
    photo_length = int.from_bytes(data[2:4], "big")
    if (text_length, photo_length) != (TEXT_LENGTH, PHOTO_LENGTH):
        raise FrameLengthError(f"read answer says text {text_length}, photo {photo_length}")
    return data[4 : 4 + TEXT_LENGTH], data[4 + TEXT_LENGTH :]
