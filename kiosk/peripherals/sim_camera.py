"""A simulated document camera: a page lying on a dark base plate, drawn with PIL.

Every capture is a different page (a counter and the time are printed on it), so tests can
tell pages apart by their hashes. Issue 4 replaces the drawing with video files and images.
"""

from __future__ import annotations

import datetime as dt
import io
import itertools
import threading

from PIL import Image, ImageDraw, ImageFont

from kiosk.core.devices import Cancel, DeviceState, FixedBy, Frame
from kiosk.core.errors import DeviceError
from kiosk.fonts import SC_INDEX, collection
from kiosk.peripherals.base import BaseDevice

A4_150DPI = (1240, 1754)
PLATE = (38, 42, 48)


class SimulatedCamera(BaseDevice):
    driver = "simulated"
    capabilities = frozenset({"document", "preview"})

    def __init__(self, name: str, width: int = 1920, height: int = 1080, preview_width: int = 640) -> None:
        super().__init__(name)
        self.size = (width, height)
        self.preview_size = (preview_width, preview_width * height // width)
        self._count = itertools.count(1)
        self._lock_capture = threading.Lock()
        self._disconnected = False
        self._preview: Frame | None = None
        font_path = str(collection())
        self._font_big = ImageFont.truetype(font_path, 64, index=SC_INDEX)
        self._font = ImageFont.truetype(font_path, 36, index=SC_INDEX)

    def open(self) -> None:
        self._disconnected = False
        self._set_state(DeviceState.READY, "device.ready")

    def unplug(self) -> None:
        """Scripted fault: the camera goes away until `open` is called again."""
        self._disconnected = True
        self._set_state(DeviceState.DISCONNECTED, "camera.disconnected", FixedBy.TECHNICIAN)

    def _page(self, number: int) -> Image.Image:
        page = Image.new("RGB", A4_150DPI, "white")
        draw = ImageDraw.Draw(page)
        draw.rectangle((60, 60, A4_150DPI[0] - 60, 200), outline=(200, 30, 30), width=6)
        draw.text((100, 90), "示例材料（演示用）", font=self._font_big, fill=(200, 30, 30))
        draw.text(
            (100, 260), f"第 {number} 页  {dt.datetime.now():%Y-%m-%d %H:%M:%S.%f}", font=self._font, fill="black"
        )
        for row in range(12):
            y = 360 + row * 100
            draw.line((100, y, A4_150DPI[0] - 100 - (row * 37) % 300, y), fill=(90, 90, 90), width=4)
        return page

    def _scene(self, page: Image.Image, size: tuple[int, int]) -> Image.Image:
        scene = Image.new("RGB", size, PLATE)
        height = int(size[1] * 0.9)
        width = height * A4_150DPI[0] // A4_150DPI[1]
        scene.paste(page.resize((width, height)), ((size[0] - width) // 2, (size[1] - height) // 2))
        return scene

    @staticmethod
    def _jpeg(image: Image.Image, quality: int = 85) -> Frame:
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=quality)
        return Frame(buffer.getvalue(), image.width, image.height)

    def _check(self) -> None:
        if self._disconnected:
            raise DeviceError("camera unplugged", code="camera.disconnected")

    def preview(self, timeout: float) -> Frame:
        def grab() -> Frame:
            self._check()
            if self._preview is None:  # the plate does not change: draw it once, not 4× a second
                self._preview = self._jpeg(self._scene(self._page(0), self.preview_size), quality=70)
            return self._preview

        return self._run(grab, timeout)

    def capture(self, timeout: float, cancel: Cancel | None = None) -> Frame:
        """The corrected page, as the real camera will deliver it after page detection."""

        def grab() -> Frame:
            self._check()
            with self._lock_capture:
                self._set_state(DeviceState.BUSY, "camera.capturing")
                frame = self._jpeg(self._page(next(self._count)))
                self._set_state(DeviceState.READY, "device.ready")
                return frame

        return self._run(grab, timeout, cancel)
