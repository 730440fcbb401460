"""Progress query (办件查询): receipt number plus the last 6 characters of the ID number."""

from __future__ import annotations

from typing import Any

from kiosk.core import receipt_number
from kiosk.core.errors import KioskError
from kiosk.core.progress import progress_lines
from kiosk.screens.base import KioskScreen
from kiosk.screens.widgets import CLEAR, DELETE

FIELDS = ("receipt_no", "id_tail")
MAX_LENGTH = {"receipt_no": 40, "id_tail": 6}


class QueryScreen(KioskScreen):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.selected = "receipt_no"
        self.answer: dict[str, Any] = {}

    def on_kv_post(self, *_: Any) -> None:
        for field in FIELDS:
            self.ids[field].ids.value_button.bind(on_release=lambda _b, name=field: self.select(name))

    def refresh(self) -> None:
        session = self.journey.session
        if session.query_receipt and not self.ids.receipt_no.value:  # from a receipt QR
            self.ids.receipt_no.value = session.query_receipt
            self.selected = "id_tail"  # a bare number: only the ID tail is left to type
            if session.query_token:  # our receipt's link: the answer at once
                self.ids.result.text = self.t("app.loading")
                self.app.spawn(self._search(session.query_receipt, token=session.query_token))
        self.select(self.selected)

    def select(self, name: str) -> None:
        self.selected = name
        for field in FIELDS:
            self.ids[field].selected = field == name

    def on_key(self, key: str) -> None:
        row = self.ids[self.selected]
        if key == DELETE:
            row.value = row.value[:-1]
        elif key == CLEAR:
            row.value = ""
        elif len(row.value) < MAX_LENGTH[self.selected]:
            row.value += key
        if self.selected == "receipt_no" and len(row.value) >= 20 and receipt_number.is_valid(row.value):
            self.select("id_tail")

    def search(self) -> None:
        number, tail = self.ids.receipt_no.value.strip(), self.ids.id_tail.value.strip()
        if not receipt_number.is_valid(number):
            self.ids.result.text = self.t("query.bad_number")
            return
        self.ids.result.text = self.t("app.loading")
        self.app.spawn(self._search(number, tail))

    async def _search(self, number: str, tail: str = "", token: str = "") -> None:
        try:
            answer = await self.app.blocking(self.journey.query_progress, number, tail, token)
        except KioskError as exc:
            self.ids.result.text = self.t("query.not_found") if exc.code == "hall.not_found" else self.error_text(exc)
            return
        lines = progress_lines(answer, self.app.kiosk.messages)
        self.ids.result.text = "\n".join(lines)
        self.answer = answer
        self.ids.print_button.disabled = False
        self.ids.print_button.opacity = 1

    def print_result(self) -> None:
        self.app.spawn(self._print_result())

    async def _print_result(self) -> None:
        journey = self.journey
        document, job_id = journey.progress_document(self.answer), journey.progress_job_id(self.answer)
        await self.run_print(document, job_id, self.ids.print_status, self.ids.print_button, "query")

    def wipe(self) -> None:
        for field in FIELDS:
            self.ids[field].value = ""
        self.ids.result.text = ""
        self.ids.print_status.text = ""
        self.ids.print_button.disabled = True
        self.ids.print_button.opacity = 0
        self.answer = {}
        self.selected = "receipt_no"
