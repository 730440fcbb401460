"""The empty base plate as the fixed camera sees it, and what differs from it: the page.

The model lives at a working resolution (WORK_WIDTH pixels across, about a quarter of a 1080p
frame): per pixel the plate's mean colour and its frame-to-frame spread. A pixel belongs to the
foreground when it is brighter than the plate or of another chroma, beyond the noise. A pixel
that is only darker with the same chroma is a shadow (the citizen's head, a hand above the
plate) and stays background: pages are brighter than the plate, or at least of another tint.
The lighting of the whole scene may drift; the ring along the frame's border, which pages rarely
cover, tells by how much, and the model is compared at that gain.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

WORK_WIDTH = 480
MIN_FRAMES = 5  # frames of the empty plate before the model is trusted
LEARN_RATE = 0.1  # per frame once learned, when the caller says the plate is empty
UPDATE_RATE = 0.02  # per frame, for slow drift of the light while no page is found
BRIGHTER = 14.0  # grey levels brighter than the plate that make a pixel foreground
CHROMA = 12.0  # grey levels of colour difference, once brightness is matched
NOISE_K = 4.0  # spreads of the plate's own noise that never count as foreground
RING = 0.08  # fraction of the frame along its border used to measure the scene's gain
_ONES = np.ones((1, 3), np.float32)
_FINGER = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))  # at the working resolution


def work_image(frame_bgr: np.ndarray) -> np.ndarray:
    """The frame at the working resolution (area-averaged, which also averages the noise away)."""
    height, width = frame_bgr.shape[:2]
    image = frame_bgr
    while image.shape[1] >= 2 * WORK_WIDTH:  # OpenCV halves by area several times faster than it quarters
        image = cv2.resize(image, (image.shape[1] // 2, image.shape[0] // 2), interpolation=cv2.INTER_AREA)
    size = (WORK_WIDTH, max(1, round(height * WORK_WIDTH / width)))
    if image.shape[1::-1] != size:
        image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    return image


def channel_sum(image: np.ndarray) -> np.ndarray:
    """Per pixel, the sum of the channels as float32 (OpenCV: much faster than numpy's sum over the last axis)."""
    return cv2.transform(image.astype(np.float32, copy=False), _ONES)


def skin_like(work: np.ndarray) -> np.ndarray:
    """Blobs a finger wide or more with the warm chroma of a hand (red over green over blue).

    Red print is warm too, but thin: the opening drops it.
    """
    total = channel_sum(work) + 1.0
    _, green, red = cv2.split(work.astype(np.float32))
    warm = (red > 0.38 * total) & (red - green > 0.06 * total) & (green > 0.26 * total)
    return cv2.morphologyEx(warm.astype(np.uint8), cv2.MORPH_OPEN, _FINGER) > 0


@dataclass(frozen=True, eq=False)
class PlateDifference:
    """How a working image differs from the plate, per pixel."""

    foreground: np.ndarray  # bool: brighter than the plate, or of another chroma
    shadow: np.ndarray  # bool: darker, with the plate's chroma: a shadow (or something dark)


class PlateModel:
    """Mean and spread of the empty plate at the working resolution.

    `learn(frame)`: the caller knows the plate is empty (at start, or the technician says so).
    `update(frame)`: no page was found in the frame (PageWatcher calls it).
    """

    def __init__(self, min_frames: int = MIN_FRAMES, update_rate: float = UPDATE_RATE) -> None:
        self.min_frames = min_frames
        self.update_rate = update_rate
        self._mean: np.ndarray | None = None
        self._m2: np.ndarray | None = None  # Welford's sum of squared deviations, grey
        self._count = 0
        self._spread: np.ndarray | None = None  # noise sigma per pixel, grey levels
        self._energy: np.ndarray | None = None  # squared norm of the mean colour, kept until the mean moves

    @property
    def ready(self) -> bool:
        return self._count >= self.min_frames

    @property
    def shape(self) -> tuple[int, int] | None:
        """(height, width) of the working image the model was learned at; None before any frame."""
        return None if self._mean is None else self._mean.shape[:2]

    def reset(self) -> None:
        self._mean = self._m2 = self._spread = self._energy = None
        self._count = 0

    def learn(self, frame_bgr: np.ndarray) -> None:
        """Take the frame as the empty plate (a frame of another size starts the model afresh)."""
        self._learn(work_image(frame_bgr).astype(np.float32))

    def update(self, frame_bgr: np.ndarray) -> None:
        """No page was found in this frame: learn it while the model is new (or the frame size changed),
        else follow slow changes of light. Called only on such frames, the model never absorbs a page
        lying still, and whatever it took in by mistake heals as slowly."""
        work = work_image(frame_bgr).astype(np.float32)
        if self.ready and work.shape[:2] == self.shape:
            self._blend(work, self.update_rate)
        else:
            self._learn(work)

    def _learn(self, work: np.ndarray) -> None:
        self._energy = None
        if self._mean is None or self._mean.shape != work.shape:
            self.reset()
            self._mean = work.copy()
            self._m2 = np.zeros(work.shape[:2], np.float32)
            self._count = 1
        elif self._count < self.min_frames:  # Welford: exact mean and spread of the first frames
            self._count += 1
            delta = work - self._mean
            self._mean += delta / self._count
            self._m2 += (delta * (work - self._mean)).mean(axis=2)
        else:
            self._blend(work, LEARN_RATE)
            return
        self._spread = np.sqrt(self._m2 / max(1, self._count - 1))

    def difference(self, work: np.ndarray) -> PlateDifference:
        """Compare a working image (work_image(frame)) with the plate."""
        if not self.ready or work.shape[:2] != self.shape:
            raise ValueError("the plate model was not learned at this frame size")
        assert self._mean is not None and self._spread is not None
        pixels = work.astype(np.float32)
        if self._energy is None:
            self._energy = channel_sum(self._mean * self._mean) + 1.0
        energy = self._energy
        dot = channel_sum(cv2.multiply(pixels, self._mean))
        ratio = dot / energy  # brightness distortion (Horprasert et al.)
        # What is left once the plate's colour is scaled to the pixel's brightness: a change of chroma.
        residual = np.sqrt(np.maximum(channel_sum(cv2.multiply(pixels, pixels)) - dot * ratio, 0))
        ratio /= self._gain(ratio)
        change = (ratio - 1) * np.sqrt(energy)  # grey levels brighter (or darker) than the plate
        noise = NOISE_K * self._spread
        chroma = residual > np.maximum(CHROMA, noise)
        brighter = change > np.maximum(BRIGHTER, noise)
        darker = change < -np.maximum(BRIGHTER, noise)
        return PlateDifference(brighter | chroma, darker & ~chroma)

    def _blend(self, work: np.ndarray, rate: float) -> None:
        """Move the mean towards the frame (the spread is the sensor's, learned once)."""
        assert self._mean is not None
        self._mean += (work - self._mean) * rate
        self._energy = None

    @staticmethod
    def _gain(ratio: np.ndarray) -> float:
        """How much brighter the whole scene is than the plate was: the median over the frame's border ring."""
        height, width = ratio.shape
        dy, dx = max(1, round(height * RING)), max(1, round(width * RING))
        ring = np.concatenate(
            [ratio[:dy:2].ravel(), ratio[-dy::2].ravel(), ratio[dy:-dy:2, :dx].ravel(), ratio[dy:-dy:2, -dx:].ravel()]
        )
        middle = ring.size // 2
        return float(np.clip(np.partition(ring, middle)[middle], 0.5, 2.0))
