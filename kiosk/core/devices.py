"""The one device contract every peripheral implements (after CEN XFS4IoT and IATA CUSS).

Core defines it so that core can use devices without importing a driver: drivers in
kiosk/peripherals implement these protocols, core and screens only see the contract.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from enum import StrEnum
from typing import Any, Protocol, runtime_checkable

from kiosk.core.documents import Document
from kiosk.core.identity import Identity


class DeviceState(StrEnum):
    NOT_CONFIGURED = "not_configured"
    DISCONNECTED = "disconnected"
    READY = "ready"
    BUSY = "busy"
    USER_ERROR = "user_error"
    HARDWARE_ERROR = "hardware_error"
    UNKNOWN = "unknown"  # the device could not be asked: never a guess


# States in which a device cannot serve until someone (or its own recovery) fixes it.
FAULT_STATES = frozenset({DeviceState.DISCONNECTED, DeviceState.HARDWARE_ERROR, DeviceState.USER_ERROR})


class Level(StrEnum):
    """A consumable's level, apart from the device state."""

    OK = "ok"
    LOW = "low"
    OUT = "out"
    UNKNOWN = "unknown"


class FixedBy(StrEnum):
    """Who can fix a fault."""

    RETRY = "retry"
    CITIZEN = "citizen"
    STAFF = "staff"
    TECHNICIAN = "technician"
    CONFIGURATION = "configuration"


@dataclass(frozen=True)
class Status:
    state: DeviceState
    since: float  # time.time() when this state began
    code: str  # message code, e.g. "device.ready", "printer.paper_out"
    fixed_by: FixedBy | None = None
    consumables: dict[str, Level] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "state": self.state.value,
            "since": self.since,
            "code": self.code,
            "fixed_by": self.fixed_by.value if self.fixed_by else None,
            "consumables": {k: v.value for k, v in self.consumables.items()},
        }


class DeviceEventKind(StrEnum):
    """What a device reports on its own; the payload each kind carries is named beside it."""

    STATE = "state"  # Status: the device's state or consumables changed
    CARD_INSERTED = "card_inserted"  # None: a card reader saw a card arrive
    CARD_REMOVED = "card_removed"  # None: the card was taken away (or the reader went with it)
    IDENTITY = "identity"  # Identity: the card that arrived has been read
    READ_FAILED = "read_failed"  # KioskError: the card that arrived could not be read
    PRINTED = "printed"  # str: the job id of a paper the printer finished
    PAPER_LOW = "paper_low"  # None: the roll is nearly at its end
    PAPER_OUT = "paper_out"  # None: the roll has run out


@dataclass(frozen=True)
class DeviceEvent:
    """Something that happened on its own: card inserted, identity read, paper out…"""

    device: str  # the role that reported it: "card_reader", "printer", …
    kind: DeviceEventKind
    payload: Any = None
    at: float = field(default_factory=time.time)

    def __repr__(self) -> str:  # payloads may hold personal data
        return f"DeviceEvent({self.device}, {self.kind})"


