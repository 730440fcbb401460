"""Virtual smart cards for the real PC/SC stack: what a card answers, and the faults it can play.

A `VirtualCard` is pure behaviour (ATR + `process(apdu) -> R-APDU`); `CardSlot` (vpcd_slot.py,
re-exported here) carries it over vpcd's socket into a real pcscd. `SocialSecurityCard` plays the
SSSE application of shared/CARDS.md for any `SocialSecurityIdentity`; `UnknownCard` is some other
card (a bank card, a transit card) that has no SSSE application.

Every C-APDU a card receives is appended to `card.commands`, so a test can assert what a driver
sent (for example that it never sent VERIFY).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from tests.support.apdu import (
    SW_CLA_NOT_SUPPORTED,
    SW_CONDITIONS_NOT_SATISFIED,
    SW_FILE_NOT_FOUND,
    SW_INS_NOT_SUPPORTED,
    SW_NO_CURRENT_EF,
    SW_OK,
    SW_RECORD_NOT_FOUND,
    SW_SECURITY_NOT_SATISFIED,
    SW_WRONG_LENGTH,
    SW_WRONG_P1P2,
    CommandApdu,
    answer,
)
from tests.support.ssse_records import EF05, EF06, EF07, EF08, SSSE_AID, SocialSecurityIdentity, ssse_records, tlv
from tests.support.vpcd_slot import CardSlot

__all__ = [
    "CardFaults",
    "CardSlot",
    "SocialSecurityCard",
    "SocialSecurityIdentity",
    "UnknownCard",
    "VirtualCard",
    "make_atr",
]

Protocol = Literal["T=0", "T=1"]


def make_atr(protocol: Protocol, historical: bytes) -> bytes:
    """An ISO 7816-3 ATR offering only `protocol`, so pcscd negotiates exactly that one."""
    if len(historical) > 15:
        raise ValueError("at most 15 historical bytes")
    if protocol == "T=0":
        # No TD1: T=0 is the only protocol and no TCK is sent. TB1/TC1 = 00 as on many SSSE cards.
        return bytes([0x3B, 0x60 | len(historical), 0x00, 0x00]) + historical
    body = bytes([0x80 | len(historical), 0x01]) + historical  # T0 (TD1 follows), TD1 = T=1
    tck = 0
    for byte in body:
        tck ^= byte
    return bytes([0x3B]) + body + bytes([tck])


@dataclass
class CardFaults:
    """Faults the card plays at the transport level (CardSlot reads them).

    APDUs are counted from 1 at each insertion; ATR polls and power/reset messages do not count.
    `pull_after`, `empty_answer_at` and `hang_at` fire once and then clear themselves, so a card
    that was pulled mid-read reads normally when inserted again. `delay_s` stays until changed.
    """

    pull_after: int | None = None  # close the socket (card pulled) right after answering the Nth APDU
    delay_s: float = 0.0  # a slow card: wait this long before every APDU answer (ATR polls stay fast)
    empty_answer_at: int | None = None  # a dead card: answer the Nth APDU with nothing, then leave
    hang_at: int | None = None  # never answer the Nth APDU, until the card is removed (watchdog tests)


class VirtualCard:
    """A card as vpcd sees it. Subclasses override `process` and, if they keep state, `reset`."""

    def __init__(self, atr: bytes, faults: CardFaults | None = None) -> None:
        self.atr = atr
        self.faults = faults if faults is not None else CardFaults()
        self.commands: list[bytes] = []

    def process(self, apdu: bytes) -> bytes:
        """Answers one C-APDU with an R-APDU (data + SW1 SW2)."""
        return answer(SW_INS_NOT_SUPPORTED)

    def reset(self) -> None:
        """Power on, power off and reset: a real card forgets its selection on each of them."""


class UnknownCard(VirtualCard):
    """Some other card in the slot: it answers, but has no SSSE application (6A82 on SELECT)."""

    def __init__(self, atr: bytes | None = None, faults: CardFaults | None = None) -> None:
        super().__init__(atr if atr is not None else make_atr("T=1", b"OTHER-CARD"), faults)

    def process(self, apdu: bytes) -> bytes:
        if len(apdu) >= 2 and apdu[1] == 0xA4:
            return answer(SW_FILE_NOT_FOUND)
        return answer(SW_INS_NOT_SUPPORTED)


class SocialSecurityCard(VirtualCard):
    """The SSSE application of a social security card, for `identity`.

    protocol: "T=1" answers a case-4 SELECT with its FCI directly; "T=0" behaves like the T=0
      cards most holders carry: the SELECT AID answer comes as 61xx and must be fetched with
      GET RESPONSE (00 C0 00 00 xx), and Le = 00 on READ RECORD is wrong (6Cxx).
    wrong_le: what READ RECORD answers when Le is not the record's length: "6C" (6Cxx, resend
      with Le = xx; what CARDS.md describes) or "61" (61xx, fetch with GET RESPONSE).
    ef06_needs_auth: a 3rd-generation card that answers 6982 to every EF06 read.
    EF07/EF08 (fingerprint, photo) can be selected but every read answers 6982, as on real cards.
    `records` (file id → [(tag, value)]) may be edited by a test to build a malformed card.
    """

    def __init__(
        self,
        identity: SocialSecurityIdentity | None = None,
        *,
        protocol: Protocol = "T=1",
        wrong_le: Literal["6C", "61"] = "6C",
        ef06_needs_auth: bool = False,
        atr: bytes | None = None,
        faults: CardFaults | None = None,
    ) -> None:
        self.identity = identity if identity is not None else SocialSecurityIdentity()
        historical = b"\x80\x86SSSE" + bytes.fromhex(self.identity.card_region)
        super().__init__(atr if atr is not None else make_atr(protocol, historical), faults)
        self.protocol = protocol
        self.wrong_le = wrong_le
        self.ef06_needs_auth = ef06_needs_auth
        self.records = ssse_records(self.identity)
        self.app_selected = False
        self.current_ef: int | None = None
        self._pending = b""  # answer bytes waiting for GET RESPONSE

    def reset(self) -> None:
        self.app_selected = False
        self.current_ef = None
        self._pending = b""

    def process(self, apdu: bytes) -> bytes:
        try:
            command = CommandApdu.parse(apdu)
        except ValueError:
            return answer(SW_WRONG_LENGTH)
        if command.cla != 0x00:
            return answer(SW_CLA_NOT_SUPPORTED)
        if command.ins == 0xC0:
            return self._get_response(command)
        self._pending = b""  # as on T=0 cards: any other command drops the waiting answer
        if command.ins == 0xA4:
            return self._select(command)
        if command.ins == 0xB2:
            return self._read_record(command)
        return answer(SW_INS_NOT_SUPPORTED)  # VERIFY included: this card never takes a PIN here

    def _select(self, command: CommandApdu) -> bytes:
        if command.p1 == 0x04:
            if command.data != SSSE_AID:
                return answer(SW_FILE_NOT_FOUND)
            self.app_selected, self.current_ef = True, None
            fci = tlv(0x6F, tlv(0x84, SSSE_AID) + tlv(0xA5, b""))
            if self.protocol == "T=0":
                self._pending = fci
                return answer(0x6100 | len(fci))
            return answer(SW_OK, fci if command.le is not None else b"")
        if command.p1 in (0x00, 0x02):
            if len(command.data) != 2:
                return answer(SW_WRONG_LENGTH)
            file_id = int.from_bytes(command.data, "big")
            if file_id == 0x3F00:  # the master file: leaves the application
                self.app_selected, self.current_ef = False, None
                return answer(SW_OK)
            if not self.app_selected or file_id not in (0xEF05, 0xEF06, 0xEF07, 0xEF08):
                return answer(SW_FILE_NOT_FOUND)
            self.current_ef = file_id & 0xFF
            return answer(SW_OK)
        return answer(SW_WRONG_P1P2)

    def _read_record(self, command: CommandApdu) -> bytes:
        sfi, mode = command.p2 >> 3, command.p2 & 0x07
        if mode not in (0x00, 0x04) or command.p1 == 0:
            return answer(SW_WRONG_P1P2)
        if not self.app_selected:
            return answer(SW_FILE_NOT_FOUND)
        if sfi == 0:
            if self.current_ef is None:
                return answer(SW_NO_CURRENT_EF)
        elif sfi in (EF05, EF06, EF07, EF08):
            self.current_ef = sfi  # ISO 7816-4: reading by SFI makes that EF the current one
        else:
            return answer(SW_FILE_NOT_FOUND)
        ef = self.current_ef
        if ef in (EF07, EF08) or (ef == EF06 and self.ef06_needs_auth):
            return answer(SW_SECURITY_NOT_SATISFIED)
        records = self.records[ef]
        if mode == 0x04:  # P1 is a record number
            found = records[command.p1 - 1] if command.p1 <= len(records) else None
        else:  # P1 is a record identifier: the tag
            found = next((r for r in records if r[0] == command.p1), None)
        if found is None:
            return answer(SW_RECORD_NOT_FOUND)
        return self._with_le(tlv(*found), command.le)

    def _with_le(self, data: bytes, le: int | None) -> bytes:
        if le == len(data) or (le == 0 and self.protocol == "T=1"):
            return answer(SW_OK, data)
        if self.wrong_le == "61":
            self._pending = data
            return answer(0x6100 | len(data))
        return answer(0x6C00 | len(data))

    def _get_response(self, command: CommandApdu) -> bytes:
        if command.p1 or command.p2:
            return answer(SW_WRONG_P1P2)
        pending = self._pending
        if not pending:
            return answer(SW_CONDITIONS_NOT_SATISFIED)
        le = command.le if command.le is not None else 0
        if le == len(pending) or (le == 0 and self.protocol == "T=1"):
            self._pending = b""
            return answer(SW_OK, pending)
        if 0 < le < len(pending):  # hand out what was asked for; 61xx says how much is left
            self._pending = pending[le:]
            return answer(0x6100 | len(self._pending), pending[:le])
        return answer(0x6C00 | len(pending))
