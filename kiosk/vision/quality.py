"""Is the page on the plate good enough to take, and if not, what should the citizen do?

`measure` judges one frame: sharpness, reflections, exposure, whether the page is wholly in
view and lies flat. `PageWatcher` follows the frames of the document camera: it holds the
plate model (learning it while the plate is empty), times how long the page has been still,
remembers the sharpest frame of this placement, and says "ready" once, per placement: after
`mark_captured()` it waits until the page is taken away or another one lies there.

Times come from the caller (`now`, seconds), so that tests run on a clock of their own.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from kiosk.vision.page_detect import PageQuad, detect_page
from kiosk.vision.plate import PlateModel

PLACE_PAGE = "doc.place_page"  # 请放置材料: no page (or, after a capture, the next one)
WHOLE_PAGE = "doc.whole_page"  # part of the page is out of view
FLATTEN = "doc.flatten"  # 请将材料放平: the outline is no flat rectangle
GLARE = "doc.glare"  # 有反光，请调整
TOO_DARK = "doc.too_dark"
TOO_BRIGHT = "doc.too_bright"
BLURRY = "doc.blurry"
HOLD_STILL = "doc.hold_still"  # 请保持不动
READY = "doc.ready"

THUMB = (96, 96)  # the page rectified this small: enough for light, reflections and "is it the same page"
INNER = 0.04  # of the page kept out of the light measurements, for corners a little off
SATURATED = 250  # a channel this high is clipped
MIN_CONTRAST = 40  # grey levels between paper and print below which the page has nothing to be sharp about


@dataclass(frozen=True)
class Gates:
    """Thresholds of the quality gates; `sharpness_floor` depends on the camera and its lens."""

    sharpness_floor: float = 0.15  # steepest edges over their contrast, per px (see `sharpness`)
    sharpness_drop: float = 0.6  # below this fraction of the placement's best: moving or refocusing
    glare_blob: float = 0.003  # largest clipped patch, fraction of the page
    dark_paper: float = 90.0  # grey level of the paper (90th percentile) below which it is too dark
    bright_page: float = 250.0  # median grey level of the page above which it is washed out
    border_px: float = 3.0  # at 1080p: corners closer to the frame's edge may be cut off
    max_skew_deg: float = 12.0  # interior angles this far from square: not lying flat
    max_bow: float = 0.01  # an edge bowed more than this fraction of its length: a curling page
    steady_px: float = 4.0  # at 1080p: corners moving less than this are still
    steady_s: float = 0.5  # still this long, every gate passed: ready
    rearm_s: float = 0.3  # the page gone this long after a capture: the next one may come
    same_page: float = 3.0  # mean grey difference of the rectified thumbnails within which it is the same page


@dataclass(frozen=True, eq=False)
class WatchResult:
    quad: PageQuad | None
    quality: dict[str, Any]  # JSON-ready measurements, see `measure`
    advice: str  # one of the codes above
    ready: bool  # capture now (once per placement)


def measure(frame_bgr: np.ndarray, quad: PageQuad, gates: Gates = Gates()) -> dict[str, Any]:
    """One frame's measurements of the page (JSON-ready), with `advice` as far as one frame can tell."""
    return _measure(frame_bgr, quad, gates)[0]


def _measure(frame_bgr: np.ndarray, quad: PageQuad, gates: Gates) -> tuple[dict[str, Any], np.ndarray]:
    """The measurements, and the page's rectified grey thumbnail they were taken from."""
    unit = frame_bgr.shape[0] / 1080
    thumb = _thumbnail(frame_bgr, quad.corners)
    grey = cv2.cvtColor(thumb, cv2.COLOR_BGR2GRAY)
    margin = round(INNER * THUMB[0])
    clipped = (thumb[margin:-margin, margin:-margin].max(axis=2) >= SATURATED).astype(np.uint8)
    clipped = cv2.morphologyEx(clipped, cv2.MORPH_OPEN, np.ones((2, 2), np.uint8))  # noise is no reflection
    count, _, stats, _ = cv2.connectedComponentsWithStats(clipped)
    largest = int(stats[1:, cv2.CC_STAT_AREA].max()) if count > 1 else 0
    median, paper = _percentiles(np.ascontiguousarray(grey[margin:-margin, margin:-margin]), (50, 90))
    focus = sharpness(frame_bgr, quad.corners)
    quality: dict[str, Any] = {
        "sharpness": None if math.isnan(focus) else round(focus, 3),  # None: a blank page
        "glare": round(float(clipped.mean()), 4),
        "glare_blob": round(largest / clipped.size, 4),
        "paper_level": paper,
        "median_level": median,
        "in_frame": not quad.cut and _clear_of_border(quad.corners, frame_bgr.shape, gates.border_px * unit),
        "skew_deg": round(_skew(quad.corners), 1),
        "bow": quad.bow,
        "score": quad.score,
        "method": quad.method,
    }
    quality["advice"] = _advice(quality, gates)
    return quality, grey


