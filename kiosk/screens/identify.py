"""Identify: wait for a card; the reader's `identity` event fills the form and moves on."""

from __future__ import annotations

from typing import Any

from kiosk.core.devices import DeviceEvent
from kiosk.core.errors import KioskError
from kiosk.core.session import Step
from kiosk.demo.identities import DEMO_CITIZENS
from kiosk.screens.base import KioskScreen

CARD_ROLES = ("card_reader", "id_reader")  # social security cards (PC/SC), resident ID cards (SAM)


class IdentifyScreen(KioskScreen):
    def refresh(self) -> None:
        self.shown_item()
        self.ids.status.text = self.t("identify.instruction")

    def on_enter(self, *_: Any) -> None:
        """A card put down before this screen (while reading the guide) is read now."""
        for role in CARD_ROLES:
            reader = self.app.kiosk.devices.get(role)
            if reader is not None and getattr(reader, "card_present", lambda: False)():
                self.app.spawn(self._read_present(reader))

    async def _read_present(self, reader: Any) -> None:
        self.ids.status.text = self.t("identify.reading")
        try:
            identity = await self.app.blocking(reader.read_identity, 5.0)
        except KioskError as exc:
            self.ids.status.text = self.error_text(exc)
            return
        if self.journey.step is Step.IDENTIFY:
            self.journey.accept_identity(identity)

    def on_device_event(self, event: DeviceEvent) -> None:
        if event.device not in CARD_ROLES or self.journey.step is not Step.IDENTIFY:
            return
        if event.kind == "card_inserted":
            self.ids.status.text = self.t("identify.reading")
        elif event.kind == "identity":
            self.journey.accept_identity(event.payload)
        elif event.kind == "read_failed" and isinstance(event.payload, KioskError):
            self.ids.status.text = self.error_text(event.payload)

    def insert_demo_card(self, index: int) -> None:
        """The demo control: place a made-up citizen's card on the simulated reader."""
        reader = self.app.kiosk.devices["card_reader"]
        self.app.spawn(self.app.blocking(reader.insert, DEMO_CITIZENS[index]))  # type: ignore[attr-defined]
