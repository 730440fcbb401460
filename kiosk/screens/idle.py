"""The "还在吗？" warning: shown by the app's idle tick, hidden by any touch."""

from __future__ import annotations

from kivy.properties import NumericProperty
from kivy.uix.modalview import ModalView


class IdleOverlay(ModalView):
    seconds = NumericProperty(0)

    def show(self, seconds: int) -> None:
        self.seconds = seconds
        if self._window is None:
            self.open(animation=False)

    def hide(self) -> None:
        if self._window is not None:
            self.dismiss(animation=False)