def sharpness(frame_bgr: np.ndarray, corners: np.ndarray) -> float:
    """How steep the page's steepest edges are for their contrast (per px of the frame).

    Over the page's middle: the 99.5th percentile of the gradient over the grey range of
    the print. A sharp stroke of any darkness climbs its range in a pixel or two, a blurred one
    over many, so the figure hardly depends on what is printed. NaN for a blank page: nothing
    to be sharp about.
    """
    c = np.asarray(corners, np.float32).reshape(4, 2)
    inner = c + (c.mean(axis=0) - c) * 0.25  # the middle quarter of the page: enough print, a quarter of the work
    height, width = frame_bgr.shape[:2]
    x0, y0 = np.clip(np.floor(inner.min(axis=0)).astype(int) - 1, 0, [width, height])
    x1, y1 = np.clip(np.ceil(inner.max(axis=0)).astype(int) + 2, 0, [width, height])
    if x1 - x0 < 8 or y1 - y0 < 8:
        return math.nan
    crop = frame_bgr[y0:y1, x0:x1]
    grey = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY) if crop.ndim == 3 else crop
    page = np.zeros(grey.shape, np.uint8)
    cv2.fillConvexPoly(page, np.round((inner - [x0, y0]) * 16).astype(np.int32), 255, cv2.LINE_8, 4)
    low, high = _percentiles(grey, (1, 99), page)
    if high - low < MIN_CONTRAST:
        return math.nan
    # Sobel is 8 times the slope (grey levels per px); the steeper of the two directions.
    gx = cv2.convertScaleAbs(cv2.Sobel(grey, cv2.CV_16S, 1, 0), alpha=1 / 8)
    gy = cv2.convertScaleAbs(cv2.Sobel(grey, cv2.CV_16S, 0, 1), alpha=1 / 8)
    (steep,) = _percentiles(cv2.max(gx, gy), (99.5,), page)
    return steep / (high - low)


class PageWatcher:
    """Feeds on camera frames; says what the citizen should do, and when to capture."""

    def __init__(self, plate: PlateModel | None = None, gates: Gates = Gates()) -> None:
        self.plate = plate if plate is not None else PlateModel()
        self.gates = gates
        self.forget()

    def forget(self) -> None:
        """Drop everything about the pages seen (a session ended); the plate model stays."""
        self._anchor: np.ndarray | None = None  # corners when the page last stopped moving
        self._still_since = 0.0
        self._best = 0.0  # the sharpest frame of this placement
        self._absent_since: float | None = None
        self._latest: tuple[np.ndarray, np.ndarray] | None = None  # corners and thumbnail of the last page seen
        self._captured: tuple[np.ndarray, np.ndarray] | None = None

    def feed(self, frame_bgr: np.ndarray, now: float) -> WatchResult:
        """Judge one BGR frame taken at `now` (seconds, any clock that does not go back)."""
        quad = detect_page(frame_bgr, self.plate if self.plate.ready else None)
        if quad is None:
            return self._no_page(frame_bgr, now)
        unit = frame_bgr.shape[0] / 1080
        quality, grey = _measure(frame_bgr, quad, self.gates)
        thumb = _fingerprint(grey)
        if self._absent_since is not None and now - self._absent_since >= self.gates.rearm_s:
            self._new_placement()
        self._absent_since = None
        if self._captured is not None and not self._same_page(quad.corners, thumb, unit, self._captured):
            self._captured = None  # another page, or this one moved: a new placement
            self._new_placement()
        moved = self._anchor is None or np.abs(quad.corners - self._anchor).max() > self.gates.steady_px * unit
        if moved:
            self._anchor, self._still_since = quad.corners.copy(), now
        still = now - self._still_since
        if quality["sharpness"] is not None:
            self._best = max(self._best, quality["sharpness"])
        self._latest = (quad.corners.copy(), thumb)
        quality.update(steady_s=round(still, 2), sharpness_best=round(self._best, 3))
        advice = quality["advice"]
        if advice == READY and self._blurred(quality["sharpness"]):
            advice = BLURRY
        if moved and advice in (READY, BLURRY, GLARE, TOO_DARK, TOO_BRIGHT):
            advice = HOLD_STILL  # judge the light and the focus once the page lies still
        elif advice == READY and still < self.gates.steady_s - 1e-6:
            advice = HOLD_STILL
        if self._captured is not None:
            quality["captured"] = True
            advice = PLACE_PAGE  # this page is taken: the next one, please
        return WatchResult(quad, quality, advice, advice == READY)

    def mark_captured(self) -> None:
        """The last page seen was captured: no more "ready" until it is taken away or replaced."""
        if self._latest is not None:
            self._captured = self._latest

    def _no_page(self, frame_bgr: np.ndarray, now: float) -> WatchResult:
        if self._absent_since is None:
            self._absent_since = now
        if now - self._absent_since >= self.gates.rearm_s:
            self._captured = None
        self.plate.update(frame_bgr)
        self._anchor = None
        level = float(np.median(frame_bgr[::8, ::8]))
        return WatchResult(None, {}, TOO_BRIGHT if level >= self.gates.bright_page else PLACE_PAGE, False)

    def _new_placement(self) -> None:
        self._best = 0.0
        self._anchor = None

    def _blurred(self, value: float | None) -> bool:
        return value is not None and value < self.gates.sharpness_drop * self._best

    def _same_page(
        self, corners: np.ndarray, thumb: np.ndarray, unit: float, captured: tuple[np.ndarray, np.ndarray]
    ) -> bool:
        then_corners, then_thumb = captured
        if np.abs(corners - then_corners).max() > 10 * self.gates.steady_px * unit:
            return False
        return float(np.abs(thumb - then_thumb).mean()) <= self.gates.same_page


