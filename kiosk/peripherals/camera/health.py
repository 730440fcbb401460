"""Is the camera still seeing? Black frames (a covered lens, the hall lights off) and frozen frames.

A hung camera or driver keeps handing out its last buffer: the exact same bytes, which a live
sensor never gives (it always has some noise). Frames are compared by a checksum of every 8th
pixel, cheap at any frame rate.
"""

from __future__ import annotations

import zlib
from enum import StrEnum

import numpy as np

BLACK_LUMA = 8.0  # mean luma (0..255) below which a frame counts as black
BLACK_AFTER_S = 1.0
FROZEN_AFTER_S = 2.0
STEP = 8  # sample every 8th pixel of every 8th row
LUMA_WEIGHTS = np.array([0.114, 0.587, 0.299])  # BGR


class Verdict(StrEnum):
    OK = "ok"  # a new, lit picture
    PENDING = "pending"  # dark or unchanged, but not for long enough to call it a fault
    BLACK = "black"
    FROZEN = "frozen"


class FrameHealth:
    def __init__(self, black_after: float = BLACK_AFTER_S, frozen_after: float = FROZEN_AFTER_S) -> None:
        self.black_after = black_after
        self.frozen_after = frozen_after
        self._dark_since: float | None = None
        self._still_since: float | None = None
        self._digest: int | None = None

    def restart(self) -> None:
        """The source was reopened: time again from its first frame.

        The last picture is kept, so a camera that comes back showing the same frozen picture is
        not taken for a live one.
        """
        self._dark_since = self._still_since = None

    def check(self, image: np.ndarray, now: float) -> Verdict:
        sample = np.ascontiguousarray(image[::STEP, ::STEP])
        if float(sample.reshape(-1, 3).mean(axis=0) @ LUMA_WEIGHTS) < BLACK_LUMA:
            # A dark frame shows nothing to compare: a covered lens is not a frozen camera.
            self._dark_since = now if self._dark_since is None else self._dark_since
            self._still_since = None
            return Verdict.BLACK if now - self._dark_since >= self.black_after else Verdict.PENDING
        self._dark_since = None
        digest = zlib.crc32(sample)
        if digest != self._digest:
            self._digest, self._still_since = digest, now
            return Verdict.OK
        if self._still_since is None:
            self._still_since = now
        return Verdict.FROZEN if now - self._still_since >= self.frozen_after else Verdict.PENDING
