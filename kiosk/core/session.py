"""The citizen session: an explicit state machine, with idle timeout and a wipe at every end.

home → guide → identify → form → materials → review → submitting → receipt → rating → ended.
Every transition is checked against TRANSITIONS and logged with the session id (never with
personal data). Ending a session, for any reason, wipes what it held.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

from kiosk.core.catalogue import ServiceItem
from kiosk.core.errors import SessionError
from kiosk.core.identity import Identity

log = logging.getLogger(__name__)


class Step(StrEnum):
    HOME = "home"
    GUIDE = "guide"
    IDENTIFY = "identify"
    FORM = "form"
    MATERIALS = "materials"
    REVIEW = "review"
    SUBMITTING = "submitting"
    RECEIPT = "receipt"
    RATING = "rating"
    QUERY = "query"
    SCAN = "scan"  # a code held up to the camera: receipt QR, appointment or pre-review code
    HELP = "help"
    ENDED = "ended"


class EndReason(StrEnum):
    DONE = "done"
    CANCELLED = "cancelled"
    TIMEOUT = "timeout"
    CARD_REMOVED = "card_removed"
    ERROR = "error"


TRANSITIONS: dict[Step, frozenset[Step]] = {
    Step.HOME: frozenset({Step.GUIDE, Step.QUERY, Step.SCAN, Step.HELP}),
    Step.GUIDE: frozenset({Step.IDENTIFY, Step.FORM, Step.HELP}),
    Step.IDENTIFY: frozenset({Step.GUIDE, Step.FORM, Step.HELP}),
    Step.FORM: frozenset({Step.IDENTIFY, Step.GUIDE, Step.MATERIALS, Step.HELP}),
    Step.MATERIALS: frozenset({Step.FORM, Step.REVIEW, Step.HELP}),
    Step.REVIEW: frozenset({Step.MATERIALS, Step.FORM, Step.SUBMITTING, Step.HELP}),
    Step.SUBMITTING: frozenset({Step.RECEIPT, Step.REVIEW}),
    Step.RECEIPT: frozenset({Step.RATING, Step.HELP}),
    Step.RATING: frozenset({Step.HELP}),
    Step.QUERY: frozenset({Step.HELP}),
    Step.SCAN: frozenset({Step.QUERY, Step.GUIDE, Step.HELP}),
    Step.HELP: frozenset(),  # help returns to the step it came from (see Session.leave_help)
    Step.ENDED: frozenset(),
}
# Steps where the session holds no work that a timeout would throw away unasked.
QUIET_STEPS = frozenset({Step.HOME, Step.ENDED})


@dataclass
class Page:
    """One photographed page. A bytearray so the wipe can overwrite it in place."""

    jpeg: bytearray
    width: int
    height: int


@dataclass
class Session:
    session_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    step: Step = Step.HOME
    item: ServiceItem | None = None
    identity: Identity | None = None
    values: dict[str, str] = field(default_factory=dict)
    pages: dict[str, list[Page]] = field(default_factory=dict)
    consent: bool = False
    receipt_no: str = ""
    query_receipt: str = ""  # a receipt number read from a QR, for the progress query to start from
    query_token: str = ""  # that QR link's token: the query needs no ID tail
    appointment: str = ""  # the appointment or pre-review code the citizen came with
    submitted_at: float = 0.0
    offline: bool = False  # submitted while the hall could not be reached: the receipt says 待上传
    rating: int = 0
    end_reason: EndReason | None = None
    history: list[Step] = field(default_factory=list)
    _help_return: Step | None = None
    on_change: Callable[[Session], None] | None = None

    def go(self, step: Step) -> None:
        if step not in TRANSITIONS[self.step]:
            raise SessionError(f"{self.step} → {step} is not allowed", code="error.session")
        if step is Step.HELP:
            self._help_return = self.step
        log.info("session %s: %s → %s", self.session_id, self.step.value, step.value)
        self.history.append(self.step)
        self.step = step
        if self.on_change:
            self.on_change(self)

    def leave_help(self) -> None:
        if self.step is not Step.HELP or self._help_return is None:
            raise SessionError("not in help", code="error.session")
        back, self._help_return = self._help_return, None
        log.info("session %s: help → %s", self.session_id, back.value)
        self.step = back
        if self.on_change:
            self.on_change(self)

    @property
    def active(self) -> bool:
        return self.step is not Step.ENDED

    def end(self, reason: EndReason) -> None:
        if self.step is Step.ENDED:
            return
        log.info("session %s: %s → ended (%s)", self.session_id, self.step.value, reason.value)
        self.end_reason = reason
        self.history.append(self.step)
        self.step = Step.ENDED
        self.wipe()
        if self.on_change:
            self.on_change(self)

    def wipe(self) -> None:
        """Forget every piece of personal data: overwrite page bytes, drop identity and values."""
        for pages in self.pages.values():
            for page in pages:
                page.jpeg[:] = bytes(len(page.jpeg))
        self.pages.clear()
        self.identity = None
        self.values.clear()
        self.consent = False

    def holds_personal_data(self) -> bool:
        return bool(self.identity or self.values or self.pages)


class IdlePhase(StrEnum):
    ACTIVE = "active"
    WARNING = "warning"
    EXPIRED = "expired"


class IdleWatch:
    """After `timeout` s without a touch: warn for `warning` s (one tap continues), then expire."""

    def __init__(self, timeout: float, warning: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.timeout = timeout
        self.warning = warning
        self._clock = clock
        self._last = clock()

    def touch(self) -> None:
        self._last = self._clock()

    def phase(self) -> tuple[IdlePhase, float]:
        """The phase and the seconds left in it."""
        idle = self._clock() - self._last
        if idle < self.timeout:
            return IdlePhase.ACTIVE, self.timeout - idle
        if idle < self.timeout + self.warning:
            return IdlePhase.WARNING, self.timeout + self.warning - idle
        return IdlePhase.EXPIRED, 0.0
