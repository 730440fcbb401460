"""ISO 7816-4 short APDUs as the card emulators see them: parsing commands, building answers.

Only short APDUs (Lc and Le on one byte): the social security card never needs more, and a card
that receives an extended APDU answers 6700 like the real ones do.
"""

from __future__ import annotations

from dataclasses import dataclass

# Status words the emulators answer, named after ISO 7816-4.
SW_OK = 0x9000
SW_WRONG_LENGTH = 0x6700
SW_SECURITY_NOT_SATISFIED = 0x6982
SW_CONDITIONS_NOT_SATISFIED = 0x6985
SW_NO_CURRENT_EF = 0x6986
SW_FILE_NOT_FOUND = 0x6A82
SW_RECORD_NOT_FOUND = 0x6A83
SW_WRONG_P1P2 = 0x6A86
SW_INS_NOT_SUPPORTED = 0x6D00
SW_CLA_NOT_SUPPORTED = 0x6E00


@dataclass(frozen=True)
class CommandApdu:
    """One C-APDU. `le` is None when the command carries no Le byte; 0 means "Le = 00"."""

    cla: int
    ins: int
    p1: int
    p2: int
    data: bytes = b""
    le: int | None = None

    @classmethod
    def parse(cls, raw: bytes) -> CommandApdu:
        """Splits a short APDU into its fields; raises ValueError when the lengths do not add up."""
        if len(raw) < 4:
            raise ValueError(f"APDU shorter than a header: {raw.hex()}")
        cla, ins, p1, p2 = raw[:4]
        body = raw[4:]
        if not body:  # case 1
            return cls(cla, ins, p1, p2)
        if len(body) == 1:  # case 2: Le only
            return cls(cla, ins, p1, p2, le=body[0])
        lc = body[0]
        if lc == 0:  # would be an extended APDU, which these cards do not speak
            raise ValueError(f"extended or malformed APDU: {raw.hex()}")
        if len(body) == 1 + lc:  # case 3
            return cls(cla, ins, p1, p2, data=bytes(body[1 : 1 + lc]))
        if len(body) == 2 + lc:  # case 4
            return cls(cla, ins, p1, p2, data=bytes(body[1 : 1 + lc]), le=body[-1])
        raise ValueError(f"Lc does not match the APDU length: {raw.hex()}")

    def to_bytes(self) -> bytes:
        out = bytes([self.cla, self.ins, self.p1, self.p2])
        if self.data:
            out += bytes([len(self.data)]) + self.data
        if self.le is not None:
            out += bytes([self.le])
        return out


def answer(sw: int, data: bytes = b"") -> bytes:
    """An R-APDU: the data, then SW1 SW2."""
    return data + sw.to_bytes(2, "big")


def status_word(response: bytes | list[int]) -> int:
    """SW1 SW2 of an R-APDU as one number (0x9000); raises ValueError on fewer than 2 bytes."""
    if len(response) < 2:
        raise ValueError("an R-APDU has at least SW1 SW2: this looks like a dead or removed card")
    return (response[-2] << 8) | response[-1]
