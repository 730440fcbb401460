"""Receipt: the number, the same QR as on paper, and the printed 受理凭证.

When the printer cannot print (paper out, cover open), the QR on screen is the receipt, and
the receipt still prints by itself if staff fix the printer while the citizen is here: the
same job id, so never a second copy.
"""

from __future__ import annotations

from typing import Any

from kiosk.core.devices import DeviceEvent, DeviceEventKind, DeviceState, EventInterest, Status
from kiosk.core.errors import KioskError
from kiosk.screens.base import KioskScreen
from kiosk.screens.images import qr_texture

_STAFF_FIXES = {"printer.paper_out": "receipt.paper_out", "printer.cover_open": "receipt.cover_open"}


class ReceiptScreen(KioskScreen):
    device_events = EventInterest(frozenset({DeviceEventKind.STATE}), frozenset({"printer"}))  # staff fixed it

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.printed_job = ""
        self.waiting_for_printer = False

    def refresh(self) -> None:
        session = self.journey.session
        self.ids.number.text = session.receipt_no
        self.ids.pending_upload.text = self.t("receipt.pending_upload") if session.offline else ""
        self.ids.qr.texture = qr_texture(self.journey.progress_url())

    def on_enter(self, *_: Any) -> None:
        if self.printed_job != self.journey.receipt_job_id():
            self.app.spawn(self._print())

    async def _print(self) -> None:
        journey = self.journey
        self.waiting_for_printer = False
        self.ids.print_status.text = self.t("receipt.printing")
        job_id = journey.receipt_job_id()
        try:
            await self.app.blocking(journey.print_document, journey.receipt_document(), job_id)
            self.printed_job = job_id
            self.ids.print_status.text = self.t("receipt.printed")
        except KioskError as exc:
            self.waiting_for_printer = exc.code in _STAFF_FIXES
            self.ids.print_status.text = self.t(_STAFF_FIXES.get(exc.code, "receipt.print_failed"))

    def on_device_event(self, event: DeviceEvent) -> None:
        fixed = isinstance(event.payload, Status) and event.payload.state is DeviceState.READY
        if fixed and self.waiting_for_printer and self.manager is not None and self.manager.current_screen is self:
            self.app.spawn(self._print())

    def wipe(self) -> None:
        self.printed_job = ""
        self.waiting_for_printer = False
        self.ids.number.text = ""
        self.ids.pending_upload.text = ""
        self.ids.qr.texture = None
        self.ids.print_status.text = ""
