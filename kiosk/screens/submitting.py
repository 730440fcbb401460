"""Submitting: a progress indicator while the application goes to the hall."""

from __future__ import annotations

from typing import Any

from kivy.animation import Animation

from kiosk.screens.base import KioskScreen


class SubmittingScreen(KioskScreen):
    def on_enter(self, *_: Any) -> None:
        bar = self.ids.progress
        bar.value = 0
        self._anim = Animation(value=95, duration=8, t="out_quad")
        self._anim.start(bar)

    def on_leave(self, *_: Any) -> None:
        self._anim.cancel(self.ids.progress)
