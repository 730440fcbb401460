"""The camera device: one owner at a time, and a grab thread that keeps the newest frame while it is held.

The grab thread runs only while someone holds the camera, so the camera's light is off when
nobody uses it. It watches the frames: black for a while → USER_ERROR camera.black (staff uncover
the lens or switch the lights on); frozen → HARDWARE_ERROR camera.frozen and the source is
reopened; lost (unplugged, a read error) → DISCONNECTED and reopened with backoff until it
delivers again. Frames arriving again clear the fault.

Frames are photos of citizens' documents: they are kept in memory only while the camera is held,
and never logged or written.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import cv2
import numpy as np

from kiosk.core.devices import CAMERA_OWNERS, FAULT_STATES, Cancel, CodeRead, DeviceState, FixedBy, Frame, PageView
from kiosk.core.errors import DeviceCancelled, DeviceError, DeviceTimeout
from kiosk.peripherals.base import BaseDevice
from kiosk.peripherals.camera.health import BLACK_AFTER_S, FROZEN_AFTER_S, FrameHealth, Verdict
from kiosk.peripherals.camera.sources import FrameSource
from kiosk.vision.code_text import is_ambiguous
from kiosk.vision.codes import DEFAULT_FORMATS
from kiosk.vision.page_detect import detect_page
from kiosk.vision.page_files import capture_page
from kiosk.vision.page_warp import A4_MM, closest_paper
from kiosk.vision.plate import PlateModel
from kiosk.vision.quality import Gates, PageWatcher
from kiosk.vision.scanner import CodeScanner

log = logging.getLogger(__name__)

BACKOFF_FIRST_S = 0.2
BACKOFF_MAX_S = 5.0
JOIN_S = 5.0  # a V4L2 read blocks at most a few seconds; longer means the driver hangs
PREVIEW_WIDTH = 640
PREVIEW_QUALITY = 70
CLEARED_BY_A_NEW_PICTURE = frozenset({"camera.black", "camera.frozen"})


def backoff(failures: int) -> float:
    """Seconds before the next open: at once after a source that worked, then 0.2 s doubling to 5 s."""
    return 0.0 if failures == 0 else min(BACKOFF_FIRST_S * 2 ** (failures - 1), BACKOFF_MAX_S)


def encode_jpeg(image: np.ndarray, quality: int) -> Frame:
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise DeviceError("JPEG encoding failed", code="device.error")
    return Frame(data.tobytes(), image.shape[1], image.shape[0])


class CameraDevice(BaseDevice):
    capabilities = frozenset({"document", "preview", "codes"})

    def __init__(
        self,
        name: str,
        source: FrameSource,
        driver: str,
        *,
        preview_width: int = PREVIEW_WIDTH,
        black_after: float = BLACK_AFTER_S,
        frozen_after: float = FROZEN_AFTER_S,
        gates: Gates | None = None,
        code_decoder: str = "zxing",
    ) -> None:
        super().__init__(name)
        self.driver = driver
        self.source = source  # public so the demo and tests can script a simulated source's faults
        self.preview_width = preview_width
        self._black_after = black_after
        self._frozen_after = frozen_after
        self._changed = threading.Condition(self._lock)  # a new frame, or the holder changed
        self._source_lock = threading.Lock()  # one user of the source: the open probe or one grab thread
        self._opened = False
        self._owner: str | None = None
        self._session = 0  # one per claim from idle; a grab thread works for its session only
        self._grabber: threading.Thread | None = None
        self._newest: tuple[np.ndarray, float] | None = None
        self.code_decoder = code_decoder
        # The plate under a fixed camera stays: its model outlives claims (the watcher keeps learning it).
        self._watcher = PageWatcher(PlateModel(), gates or Gates())
        self._vision_lock = threading.Lock()  # watch_page and capture come from different worker threads
        self._watched_at = 0.0

    # -- lifecycle --------------------------------------------------------------------------
    def open(self) -> None:
        """READY if the source opens; it is let go again at once unless someone holds the camera."""
        with self._lock:
            self._opened = True
        if not self._source_lock.acquire(blocking=False):
            return  # a grab thread has the source and reports the state
        try:
            failure = self._open_source()
            if failure is None:
                self.source.close()
        finally:
            self._source_lock.release()
        if failure is None:
            self._set_state(DeviceState.READY, "device.ready")
        else:
            self._set_state(DeviceState.DISCONNECTED, failure, FixedBy.TECHNICIAN)

    def close(self) -> None:
        with self._lock:
            self._opened = False
            thread = self._end_session()
        self._join(thread)
        self._set_state(DeviceState.DISCONNECTED, "device.disconnected")

    # -- ownership --------------------------------------------------------------------------
    def claim(self, owner: str) -> Callable[[], None]:
        """Hold the camera for `owner` ("materials", "scan", "video_call"); returns the release.

        Claiming again for the same owner is harmless; another owner gets DeviceError camera.in_use.
        """
        if owner not in CAMERA_OWNERS:
            raise ValueError(f"unknown camera owner {owner!r}")
        with self._lock:
            if not self._opened:
                raise DeviceError("camera not open", code="camera.disconnected", device=self.name)
            if self._owner not in (None, owner):
                raise DeviceError(f"camera held by {self._owner}", code="camera.in_use", device=self.name)
            if self._owner is None:
                self._owner = owner
                self._session += 1
                self._grabber = threading.Thread(
                    target=self._grab, args=(self._session,), name=f"{self.name}-grab", daemon=True
                )
                self._grabber.start()
            session = self._session

        def release() -> None:
            self._release(owner, session)

        return release

    def owner(self) -> str | None:
        with self._lock:
            return self._owner

    def _release(self, owner: str, session: int) -> None:
        with self._lock:
            if (self._owner, self._session) != (owner, session):
                return  # released already, or a stale release of an earlier claim
            thread = self._end_session()
        self._join(thread)
        with self._vision_lock:  # what it remembers of pages is the citizen's: gone with the claim
            self._watcher.forget()
            self._watched_at = 0.0

    def _end_session(self) -> threading.Thread | None:
        """Under the lock: nobody holds the camera, its frames are dropped, waiters wake up."""
        self._owner = None
        self._session += 1
        self._newest = None
        self._changed.notify_all()
        return self._grabber

    def _join(self, thread: threading.Thread | None) -> None:
        """Wait for the grab thread to let go of the source (not when it is the caller: a listener released)."""
        if thread is None or thread is threading.current_thread():
            return
        thread.join(JOIN_S)
        if thread.is_alive():
            log.warning("camera %s: grab thread stuck in the driver for %.0f s", self.name, JOIN_S)

    # -- frames -----------------------------------------------------------------------------
    def latest(self, timeout: float, after: float = 0.0, cancel: Cancel | None = None) -> tuple[np.ndarray, float]:
        """The newest frame taken later than `after`, and when (time.monotonic()).

        Pass the time of the frame you had to wait for a new one. The array is shared and
        read-only: copy it to draw on it. Raises camera.not_claimed when nobody holds the camera
        (or it is released while waiting), camera.no_frame when none comes within `timeout`.
        """
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                if self._owner is None:
                    raise DeviceError("nobody holds the camera", code="camera.not_claimed", device=self.name)
                if self._newest is not None and self._newest[1] > after:
                    return self._newest
                left = deadline - time.monotonic()
                if left <= 0:
                    status = self.status()
                    if status.state in FAULT_STATES:  # say why there is no frame: unplugged, not found…
                        raise DeviceError(f"no frame: {status.code}", code=status.code, device=self.name)
                    raise DeviceTimeout(f"no frame in {timeout:.1f} s", code="camera.no_frame", device=self.name)
                if cancel is not None and cancel.cancelled:
                    raise DeviceCancelled("camera command cancelled", device=self.name)
                self._changed.wait(min(left, 0.1))

    def preview(self, timeout: float, after: float = 0.0) -> Frame:
        """The newest frame scaled down to `preview_width`, as JPEG, for the screen."""
        return self._preview_of(self.latest(timeout, after)[0])

    def _preview_of(self, image: np.ndarray) -> Frame:
        width = min(self.preview_width, image.shape[1])
        small = cv2.resize(image, (width, round(image.shape[0] * width / image.shape[1])), interpolation=cv2.INTER_AREA)
        return encode_jpeg(small, PREVIEW_QUALITY)

    # -- documents ------------------------------------------------------------------------
    def watch_page(self, timeout: float) -> PageView:
        """The next frame judged: where the page is, what the citizen should do, whether to capture."""
        image, at = self.latest(timeout, after=self._watched_at)
        with self._vision_lock:
            self._watched_at = at
            result = self._watcher.feed(image, at)
        height, width = image.shape[:2]
        outline = () if result.quad is None else tuple((x / width, y / height) for x, y in result.quad.corners)
        return PageView(self._preview_of(image), outline, result.advice, result.ready)

    def capture(
        self, timeout: float, cancel: Cancel | None = None, size_mm: tuple[float, float] = A4_MM, bw: bool = False
    ) -> Frame:
        """The page on the plate now, corrected to its paper size; DeviceError doc.no_page if there is none."""
        image, _ = self.latest(timeout, cancel=cancel)
        with self._vision_lock:
            plate = self._watcher.plate
            quad = detect_page(image, plate if plate.ready else None)
            if quad is None:
                raise DeviceError("no page on the plate", code="doc.no_page", device=self.name)
            frame = capture_page(image, quad.corners, closest_paper(quad.corners, size_mm), bw)
            self._watcher.mark_captured()
        return frame

    # -- codes ----------------------------------------------------------------------------
    def scan_code(
        self, timeout: float, cancel: Cancel | None = None, formats: frozenset[str] = frozenset()
    ) -> CodeRead:
        """A code held up to the camera, once enough frames agree; DeviceTimeout camera.no_code if none.

        DeviceError camera.code_ambiguous for a code whose text reads two ways (code_text refused
        it: acting on either could be wrong), camera.code_decoder_failed if the decoder fails.
        """
        scanner = CodeScanner(formats or DEFAULT_FORMATS, self.code_decoder)
        deadline = time.monotonic() + timeout
        after = 0.0
        while (left := deadline - time.monotonic()) > 0:
            try:
                image, after = self.latest(left, after, cancel)
            except DeviceTimeout:
                if after:  # frames came, the time ran out while looking at them: no code, not no frame
                    break
                raise
            read = scanner.feed(image)
            if read is not None and is_ambiguous(read.encoding):
                raise DeviceError("the code's text reads two ways", code="camera.code_ambiguous", device=self.name)
            if read is not None:
                return read
        raise DeviceTimeout(f"no code in {timeout:.1f} s", code="camera.no_code", device=self.name)

    # -- the grab thread --------------------------------------------------------------------
    def _current(self, session: int) -> bool:
        with self._lock:
            return self._session == session

    def _report(self, session: int, state: DeviceState, code: str, fixed_by: FixedBy | None = None) -> None:
        if self._current(session):  # a thread whose holder has gone says nothing more
            self._set_state(state, code, fixed_by)

    def _open_source(self) -> str | None:
        """Open the source; the failure's message code, or None."""
        try:
            self.source.open()
        except DeviceError as error:
            return error.code
        except Exception as exc:  # a driver's own error: the camera cannot be used either way
            log.warning("camera %s: open failed: %s", self.name, exc)
            return "camera.open_failed"
        log.info("camera %s: %s", self.name, self.source.describe())
        return None

    def _grab(self, session: int) -> None:
        with self._source_lock:  # the last holder's thread may still be closing the source
            self._grab_while_held(session)

    def _grab_while_held(self, session: int) -> None:
        health = FrameHealth(self._black_after, self._frozen_after)
        failures = 0
        while self._current(session):
            failure = self._open_source()
            if failure is None:
                try:
                    worked = self._stream(session, health)
                finally:
                    self.source.close()
                failures = 0 if worked else failures + 1
            else:
                self._report(session, DeviceState.DISCONNECTED, failure, FixedBy.TECHNICIAN)
                failures += 1
            with self._changed:
                self._changed.wait_for(lambda: self._session != session, backoff(failures))

    def _stream(self, session: int, health: FrameHealth) -> bool:
        """Read until the source is lost or frozen; whether it gave a healthy picture meanwhile."""
        health.restart()
        worked = False
        while self._current(session):
            try:
                image = self.source.read()
            except Exception as exc:  # a driver error is a lost camera, not a crashed kiosk
                log.warning("camera %s: read failed: %s", self.name, type(exc).__name__)
                image = None
            if image is None:
                self._report(session, DeviceState.DISCONNECTED, "camera.disconnected", FixedBy.TECHNICIAN)
                return worked
            now = time.monotonic()
            verdict = health.check(image, now)
            self._publish(session, image, now)
            if verdict is Verdict.FROZEN:
                self._report(session, DeviceState.HARDWARE_ERROR, "camera.frozen", FixedBy.TECHNICIAN)
                return worked
            if verdict is Verdict.BLACK:
                self._report(session, DeviceState.USER_ERROR, "camera.black", FixedBy.STAFF)
            elif verdict is Verdict.OK or self.status().code not in CLEARED_BY_A_NEW_PICTURE:
                # Any frame ends a disconnection; black and frozen end only with a new, lit picture.
                self._report(session, DeviceState.READY, "device.ready")
                worked = True
        return worked

    def _publish(self, session: int, image: np.ndarray, at: float) -> None:
        image.flags.writeable = False  # shared by every reader of latest()
        with self._changed:
            if self._session == session:
                self._newest = (image, at)
                self._changed.notify_all()
