"""Receipt: the number, the same QR as on paper, and the printed 受理凭证."""

from __future__ import annotations

from typing import Any

from kiosk.core.errors import KioskError
from kiosk.screens.base import KioskScreen
from kiosk.screens.images import qr_texture


class ReceiptScreen(KioskScreen):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.printed_job = ""

    def refresh(self) -> None:
        session = self.journey.session
        self.ids.number.text = session.receipt_no
        self.ids.qr.texture = qr_texture(self.journey.progress_url())

    def on_enter(self, *_: Any) -> None:
        if self.printed_job != self.journey.receipt_job_id():
            self.app.spawn(self._print())

    async def _print(self) -> None:
        journey = self.journey
        self.ids.print_status.text = self.t("receipt.printing")
        job_id = journey.receipt_job_id()
        try:
            await self.app.blocking(journey.print_document, journey.receipt_document(), job_id)
            self.printed_job = job_id
            self.ids.print_status.text = self.t("receipt.printed")
        except KioskError as exc:
            key = "receipt.paper_out" if exc.code == "printer.paper_out" else "receipt.print_failed"
            self.ids.print_status.text = self.t(key)

    def wipe(self) -> None:
        self.printed_job = ""
        self.ids.number.text = ""
        self.ids.qr.texture = None
        self.ids.print_status.text = ""
