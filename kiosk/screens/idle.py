"""The "还在吗？" warning: shown by the app's idle tick, hidden by any touch."""

from __future__ import annotations

from kivy.properties import NumericProperty

from kiosk.screens.widgets import Overlay


class IdleOverlay(Overlay):
    seconds = NumericProperty(0)

    def show(self, seconds: int = 0) -> None:
        self.seconds = seconds
        super().show()
