"""Typed errors of the SAM reader. Each says who can fix it and whether the module needs a reset.

Details never carry personal data: only status bytes, lengths and field names.
"""

from __future__ import annotations

from typing import Any

from kiosk.core.devices import FixedBy
from kiosk.core.errors import DeviceError, DeviceTimeout


class SamError(DeviceError):
    """Anything the SAM module or its serial line did wrong."""

    code = "sam.fault"
    fixed_by: FixedBy | None = FixedBy.TECHNICIAN
    reset_module = False  # True: the module may be out of step; send 10 FF before going on

    def __init__(
        self,
        detail: str = "",
        *,
        code: str | None = None,
        fixed_by: FixedBy | None = None,
        reset_module: bool | None = None,
        **params: Any,
    ) -> None:
        super().__init__(detail, code=code, **params)
        if fixed_by is not None:
            self.fixed_by = fixed_by
        if reset_module is not None:
            self.reset_module = reset_module


class FrameError(SamError):
    """A frame from the module that cannot be trusted: the line is noisy or out of step."""

    code = "sam.link_error"
    fixed_by = FixedBy.RETRY
    reset_module = True


class FrameChecksumError(FrameError):
    pass


class FrameLengthError(FrameError):
    pass


class SamNoAnswer(SamError, DeviceTimeout):
    """The module said nothing within the command's time (a DeviceTimeout, for callers)."""

    code = "sam.no_answer"
    fixed_by = FixedBy.RETRY
    reset_module = True


class SamDisconnected(SamError):
    """The serial port is missing or went away (USB unplugged)."""

    code = "sam.disconnected"
    fixed_by = FixedBy.TECHNICIAN


class SamStatusError(SamError):
    """The module answered with a status byte (SW3) other than success; see status.py."""

    def __init__(self, sw3: int, *, code: str, fixed_by: FixedBy | None, reset_module: bool, meaning: str) -> None:
        super().__init__(
            f"SW3 {sw3:02X} ({meaning})", code=code, fixed_by=fixed_by, reset_module=reset_module, sw3=f"{sw3:02X}"
        )
        self.sw3 = sw3


class CardDataError(SamError):
    """The card's text does not hold up (bad ID number, date, code): a misread never reaches a form."""

    code = "sam.misread"
    fixed_by = FixedBy.CITIZEN


class UnknownCardType(CardDataError):
    code = "card.unknown"
