"""The APDU layer: one logical command over a raw transmit, with the ISO 7816 fix-ups cards need.

61xx (more data: GET RESPONSE, bounded), 6Cxx (wrong Le: resend once with the right one), and an
answer under 2 bytes, which is what a card that has gone (pulled, dead) gives through pcscd.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from kiosk.core.errors import DeviceError

RawTransmit = Callable[[bytes], bytes]
MAX_GET_RESPONSE = 32  # a runaway 61xx chain is a broken card, not more data


class CardGone(DeviceError):
    """The card answered nothing: pulled or dead mid-read. Citizen: place it again."""

    code = "card.removed"


class CardRefused(DeviceError):
    """A status word other than success: the command is not possible on this card."""

    code = "card.unreadable"

    def __init__(self, sw: int, command: bytes) -> None:
        # Only the instruction bytes: a command's data may carry personal data.
        super().__init__(f"SW {sw:04X} on {command[:4].hex(' ')}", sw=f"{sw:04X}")
        self.sw = sw


NOT_PERMITTED = frozenset({0x6982, 0x6985})  # 3rd-generation cards that want authentication
NOT_FOUND = frozenset({0x6A82, 0x6A83, 0x6A88})


@dataclass(frozen=True)
class Response:
    data: bytes
    sw: int

    @property
    def ok(self) -> bool:
        return self.sw == 0x9000


def _split(answer: bytes) -> Response:
    if len(answer) < 2:
        raise CardGone("empty answer from the card")
    return Response(answer[:-2], int.from_bytes(answer[-2:], "big"))


def transmit(raw: RawTransmit, command: bytes) -> Response:
    """Send `command`; follow 6Cxx once and 61xx up to MAX_GET_RESPONSE times."""
    response = _split(raw(command))
    if response.sw >> 8 == 0x6C and len(command) >= 5:  # Le is the last byte of cases 2 and 4
        command = command[:-1] + bytes([response.sw & 0xFF])
        response = _split(raw(command))
    data = bytearray(response.data)
    for _ in range(MAX_GET_RESPONSE):
        if response.sw >> 8 != 0x61:
            return Response(bytes(data), response.sw)
        response = _split(raw(bytes([0x00, 0xC0, 0x00, 0x00, response.sw & 0xFF])))
        data += response.data
    raise CardRefused(response.sw, command)


def expect_ok(raw: RawTransmit, command: bytes) -> bytes:
    response = transmit(raw, command)
    if not response.ok:
        raise CardRefused(response.sw, command)
    return response.data
