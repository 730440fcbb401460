"""What each SW3 status byte means: the message code, who can fix it, and whether to reset.

Source: /work/shared/CARDS.md (90, 9F, 80, 81, 41 from several sources; the rest from one).
The GA 467 wording for 31 and 32 ("证/卡认证机具失败", "机具认证证/卡失败") reads either way
round; we follow CARDS.md: 31 = the card's authentication failed (citizen: place it again,
usually a card moved mid-read), 32 = the SAM's own authentication failed (technician). A
wrong guess costs little: the state returns to ready on the next good read.
"""

from __future__ import annotations

from dataclasses import dataclass

from kiosk.core.devices import DeviceState, FixedBy
from kiosk.peripherals.cards.sam.errors import SamStatusError

SW3_OK = 0x90
SW3_FOUND = 0x9F
SW3_NO_CARD = 0x80
SW3_FIELD_EMPTY = 0x91
# Statuses about a card: only find, select and read can answer them.
CARD_STATUSES = frozenset({0x9F, 0x80, 0x81, 0x41, 0x91, 0x31, 0x33, 0x40})


@dataclass(frozen=True)
class Sw3:
    sw3: int
    meaning: str
    code: str  # message code for the citizen (or staff) screen
    fixed_by: FixedBy | None
    reset_module: bool = False

    @property
    def state(self) -> DeviceState:
        """The device state a failure with this status leaves the reader in."""
        if self.fixed_by is FixedBy.CITIZEN:
            return DeviceState.USER_ERROR
        if self.fixed_by is FixedBy.TECHNICIAN:
            return DeviceState.HARDWARE_ERROR
        return DeviceState.READY  # retried (after a reset where needed) without anyone's help


SW3_TABLE: dict[int, Sw3] = {
    entry.sw3: entry
    for entry in (
        Sw3(0x90, "success", code="device.ready", fixed_by=None),
        Sw3(0x9F, "card found", code="card.present", fixed_by=None),
        Sw3(0x80, "no card", code="card.none", fixed_by=FixedBy.CITIZEN),
        Sw3(0x81, "select failed", code="sam.select_failed", fixed_by=FixedBy.CITIZEN),
        Sw3(0x41, "read failed", code="card.removed", fixed_by=FixedBy.CITIZEN),
        Sw3(0x91, "field empty", code="sam.field_empty", fixed_by=FixedBy.RETRY),
        Sw3(0x10, "checksum error at the module", code="sam.link_error", fixed_by=FixedBy.RETRY, reset_module=True),
        Sw3(0x11, "length error at the module", code="sam.link_error", fixed_by=FixedBy.RETRY, reset_module=True),
        Sw3(0x21, "bad command", code="sam.fault", fixed_by=FixedBy.TECHNICIAN, reset_module=True),
        Sw3(0x23, "unauthorised", code="sam.fault", fixed_by=FixedBy.TECHNICIAN),
        Sw3(0x24, "unknown error", code="sam.unknown_error", fixed_by=FixedBy.RETRY, reset_module=True),
        Sw3(0x31, "card authentication failed", code="sam.card_check_failed", fixed_by=FixedBy.CITIZEN),
        Sw3(0x32, "SAM authentication failed", code="sam.fault", fixed_by=FixedBy.TECHNICIAN),
        Sw3(0x33, "verification error", code="sam.card_check_failed", fixed_by=FixedBy.CITIZEN),
        Sw3(0x40, "unknown card type", code="card.unknown", fixed_by=FixedBy.CITIZEN),
        Sw3(0x60, "SAM self-test failed", code="sam.self_test_failed", fixed_by=FixedBy.TECHNICIAN, reset_module=True),
    )
}
# A status the table does not know: somebody must look at the module.
UNLISTED = Sw3(-1, "unlisted status", code="sam.fault", fixed_by=FixedBy.TECHNICIAN, reset_module=True)


def describe(sw3: int) -> Sw3:
    return SW3_TABLE.get(sw3, UNLISTED)


def status_error(sw3: int) -> SamStatusError:
    """The typed error for a failure status byte (not for 90 / 9F: those are not failures)."""
    entry = describe(sw3)
    return SamStatusError(
        sw3, code=entry.code, fixed_by=entry.fixed_by, reset_module=entry.reset_module, meaning=entry.meaning
    )
