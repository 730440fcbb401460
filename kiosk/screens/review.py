"""Review: everything at a glance (ID number masked), consent, submit."""

from __future__ import annotations

from typing import Any

from kiosk.core.catalogue import FieldKind
from kiosk.core.errors import KioskError
from kiosk.core.identity import mask_id_number
from kiosk.screens.base import KioskScreen
from kiosk.screens.widgets import WrapLabel


class ReviewScreen(KioskScreen):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.last_error = ""

    def refresh(self) -> None:
        item = self.shown_item()
        if item is None:
            return
        body = self.ids.summary
        body.clear_widgets()
        values = self.journey.session.values
        lines = [(self.t("review.item"), item.name)]
        for form_field in item.fields:
            value = values.get(form_field.id, "")
            lines.append((form_field.label, mask_id_number(value) if form_field.kind is FieldKind.ID_NUMBER else value))
        for material in item.materials:
            count = self.journey.page_count(material.id)
            if count:
                lines.append((material.name, self.t("review.pages", n=count)))
        for key, value in lines:
            body.add_widget(WrapLabel(text=f"[b]{key}[/b]：{value}", markup=True))
        self.ids.consent_box.active = self.journey.session.consent
        self.ids.back_button.disabled = self.journey.frozen
        self.ids.consent_box.disabled = self.journey.frozen
        self.ids.message.text = self.last_error
        self.ids.submit_button.text = self.t("app.retry") if self.last_error else self.t("review.submit")

    def set_consent(self, agreed: bool) -> None:
        self.journey.give_consent(agreed)
        if agreed and self.ids.message.text == self.t("review.consent_required"):
            self.ids.message.text = ""

    def submit(self) -> None:
        try:
            submission = self.journey.begin_submit()
        except KioskError as exc:
            self.ids.message.text = self.error_text(exc)
            return
        self.app.spawn(self._send(submission))

    async def _send(self, submission: Any) -> None:
        try:
            delivered = await self.app.blocking(self.journey.send_submission, submission)
        except KioskError as exc:
            self.last_error = self.error_text(exc)  # shown on review, where everything is still held
            self.journey.finish_submit(exc)
            return
        self.last_error = ""
        self.journey.finish_submit(None, delivered)

    def wipe(self) -> None:
        self.last_error = ""
        self.ids.summary.clear_widgets()
        self.ids.consent_box.active = False
