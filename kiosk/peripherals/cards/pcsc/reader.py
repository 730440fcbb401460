"""The PC/SC card reader: social security cards through pcscd, never hanging whatever pcscd does.

Why not pyscard's CardMonitor: it stops for good when pcscd answers NO_SERVICE (a restart).
Instead one thread runs SCardGetStatusChange over the readers plus the PnP notification, and
on any service error releases its context and establishes a new one with backoff, so the reader
is back within about a second of pcscd returning. Card reads run in a child process
(pcsc/worker.py) that is killed when a read overruns: a hung transmit would otherwise freeze every
PC/SC call of this process. A read counts only if the card was not swapped meanwhile (event
counter and ATR, checked in the child).
"""

from __future__ import annotations

import fnmatch
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

from kiosk.core.devices import Cancel, DeviceEventKind, DeviceState, FixedBy
from kiosk.core.errors import DeviceError, DeviceTimeout
from kiosk.core.identity import Identity
from kiosk.peripherals.base import BaseDevice
from kiosk.peripherals.cards.pcsc.apdu import CardGone
from kiosk.peripherals.cards.pcsc.worker import ReaderFault, ReadWorker

log = logging.getLogger(__name__)

PNP = "\\\\?PnP?\\Notification"
POLL_MS = 500  # GetStatusChange returns at least this often, to notice close() and new readers
BACKOFF = (0.05, 0.1, 0.2, 0.4, 0.5)  # re-establishing the context after pcscd went away
READ_TIMEOUT_S = 5.0
UNSEEN_SWAP_TRIES = 3  # reads of a card that pcscd says never moved, after the first failed as "gone"
UNSEEN_SWAP_PAUSE_S = 0.5  # longer than pcscd's 400-ms poll, so a card really pulled shows as gone
WILDCARDS = frozenset("*?[")


def name_matches(pattern: str, reader: str) -> bool:
    """A pattern with wildcards is a glob; one without matches any name containing it. Both ignore case.

    pcscd appends slot numbers to the name the reader gives itself ("Virtual PCD 00 00"), so a
    technician who writes the name printed on the device means "contains".
    """
    pattern, reader = pattern.lower(), reader.lower()
    if WILDCARDS & set(pattern):
        return fnmatch.fnmatchcase(reader, pattern)
    return pattern in reader


@dataclass
class Slot:
    """What the monitor knows of one reader."""

    name: str
    role: str  # "citizen" or "contactless"
    state: int = 0  # the last event state, fed back as the current state
    present: bool = False
    atr: bytes = b""

    @property
    def counter(self) -> int:
        return self.state >> 16  # pcsc-lite counts card events in the high word


