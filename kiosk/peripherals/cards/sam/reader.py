"""The resident ID card reader: a certified SAM module on a serial line, behind the CardReader contract.

One poll thread owns the port. Each cycle asks "find card" (20 01); a card newly found is
selected (20 02) and read (30 01), and its Identity goes out as an `identity` event. A card
that stays is not read again (the module keeps answering 9F), and "no card" (80) for
`removal_polls` cycles in a row means it was lifted: `card_removed`, once.

Faults: an untrustworthy frame, silence, or a status that says the module is out of step gets
a reset (10 FF) and a status check (11 FF) before polling goes on; after `fault_threshold`
faults in a row the state is hardware_error for a technician. A card that cannot be read is
user_error for the citizen. A missing or unplugged port is `disconnected`, and is reopened
with backoff. The BaseDevice `_run` watchdog is not needed: every serial call here is bounded
(read and write timeouts), and `read_identity` waits with its own deadline and cancel.

Logs carry status bytes, states and timings, never what the card says.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import Future

from kiosk.core.devices import Cancel, DeviceEventKind, DeviceState, FixedBy
from kiosk.core.errors import DeviceCancelled, DeviceError, DeviceTimeout
from kiosk.core.identity import Identity
from kiosk.peripherals.base import BaseDevice
from kiosk.peripherals.cards.sam.errors import SamDisconnected, SamError, SamNoAnswer, UnknownCardType
from kiosk.peripherals.cards.sam.frames import (
    FIND_CARD,
    READ_TEXT_PHOTO,
    RESET,
    SELECT_CARD,
    STATUS,
    Answer,
    Command,
    split_text_photo,
)
from kiosk.peripherals.cards.sam.layouts import parse_text
from kiosk.peripherals.cards.sam.link import SamLink, Stopped
from kiosk.peripherals.cards.sam.status import SW3_FOUND, SW3_NO_CARD, SW3_OK, status_error

log = logging.getLogger(__name__)


class SamIdReader(BaseDevice):
    driver = "sam"
    capabilities = frozenset({"resident_id", "hk_macao_taiwan_permit", "foreign_permanent_resident", "photo_wlt"})

    def __init__(
        self,
        name: str,
        port: str,
        baudrate: int = 115200,
        *,
        poll_interval: float = 0.1,
        answer_timeout: float = 0.5,
        read_timeout: float = 2.0,
        reopen_backoff: tuple[float, float] = (0.2, 5.0),
        fault_threshold: int = 3,
        removal_polls: int = 2,
        read_attempts: int = 2,
    ) -> None:
        super().__init__(name)
        self.poll_interval = poll_interval
        self.reopen_backoff = reopen_backoff  # (first wait, longest wait) between reopen attempts
        self.fault_threshold = fault_threshold  # faults in a row before a technician is called
        self.removal_polls = removal_polls  # "no card" answers in a row that mean the card was lifted
        self.read_attempts = read_attempts  # a card read that fails is tried again this often, silently
        self._link = SamLink(port, baudrate, answer_timeout=answer_timeout, read_timeout=read_timeout)
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._waiters: list[Future[Identity]] = []
        # Owned by the poll thread; others only read them.
        self._present = False
        self._card_read = False  # this placement has been read (or failed): do not read it again
        self._absent_polls = 0
        self._faults = 0
        self._needs_reset = False
        self._needs_check = True
        self._silent = False  # the last command got no answer
        self._fault_reported = False  # read_failed already sent for the fault going on

    # -- lifecycle --------------------------------------------------------------------------
    def open(self) -> None:
        if self._thread is not None:
            return
        self._stop = threading.Event()  # a fresh one: a thread that outlived close() stays stopped
        self._present = self._card_read = self._silent = self._fault_reported = False
        self._absent_polls, self._faults, self._needs_check, self._needs_reset = 0, 0, True, False
        self._set_state(DeviceState.UNKNOWN, "device.unknown")
        self._try_open()  # now, so that a missing port shows at once; the thread retries it
        self._thread = threading.Thread(target=self._poll, args=(self._stop,), name=f"{self.name}-sam", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout=3.0)
            if thread.is_alive():
                log.warning("%s: poll thread did not stop within 3 s", self.name)
        self._link.close()
        self._present = False
        self._fail_waiters(DeviceCancelled("reader closed", code="device.cancelled"))
        self._set_state(DeviceState.DISCONNECTED, "device.disconnected")

    def card_present(self) -> bool:
        return self._present

    # -- the contract's command -------------------------------------------------------------
    def read_identity(self, timeout: float, cancel: Cancel | None = None) -> Identity:
        """Read the card on the reader now, or the next one placed within `timeout`.

        The card is read afresh (the driver keeps no copy of anyone's identity). Raises the
        read's error, DeviceTimeout (code card.none when no card came, sam.no_answer when the
        module is silent), or DeviceCancelled.
        """
        if self._thread is None:
            raise SamDisconnected("the reader is not open", code="device.disconnected")
        future: Future[Identity] = Future()
        with self._lock:
            self._waiters.append(future)
        self._wake.set()
        deadline = time.monotonic() + timeout
        try:
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise self._timeout_error(timeout)
                if cancel is not None and cancel.cancelled:
                    raise DeviceCancelled(f"{self.name} read cancelled", device=self.name)
                try:
                    return future.result(timeout=min(remaining, 0.05))
                except TimeoutError:
                    continue
        finally:
            with self._lock:
                if future in self._waiters:
                    self._waiters.remove(future)

    def _timeout_error(self, timeout: float) -> DeviceError:
        if self.status().state is DeviceState.DISCONNECTED:
            return SamDisconnected("the serial port is missing")
        if self._silent:
            return SamNoAnswer(f"the module said nothing for {timeout:.1f} s")
        if not self._present:
            return DeviceTimeout(f"no card in {timeout:.1f} s", code="card.none")
        return DeviceTimeout(f"{self.name} did not finish the read in {timeout:.1f} s", device=self.name)

    def _deliver(self, identity: Identity) -> None:
        with self._lock:
            waiters, self._waiters = self._waiters, []
        for future in waiters:
            if not future.done():
                future.set_result(identity)

    def _fail_waiters(self, error: DeviceError) -> None:
        with self._lock:
            waiters, self._waiters = self._waiters, []
        for future in waiters:
            if not future.done():
                future.set_exception(error)

    def _has_waiters(self) -> bool:
        with self._lock:
            return bool(self._waiters)

    # -- the poll thread --------------------------------------------------------------------
    def _try_open(self) -> bool:
        try:
            self._link.open()
        except SamDisconnected as exc:
            self._set_state(DeviceState.DISCONNECTED, exc.code, FixedBy.TECHNICIAN)
            return False
        self._needs_check = True
        return True

    def _poll(self, stop: threading.Event) -> None:
        backoff = self.reopen_backoff[0]
        while not stop.is_set():
            if not self._link.is_open:
                if not self._try_open():
                    stop.wait(backoff)
                    backoff = min(backoff * 2, self.reopen_backoff[1])
                    continue
                log.info("%s: serial port open", self.name)
                backoff = self.reopen_backoff[0]
            wait = self.poll_interval
            try:
                self._cycle(stop)
            except Stopped:
                break
            except SamDisconnected as exc:
                self._lost(exc)
                continue
            except SamError as exc:
                self._fault(exc)
                wait = min(self.poll_interval * 2**self._faults, 2.0)  # a broken module is not hammered
            except Exception:  # a bug here must neither kill the reader for good nor pass for "ready"
                log.exception("%s: poll cycle failed; starting over", self.name)
                self._link.close()
                self._set_state(DeviceState.HARDWARE_ERROR, "sam.fault", FixedBy.TECHNICIAN)
                wait = self.reopen_backoff[1]
            if self._wake.wait(wait):
                self._wake.clear()
        self._link.close()

    def _exchange(self, command: Command, stop: threading.Event, expect: int | None = SW3_OK) -> Answer:
        """One command and its answer. With `expect`, any other status raises its typed error."""
        try:
            answer = self._link.exchange(command, stop=stop)
        except SamNoAnswer:
            self._silent = True
            raise
        self._silent = False
        if expect is not None and answer.sw3 != expect:
            raise status_error(answer.sw3)
        return answer

    def _cycle(self, stop: threading.Event) -> None:
        if self._needs_reset:
            self._exchange(RESET, stop)
            self._needs_reset = False
            self._needs_check = True
            log.info("%s: module reset", self.name)
        if self._needs_check:
            self._exchange(STATUS, stop)
            self._needs_check = False
        sw3 = self._exchange(FIND_CARD, stop, expect=None).sw3
        if sw3 == SW3_FOUND:
            self._absent_polls = 0
            if not self._present:
                self._present, self._card_read = True, False
                self._emit(DeviceEventKind.CARD_INSERTED)
            if not self._card_read or self._has_waiters():
                self._read_card(stop, announce=not self._card_read)
        elif sw3 == SW3_NO_CARD:
            if self._present:
                self._absent_polls += 1
                if self._absent_polls >= self.removal_polls:
                    self._card_gone()
        else:
            raise status_error(sw3)
        self._module_ok()

    def _read_card(self, stop: threading.Event, announce: bool) -> None:
        """Select and read the card; emit and deliver the Identity, or the citizen's error."""
        self._set_state(DeviceState.BUSY, "card.reading")
        started = time.monotonic()
        error: SamError | None = None
        for _ in range(self.read_attempts):
            try:
                self._exchange(SELECT_CARD, stop)
                text, photo = split_text_photo(self._exchange(READ_TEXT_PHOTO, stop).data)
                identity = parse_text(text, photo)
            except SamError as exc:
                if exc.fixed_by is not FixedBy.CITIZEN:
                    raise  # the module's fault, not the card's: reset and read again
                error = exc
                log.info("%s: card read failed: %s", self.name, exc.code)
                if isinstance(exc, UnknownCardType) or exc.code == "card.unknown":
                    break  # the same card will not become known on a second try
                continue
            self._card_read = True
            log.info("%s: card read in %.0f ms", self.name, (time.monotonic() - started) * 1000)
            self._set_state(DeviceState.READY, "card.present")
            if announce:
                self._emit(DeviceEventKind.IDENTITY, identity)
            self._deliver(identity)
            return
        assert error is not None
        self._card_read = True  # wait for the card to be lifted and placed again
        self._set_state(DeviceState.USER_ERROR, error.code, FixedBy.CITIZEN)
        if announce:
            self._emit(DeviceEventKind.READ_FAILED, error)
        self._fail_waiters(error)

    def _card_gone(self) -> None:
        self._present, self._card_read, self._absent_polls = False, False, 0
        self._set_state(DeviceState.READY, "card.place")
        self._emit(DeviceEventKind.CARD_REMOVED)

    def _module_ok(self) -> None:
        """A cycle went through: the module works, whatever it said before."""
        self._faults = 0
        self._fault_reported = False
        state = self.status().state
        if state in (DeviceState.HARDWARE_ERROR, DeviceState.UNKNOWN, DeviceState.DISCONNECTED, DeviceState.BUSY):
            self._set_state(DeviceState.READY, "card.present" if self._present else "card.place")

    def _fault(self, exc: SamError) -> None:
        self._faults += 1
        log.warning("%s: %s (%s), fault %d in a row", self.name, exc.code, exc.__class__.__name__, self._faults)
        if exc.reset_module:
            self._needs_reset = True
        if exc.fixed_by is not FixedBy.TECHNICIAN and self._faults < self.fault_threshold:
            return  # reset (where needed) and try again, unnoticed
        self._set_state(DeviceState.HARDWARE_ERROR, exc.code, FixedBy.TECHNICIAN)
        self._fail_waiters(exc)
        if self._present and not self._card_read and not self._fault_reported:
            self._fault_reported = True  # the citizen waiting at the reader hears it once, not every cycle
            self._emit(DeviceEventKind.READ_FAILED, exc)

    def _lost(self, exc: SamDisconnected) -> None:
        log.warning("%s: serial port lost (%s)", self.name, exc.detail)
        self._link.close()
        self._set_state(DeviceState.DISCONNECTED, exc.code, FixedBy.TECHNICIAN)
        if self._present:
            # Nobody can vouch for the card any more: whoever waits for its removal is told now.
            self._present, self._card_read = False, False
            self._emit(DeviceEventKind.CARD_REMOVED)
