"""What CameraDevice reads frames from, and the pacing shared by sources that are not live."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

import numpy as np

Clock = Callable[[], float]
Sleep = Callable[[float], None]


class FrameSource(Protocol):
    """A camera, a recording or a drawn scene; used by one grab thread at a time."""

    def open(self) -> None:
        """Start delivering frames; raises DeviceError camera.not_found or camera.open_failed."""

    def read(self) -> np.ndarray | None:
        """The next BGR frame, blocking up to a frame period; None: the source is lost."""

    def close(self) -> None:
        """Stop and let go of the hardware (the camera's light goes off); safe to call twice."""

    def describe(self) -> str:
        """One line for logs and the technician page (never frame content)."""


class Pacer:
    """Hands out frame slots at `fps`: a file or a drawn scene would otherwise run as fast as the CPU.

    A reader that falls behind by more than a frame starts afresh rather than bursting to catch up,
    as a camera drops frames nobody collected.
    """

    def __init__(self, fps: float, clock: Clock = time.monotonic, sleep: Sleep = time.sleep) -> None:
        self.period = 1.0 / fps
        self._clock = clock
        self._sleep = sleep
        self._due: float | None = None

    def reset(self) -> None:
        self._due = None

    def wait(self) -> None:
        now = self._clock()
        if self._due is None or now > self._due + self.period:
            self._due = now
        elif now < self._due:
            self._sleep(self._due - now)
        self._due += self.period
