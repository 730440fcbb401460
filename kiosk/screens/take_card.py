""" "请取走您的卡片": shown when a session ends with a card still on or in a reader."""

from __future__ import annotations

from kivy.uix.modalview import ModalView


class TakeCardOverlay(ModalView):
    def show(self) -> None:
        if self._window is None:
            self.open(animation=False)

    def hide(self) -> None:
        if self._window is not None:
            self.dismiss(animation=False)
