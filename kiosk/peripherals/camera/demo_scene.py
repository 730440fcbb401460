"""The demo's drawn scene: A4 pages placed on a dark base plate and taken away again.

Every placement is a new page (its number and the time are printed on it), so tests and the demo
can tell captures apart. A page slides in from the citizen's side, lies at a slight angle and is
seen in slight perspective, like paper under a real document camera. A faint sensor noise keeps
the picture alive: a real sensor never repeats a frame exactly, and the device takes exact
repeats for a frozen camera.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
from dataclasses import dataclass

import cv2
import numpy as np
import qrcode
from PIL import Image, ImageDraw, ImageFont

from kiosk.fonts import SC_INDEX, collection

PLATE_BGR = (48, 42, 38)
PAPER_RGB = (232, 230, 224)  # paper under the hall's lights: bright, not clipped (the camera would call that glare)
A4_150DPI = (1240, 1754)
PAGE_HEIGHT = 0.86  # of the picture's height
TOP_NARROWING = 0.95  # the far edge looks shorter: the camera looks down from the citizen's side
SLIDE_S = 0.4
NOISE_LEVELS = 5  # 0..4 added per pixel
NOISE_FRAMES = 3


def draw_page(number: int, font_big: ImageFont.FreeTypeFont, font: ImageFont.FreeTypeFont) -> np.ndarray:
    """A demo A4 page at 150 dpi, BGR: red header, page number and time, lines of "text"."""
    page = Image.new("RGB", A4_150DPI, PAPER_RGB)
    draw = ImageDraw.Draw(page)
    draw.rectangle((60, 60, A4_150DPI[0] - 60, 200), outline=(200, 30, 30), width=6)
    draw.text((100, 90), "示例材料（演示用）", font=font_big, fill=(200, 30, 30))
    draw.text((100, 260), f"第 {number} 页  {dt.datetime.now():%Y-%m-%d %H:%M:%S.%f}", font=font, fill="black")
    for row in range(12):
        y = 360 + row * 100
        draw.line((100, y, A4_150DPI[0] - 100 - (row * 37) % 300, y), fill=(90, 90, 90), width=4)
    return cv2.cvtColor(np.asarray(page), cv2.COLOR_RGB2BGR)


def phone_showing(payload: str, picture_height: int) -> np.ndarray:
    """A phone (dark body, bright screen) showing `payload` as a QR code, BGR, sized for the picture."""
    code = qrcode.make(payload, border=2, box_size=10).get_image().convert("RGB")
    side = picture_height * 2 // 5
    screen = cv2.resize(cv2.cvtColor(np.asarray(code), cv2.COLOR_RGB2BGR), (side, side), interpolation=cv2.INTER_AREA)
    body = np.full((side * 2, side + side // 5, 3), (30, 30, 30), np.uint8)
    margin_x, margin_y = (body.shape[1] - side) // 2, side // 2
    body[margin_y - side // 10 : margin_y + side + side // 10, margin_x // 2 : body.shape[1] - margin_x // 2] = 255
    body[margin_y : margin_y + side, margin_x : margin_x + side] = screen
    return body


@dataclass
class Placement:
    number: int
    page: np.ndarray  # BGR, at the size it has in the picture
    quad: np.ndarray  # where its corners lie at rest, clockwise from top-left, float32 (4, 2)
    placed_at: float
    slide: float
    removed_at: float | None = None
    removal_slide: float = SLIDE_S

    def progress(self, now: float) -> float:
        """0 off the plate … 1 at rest."""
        entered = 1.0 if self.slide <= 0 else (now - self.placed_at) / self.slide
        if self.removed_at is not None:
            left = 1.0 if self.removal_slide <= 0 else (now - self.removed_at) / self.removal_slide
            entered = min(entered, 1.0 - left)
        return min(max(entered, 0.0), 1.0)


class DemoScene:
    def __init__(self, width: int, height: int) -> None:
        self.size = (width, height)
        self._plate = np.full((height, width, 3), PLATE_BGR, np.uint8)
        self._noise: list[np.ndarray] = []
        self._frames = itertools.count()
        self._numbers = itertools.count(1)
        self._fonts: tuple[ImageFont.FreeTypeFont, ImageFont.FreeTypeFont] | None = None
        self._page: Placement | None = None
        self._at_rest: tuple[Placement, np.ndarray] | None = None  # the still page is warped once, not per frame
        self._held: tuple[np.ndarray, float] | None = None  # a phone showing a code, until when

    def page_on_plate(self) -> bool:
        """A page lies on the plate or is sliding in (not one being taken away)."""
        return self._page is not None and self._page.removed_at is None

    def place(self, now: float, angle: float | None = None, slide: float = SLIDE_S) -> int:
        """Put the next page down (replacing any); returns its number. `angle` in degrees, clockwise."""
        number = next(self._numbers)
        if angle is None:
            angle = (number * 7 % 9 - 4) * 0.75  # a different slant per page, within ±3°
        quad = self._rest_quad(angle)
        width = round(float(np.linalg.norm(quad[2] - quad[3])))
        height = round(float(np.linalg.norm(quad[3] - quad[0])))
        page = cv2.resize(draw_page(number, *self._load_fonts()), (width, height), interpolation=cv2.INTER_AREA)
        self._page = Placement(number, page, quad, now, slide)
        return number

    def remove(self, now: float, slide: float = SLIDE_S) -> None:
        page = self._page
        if page is not None and page.removed_at is None:
            page.removed_at, page.removal_slide = now, slide

    def hold_up(self, payload: str, now: float, seconds: float) -> None:
        """A phone showing `payload` as a QR code is held over the plate for `seconds`."""
        self._held = (phone_showing(payload, self.size[1]), now + seconds)

    def render(self, now: float) -> np.ndarray:
        if not self._noise:  # made on first use: a playlist source never needs them
            rng = np.random.default_rng(0)
            shape = (self.size[1], self.size[0], 3)
            self._noise = [rng.integers(0, NOISE_LEVELS, shape, dtype=np.uint8) for _ in range(NOISE_FRAMES)]
        scene = self._compose(now)
        if self._held is not None and now < self._held[1]:
            phone = self._held[0]
            scene = scene.copy()
            top, left = (self.size[1] - phone.shape[0]) // 2, (self.size[0] - phone.shape[1]) // 2
            scene[top : top + phone.shape[0], left : left + phone.shape[1]] = phone
        return cv2.add(scene, self._noise[next(self._frames) % NOISE_FRAMES])

    def _compose(self, now: float) -> np.ndarray:
        placement = self._page
        if placement is None:
            return self._plate
        progress = placement.progress(now)
        if progress <= 0.0:
            if placement.removed_at is not None:
                self._page = None
            return self._plate
        if progress < 1.0:
            return self._warp(placement, progress)
        if self._at_rest is None or self._at_rest[0] is not placement:
            self._at_rest = (placement, self._warp(placement, 1.0))
        return self._at_rest[1]

    def _rest_quad(self, angle: float) -> np.ndarray:
        width, height = self.size
        page_h = PAGE_HEIGHT * height
        page_w = page_h * 210 / 297
        top, bottom = page_w / 2 * TOP_NARROWING, page_w / 2
        corners = np.float32([[-top, -page_h / 2], [top, -page_h / 2], [bottom, page_h / 2], [-bottom, page_h / 2]])
        turn = math.radians(angle)
        rotation = np.float32([[math.cos(turn), -math.sin(turn)], [math.sin(turn), math.cos(turn)]])
        return corners @ rotation.T + np.float32([width / 2, height / 2])

    def _warp(self, placement: Placement, progress: float) -> np.ndarray:
        eased = progress * progress * (3 - 2 * progress)
        quad = placement.quad + np.float32([0, (1 - eased) * self.size[1]])  # slides in from the bottom edge
        height, width = placement.page.shape[:2]
        corners = np.float32([[0, 0], [width, 0], [width, height], [0, height]])
        matrix = cv2.getPerspectiveTransform(corners, quad.astype(np.float32))
        scene = self._plate.copy()
        cv2.warpPerspective(
            placement.page, matrix, self.size, dst=scene, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_TRANSPARENT
        )
        return scene

    def _load_fonts(self) -> tuple[ImageFont.FreeTypeFont, ImageFont.FreeTypeFont]:
        if self._fonts is None:
            path = str(collection())
            self._fonts = (ImageFont.truetype(path, 64, index=SC_INDEX), ImageFont.truetype(path, 36, index=SC_INDEX))
        return self._fonts