def _advice(quality: dict[str, Any], gates: Gates) -> str:
    """What one frame says, most urgent first; a still page is the watcher's to judge."""
    if quality["bow"] > gates.max_bow:  # before the corners are judged: a curling page's are only guessed
        return FLATTEN
    if not quality["in_frame"]:
        return WHOLE_PAGE
    if quality["skew_deg"] > gates.max_skew_deg:
        return FLATTEN
    if quality["paper_level"] < gates.dark_paper:
        return TOO_DARK
    if quality["median_level"] >= gates.bright_page:
        return TOO_BRIGHT
    if quality["glare_blob"] >= gates.glare_blob:
        return GLARE
    if quality["sharpness"] is not None and quality["sharpness"] < gates.sharpness_floor:  # a blank page passes
        return BLURRY
    return READY


def _thumbnail(frame_bgr: np.ndarray, corners: np.ndarray) -> np.ndarray:
    """The page rectified to THUMB, whatever its shape: the light and reflections on it."""
    width, height = THUMB
    target = np.float32([[0, 0], [width - 1, 0], [width - 1, height - 1], [0, height - 1]])
    homography = cv2.getPerspectiveTransform(np.asarray(corners, np.float32).reshape(4, 2), target)
    return cv2.warpPerspective(frame_bgr, homography, THUMB, flags=cv2.INTER_AREA)


def _fingerprint(grey: np.ndarray) -> np.ndarray:
    """The page's print in brief, in its own light: to tell another page at the same spot."""
    (paper,) = _percentiles(grey, (90,))
    return cv2.GaussianBlur(grey, (3, 3), 0).astype(np.float32) * (200.0 / max(1.0, paper))


def _clear_of_border(corners: np.ndarray, shape: tuple[int, ...], margin: float) -> bool:
    height, width = shape[:2]
    xs, ys = corners[:, 0], corners[:, 1]
    return bool(
        xs.min() >= margin and ys.min() >= margin and xs.max() <= width - 1 - margin and ys.max() <= height - 1 - margin
    )


def _skew(corners: np.ndarray) -> float:
    """Degrees by which the outline's most crooked interior angle is off square."""
    c = np.asarray(corners, np.float64)
    worst = 0.0
    for i in range(4):
        a, b = c[i - 1] - c[i], c[(i + 1) % 4] - c[i]
        cosine = float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-9))
        worst = max(worst, abs(math.degrees(math.acos(max(-1.0, min(1.0, cosine)))) - 90))
    return worst


def _percentiles(image: np.ndarray, percents: tuple[float, ...], mask: np.ndarray | None = None) -> tuple[float, ...]:
    """Percentiles of a uint8 image (where `mask`) from its histogram: much faster than sorting."""
    counts = np.cumsum(cv2.calcHist([image], [0], mask, [256], [0, 256]).ravel())
    return tuple(float(np.searchsorted(counts, p / 100 * counts[-1])) for p in percents)
