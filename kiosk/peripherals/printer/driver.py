"""The ESC/POS receipt printer as a device: status before every job, jobs printed exactly once.

A job is the document's bytes followed by a process ID request (GS ( H). It counts as printed
when the printer answers that request, which it does only after printing everything before it,
the cut included. Until then:

* paper out or the cover opened in the middle: the printer stops and drops what it was sent,
  so the job is not done. The caller hears printer.paper_out (or cover_open); when staff have
  fixed it, the same job id prints the whole receipt, once;
* the line dropped: reconnect with backoff and send the job again, within the caller's timeout.
  The one case this can print twice: the printer cut the paper and the line dropped before its
  answer reached us. The printer does not remember jobs, so nothing can tell that case apart;
* no answer and nothing wrong: the caller's timeout ends it, the state is unknown, never a guess.

Finished job ids are kept in a journal on disk: asking again for a finished job returns its
result and prints nothing, across restarts of the kiosk too.
"""

from __future__ import annotations

import contextlib
import logging
import re
import secrets
import string
import threading
import time
from pathlib import Path

from kiosk.core.devices import DeviceState, FixedBy, Level, PrintResult
from kiosk.core.documents import Document
from kiosk.core.errors import DeviceError, DeviceTimeout
from kiosk.peripherals import escpos
from kiosk.peripherals.base import BaseDevice
from kiosk.peripherals.printer import status as st
from kiosk.peripherals.printer.journal import JobJournal
from kiosk.peripherals.printer.link import Link, LinkLost
from kiosk.peripherals.printer.profile import PrinterProfile

log = logging.getLogger(__name__)

_JOB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,95}$")
_TOKEN_CHARS = string.ascii_letters + string.digits
STATUS_POLL_S = 0.5  # while waiting for a job's answer, ask the paper sensor this often
WATCH_FAULT_S = 1.0  # a printer in fault is asked this often, to say "ready" soon after staff fix it
WATCH_IDLE_S = 20.0  # an idle, healthy printer is asked this often (paper low, cable pulled)
BACKOFF_S = (0.2, 0.5, 1.0, 2.0)


