"""The service guide of one item; print the checklist (一次性告知单) or start."""

from __future__ import annotations

from kivy.metrics import dp

from kiosk.core.errors import KioskError
from kiosk.core.guide import SUBLINE, guide_sections
from kiosk.screens.base import KioskScreen
from kiosk.screens.widgets import SectionHeading, WrapLabel


class GuideScreen(KioskScreen):
    def refresh(self) -> None:
        item = self.shown_item()
        if item is None:
            return
        self.ids.status.text = ""
        body = self.ids.body
        body.clear_widgets()
        for heading, lines in guide_sections(item, self.app.kiosk.messages):
            body.add_widget(SectionHeading(text=f"[b]{heading}[/b]"))
            for line in lines:
                sub = line.startswith(SUBLINE)
                body.add_widget(WrapLabel(text=line.lstrip(SUBLINE), padding=(dp(36) if sub else 0, 0)))

    def start(self) -> None:
        try:
            self.journey.start_item()
        except KioskError as exc:  # storage.full: the terminal cannot keep another application now
            self.ids.status.text = self.error_text(exc)

    def print_checklist(self) -> None:
        self.app.spawn(self.run_checklist_print(self.ids.status, self.ids.print_button))