class Cancel:
    """Caller-owned cancellation for a device command."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def wait(self, seconds: float) -> bool:
        """Sleep up to `seconds`; True if cancelled meanwhile."""
        return self._event.wait(seconds)


Listener = Callable[[DeviceEvent], None]


@dataclass(frozen=True)
class EventInterest:
    """Which device events a listener wants: these kinds, from these roles (None: from any)."""

    kinds: frozenset[DeviceEventKind]
    devices: frozenset[str] | None = None

    def matches(self, event: DeviceEvent) -> bool:
        return event.kind in self.kinds and (self.devices is None or event.device in self.devices)


class EventRouter:
    """Hands each device event to the listeners whose interest it matches, in the order they were added.

    It does no threading: whoever owns it calls `deliver` on the one thread its listeners expect
    (the app: the UI thread, through `loop.call_soon_threadsafe`).
    """

    def __init__(self) -> None:
        self._routes: list[tuple[EventInterest, Listener]] = []

    def add(self, interest: EventInterest, listener: Listener) -> None:
        self._routes.append((interest, listener))

    def deliver(self, event: DeviceEvent) -> None:
        for interest, listener in self._routes:
            if interest.matches(event):
                listener(event)


@runtime_checkable
class Device(Protocol):
    name: str  # the role in config: "card_reader", "camera", "printer"
    driver: str  # "simulated", "pcsc", …
    capabilities: frozenset[str]

    def open(self) -> None: ...
    def close(self) -> None: ...
    def status(self) -> Status: ...
    def subscribe(self, listener: Listener) -> Callable[[], None]: ...


class CardReader(Device, Protocol):
    """Events: card_inserted, card_removed, identity (payload Identity), read_failed (payload KioskError)."""

    def read_identity(self, timeout: float, cancel: Cancel | None = None) -> Identity: ...
    def card_present(self) -> bool: ...


@dataclass(frozen=True)
class Frame:
    """One camera image as encoded bytes, with its size.

    For a captured page, `dpi` is the effective resolution the sensor gave on the page
    (pixels per inch of paper before scaling to the output size); 0 when not known.
    """

    jpeg: bytes
    width: int
    height: int
    dpi: float = 0.0


@dataclass(frozen=True)
class PageView:
    """What the materials screen draws several times a second while a page is on the plate."""

    preview: Frame  # a small JPEG of the whole scene
    outline: tuple[tuple[float, float], ...]  # page corners as 0..1 of the preview, clockwise from top-left; ()
    advice: str  # message code of the guidance: "doc.place_page", "doc.glare", "doc.hold_still", "doc.ready", …
    ready: bool  # every quality gate passed and the page has been steady long enough: capture now


@dataclass(frozen=True)
class CodeRead:
    """A code read from the camera: the raw bytes are kept, the text is decoded from them."""

    raw: bytes
    text: str  # decoded by the symbology's rules (vision/code_text.py); "" if none fits or two do
    format: str  # "QRCode", "Code128", "PDF417", "DataMatrix"
    encoding: str  # how `text` was decoded: "eci:utf-8", "utf-8", "gb18030", "" …

    def __repr__(self) -> str:  # a code may carry an ID number
        return f"CodeRead({self.format}, {len(self.raw)} bytes)"


CAMERA_OWNERS = frozenset({"materials", "scan", "video_call"})


class Camera(Device, Protocol):
    """One owner at a time; commands from anyone but the owner raise DeviceError camera.in_use."""

    def claim(self, owner: str) -> Callable[[], None]: ...  # returns release
    def preview(self, timeout: float, after: float = 0.0) -> Frame: ...  # a small JPEG of the scene
    def watch_page(self, timeout: float) -> PageView: ...
    def capture(
        self, timeout: float, cancel: Cancel | None = None, size_mm: tuple[float, float] = (210, 297), bw: bool = False
    ) -> Frame: ...
    def scan_code(
        self, timeout: float, cancel: Cancel | None = None, formats: frozenset[str] = frozenset()
    ) -> CodeRead: ...


@dataclass(frozen=True)
class PrintResult:
    job_id: str
    byte_count: int
    artefacts: dict[str, str] = field(default_factory=dict)  # e.g. {"png": path, "raw": path}


class Printer(Device, Protocol):
    """Consumable "paper". Events: paper_low, paper_out, printed."""

    def print_document(self, document: Document, job_id: str, timeout: float) -> PrintResult: ...


@dataclass(frozen=True)
class Devices:
    """The terminal's peripherals by role, as the configuration chose them.

    Every role is filled: one the configuration leaves empty holds a device in state
    not_configured whose commands refuse with device.not_configured, so nobody has to ask first.
    """

    card_reader: CardReader  # social security cards (PC/SC)
    id_reader: CardReader  # resident ID cards (the SAM module)
    camera: Camera
    printer: Printer

    def by_role(self) -> dict[str, Device]:
        """Every device under its role, the role being the device's `name` too."""
        return {role.name: getattr(self, role.name) for role in fields(self)}

    def card_readers(self) -> tuple[CardReader, ...]:
        return (self.card_reader, self.id_reader)
