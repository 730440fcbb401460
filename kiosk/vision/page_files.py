"""The file a captured page becomes: one JPEG per page (at most 1 MB for A4). The journey puts a
material's JPEGs into one PDF unchanged (kiosk.core.pdf).

Pages are personal data: these functions return bytes and write nothing; the caller decides
where they go.
"""

from __future__ import annotations

import cv2
import numpy as np

from kiosk.core.devices import Frame
from kiosk.vision.page_warp import A4_MM, OUTPUT_DPI, PageError, effective_dpi, warp_page

MAX_PAGE_BYTES = 1_000_000
# Tried in order until the page fits: full-resolution chroma (4:4:4) first, so that thin red strokes
# of a seal stay red instead of bleeding pink, then halved chroma (4:2:0) and lower quality.
_LADDER = (
    (cv2.IMWRITE_JPEG_SAMPLING_FACTOR_444, 90),
    (cv2.IMWRITE_JPEG_SAMPLING_FACTOR_444, 82),
    (cv2.IMWRITE_JPEG_SAMPLING_FACTOR_420, 85),
    (cv2.IMWRITE_JPEG_SAMPLING_FACTOR_420, 75),
    (cv2.IMWRITE_JPEG_SAMPLING_FACTOR_420, 65),
    (cv2.IMWRITE_JPEG_SAMPLING_FACTOR_420, 55),
    (cv2.IMWRITE_JPEG_SAMPLING_FACTOR_420, 45),
)


def encode_page_jpeg(image: np.ndarray, max_bytes: int = MAX_PAGE_BYTES, dpi: float | None = None) -> bytes:
    """A JPEG of a page (BGR, or one channel for black and white) within `max_bytes`, tagged with `dpi`."""
    for sampling, quality in _LADDER:
        ok, encoded = cv2.imencode(
            ".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality, cv2.IMWRITE_JPEG_SAMPLING_FACTOR, sampling]
        )
        if not ok:
            raise PageError("the page could not be encoded", code="doc.encode_failed")
        if encoded.size <= max_bytes:
            return _with_density(encoded.tobytes(), dpi)
    raise PageError(f"the page needs more than {max_bytes} bytes", code="doc.too_large")


def capture_page(
    frame_bgr: np.ndarray,
    corners: np.ndarray,
    size_mm: tuple[float, float] = A4_MM,
    bw: bool = False,
    dpi: float = OUTPUT_DPI,
    max_bytes: int = MAX_PAGE_BYTES,
) -> Frame:
    """The corrected page of a full-resolution frame as a JPEG Frame; its `dpi` is what the sensor gave."""
    page = warp_page(frame_bgr, corners, size_mm, dpi, bw)
    jpeg = encode_page_jpeg(page, max_bytes, dpi)
    return Frame(jpeg, page.shape[1], page.shape[0], round(effective_dpi(corners, size_mm), 1))


def _with_density(jpeg: bytes, dpi: float | None) -> bytes:
    """Write the resolution into the JFIF header OpenCV wrote (units: dots per inch)."""
    if dpi is None or jpeg[6:11] != b"JFIF\x00":
        return jpeg
    density = max(1, min(65535, round(dpi))).to_bytes(2, "big")
    return jpeg[:13] + b"\x01" + density + density + jpeg[18:]
