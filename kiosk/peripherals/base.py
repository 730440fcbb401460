"""What every driver shares: state bookkeeping, listeners, and commands run under a watchdog."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import TypeVar

from kiosk.core.devices import (
    FAULT_STATES,
    Cancel,
    CodeRead,
    DeviceEvent,
    DeviceEventKind,
    DeviceState,
    FixedBy,
    Frame,
    Level,
    Listener,
    PageView,
    PrintResult,
    Status,
)
from kiosk.core.documents import Document
from kiosk.core.errors import DeviceCancelled, DeviceError, DeviceTimeout
from kiosk.core.identity import Identity

log = logging.getLogger(__name__)
T = TypeVar("T")


class BaseDevice:
    """State, consumables and events; subclasses call `_set_state` and `_emit`.

    State changes are logged once, when they happen, not on every poll.
    """

    driver = "base"
    capabilities: frozenset[str] = frozenset()

    def __init__(self, name: str) -> None:
        self.name = name
        self._lock = threading.RLock()
        self._listeners: list[Listener] = []
        self._status = Status(DeviceState.UNKNOWN, time.time(), "device.unknown")

    def open(self) -> None:
        self._set_state(DeviceState.READY, "device.ready")

    def close(self) -> None:
        self._set_state(DeviceState.DISCONNECTED, "device.disconnected")

    def status(self) -> Status:
        with self._lock:
            return self._status

    def fault(self) -> DeviceError | None:
        """The fault the device is in now as an error to report, None while it can work."""
        status = self.status()
        if status.state in FAULT_STATES:
            return DeviceError(f"{self.name}: {status.state.value}", device=self.name, code=status.code)
        return None

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        with self._lock:
            self._listeners.append(listener)

        def unsubscribe() -> None:
            with self._lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return unsubscribe

    def _set_state(
        self,
        state: DeviceState,
        code: str,
        fixed_by: FixedBy | None = None,
        consumables: dict[str, Level] | None = None,
    ) -> None:
        with self._lock:
            old = self._status
            levels = old.consumables if consumables is None else consumables
            if (old.state, old.code, old.fixed_by, old.consumables) == (state, code, fixed_by, levels):
                return
            since = old.since if old.state == state else time.time()
            self._status = Status(state, since, code, fixed_by, dict(levels))
        log.info("device %s: %s (%s)", self.name, state.value, code)
        self._emit(DeviceEventKind.STATE, self._status)

    def _set_consumable(self, name: str, level: Level) -> None:
        with self._lock:
            levels = dict(self._status.consumables)
            levels[name] = level
            self._set_state(self._status.state, self._status.code, self._status.fixed_by, levels)

    def _emit(self, kind: DeviceEventKind, payload: object = None) -> None:
        event = DeviceEvent(self.name, kind, payload)
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            try:
                listener(event)
            except Exception:  # a faulty listener must not take the driver down
                log.exception("listener of %s failed on %s", self.name, kind)

    def _run(self, fn: Callable[[], T], timeout: float, cancel: Cancel | None = None) -> T:
        """Run `fn` in its own thread; give up after `timeout` or on cancel.

        A driver call that hangs (a PC/SC transmit cannot be cancelled) is abandoned, not
        waited for: its daemon thread is left to finish or die, the caller gets DeviceTimeout.
        """
        future: Future[T] = Future()

        def work() -> None:
            try:
                future.set_result(fn())
            except BaseException as exc:  # handed to the caller, who decides
                future.set_exception(exc)

        threading.Thread(target=work, name=f"{self.name}-cmd", daemon=True).start()
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise DeviceTimeout(f"{self.name} did not answer in {timeout:.1f} s", device=self.name)
            if cancel is not None and cancel.cancelled:
                raise DeviceCancelled(f"{self.name} command cancelled", device=self.name)
            try:
                return future.result(timeout=min(remaining, 0.05))
            except TimeoutError:
                continue


class Unconfigured(BaseDevice):
    """A role the configuration leaves empty (driver = "none").

    It stands in for any device of the contract (CardReader, Camera, Printer), so every role of
    `Devices` is filled: it holds no card, and every command refuses with device.not_configured.
    """

    driver = "none"

    def open(self) -> None:
        self._set_state(DeviceState.NOT_CONFIGURED, "device.not_configured", FixedBy.CONFIGURATION)

    def close(self) -> None:
        """Nothing to close: it stays not configured."""

    def _refusal(self) -> DeviceError:
        return DeviceError(f"{self.name}: not configured", device=self.name, code="device.not_configured")

    # CardReader
    def card_present(self) -> bool:
        return False

    def read_identity(self, timeout: float, cancel: Cancel | None = None) -> Identity:
        raise self._refusal()

    # Camera
    def claim(self, owner: str) -> Callable[[], None]:
        raise self._refusal()

    def preview(self, timeout: float, after: float = 0.0) -> Frame:
        raise self._refusal()

    def watch_page(self, timeout: float) -> PageView:
        raise self._refusal()

    def capture(
        self, timeout: float, cancel: Cancel | None = None, size_mm: tuple[float, float] = (210, 297), bw: bool = False
    ) -> Frame:
        raise self._refusal()

    def scan_code(
        self, timeout: float, cancel: Cancel | None = None, formats: frozenset[str] = frozenset()
    ) -> CodeRead:
        raise self._refusal()

    # Printer
    def print_document(self, document: Document, job_id: str, timeout: float) -> PrintResult:
        raise self._refusal()
