"""The live camera picture with the page outline, and the claim on the camera while a screen shows it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from kivy.properties import ListProperty
from kivy.uix.image import Image

from kiosk.core.devices import FAULT_STATES, Camera, Frame
from kiosk.core.errors import KioskError
from kiosk.screens.base import KioskScreen
from kiosk.screens.images import texture_from_bytes


class CameraView(Image):
    """A preview frame; `outline` is the page's corners as 0..1 of the frame, drawn over it."""

    outline = ListProperty([])
    outline_points = ListProperty([])  # window coordinates, for the kv Line

    def on_kv_post(self, *_: Any) -> None:
        self.bind(pos=self._place, size=self._place, norm_image_size=self._place, outline=self._place)

    def show(self, frame: Frame, outline: tuple[tuple[float, float], ...] = ()) -> None:
        self.texture = texture_from_bytes(frame.jpeg)
        self.outline = [c for point in outline for c in point]

    def clear(self) -> None:
        self.texture = None
        self.outline = []

    def _place(self, *_: Any) -> None:
        width, height = self.norm_image_size
        left, bottom = self.center_x - width / 2, self.center_y - height / 2
        corners = zip(self.outline[0::2], self.outline[1::2], strict=True)
        # The frame's y runs down, the window's up.
        self.outline_points = [c for u, v in corners for c in (left + u * width, bottom + (1 - v) * height)]


class CameraScreen(KioskScreen):
    """A screen that holds the camera while it is shown: claimed on entry, released on leaving,
    so the camera (and its light) is off when no screen needs it and never has two users."""

    camera_owner = ""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._camera_task: asyncio.Task[Any] | None = None
        self._release: Callable[[], None] | None = None

    @property
    def camera(self) -> Camera:
        return self.app.kiosk.devices.camera

    def on_enter(self, *_: Any) -> None:
        self._camera_task = self.app.spawn(self._hold_camera())

    def on_leave(self, *_: Any) -> None:
        if self._camera_task is not None:
            self._camera_task.cancel()
            self._camera_task = None
        self._let_go()

    def _let_go(self) -> None:
        release, self._release = self._release, None
        if release is not None:
            release()

    async def _hold_camera(self) -> None:
        claim = asyncio.ensure_future(self.app.blocking(self.camera.claim, self.camera_owner))
        try:
            self._release = await asyncio.shield(claim)
        except asyncio.CancelledError:  # left while claiming: give the camera back once claimed
            claim.add_done_callback(lambda done: done.exception() is None and done.result()())
            raise
        except KioskError as exc:
            self.camera_failed(exc)
            return
        try:
            await self.use_camera()
        finally:
            self._let_go()

    def fault_text(self) -> str:
        """The camera's fault for the citizen (covered, frozen, unplugged), or "" when it is fine."""
        status = self.camera.status()
        return self.t(status.code) if status.state in FAULT_STATES else ""

    async def use_camera(self) -> None:
        """The screen's work with the claimed camera; cancelled when the screen is left."""

    def camera_failed(self, error: KioskError) -> None:
        """The camera could not be claimed (not configured, unplugged, in use)."""
