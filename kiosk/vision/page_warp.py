"""A found page made flat and square: perspective correction to the paper size the material declares.

Colour is kept (red seals and headers stay red); black and white is an option that evens out
uneven light before it thresholds. Corners are frame pixels clockwise from the top-left, as
page_detect gives them; the page comes out portrait or landscape as it lies on the plate.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from kiosk.core.errors import KioskError

MM_PER_INCH = 25.4
A4_MM = (210.0, 297.0)
OUTPUT_DPI = 200  # what the hall's systems ask for; the sensor usually gives less (effective_dpi)
BW_INK = 0.72  # darker than this fraction of the paper around it is ink
BW_SHRINK = 8  # the paper's brightness is estimated at 1/8 of the page's size
BW_WINDOW = 9  # px at that scale: wider than any stroke, so the local maximum is paper


class PageError(KioskError):
    """A page cannot be made into a file: an impossible paper size, an image that is not a page."""

    code = "doc.error"


def page_size_mm(corners: np.ndarray, size_mm: tuple[float, float]) -> tuple[float, float]:
    """(width, height) of the declared paper as it lies: landscape when the outline is wider than tall."""
    if len(size_mm) != 2 or min(size_mm) <= 0:
        raise PageError(f"paper size {size_mm} mm", code="doc.size")
    across, down = _side_lengths(corners)
    short, long = sorted(float(v) for v in size_mm)
    return (long, short) if min(across) + max(across) > min(down) + max(down) else (short, long)


def effective_dpi(corners: np.ndarray, size_mm: tuple[float, float]) -> float:
    """Sensor pixels per inch of paper along the page's more coarsely sampled direction.

    Each direction counts its shorter side (the far edge under any perspective), so this is
    what the whole page gets at least: an A4 page filling 90 % of a 1080p frame's height
    gives about 83 dpi, however many the output file has.
    """
    width_mm, height_mm = page_size_mm(corners, size_mm)
    across, down = _side_lengths(corners)
    return min(min(across) / width_mm, min(down) / height_mm) * MM_PER_INCH


def warp_page(
    frame_bgr: np.ndarray,
    corners: np.ndarray,
    size_mm: tuple[float, float] = A4_MM,
    dpi: float = OUTPUT_DPI,
    bw: bool = False,
) -> np.ndarray:
    """The page alone, at `dpi` on the declared paper size: BGR, or a single channel 0/255 when `bw`."""
    width_mm, height_mm = page_size_mm(corners, size_mm)
    width, height = round(width_mm / MM_PER_INCH * dpi), round(height_mm / MM_PER_INCH * dpi)
    if dpi <= 0 or width * height > 100_000_000:
        raise PageError(f"{width}x{height} px at {dpi} dpi", code="doc.size")
    target = np.float32([[-0.5, -0.5], [width - 0.5, -0.5], [width - 0.5, height - 0.5], [-0.5, height - 0.5]])
    homography = cv2.getPerspectiveTransform(np.asarray(corners, np.float32).reshape(4, 2), target)
    page = cv2.warpPerspective(
        frame_bgr, homography, (width, height), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE
    )
    return black_and_white(page) if bw else page


def black_and_white(page_bgr: np.ndarray) -> np.ndarray:
    """Ink black, paper white, whatever the light did: each pixel against the paper's brightness around it.

    The paper's brightness is the local maximum at a small scale (print removed), smoothed and
    brought back up: a shadow or a dim corner is divided away before the threshold.
    """
    grey = cv2.cvtColor(page_bgr, cv2.COLOR_BGR2GRAY) if page_bgr.ndim == 3 else page_bgr
    height, width = grey.shape
    small = cv2.resize(grey, (max(1, width // BW_SHRINK), max(1, height // BW_SHRINK)), interpolation=cv2.INTER_AREA)
    paper = cv2.dilate(small, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (BW_WINDOW, BW_WINDOW)))
    paper = cv2.GaussianBlur(paper, (0, 0), BW_WINDOW / 2)
    paper = cv2.resize(paper, (width, height), interpolation=cv2.INTER_LINEAR)
    ratio = cv2.divide(grey, np.maximum(paper, 1), scale=255)
    _, binary = cv2.threshold(ratio, 255 * BW_INK, 255, cv2.THRESH_BINARY)
    return binary


def closest_paper(corners: np.ndarray, declared: tuple[float, float]) -> tuple[float, float]:
    """The material's declared paper, or A4 when the page on the plate plainly has A4's shape
    (an A4 photocopy of an ID card, say). Shapes compare in log aspect: 2:1 and 1:2 weigh alike."""
    across, down = _side_lengths(corners)
    seen = abs(math.log(sum(across) / max(sum(down), 1e-9)))

    def misfit(size: tuple[float, float]) -> float:
        return abs(seen - math.log(max(size) / min(size)))

    return A4_MM if misfit(A4_MM) < misfit(declared) else declared


def _side_lengths(corners: np.ndarray) -> tuple[tuple[float, float], tuple[float, float]]:
    """(top, bottom) and (left, right) side lengths in pixels."""
    c = np.asarray(corners, np.float64).reshape(4, 2)
    length = [float(np.linalg.norm(c[(i + 1) % 4] - c[i])) for i in range(4)]
    return (length[0], length[2]), (length[3], length[1])
