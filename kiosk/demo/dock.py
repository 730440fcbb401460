"""The demo dock: one set of controls over the simulated devices (after vxsuite's dev dock).

The demo configuration's on-screen controls and the tests drive the simulators through it, never
directly, and never reach for the demo data themselves: place a made-up citizen's card and take
it away, script a read fault, lay a page on the camera's plate and take it off, hold up a phone
showing a code, unplug the camera, change the printer's paper and look at what it printed. Each
command is one call of a simulated driver's public methods.

Only the demo configuration (`[ui] demo_controls = true`) builds a dock; a real terminal has
none, and its screens hide the demo controls. A command for a part that is not simulated (a
demo configuration with a real card reader) raises DemoUnavailable.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from enum import StrEnum
from pathlib import Path

from kiosk.core.devices import Devices, Level
from kiosk.core.identity import CardType, Identity
from kiosk.core.journey import Journey
from kiosk.core.receipt_number import format_number
from kiosk.demo.identities import DEMO_CITIZENS
from kiosk.demo.seed import DEMO_APPOINTMENT
from kiosk.peripherals.camera.demo_scene import SLIDE_S
from kiosk.peripherals.camera.device import CameraDevice
from kiosk.peripherals.camera.simulated import SimulatedSource
from kiosk.peripherals.cards.simulated import SimulatedCardReader
from kiosk.peripherals.printer.simulated import SimulatedPrinter


class DemoCode(StrEnum):
    """What the demo's phone can show the camera."""

    RECEIPT = "receipt"  # the QR of the last receipt (today's first number before there is one)
    APPOINTMENT = "appointment"  # the appointment the demo's hall was seeded with


class DemoUnavailable(RuntimeError):
    """The dock was asked to drive a part that is not simulated."""


def receipt_link(journey: Journey) -> str:
    """The progress link on the last receipt this terminal gave out today (today's first if none)."""
    terminal = journey.terminal
    last = journey.numbers.last()
    return terminal.progress_link(last or format_number(terminal.id, dt.date.today(), 1))


class DemoDock:
    def __init__(
        self,
        *,
        cards: Sequence[SimulatedCardReader] = (),
        plate: SimulatedSource | None = None,
        printer: SimulatedPrinter | None = None,
        last_receipt: Callable[[], str] | None = None,
    ) -> None:
        """`cards`: the simulated readers, the first takes the cards placed; `plate`: the simulated
        camera's scene; `last_receipt`: the link the receipt QR carries."""
        self._cards = tuple(cards)
        self._plate = plate
        self._printer = printer
        self._last_receipt = last_receipt

    @classmethod
    def over(cls, devices: Devices, journey: Journey | None = None) -> DemoDock:
        """The dock over whichever of the terminal's devices are simulated; `journey` gives out the
        receipts whose QR the demo phone shows."""
        camera = devices.camera
        source = camera.source if isinstance(camera, CameraDevice) else None
        return cls(
            cards=[reader for reader in devices.card_readers() if isinstance(reader, SimulatedCardReader)],
            plate=source if isinstance(source, SimulatedSource) else None,
            printer=devices.printer if isinstance(devices.printer, SimulatedPrinter) else None,
            last_receipt=None if journey is None else lambda: receipt_link(journey),
        )

    # -- cards ------------------------------------------------------------------------------
    def place_card(self, card_type: CardType = CardType.RESIDENT_ID) -> Identity:
        """Place the card of the made-up citizen who holds one of `card_type`; returns that citizen.

        Blocks until the card is read, like a real reader's event thread: call it off the UI thread."""
        citizen = next(citizen for citizen in DEMO_CITIZENS if citizen.card_type is card_type)
        self._reader().insert(citizen)
        return citizen

    def take_cards(self) -> None:
        """Lift every card from the simulated readers (a real citizen lifts a real one)."""
        for reader in self._cards:
            reader.remove()

    def fail_next_read(self, code: str) -> None:
        """A scripted fault: the next card read fails with this message code (e.g. card.removed)."""
        self._reader().fail_next(code)

    def _reader(self) -> SimulatedCardReader:
        if not self._cards:
            raise DemoUnavailable("no simulated card reader")
        return self._cards[0]

    # -- camera -----------------------------------------------------------------------------
    def place_page(self, angle: float | None = None, slide: float = SLIDE_S) -> int:
        """Slide the next sample page onto the plate over `slide` seconds; returns its number."""
        return self._scene().place_page(angle, slide)

    def remove_page(self, slide: float = SLIDE_S) -> None:
        self._scene().remove_page(slide)

    def run_page_cycle(self, on: bool) -> None:
        """Whether sample pages come and go by themselves (the demo) or only when placed (tests)."""
        self._scene().auto = on

    def hold_up_code(self, kind: DemoCode) -> None:
        """Hold a phone showing the demo's receipt QR or appointment code over the plate."""
        self.hold_up(self.code(kind))

    def hold_up(self, text: str) -> None:
        """Hold a phone showing `text` as a QR code over the plate."""
        self._scene().hold_up(text)

    def code(self, kind: DemoCode) -> str:
        if kind is DemoCode.APPOINTMENT:
            return DEMO_APPOINTMENT["code"]
        if self._last_receipt is None:
            raise DemoUnavailable("the dock knows no receipt")
        return self._last_receipt()

    def unplug_camera(self) -> None:
        self._scene().unplug()

    def replug_camera(self) -> None:
        self._scene().replug()

    def _scene(self) -> SimulatedSource:
        if self._plate is None:
            raise DemoUnavailable("no simulated camera")
        return self._plate

    # -- printer ----------------------------------------------------------------------------
    def set_paper(self, level: Level) -> None:
        """The simulated printer's paper sensor reads `level` (ok, low or out)."""
        self._paper().machine.set_paper(level)

    def load_paper(self) -> None:
        """Staff put in a new roll."""
        self._paper().machine.load_paper()

    def printouts(self, pattern: str = "*") -> list[Path]:
        """The files of what the simulated printer printed (`<job id>.png`, `.txt`, …), by name."""
        return sorted(self._paper().out_dir.glob(pattern))

    def _paper(self) -> SimulatedPrinter:
        if self._printer is None:
            raise DemoUnavailable("no simulated printer")
        return self._printer
