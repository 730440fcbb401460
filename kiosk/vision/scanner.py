"""Codes from a stream of camera frames: a fast pass on every frame, escalation after misses, votes.

Every frame gets one plain pass. A frame where it reads nothing escalates: the frame inverted
(a phone in dark mode), a 2× crop around where a code was seen in either polarity (small, so
cheap), then one of the whole-frame filters, contrast equalisation, Otsu or half resolution
(a big, soft code), taking turns, so that no frame costs more than about three passes. The
filter that last read something is tried first again, and a code that read inverted is looked
at inverted from then on. A read counts once `votes` frames of the recent window agree on the
same format and bytes: a misread is worse than no read.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Callable, Iterable

import cv2
import numpy as np

from kiosk.core.devices import CodeRead
from kiosk.core.errors import DeviceError
from kiosk.vision.codes import DECODERS, DEFAULT_FORMATS, Detection, Found, check_formats, find

WINDOW = 8  # frames a vote stays valid: half a second at the camera's 15 fps
SEEN_FOR = 15  # frames a code's last position is worth a closer look
CROP_MARGIN = 0.5  # of the code's size, around it: its quiet zone and a hand's movement
MAX_CROPS = 2

Step = Callable[[np.ndarray, list[np.ndarray]], Found]
_clahe = cv2.createCLAHE(clipLimit=2.0, tileGridSize=(8, 8))


def to_gray(frame: np.ndarray) -> np.ndarray:
    """A uint8 grey image of a grey, BGR or BGRA frame."""
    if frame.dtype != np.uint8 or frame.ndim not in (2, 3):
        raise DeviceError(f"not an 8-bit image: {frame.dtype}, {frame.ndim} dimensions", code="camera.frame")
    if frame.ndim == 2:
        return frame
    return cv2.cvtColor(frame, cv2.COLOR_BGRA2GRAY if frame.shape[2] == 4 else cv2.COLOR_BGR2GRAY)


def _merge(founds: Iterable[Found]) -> Found:
    merged = Found()
    for found in founds:
        merged.detections.extend(found.detections)
        merged.unread.extend(found.unread)
    return merged


def _crop_box(shape: tuple[int, ...], corners: np.ndarray) -> tuple[int, int, int, int]:
    low, high = corners.min(axis=0), corners.max(axis=0)
    pad = (high - low) * CROP_MARGIN + 8
    x0, y0 = np.maximum((low - pad).astype(int), 0)
    x1, y1 = np.minimum((high + pad).astype(int), (shape[1], shape[0]))
    return int(x0), int(y0), int(x1), int(y1)


def _moved(found: Found, scale: float, x0: int, y0: int) -> Found:
    """A crop's result in frame pixels."""
    offset = np.array([x0, y0], dtype=np.float32)
    return Found(
        [Detection(d.read, d.corners / scale + offset) for d in found.detections],
        [corners / scale + offset for corners in found.unread],
    )


