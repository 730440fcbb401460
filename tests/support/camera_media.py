"""Recordings for camera tests, written with OpenCV itself, and helpers to wait on a grab thread."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from pathlib import Path

import cv2
import numpy as np

SIZE = (320, 240)


def moving_frames(count: int, size: tuple[int, int] = SIZE) -> list[np.ndarray]:
    """A lit scene that changes every frame, as a live camera's does."""
    width, height = size
    frames = []
    for index in range(count):
        frame = np.full((height, width, 3), 90, np.uint8)
        x = (index * 13) % (width - 40)
        cv2.rectangle(frame, (x, 40), (x + 40, height - 40), (230, 230, 230), -1)
        cv2.putText(frame, str(index), (10, 30), cv2.FONT_HERSHEY_SIMPLEX, 1, (0, 0, 200), 2)
        frames.append(frame)
    return frames


def still_frames(count: int, level: int = 0, size: tuple[int, int] = SIZE) -> list[np.ndarray]:
    """The same picture `count` times: textured when `level` is not 0 … black when it is."""
    frame = moving_frames(1, size)[0] if level else np.zeros((size[1], size[0], 3), np.uint8)
    return [frame] * count


def write_video(path: Path, frames: Iterable[np.ndarray], fps: float = 20.0) -> Path:
    """An MJPG .avi through OpenCV's own encoder: unlike FFmpeg's it encodes equal frames to equal bytes."""
    frames = list(frames)
    height, width = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.CAP_OPENCV_MJPEG, cv2.VideoWriter.fourcc(*"MJPG"), fps, (width, height))
    assert writer.isOpened(), "this OpenCV build cannot write MJPG"
    for frame in frames:
        writer.write(frame)
    writer.release()
    return path


def write_images(folder: Path, frames: Iterable[np.ndarray], pattern: str = "{:04d}.png") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for index, frame in enumerate(frames):
        cv2.imwrite(str(folder / pattern.format(index)), frame)
    return folder


def eventually(check: Callable[[], bool], timeout: float = 8.0, what: str = "condition") -> None:
    """Poll until `check()` holds; generous, as the grab thread shares two cores with other tests."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"{what} not reached in {timeout} s"
        time.sleep(0.02)


class FakeClock:
    """A clock that moves only when slept on, for pacing and scene timing without wall time."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
