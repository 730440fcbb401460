"""Help (求助): the hall's consult phone and hours. A later issue adds the remote-agent video call."""

from __future__ import annotations

from kiosk.screens.base import KioskScreen


class HelpScreen(KioskScreen):
    def refresh(self) -> None:
        terminal = self.app.kiosk.config.terminal
        self.ids.phone.text = terminal.consult_phone
        self.ids.hours.text = terminal.opening_hours
        self.ids.staffed.text = terminal.staffed_hours