class CodeScanner:
    """Feed it camera frames; it answers a read once enough frames agree. Not thread-safe."""

    def __init__(
        self, formats: frozenset[str] = DEFAULT_FORMATS, decoder: str = "zxing", votes: int = 2, window: int = WINDOW
    ) -> None:
        if decoder not in DECODERS:
            raise DeviceError(f"unknown code decoder {decoder!r}", code="camera.code_decoder")
        if not 1 <= votes <= window:
            raise DeviceError(f"votes must be 1..{window}, not {votes}", code="camera.code_votes")
        self.formats = check_formats(frozenset(formats))
        self.decoder = decoder
        self.votes = votes
        self._filters: list[Step] = [self._equalised, self._otsu, self._halved]
        self._history: deque[dict[tuple[str, bytes], CodeRead]] = deque(maxlen=window)
        self._seen: deque[np.ndarray] = deque(maxlen=MAX_CROPS)
        self._seen_at = 0
        self._frames = 0
        self._filter = 0  # the whole-frame filter to try next
        self._inverted = False  # light-on-dark codes last read: every pass looks at the inverted frame

    def reset(self) -> None:
        """Forget votes, positions, polarity and the ladder's place: a new citizen, a new code."""
        self._history.clear()
        self._seen.clear()
        self._filter = 0
        self._inverted = False

    def _find(self, gray: np.ndarray) -> Found:
        return find(gray, self.formats, self.decoder)

    def _whole(self, gray: np.ndarray, places: list[np.ndarray]) -> Found:
        return self._find(gray)

    def _cropped(self, gray: np.ndarray, places: list[np.ndarray]) -> Found:
        """2× around where codes were seen: small modules get more pixels than the decoder's grid needs."""
        founds: list[Found] = []
        for corners in places[:MAX_CROPS]:
            x0, y0, x1, y1 = _crop_box(gray.shape, corners)
            if x1 - x0 < 8 or y1 - y0 < 8:
                continue
            crop = cv2.resize(gray[y0:y1, x0:x1], None, fx=2, fy=2, interpolation=cv2.INTER_CUBIC)
            founds.append(_moved(self._find(crop), 2.0, x0, y0))
            if founds[-1].detections:
                break
        return _merge(founds)

    def _equalised(self, gray: np.ndarray, places: list[np.ndarray]) -> Found:
        return self._find(_clahe.apply(gray))  # uneven light, glare's halo, low contrast

    def _otsu(self, gray: np.ndarray, places: list[np.ndarray]) -> Found:
        smooth = cv2.GaussianBlur(gray, (3, 3), 0)  # noise would otherwise speckle the modules
        return self._find(cv2.threshold(smooth, 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)[1])

    def _halved(self, gray: np.ndarray, places: list[np.ndarray]) -> Found:
        half = cv2.resize(gray, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)  # averages noise away
        return _moved(self._find(half), 0.5, 0, 0)

    def feed(self, frame: np.ndarray) -> CodeRead | None:
        """Look at one frame (grey or BGR); the read once `votes` recent frames agree, else None."""
        gray = to_gray(frame)
        if self._inverted:
            gray = cv2.bitwise_not(gray)
        self._frames += 1
        found = self._find(gray)
        if not found.detections:
            found = _merge([found, self._escalate(gray, found.unread)])
        places = [d.corners for d in found.detections] or found.unread
        if places:
            self._seen.extend(places[:MAX_CROPS])
            self._seen_at = self._frames
        self._history.append({(d.read.format, d.read.raw): d.read for d in found.detections})
        return self._agreed()

    def _escalate(self, gray: np.ndarray, unread: list[np.ndarray]) -> Found:
        """The ladder after a miss, until a step reads: inversion, crops, one whole-frame filter."""
        places = unread + (list(self._seen) if self._frames - self._seen_at <= SEEN_FOR else [])
        inverted = cv2.bitwise_not(gray)
        steps: list[tuple[bool, Step, np.ndarray]] = [
            (True, self._whole, inverted),
            (False, self._cropped, gray),
            (True, self._cropped, inverted),
            (False, self._filters[self._filter], gray),
        ]
        founds = []
        for flips, step, image in steps:
            founds.append(step(image, places))
            places += founds[-1].unread
            if founds[-1].detections:
                self._inverted ^= flips  # a dark-mode code: the plain pass looks at it inverted from now on
                return _merge(founds)
        self._filter = (self._filter + 1) % len(self._filters)
        return _merge(founds)

    def _agreed(self) -> CodeRead | None:
        counts = Counter(key for reads in self._history for key in reads)
        for key, count in counts.most_common(1):
            if count >= self.votes:
                return next(reads[key] for reads in reversed(self._history) if key in reads)
        return None

    def scan_still(self, image: np.ndarray) -> CodeRead | None:
        """One still image, the whole ladder in both polarities if need be: the first code read, or None.

        No votes and no state: the scanner's frames, votes and polarity are left as they were.
        """
        gray = to_gray(image)
        inverted = cv2.bitwise_not(gray)
        places: list[np.ndarray] = []
        steps = [
            *((self._whole, look) for look in (gray, inverted)),
            *((self._cropped, look) for look in (gray, inverted)),
            *((step, look) for look in (gray, inverted) for step in self._filters),
        ]
        for step, look in steps:
            found = step(look, places)
            if found.detections:
                return found.detections[0].read
            places += found.unread
        return None