class EscPosPrinter(BaseDevice):
    """Implements kiosk.core.devices.Printer. Events: printed (job id), paper_low, paper_out, state."""

    driver = "escpos"

    def __init__(
        self,
        name: str,
        connection: str,
        profile: PrinterProfile,
        journal_path: Path,
        status_timeout: float = 0.5,
        connect_timeout: float = 5.0,
    ) -> None:
        super().__init__(name)
        self.profile = profile
        self.link = Link(connection, connect_timeout)
        self.journal = JobJournal(journal_path)
        self.status_timeout = status_timeout
        self.capabilities = frozenset(
            {f"paper_{profile.paper_width_mm}", "qr_native" if profile.native_qr else "qr_raster"}
            | ({"cut"} if profile.cutter != "none" else set())
            | ({"status"} if profile.status and self.link.endpoint.readable else set())
        )
        self._head = threading.Lock()  # one print head: jobs and status checks take turns
        self._inbox = st.Inbox()
        self._stop = threading.Event()
        self._watcher: threading.Thread | None = None
        self._paper = Level.UNKNOWN

    # -- the device contract --------------------------------------------------------------

    def open(self) -> None:
        self._stop.clear()
        with self._head, contextlib.suppress(LinkLost):  # said disconnected; the watcher keeps trying
            self._check()
        self._watcher = threading.Thread(target=self._watch, name=f"{self.name}-watch", daemon=True)
        self._watcher.start()

    def close(self) -> None:
        self._stop.set()
        if self._watcher is not None:
            self._watcher.join(timeout=5)
            self._watcher = None
        with self._head:
            self.link.close()
        super().close()

    def print_document(self, document: Document, job_id: str, timeout: float) -> PrintResult:
        """Print `document` once per `job_id`; a finished job id returns the earlier result."""
        if not _JOB_ID.match(job_id):
            raise ValueError(f"job id {job_id!r}: letters, digits, '_', '.', '-' only")
        data = escpos.encode(document, self.profile)  # a document that cannot be printed fails here
        deadline = time.monotonic() + timeout
        if not self._head.acquire(timeout=timeout):
            raise DeviceError(f"{self.name} is busy", code="printer.busy", device=self.name)
        try:
            earlier = self.journal.get(job_id)
            if earlier is not None:
                return self._result(job_id, int(str(earlier["bytes"])), None)
            token = self._print(data, deadline)
            self.journal.record(job_id, len(data), confirmed=token is not None)
        finally:
            self._head.release()
        self._emit("printed", job_id)
        return self._result(job_id, len(data), token)

    def check(self) -> st.PaperStatus:
        """Ask the printer now (technician's check, selftest)."""
        with self._head:
            return self._check()

    # -- a job ------------------------------------------------------------------------------

    def _print(self, data: bytes, deadline: float) -> bytes | None:
        """Send until printed; the process ID token it was confirmed with, None if it cannot confirm."""
        attempt = 0
        while True:
            try:
                paper = self._check()
                self._refuse_on_fault()
                if paper.paper is Level.UNKNOWN:
                    log.warning("printer %s: paper status unknown, printing anyway", self.name)
                # a printer that does not answer status will not answer a process ID either
                token = self._token() if self.profile.process_id and paper.paper is not Level.UNKNOWN else None
                self._inbox.clear()
                self.link.write(data + (st.process_id_request(token) if token else b""))
                self._set_state(DeviceState.BUSY, "printer.printing")
                self._await_printed(token, deadline)
                self._set_state(DeviceState.READY, "device.ready")
                return token
            except LinkLost as exc:
                # the cut was never confirmed: the whole job goes again on a new line
                log.warning("printer %s: line lost (%s), job sent again", self.name, type(exc).__name__)
                self._set_state(DeviceState.DISCONNECTED, "printer.offline", FixedBy.TECHNICIAN)
                pause = BACKOFF_S[min(attempt, len(BACKOFF_S) - 1)]
                attempt += 1
                if time.monotonic() + pause >= deadline:
                    raise DeviceError(f"{self.name}: {exc}", code="printer.offline", device=self.name) from None
                time.sleep(pause)

    def _await_printed(self, token: bytes | None, deadline: float) -> None:
        """Until the printer answers `token`; a fault while waiting means the job did not finish."""
        if token is None:
            # no way to hear "printed": a fault reported right after sending still means "not done"
            time.sleep(min(self.status_timeout, max(deadline - time.monotonic(), 0)))
            self._check()
            self._refuse_on_fault()
            return
        next_status = time.monotonic() + STATUS_POLL_S
        while token not in self._inbox.process_ids:
            now = time.monotonic()
            if now >= deadline:
                self._set_state(DeviceState.UNKNOWN, "printer.timeout", FixedBy.RETRY)
                raise DeviceTimeout(f"{self.name} did not confirm the job", device=self.name, code="printer.timeout")
            if now >= next_status:
                self._check()
                self._refuse_on_fault()
                next_status = time.monotonic() + STATUS_POLL_S
            self._inbox.feed(self.link.read(min(0.1, deadline - now)))

    def _result(self, job_id: str, byte_count: int, token: bytes | None) -> PrintResult:
        """The caller's record of a job; the simulated printer adds the paper's files to it."""
        return PrintResult(job_id, byte_count)

    @staticmethod
    def _token() -> bytes:
        return "".join(secrets.choice(_TOKEN_CHARS) for _ in range(4)).encode()

    # -- status -----------------------------------------------------------------------------

    def _check(self) -> st.PaperStatus:
        """Connect if needed, read the status, set the device state from it."""
        try:
            if not self.link.is_open:
                self.link.open()
            paper = self._read_status()
        except LinkLost:
            self._set_state(DeviceState.DISCONNECTED, "printer.offline", FixedBy.TECHNICIAN)
            raise
        self._apply(paper)
        return paper

    def _read_status(self) -> st.PaperStatus:
        if not (self.profile.status and self.link.endpoint.readable):
            return st.UNKNOWN
        answer = self._ask(st.DLE_EOT_OFFLINE + st.DLE_EOT_PAPER, 2)
        if len(answer) == 2:
            return st.from_dle_eot(*answer)
        answer = self._ask(st.GS_R_PAPER, 1)
        return st.from_gs_r(answer[0]) if answer else st.UNKNOWN

    def _ask(self, query: bytes, count: int) -> list[int]:
        self._inbox.status_bytes.clear()
        self.link.write(query)
        deadline = time.monotonic() + self.status_timeout
        while len(self._inbox.status_bytes) < count and (remaining := deadline - time.monotonic()) > 0:
            self._inbox.feed(self.link.read(remaining))
        return self._inbox.status_bytes[:count]

    def _apply(self, paper: st.PaperStatus) -> None:
        levels = {"paper": paper.paper}
        if paper.paper is Level.OUT:
            self._set_state(DeviceState.HARDWARE_ERROR, "printer.paper_out", FixedBy.STAFF, levels)
        elif paper.cover_open:
            self._set_state(DeviceState.HARDWARE_ERROR, "printer.cover_open", FixedBy.STAFF, levels)
        elif paper.error:
            self._set_state(DeviceState.HARDWARE_ERROR, "printer.error", FixedBy.TECHNICIAN, levels)
        else:
            self._set_state(DeviceState.READY, "device.ready", None, levels)
        previous, self._paper = self._paper, paper.paper
        if paper.paper != previous and paper.paper in (Level.LOW, Level.OUT):
            self._emit(f"paper_{paper.paper.value}")

    def _refuse_on_fault(self) -> None:
        current = self.status()
        if current.state is DeviceState.HARDWARE_ERROR:
            raise DeviceError(f"{self.name}: {current.code}", code=current.code, device=self.name)

    def _watch(self) -> None:
        """Keep the state true while no job runs: a fault fixed, paper running low, a cable pulled."""
        last = time.monotonic()
        while not self._stop.wait(WATCH_FAULT_S):
            healthy = self.status().state is DeviceState.READY
            if healthy and time.monotonic() - last < WATCH_IDLE_S:
                continue
            if not self._head.acquire(blocking=False):
                continue  # a job is running and keeps the state itself
            try:
                self._check()
            except LinkLost:
                pass  # _check has said disconnected; the next round tries again
            finally:
                self._head.release()
                last = time.monotonic()
