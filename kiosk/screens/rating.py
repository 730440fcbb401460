"""Rating (好差评): five levels, optional reasons, then the session ends."""

from __future__ import annotations

import asyncio
from typing import Any

from kiosk.core.errors import KioskError
from kiosk.core.journey import RATING_LEVELS
from kiosk.core.session import EndReason
from kiosk.screens.base import KioskScreen
from kiosk.screens.widgets import ChoiceToggle, KToggle

REASONS = ("fast", "easy", "clear", "slow", "hard", "device", "unclear")
THANKS_S = 1.5


class RatingScreen(KioskScreen):
    def on_kv_post(self, *_: Any) -> None:
        self._build()

    def _build(self) -> None:
        levels = self.ids.levels
        levels.clear_widgets()
        for level in RATING_LEVELS:
            levels.add_widget(KToggle(text=self.t(f"rating.levels_{level}"), value=str(level), group="rating-level"))
        reasons = self.ids.reasons
        reasons.clear_widgets()
        for reason in REASONS:
            reasons.add_widget(ChoiceToggle(text=self.t(f"rating.reason_{reason}"), value=reason))

    def refresh(self) -> None:
        self._build()
        self.ids.message.text = ""
        self.ids.submit_button.disabled = False

    def chosen(self) -> tuple[int, list[str]]:
        level = next((int(t.value) for t in self.ids.levels.children if t.state == "down"), 0)
        reasons = [t.value for t in reversed(self.ids.reasons.children) if t.state == "down"]
        return level, reasons

    def submit(self) -> None:
        level, reasons = self.chosen()
        try:
            payload = self.journey.rating_payload(level, reasons)
        except KioskError as exc:
            self.ids.message.text = self.error_text(exc)
            return
        self.ids.submit_button.disabled = True
        self.app.spawn(self._send(payload))

    async def _send(self, payload: dict[str, Any]) -> None:
        await self.app.blocking(self.journey.send_rating, payload)
        self.ids.message.text = self.t("rating.thanks")
        await asyncio.sleep(THANKS_S)
        self.journey.end(EndReason.DONE)

    def skip(self) -> None:
        self.journey.end(EndReason.DONE)

    def wipe(self) -> None:
        self._build()
