"""The real camera through OpenCV: a V4L2 device by index, path or name, or a recording played as one.

A name is looked up again at every open: a camera plugged back in may come back as another
/dev/video node. Recordings (video files, image sequences such as frames/%04d.jpg) are paced at
the configured frame rate, so they stand in for a camera in tests and demos.
"""

from __future__ import annotations

import logging
import os
import re
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from kiosk.core.errors import DeviceError
from kiosk.peripherals.camera.device import CameraDevice
from kiosk.peripherals.camera.sources import Clock, Pacer, Sleep

log = logging.getLogger(__name__)

SYSFS_ROOT = Path("/sys/class/video4linux")
DEV_ROOT = Path("/dev")


def _node_number(name: str) -> int:
    digits = re.sub(r"\D", "", name)
    return int(digits) if digits else -1


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        return ""


def find_video_device(name: str, sysfs_root: Path = SYSFS_ROOT, dev_root: Path = DEV_ROOT) -> str | None:
    """The capture node (/dev/videoN) of the camera whose name contains `name`, case-insensitive.

    sysfs holds the product name ("HD USB Camera"); /dev/v4l/by-id adds vendor and serial number,
    which tells two cameras of the same model apart. A USB camera has several nodes (capture,
    metadata) of one name: the one with index 0 captures.
    """
    wanted = name.strip().lower()
    named = [
        (_read_text(node / "index") not in ("", "0"), _node_number(node.name), str(dev_root / node.name))
        for node in sysfs_root.glob("video*")
        if wanted in _read_text(node / "name").lower()
    ]
    if named:
        return min(named)[2]
    wanted_id = wanted.replace(" ", "_")  # udev writes spaces as underscores in by-id names
    linked = [
        (not link.name.endswith("index0"), _node_number(Path(os.path.realpath(link)).name), os.path.realpath(link))
        for link in (dev_root / "v4l" / "by-id").glob("*")
        if wanted_id in link.name.lower()
    ]
    return min(linked)[2] if linked else None


class OpenCvSource:
    """cv2.VideoCapture on `device`: an index ("0"), a path (/dev/video2, a video file, frames/%04d.jpg) or a name."""

    def __init__(
        self,
        device: str | int,
        width: int = 1920,
        height: int = 1080,
        fps: float = 30.0,
        *,
        sysfs_root: Path = SYSFS_ROOT,
        dev_root: Path = DEV_ROOT,
        clock: Clock = time.monotonic,
        sleep: Sleep = time.sleep,
    ) -> None:
        self.device = device
        self.requested = (width, height)
        self.fps = fps
        self.size = (0, 0)  # the resolution obtained at the last open
        self._sysfs_root = sysfs_root
        self._dev_root = dev_root
        self._pacer = Pacer(fps, clock, sleep)
        self._capture: cv2.VideoCapture | None = None
        self._live = False

    def _target(self) -> tuple[int | str, int, bool]:
        """What to open, with which backend, and whether it is a live camera."""
        spec = str(self.device).strip()
        if spec.isdigit():
            return int(spec), cv2.CAP_V4L2, True
        if spec.startswith("/dev/"):
            if not Path(spec).exists():
                raise DeviceError(f"{spec} is not there", code="camera.not_found")
            return os.path.realpath(spec), cv2.CAP_V4L2, True  # by-id links lead to the /dev/videoN node
        if "%" in spec:  # an image sequence: read one file per frame, so a vanished folder shows at once
            if not Path(spec).parent.is_dir():
                raise DeviceError(f"{spec} is not there", code="camera.not_found")
            return spec, cv2.CAP_IMAGES, False
        if "/" in spec or Path(spec).exists():
            if not Path(spec).exists():
                raise DeviceError(f"{spec} is not there", code="camera.not_found")
            return spec, cv2.CAP_ANY, False
        node = find_video_device(spec, self._sysfs_root, self._dev_root)
        if node is None:
            raise DeviceError(f"no camera named {spec!r}", code="camera.not_found")
        return node, cv2.CAP_V4L2, True

    def open(self) -> None:
        target, backend, live = self._target()
        try:
            capture = cv2.VideoCapture(target, backend)
        except cv2.error as exc:
            raise DeviceError(f"cannot open {target}: {exc}", code="camera.open_failed") from exc
        if not capture.isOpened():
            capture.release()
            raise DeviceError(f"cannot open {target}", code="camera.open_failed")
        if live:
            self._configure(capture)
        self.size = (int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)), int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)))
        if live and self.size != self.requested:
            log.warning("camera %s gives %dx%d, not the %dx%d configured", target, *self.size, *self.requested)
        self._capture, self._live = capture, live
        self._pacer.reset()

    def _configure(self, capture: cv2.VideoCapture) -> None:
        # MJPG first: raw YUYV over USB 2 tops out far below 1080p at a usable frame rate.
        capture.set(cv2.CAP_PROP_FOURCC, cv2.VideoWriter.fourcc(*"MJPG"))
        capture.set(cv2.CAP_PROP_FRAME_WIDTH, self.requested[0])
        capture.set(cv2.CAP_PROP_FRAME_HEIGHT, self.requested[1])
        capture.set(cv2.CAP_PROP_FPS, self.fps)
        capture.set(cv2.CAP_PROP_BUFFERSIZE, 1)  # the newest frame, not one queued seconds ago

    def read(self) -> np.ndarray | None:
        capture = self._capture
        if capture is None:
            return None
        if not self._live:
            self._pacer.wait()
        ok, image = capture.read()
        return image if ok else None

    def close(self) -> None:
        capture, self._capture = self._capture, None
        if capture is not None:
            capture.release()

    def describe(self) -> str:
        width, height = self.size if self._capture is not None else self.requested
        return f"opencv {self.device} {width}x{height}@{self.fps:g}"


def opencv_camera(name: str, device: str | int, width: int, height: int, fps: float, **options: Any) -> CameraDevice:
    """`options` go to CameraDevice (quality gates, code decoder)."""
    return CameraDevice(name, OpenCvSource(device, width, height, fps), driver="opencv", **options)
