"""A simulated card reader: cards are "placed" by the demo control or by a test."""

from __future__ import annotations

import threading

from kiosk.core.devices import Cancel, DeviceEventKind, DeviceState, FixedBy
from kiosk.core.errors import DeviceError
from kiosk.core.identity import Identity
from kiosk.peripherals.base import BaseDevice


class SimulatedCardReader(BaseDevice):
    driver = "simulated"
    capabilities = frozenset({"social_security", "resident_id"})

    def __init__(self, name: str, read_delay: float = 0.15) -> None:
        super().__init__(name)
        self.read_delay = read_delay
        self._card: Identity | None = None
        self._fault: str | None = None
        self._present = threading.Event()

    def open(self) -> None:
        self._set_state(DeviceState.READY, "card.place")

    def card_present(self) -> bool:
        return self._card is not None

    def insert(self, identity: Identity) -> None:
        """Place a card; listeners get `card_inserted`, then `identity` once it is read.

        Blocks for the read, like a real reader's event thread: call it off the UI thread."""
        self._card = identity
        self._present.set()
        self._emit(DeviceEventKind.CARD_INSERTED)
        try:
            self._emit(DeviceEventKind.IDENTITY, self.read_identity(timeout=5.0))
        except DeviceError as exc:
            self._emit(DeviceEventKind.READ_FAILED, exc)

    def remove(self) -> None:
        if self._card is None:
            return
        self._card = None
        self._present.clear()
        self._set_state(DeviceState.READY, "card.place")
        self._emit(DeviceEventKind.CARD_REMOVED)

    def fail_next(self, code: str) -> None:
        """Scripted fault for tests: the next read fails with this message code."""
        self._fault = code

    def read_identity(self, timeout: float, cancel: Cancel | None = None) -> Identity:
        def read() -> Identity:
            if not self._present.wait(timeout):
                raise DeviceError("no card", code="card.none")
            self._set_state(DeviceState.BUSY, "card.reading")
            if (cancel or Cancel()).wait(self.read_delay):
                raise DeviceError("cancelled", code="device.cancelled")
            fault, self._fault = self._fault, None
            card = self._card
            if fault or card is None:
                self._set_state(DeviceState.USER_ERROR, fault or "card.removed", FixedBy.CITIZEN)
                raise DeviceError("read failed", code=fault or "card.removed")
            self._set_state(DeviceState.READY, "card.present")
            return card

        return self._run(read, timeout + self.read_delay + 1.0, cancel)