class PcscCardReader(BaseDevice):
    driver = "pcsc"
    capabilities = frozenset({"social_security"})

    def __init__(
        self, name: str, reader: str = "*", contactless_reader: str = "", read_timeout: float = READ_TIMEOUT_S
    ) -> None:
        super().__init__(name)
        from smartcard import scard  # imported here: only a terminal with PC/SC readers needs pyscard

        self._scard: Any = scard
        self.patterns = {"contactless": contactless_reader, "citizen": reader}
        self.read_timeout = read_timeout
        self._slots: dict[str, Slot] = {}
        self._listed: tuple[str, ...] = ()  # every reader pcscd listed last time, matching or not
        self._context: int | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._reading: set[str] = set()
        self._wanted: dict[str, tuple[int, bytes]] = {}  # reader → (event counter, ATR) to read
        self._last_identity: tuple[Identity | None, DeviceError | None] | None = None
        self._result = threading.Condition(self._lock)
        self._arrivals = threading.Condition(self._lock)  # notified when a card is wanted for reading
        self._unseen_swap_tries: dict[str, tuple[int, int]] = {}  # reader → (event counter, reads)
        self._worker = ReadWorker()
        self._worker_lock = threading.Lock()

    # -- lifecycle --------------------------------------------------------------------------
    def open(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._set_state(DeviceState.UNKNOWN, "card.starting")
        with self._worker_lock:
            self._worker.start()  # now, so the first card does not wait for a process to spawn
        self._thread = threading.Thread(target=self._monitor, name=f"{self.name}-monitor", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        context = self._context
        if context is not None:
            self._scard.SCardCancel(context)  # wakes the monitor out of GetStatusChange
        if self._thread is not None:
            self._thread.join(timeout=3)
            self._thread = None
        with self._worker_lock:
            self._worker.stop()
        self._set_state(DeviceState.DISCONNECTED, "device.disconnected")

    def card_present(self) -> bool:
        with self._lock:
            return any(slot.present for slot in self._slots.values())

    def readers(self) -> dict[str, str]:
        """Reader name → role, as the monitor sees them now."""
        with self._lock:
            return {slot.name: slot.role for slot in self._slots.values()}

    def fault(self) -> DeviceError | None:
        """As the base's, and a missing reader names the patterns and every reader pcscd has."""
        error = super().fault()
        if error is not None and error.code == "card.reader_missing":
            with self._lock:
                listed = self._listed
            patterns = [pattern for pattern in self.patterns.values() if pattern]
            error = DeviceError(
                f"no reader matches {patterns}; pcscd lists {list(listed)}",
                code=error.code,
                patterns=patterns,
                readers=list(listed),
            )
        return error

    # -- the monitor ------------------------------------------------------------------------
    def _role(self, reader: str) -> str | None:
        for role, pattern in self.patterns.items():
            if pattern and name_matches(pattern, reader):
                return role
        return None

    def _establish(self) -> bool:
        hresult, context = self._scard.SCardEstablishContext(self._scard.SCARD_SCOPE_USER)
        if hresult != self._scard.SCARD_S_SUCCESS:
            return False
        self._context = context
        return True

    def _release(self) -> None:
        context, self._context = self._context, None
        if context is not None:
            self._scard.SCardReleaseContext(context)
        with self._lock:
            gone = [slot for slot in self._slots.values() if slot.present]
            self._slots.clear()
        for _slot in gone:
            self._emit(DeviceEventKind.CARD_REMOVED)

    def _list(self) -> list[str]:
        hresult, names = self._scard.SCardListReaders(self._context, [])
        if hresult == self._scard.SCARD_E_NO_READERS_AVAILABLE:
            return []
        if hresult != self._scard.SCARD_S_SUCCESS:
            raise ReaderFault(self._scard.SCardGetErrorMessage(hresult), code="card.pcscd_down")
        return list(names)

    def _sync_slots(self) -> None:
        names = self._list()
        with self._lock:
            list_changed, self._listed = self._listed != tuple(names), tuple(names)
            for name in list(self._slots):
                if name not in names:
                    del self._slots[name]
            for name in names:
                role = self._role(name)
                if role and name not in self._slots:
                    self._slots[name] = Slot(name, role)
            has_reader = bool(self._slots)
        if has_reader:
            self._set_state(DeviceState.READY, "card.place")
            return
        if list_changed:  # reader names are no personal data; logged once per list, not per poll
            log.warning("no reader matches %s; pcscd lists %s", [p for p in self.patterns.values() if p], names)
        self._set_state(DeviceState.DISCONNECTED, "card.reader_missing", FixedBy.TECHNICIAN)

    def _monitor(self) -> None:
        attempt = 0
        while not self._stop.is_set():
            try:
                if self._context is None:
                    if not self._establish():
                        raise ReaderFault("no context", code="card.pcscd_down")
                    self._sync_slots()
                    attempt = 0
                self._wait_for_change()
            except ReaderFault as fault:
                self._release()
                self._set_state(DeviceState.DISCONNECTED, fault.code, FixedBy.TECHNICIAN)
                self._stop.wait(BACKOFF[min(attempt, len(BACKOFF) - 1)])
                attempt += 1
        self._release()

    def _wait_for_change(self) -> None:
        sc = self._scard
        with self._lock:
            slots = list(self._slots.values())
        states = [(PNP, len(slots) << 16)] + [(slot.name, slot.state) for slot in slots]
        hresult, changes = sc.SCardGetStatusChange(self._context, POLL_MS, states)
        if hresult in (sc.SCARD_E_TIMEOUT, sc.SCARD_E_CANCELLED):
            self._sync_slots()  # cheap, and catches readers PnP did not announce
            return
        if hresult == sc.SCARD_E_UNKNOWN_READER:
            self._sync_slots()
            return
        if hresult != sc.SCARD_S_SUCCESS:
            # NO_SERVICE, then INVALID_HANDLE after a pcscd restart: start over with a new context.
            raise ReaderFault(sc.SCardGetErrorMessage(hresult), code="card.pcscd_down")
        for name, event_state, atr in changes:
            if name == PNP:
                if event_state & sc.SCARD_STATE_CHANGED:
                    self._sync_slots()
                continue
            self._update_slot(name, event_state, bytes(atr))

    def _update_slot(self, name: str, event_state: int, atr: bytes) -> None:
        sc = self._scard
        with self._lock:
            slot = self._slots.get(name)
            if slot is None:
                return
            was_present, old_counter = slot.present, slot.counter
            slot.state = event_state & ~sc.SCARD_STATE_CHANGED
            present = bool(event_state & sc.SCARD_STATE_PRESENT) and not event_state & sc.SCARD_STATE_MUTE
            slot.present, slot.atr = present, atr if present else b""
            counter = slot.counter
        # A card out and another in between two polls shows only as the event counter moving on
        # by two (out, in). By one: pcscd writes PRESENT before it counts the insertion, so we may
        # have seen the card with the old counter: same card, read again with the right one.
        moved = (counter - old_counter) & 0xFFFF if present and was_present else 0
        swapped = moved >= 2
        if moved == 1:
            self._start_read(name, counter, atr)
        if was_present and (not present or swapped):
            with self._result:
                self._last_identity = None  # the holder's data leaves with the card
            self._set_state(DeviceState.READY, "card.place")
            self._emit(DeviceEventKind.CARD_REMOVED)
        if present and (not was_present or swapped):
            self._emit(DeviceEventKind.CARD_INSERTED)
            self._start_read(name, counter, atr)

    # -- reading ----------------------------------------------------------------------------
    def _start_read(self, reader: str, counter: int, atr: bytes) -> None:
        with self._lock:
            self._wanted[reader] = (counter, atr)  # the newest card in this reader
            self._arrivals.notify_all()
            if reader in self._reading:
                return  # the running read picks the new card up when it ends
            self._reading.add(reader)
        threading.Thread(target=self._read_and_report, args=(reader,), name=f"{self.name}-read", daemon=True).start()

    def _read_and_report(self, reader: str) -> None:
        """Read the newest card of `reader` until no newer one arrived during the read, and report it.

        A read that failed as if its card had left is reported, and then, if pcscd still shows
        that card in place, the card in the reader is read again (see `_read_again`).
        """
        while True:
            with self._lock:
                counter, atr = self._wanted.pop(reader)
            identity, error = self._read_once(reader, counter, atr)
            with self._lock:
                if reader not in self._wanted:  # no newer card: this result stands
                    self._reading.discard(reader)
                    break
            # A newer card came meanwhile: this result is stale (often "removed"): drop it.
        self._report(reader, counter, identity, error)
        if self._read_again(reader, counter, error):
            self._start_read(reader, counter, atr)

    def _report(self, reader: str, counter: int, identity: Identity | None, error: DeviceError | None) -> None:
        if identity is not None:
            self._set_state(DeviceState.READY, "card.present")
        else:
            assert error is not None
            self._set_state(DeviceState.USER_ERROR, error.code, FixedBy.CITIZEN)
        # Checked last, right before delivery (listeners of the state above may take time):
        # an identity must never arrive after its card has left or been replaced. A failure
        # holds no personal data and is what tells the citizen to place the card again.
        if error is not None or self._still_in(reader, counter):
            self._deliver(identity, error)
        else:
            log.info("card read on %s dropped: the card left before it was delivered", reader)

    def _read_again(self, reader: str, counter: int, error: DeviceError | None) -> bool:
        """After a read failed as if its card left: is a card still there that pcscd never saw go?

        A card out and another in faster than pcscd polls the reader (400 ms for readers that
        report no card events) leaves pcscd's state and event counter as they were: the monitor
        sees nothing, and the read fails only because the first card's session broke. The card in
        the reader then has never been read. The pause lets pcscd catch up with a real removal.
        """
        if error is None or error.code != CardGone.code:
            return False
        with self._arrivals:
            last_counter, tries = self._unseen_swap_tries.get(reader, (counter, 0))
            tries = tries + 1 if last_counter == counter else 1
            self._unseen_swap_tries[reader] = (counter, tries)
            if tries >= UNSEEN_SWAP_TRIES:
                return False

            def moved_on() -> bool:  # a card the monitor does see is read anyway, and next
                return reader in self._wanted or reader in self._reading or self._stop.is_set()

            if self._arrivals.wait_for(moved_on, UNSEEN_SWAP_PAUSE_S):
                return False
        return self._still_in(reader, counter)

    def _still_in(self, reader: str, counter: int) -> bool:
        with self._lock:
            slot = self._slots.get(reader)
            return slot is not None and slot.present and slot.counter == counter

    def _read_once(self, reader: str, counter: int, atr: bytes) -> tuple[Identity | None, DeviceError | None]:
        self._set_state(DeviceState.BUSY, "card.reading")
        started = time.monotonic()
        try:
            with self._worker_lock:
                identity = self._worker.read(reader, counter, atr, self.read_timeout)
        except DeviceError as exc:
            log.warning("card read on %s failed: %s", reader, exc.code)
            return None, exc
        log.info("card read on %s in %.0f ms", reader, (time.monotonic() - started) * 1000)
        return identity, None

    def _deliver(self, identity: Identity | None, error: DeviceError | None) -> None:
        with self._result:
            self._last_identity = (identity, error)
            self._result.notify_all()
        if identity is not None:
            self._emit(DeviceEventKind.IDENTITY, identity)
        else:
            self._emit(DeviceEventKind.READ_FAILED, error)

    # -- the contract's command -------------------------------------------------------------
    def read_identity(self, timeout: float, cancel: Cancel | None = None) -> Identity:
        """Wait for the next card read (one already done for a card still present counts)."""
        deadline = time.monotonic() + timeout
        with self._result:
            if not self.card_present():
                self._last_identity = None
            while self._last_identity is None:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise DeviceTimeout("no card", code="card.none")
                if cancel is not None and cancel.cancelled:
                    raise DeviceError("cancelled", code="device.cancelled")
                self._result.wait(min(left, 0.1))
            identity, error = self._last_identity
        if error is not None:
            raise error
        assert identity is not None
        return identity
