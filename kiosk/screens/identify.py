"""Identify: wait for a card; the reader's `identity` event fills the form and moves on."""

from __future__ import annotations

from typing import Any

from kiosk.core.devices import CardReader, DeviceEvent, DeviceEventKind, EventInterest
from kiosk.core.errors import KioskError
from kiosk.core.identity import CardType
from kiosk.core.session import Step
from kiosk.screens.base import KioskScreen

CARD_ROLES = frozenset({"card_reader", "id_reader"})  # social security cards (PC/SC), resident ID cards (SAM)


class IdentifyScreen(KioskScreen):
    device_events = EventInterest(
        frozenset({DeviceEventKind.CARD_INSERTED, DeviceEventKind.IDENTITY, DeviceEventKind.READ_FAILED}), CARD_ROLES
    )

    def refresh(self) -> None:
        self.shown_item()
        self.ids.status.text = self.t("identify.instruction")

    def on_enter(self, *_: Any) -> None:
        """A card put down before this screen (while reading the guide) is read now."""
        for reader in self.app.kiosk.devices.card_readers():
            if reader.card_present():
                self.app.spawn(self._read_present(reader))

    async def _read_present(self, reader: CardReader) -> None:
        self.ids.status.text = self.t("identify.reading")
        try:
            identity = await self.app.blocking(reader.read_identity, 5.0)
        except KioskError as exc:
            self.ids.status.text = self.error_text(exc)
            return
        if self.journey.step is Step.IDENTIFY:
            self.journey.accept_identity(identity)

    def on_device_event(self, event: DeviceEvent) -> None:
        if self.journey.step is not Step.IDENTIFY:
            return
        if event.kind is DeviceEventKind.CARD_INSERTED:
            self.ids.status.text = self.t("identify.reading")
        elif event.kind is DeviceEventKind.IDENTITY:
            self.journey.accept_identity(event.payload)
        elif event.kind is DeviceEventKind.READ_FAILED and isinstance(event.payload, KioskError):
            self.ids.status.text = self.error_text(event.payload)

    def place_demo_card(self, card_type: str) -> None:
        """The demo control: the dock places a made-up citizen's card of this type on the simulated reader."""
        dock = self.app.kiosk.dock
        if dock is not None:
            self.app.spawn(self.app.blocking(dock.place_card, CardType(card_type)))
