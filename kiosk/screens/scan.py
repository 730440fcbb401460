"""扫码办事: a code held up to the camera. A receipt QR opens the progress query, an appointment or
pre-review code the booked service; anything else is shown and not acted on."""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import urlsplit

from kiosk.core.code_kinds import Classified, CodeKind
from kiosk.core.devices import CodeRead
from kiosk.core.errors import CatalogueError, DeviceTimeout, HallError, KioskError
from kiosk.core.identity import mask_id_number
from kiosk.demo.dock import DemoCode
from kiosk.screens.camera_view import CameraScreen

PREVIEW_INTERVAL_S = 0.2
SCAN_WINDOW_S = 1.0  # one scan_code call: frames voted on together
SHOWN_TEXT_MAX = 80


class ScanScreen(CameraScreen):
    camera_owner = "scan"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._acted_on = b""  # the code last acted on: holding it up longer does not repeat the action

    def refresh(self) -> None:
        self.ids.status.text = self.t("scan.instruction")
        self.ids.result.text = ""

    def again(self) -> None:
        self._acted_on = b""
        self.refresh()

    async def use_camera(self) -> None:
        await asyncio.gather(self._preview(), self._scan())

    def camera_failed(self, error: KioskError) -> None:
        self.ids.status.text = self.error_text(error)

    async def _preview(self) -> None:
        while True:
            try:
                self.ids.view.show(await self.app.blocking(self.camera.preview, 2.0))
                self.ids.status.text = self.fault_text() or self.t("scan.instruction")
            except KioskError as exc:
                self.ids.status.text = self.error_text(exc)
            await asyncio.sleep(PREVIEW_INTERVAL_S)

    async def _scan(self) -> None:
        while True:
            try:
                read: CodeRead = await self.app.blocking(self.camera.scan_code, SCAN_WINDOW_S)
            except DeviceTimeout:
                continue
            except KioskError as exc:
                self.ids.status.text = self.error_text(exc)
                await asyncio.sleep(1.0)
                continue
            if read.raw == self._acted_on:
                continue
            self._acted_on = read.raw
            if await self._act(self.journey.read_code(read)):
                return

    async def _act(self, found: Classified) -> bool:
        """Show what was read and act on it; True once the journey moved on."""
        result = self.ids.result
        if found.kind is CodeKind.RECEIPT:
            result.text = self.t("scan.receipt", number=found.value)
            self.journey.follow_receipt(found)
            return True
        if found.kind in (CodeKind.APPOINTMENT, CodeKind.PREREVIEW):
            result.text = self.t("scan.appointment")
            try:
                answer = await self.app.blocking(self.journey.lookup_appointment, found)
                self.journey.open_appointment(answer)
                return True
            except HallError as exc:
                result.text = (
                    self.t("scan.appointment_not_found") if exc.code == "hall.not_found" else self.error_text(exc)
                )
            except CatalogueError:
                result.text = self.t("scan.item_missing")
            return False
        if found.kind is CodeKind.ELICENCE:
            result.text = self.t("scan.elicence", host=urlsplit(found.value).hostname or "")
        elif found.kind is CodeKind.ID_NUMBER:
            result.text = self.t("scan.id_number", masked=mask_id_number(found.value))
        else:
            text = found.text if len(found.text) <= SHOWN_TEXT_MAX else found.text[:SHOWN_TEXT_MAX] + "…"
            result.text = self.t("scan.other", text=text) if text else self.t("scan.not_actionable")
        return False

    def show_demo_code(self, kind: str) -> None:
        """The demo control: the dock holds up a phone with a receipt QR or an appointment code."""
        dock = self.app.kiosk.dock
        if dock is not None:
            self.app.spawn(self.app.blocking(dock.hold_up_code, DemoCode(kind)))

    def wipe(self) -> None:
        self._acted_on = b""
        self.ids.view.clear()
        self.ids.result.text = ""
