"""A simulated camera: recordings played in a loop, or the demo's drawn scene, with scripted faults.

The playlist holds video files, image sequences (frames/%04d.jpg), folders and globs of images;
consecutive images play one per frame. Without a playlist the demo scene is drawn: an empty plate,
then a page slides in, lies still, slides out, and the next page comes. Faults for tests and the
demo: black(), freeze(), unplug() and replug().
"""

from __future__ import annotations

import glob
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from kiosk.core.errors import DeviceError
from kiosk.peripherals.camera.demo_scene import SLIDE_S, DemoScene
from kiosk.peripherals.camera.device import CameraDevice
from kiosk.peripherals.camera.sources import Clock, Pacer, Sleep

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"})
EMPTY_S = 1.5  # the demo cycle: plate empty, then a page slides in and lies still
STILL_S = 4.0
HOLD_S = 6.0  # how long the demo holds a phone with a code up


class _Video:
    """A video file or printf-style image sequence, through OpenCV."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._capture: cv2.VideoCapture | None = None

    def next(self) -> np.ndarray | None:
        """The next frame; None at the end (the next call starts over)."""
        if self._capture is None:
            self._capture = cv2.VideoCapture(self.path)
        ok, image = self._capture.read()
        if ok:
            return image
        self.close()
        return None

    def close(self) -> None:
        if self._capture is not None:
            self._capture.release()
            self._capture = None


class _Images:
    """Image files shown one per frame; unreadable ones are skipped."""

    def __init__(self, paths: list[str]) -> None:
        self.paths = paths
        self._index = 0

    def next(self) -> np.ndarray | None:
        while self._index < len(self.paths):
            image = cv2.imread(self.paths[self._index], cv2.IMREAD_COLOR)
            self._index += 1
            if image is not None:
                return image
        self._index = 0
        return None

    def close(self) -> None:
        self._index = 0


def _files(item: str) -> list[str]:
    path = Path(item)
    if path.is_dir():
        return sorted(str(child) for child in path.iterdir() if child.is_file())
    if any(char in item for char in "*?["):
        return sorted(glob.glob(item))
    return [item] if path.exists() or "%" in item else []


def playlist_clips(items: Sequence[str]) -> list[_Video | _Images]:
    clips: list[_Video | _Images] = []
    for file in (file for item in items for file in _files(item)):
        if "%" in file or Path(file).suffix.lower() not in IMAGE_SUFFIXES:
            clips.append(_Video(file))
        elif clips and isinstance(clips[-1], _Images):
            clips[-1].paths.append(file)
        else:
            clips.append(_Images([file]))
    return clips


class SimulatedSource:
    """Frames at `fps` from the playlist, or from the demo scene when the playlist is empty.

    `auto` runs the demo scene's cycle; turn it off to script pages with place_page/remove_page.
    `clock` and `sleep` pace the frames and time the faults and the scene: tests pass a fake clock.
    """

    def __init__(
        self,
        width: int = 1920,
        height: int = 1080,
        fps: float = 15.0,
        playlist: Sequence[str] = (),
        *,
        auto: bool = True,
        clock: Clock = time.monotonic,
        sleep: Sleep = time.sleep,
    ) -> None:
        self.playlist = list(playlist)
        self.fps = fps
        self.auto = auto
        self._clock = clock
        self._pacer = Pacer(fps, clock, sleep)
        self._scene = None if self.playlist else DemoScene(width, height)
        self._lock = threading.Lock()  # faults are scripted from other threads than the reader's
        self._plugged = True
        self._open = False
        self._clips: list[_Video | _Images] = []
        self._clip = 0
        self._next_cycle = 0.0
        self._black_frames = 0
        self._black_until = 0.0
        self._frozen_until = 0.0
        self._last: np.ndarray | None = None

    # -- FrameSource ------------------------------------------------------------------------
    def open(self) -> None:
        with self._lock:
            if not self._plugged:
                raise DeviceError("simulated camera unplugged", code="camera.not_found")
            if self._scene is None:
                self._clips, self._clip = playlist_clips(self.playlist), 0
                if not self._clips:
                    raise DeviceError("nothing to play in the playlist", code="camera.not_found")
            elif self.auto:  # the demo starts on an empty plate each time the camera is taken up
                self._scene.remove(self._clock(), slide=0)
                self._next_cycle = self._clock() + EMPTY_S
            self._open = True
        self._pacer.reset()

    def read(self) -> np.ndarray | None:
        with self._lock:
            if not self._open:
                return None
        self._pacer.wait()  # not under the lock: faults can be scripted meanwhile
        with self._lock:
            if not self._open:
                return None
            now = self._clock()
            if now < self._frozen_until and self._last is not None:
                return self._last  # the very same array: a hung driver repeating its buffer
            image = self._next_image(now)
            if image is not None and (self._black_frames > 0 or now < self._black_until):
                self._black_frames = max(self._black_frames - 1, 0)
                image = np.zeros_like(image)
            self._last = image
            return image

    def close(self) -> None:
        with self._lock:
            self._open = False
            self._close_clips()

    def describe(self) -> str:
        what = f"playlist of {len(self.playlist)}" if self.playlist else "demo scene"
        return f"simulated {what} @{self.fps:g}"

    # -- scripted faults --------------------------------------------------------------------
    def black(self, frames: int = 0, seconds: float = 0.0) -> None:
        """Black frames (a covered lens), for `frames` frames or `seconds`, whichever lasts longer."""
        with self._lock:
            self._black_frames = frames
            self._black_until = self._clock() + seconds

    def freeze(self, seconds: float) -> None:
        """Repeat the last frame byte for byte for `seconds`."""
        with self._lock:
            self._frozen_until = self._clock() + seconds

    def unplug(self) -> None:
        """The camera goes away: reads return None, opens fail until replug()."""
        with self._lock:
            self._plugged = False
            self._open = False
            self._close_clips()

    def replug(self) -> None:
        with self._lock:
            self._plugged = True

    # -- the demo scene, scripted -----------------------------------------------------------
    def place_page(self, angle: float | None = None, slide: float = SLIDE_S) -> int:
        """Slide the next page onto the plate over `slide` seconds; returns its number."""
        with self._lock:
            return self._demo_scene().place(self._clock(), angle, slide)

    def hold_up(self, payload: str, seconds: float = HOLD_S) -> None:
        """A phone showing `payload` as a QR code is held over the plate (the demo's scan controls)."""
        with self._lock:
            self._demo_scene().hold_up(payload, self._clock(), seconds)

    def remove_page(self, slide: float = SLIDE_S) -> None:
        with self._lock:
            self._demo_scene().remove(self._clock(), slide)

    def _demo_scene(self) -> DemoScene:
        if self._scene is None:
            raise RuntimeError("this simulated camera plays a playlist, not the demo scene")
        return self._scene

    # -- frames -----------------------------------------------------------------------------
    def _next_image(self, now: float) -> np.ndarray | None:
        if self._scene is None:
            return self._next_from_playlist()
        if self.auto and now >= self._next_cycle:
            if self._scene.page_on_plate():
                self._scene.remove(now)
                self._next_cycle = now + SLIDE_S + EMPTY_S
            else:
                self._scene.place(now)
                self._next_cycle = now + SLIDE_S + STILL_S
        return self._scene.render(now)

    def _next_from_playlist(self) -> np.ndarray | None:
        # Each clip may end once before one gives a frame: a playlist of nothing readable is a lost camera.
        for _ in range(len(self._clips) + 1):
            image = self._clips[self._clip].next()
            if image is not None:
                return image
            self._clip = (self._clip + 1) % len(self._clips)
        return None

    def _close_clips(self) -> None:
        for clip in self._clips:
            clip.close()


def simulated_camera(
    name: str, width: int, height: int, fps: float, playlist: Sequence[str] = (), **options: Any
) -> CameraDevice:
    """The demo's camera: the drawn scene when `playlist` is empty. `options` go to CameraDevice."""
    return CameraDevice(name, SimulatedSource(width, height, fps, playlist), driver="simulated", **options)
