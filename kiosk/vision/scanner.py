"""Codes from a stream of camera frames: a fast pass on every frame, escalation after misses, votes.

Every frame gets one plain pass. A frame where it reads nothing escalates: the frame inverted
(a phone in dark mode), a 3× crop (2× for a large code) around where a code was seen and where
the frame looks most like one, plain, equalised and thresholded, in either polarity (small, so
cheap), then one of the whole-frame filters, contrast equalisation, Otsu or half resolution
(a big, soft code), taking turns, so that no frame costs more than a few passes. The
filter that last read something is tried first again, and a code that read inverted is looked
at inverted from then on. A read counts once `votes` frames of the recent window agree on the
same format and bytes: a misread is worse than no read.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator

import cv2
import numpy as np

from kiosk.core.devices import CodeRead
from kiosk.core.errors import DeviceError
from kiosk.vision.codes import DECODERS, DEFAULT_FORMATS, Detection, Found, check_formats, find

WINDOW = 8  # frames a vote stays valid: half a second at the camera's 15 fps
SEEN_FOR = 15  # frames a code's last position is worth a closer look
CROP_MARGIN = 0.5  # of the code's size, around it: its quiet zone and a hand's movement
MAX_CROPS = 2
CROP_SIDE = 1600  # px, a crop's longest side once doubled: larger codes have modules big enough already

Step = Callable[[np.ndarray, list[np.ndarray]], Found]


def to_gray(frame: np.ndarray) -> np.ndarray:
    """A uint8 grey image of a grey, BGR or BGRA frame."""
    if frame.dtype != np.uint8 or frame.ndim not in (2, 3):
        raise DeviceError(f"not an 8-bit image: {frame.dtype}, {frame.ndim} dimensions", code="camera.frame")
    if frame.ndim == 2:
        return frame
    return cv2.cvtColor(frame, cv2.COLOR_BGRA2GRAY if frame.shape[2] == 4 else cv2.COLOR_BGR2GRAY)


def likely_places(gray: np.ndarray, most: int = MAX_CROPS) -> list[np.ndarray]:
    """Where a frame looks most like a 2-D code, as corners in frame pixels, likeliest first.

    A QR code is strong edges packed densely both across and along, where print and outlines
    have them mostly one way: the product of the two local edge energies, on a quarter-size copy
    (about 2 ms at 1080p), picks it out when the decoder saw nothing to go back to.
    """
    small = cv2.resize(gray, None, fx=0.25, fy=0.25, interpolation=cv2.INTER_AREA)
    across = cv2.blur(np.abs(cv2.Sobel(small, cv2.CV_32F, 1, 0)), (7, 7))
    along = cv2.blur(np.abs(cv2.Sobel(small, cv2.CV_32F, 0, 1)), (7, 7))
    energy = cv2.sqrt(across * along)
    level = cv2.normalize(energy, None, 0, 255, cv2.NORM_MINMAX, cv2.CV_8U)
    mask = cv2.threshold(level, 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)[1]
    mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, np.ones((5, 5), np.uint8))
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask)
    weight = np.bincount(labels.ravel(), weights=energy.ravel(), minlength=count)
    boxes = []
    for label in np.argsort(-weight[1:])[:most] + 1:
        x, y, w, h = stats[label, :4]
        boxes.append(np.array([[x, y], [x + w, y], [x + w, y + h], [x, y + h]], np.float32) * 4)
    return boxes


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


def _thresholded(image: np.ndarray) -> np.ndarray:
    """Black and white against the local mean: a reflection's slope and halo level out."""
    smooth = cv2.GaussianBlur(image, (5, 5), 0)
    return cv2.adaptiveThreshold(smooth, 255, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY, 31, 0)


def _croppable(shape: tuple[int, ...], corners: np.ndarray) -> bool:
    x0, y0, x1, y1 = _crop_box(shape, corners)
    return 8 <= min(x1 - x0, y1 - y0) <= max(x1 - x0, y1 - y0) <= CROP_SIDE // 2


def _inside(corners: np.ndarray, others: list[np.ndarray]) -> bool:
    """Whether the outline is no larger than one of `others` and centred within it."""
    centre, size = corners.mean(axis=0), np.ptp(corners, axis=0)
    return any(
        np.all(np.abs(centre - other.mean(axis=0)) <= np.ptp(other, axis=0) / 2)
        and np.all(size <= np.ptp(other, axis=0) * 1.25)
        for other in others
    )


def _distinct(places: list[np.ndarray]) -> list[np.ndarray]:
    """Places in order, less those no larger than an earlier one around their centre."""
    kept: list[np.ndarray] = []
    for corners in places:
        if not _inside(corners, kept):
            kept.append(corners)
    return kept


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
        self._clahe = cv2.createCLAHE(clipLimit=2.0, tileGridSize=(8, 8))  # one per scanner: it keeps buffers
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

    def _cropped(self, gray: np.ndarray, places: list[np.ndarray]) -> Found:
        """3× (2× if that is too large) around places: small modules get more pixels than the decoder needs."""
        founds: list[Found] = []
        for corners in places[:MAX_CROPS]:
            x0, y0, x1, y1 = _crop_box(gray.shape, corners)
            if not _croppable(gray.shape, corners):
                continue
            scale = 3 if max(x1 - x0, y1 - y0) * 4 <= CROP_SIDE else 2
            crop = cv2.resize(gray[y0:y1, x0:x1], None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
            # Equalised and thresholded too: a crop is cheap, and glare is local.
            for look in (crop, self._clahe.apply(crop), _thresholded(crop)):
                founds.append(_moved(self._find(look), float(scale), x0, y0))
                if founds[-1].detections:
                    return _merge(founds)
        return _merge(founds)

    def _equalised(self, gray: np.ndarray, places: list[np.ndarray]) -> Found:
        return self._find(self._clahe.apply(gray))  # uneven light, glare's halo, low contrast

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
        inverted = cv2.bitwise_not(gray)
        flipped = self._find(inverted)
        if flipped.detections:
            self._inverted = not self._inverted  # a dark-mode code: the plain pass looks at it inverted from now on
            return flipped
        seen = list(self._seen) if self._frames - self._seen_at <= SEEN_FOR else []
        known = unread + flipped.unread + seen
        # A decoder's unread outline is often a part of the code (a finder or two): the likeliest
        # place by edge energy is looked at too, unless it is where a known outline already is.
        likely = [corners for corners in likely_places(gray)[:1] if _croppable(gray.shape, corners)]
        known = [corners for corners in known if not _inside(corners, likely)]
        places = _distinct([*known[:1], *likely, *known[1:]])
        founds = [flipped]
        steps = (
            (False, self._cropped, gray),
            (True, self._cropped, inverted),
            (False, self._filters[self._filter], gray),
        )
        for flips, step, image in steps:
            founds.append(step(image, places))
            if founds[-1].detections:
                self._inverted ^= flips
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
        passes = self._still_passes(to_gray(image))
        return next((found.detections[0].read for found in passes if found.detections), None)

    def _still_passes(self, gray: np.ndarray) -> Iterator[Found]:
        looks = (gray, cv2.bitwise_not(gray))
        unread: list[np.ndarray] = []
        for look in looks:
            yield (found := self._find(look))
            unread += found.unread
        places = unread or likely_places(gray)
        for look in looks:
            yield self._cropped(look, places)
        for look in looks:
            for step in self._filters:
                yield step(look, places)
