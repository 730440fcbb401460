"""The ESC/POS receipt printer as a device: status before every job, jobs printed exactly once.

What the printer answers is found out once per connection, when it opens (and again after every
reconnect: another line may reach another printer, or new firmware): real-time status (DLE EOT),
in-order status (GS r), process ID (GS ( H) and its model and firmware (GS I), each with the
short status timeout; nothing is printed by asking (`status.identify_request`). The profile says
what may be asked; the answers decide what is used. A job is the document's bytes followed by
the best confirmation the printer offers:

* process ID: GS ( H with a token of ours. The printer answers it only after printing
  everything before it, the cut included: the job is confirmed printed;
* status: a printer that answers status but not GS ( H (many sold in China). GS r after the
  cut is answered once the cut is done; its answer is the status after the cut, and a fine one
  counts as printed — delivered, not confirmed. A printer that does not answer both DLE EOT and
  GS r is asked its status just after sending, which is all it offers;
* none: a printer that answers nothing (file://, a deaf one) prints and is counted printed.

Until a job is counted printed:

* paper out or the cover opened in the middle: the printer stops and drops what it was sent,
  so the job is not done. The caller hears printer.paper_out (or cover_open); when staff have
  fixed it, the same job id prints the whole receipt, once;
* the line dropped: reconnect with backoff and send the job again, within the caller's timeout.
  The one case this can print twice: the printer cut the paper and the line dropped before its
  answer reached us. The printer does not remember jobs, so nothing can tell that case apart;
* no answer and nothing wrong: the caller's timeout ends it, the state is unknown, never a guess.

A late answer is never taken for a job's: process IDs carry a fresh token, DLE EOT and GS r
answers differ in shape, no GS r is sent to a printer that answers DLE EOT but jobs' and the
probe's, and an answer arriving in pieces is kept whole between jobs.

Finished job ids are kept in a journal on disk, with how each was confirmed: asking again for a
finished job returns its result and prints nothing, across restarts of the kiosk too.
"""

from __future__ import annotations

import contextlib
import logging
import re
import secrets
import string
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from kiosk.core.devices import DeviceEventKind, DeviceState, FixedBy, Level, PrintResult
from kiosk.core.documents import Document
from kiosk.core.errors import DeviceError, DeviceTimeout
from kiosk.peripherals.base import BaseDevice
from kiosk.peripherals.printer import status as st
from kiosk.peripherals.printer.escpos.encode import encode
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
PAPER_EVENTS = {Level.LOW: DeviceEventKind.PAPER_LOW, Level.OUT: DeviceEventKind.PAPER_OUT}  # said once, on the change


@dataclass
class JobReport:
    """What the last print_document call did, for the technician's report: after a failure too."""

    job_id: str
    sent: int = 0  # the document's bytes once written to the printer (0: refused before); a finished job's then
    confirmation: st.Confirmation | None = None  # how it was (or was to be) counted printed; None: not sent


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
            | ({"status"} if self._may_ask else set())
        )
        self._head = threading.Lock()  # one print head: jobs and status checks take turns
        self._inbox = st.Inbox()
        self._stop = threading.Event()
        self._watcher: threading.Thread | None = None
        self._paper = Level.UNKNOWN
        self._answers: st.Answers | None = None  # what this connection's printer answers; None: not asked yet
        self.last_job: JobReport | None = None

    @property
    def answers(self) -> st.Answers | None:
        """What the printer answered when this connection was probed; None before (or never)."""
        return self._answers

    @property
    def _may_ask(self) -> bool:
        return self.profile.status and self.link.endpoint.readable

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
        data = encode(document, self.profile)  # a document that cannot be printed fails here
        deadline = time.monotonic() + timeout
        self.last_job = job = JobReport(job_id)  # a busy printer's refusal is this call's report too
        if not self._head.acquire(timeout=timeout):
            raise DeviceError(f"{self.name} is busy", code="printer.busy", device=self.name)
        try:
            earlier = self.journal.get(job_id)
            if earlier is not None:
                job.sent, job.confirmation = int(str(earlier["bytes"])), self.journal.confirmation(earlier)
                return self._result(job_id, job.sent, None)
            token = self._print(data, deadline, job)
            self.journal.record(job_id, len(data), job.confirmation or "none")
        finally:
            self._head.release()
        self._emit(DeviceEventKind.PRINTED, job_id)
        return self._result(job_id, len(data), token)

    def check(self) -> st.PaperStatus:
        """Ask the printer now (technician's check, selftest)."""
        with self._head:
            return self._check()

    # -- a job ------------------------------------------------------------------------------

    def _print(self, data: bytes, deadline: float, job: JobReport) -> bytes | None:
        """Send until printed; the process ID token it was confirmed with, None if confirmed otherwise."""
        attempt = 0
        while True:
            try:
                paper = self._check()
                self._refuse_on_fault()
                answers = self._answers or st.NOTHING
                if paper.paper is Level.UNKNOWN:
                    log.warning("printer %s: paper status unknown, printing anyway", self.name)
                    answers = st.NOTHING  # a printer silent just now will not answer the job either
                token = self._token() if answers.process_id else None
                # GS r after the cut, only where no status poll is a GS r that could answer for it
                after_cut = token is None and answers.dle_eot and answers.gs_r
                self._inbox.forget_answers()
                self.link.write(data + (st.process_id_request(token) if token else st.GS_R_PAPER if after_cut else b""))
                job.sent, job.confirmation = len(data), answers.confirmation
                self._set_state(DeviceState.BUSY, "printer.printing")
                job.confirmation = self._await_printed(token, after_cut, deadline)
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

    def _await_printed(self, token: bytes | None, after_cut: bool, deadline: float) -> st.Confirmation:
        """Until the printer says the job is done, and how it said it; a fault while waiting: not done."""
        if token is None and not after_cut:
            # nothing comes back by itself: the status right after sending is all the printer offers
            time.sleep(min(self.status_timeout, max(deadline - time.monotonic(), 0)))
            paper = self._check()
            self._refuse_on_fault()
            return "none" if paper.paper is Level.UNKNOWN else "status"
        next_status = time.monotonic() + STATUS_POLL_S
        while not self._job_answered(token):
            now = time.monotonic()
            if now >= deadline:
                self._set_state(DeviceState.UNKNOWN, "printer.timeout", FixedBy.RETRY)
                raise DeviceTimeout(f"{self.name} did not confirm the job", device=self.name, code="printer.timeout")
            if now >= next_status:
                self._check()
                self._refuse_on_fault()
                next_status = time.monotonic() + STATUS_POLL_S
            self._inbox.feed(self.link.read(min(0.1, deadline - now)))
        if token is not None:
            return "process_id"
        self._apply(st.from_gs_r(self._inbox.take(st.is_gs_r_answer)[0]))  # the status after the cut
        self._refuse_on_fault()
        return "status"

    def _job_answered(self, token: bytes | None) -> bool:
        """Its process ID has come back, or else the answer to the GS r sent after its cut."""
        if token is not None:
            return token in self._inbox.process_ids
        return bool(self._inbox.answers_to(st.is_gs_r_answer))

    def _result(self, job_id: str, byte_count: int, token: bytes | None) -> PrintResult:
        """The caller's record of a job; the simulated printer adds the paper's files to it."""
        return PrintResult(job_id, byte_count)

    @staticmethod
    def _token() -> bytes:
        return "".join(secrets.choice(_TOKEN_CHARS) for _ in range(4)).encode()

    # -- status -----------------------------------------------------------------------------

    def _check(self) -> st.PaperStatus:
        """Connect if needed, read the status, set the device state from it; probe a new connection."""
        try:
            if not self.link.is_open:
                self.link.open()
                self._inbox.clear()
                self._answers = None
            paper, read_by = self._read_status()
            # an offline printer answers only DLE EOT: ask the rest once it is back
            if self._answers is None and read_by is not None and not _stopped(paper):
                self._answers = self._probe(read_by == "dle_eot")
        except LinkLost:
            self._set_state(DeviceState.DISCONNECTED, "printer.offline", FixedBy.TECHNICIAN)
            raise
        self._apply(paper)
        return paper

    def _read_status(self) -> tuple[st.PaperStatus, str | None]:
        """The paper status and the request that read it ("dle_eot", "gs_r"; None: no answer)."""
        if not self._may_ask:
            return st.UNKNOWN, None
        known = self._answers
        if known is None or known.dle_eot or not known.gs_r:
            answer = self._ask(st.DLE_EOT_OFFLINE + st.DLE_EOT_PAPER, 2, st.is_dle_eot_answer)
            if len(answer) == 2:
                return st.from_dle_eot(*answer), "dle_eot"
            if known is not None and known.dle_eot:
                return st.UNKNOWN, None  # not GS r instead: its answer could come late, after a job's
        answer = self._ask(st.GS_R_PAPER, 1, st.is_gs_r_answer)
        return (st.from_gs_r(answer[0]), "gs_r") if answer else (st.UNKNOWN, None)

    def _probe(self, dle_eot: bool) -> st.Answers:
        """What the printer answers besides the status just read: GS r, GS ( H (if the profile allows
        it), GS I. Once per connection, within the status timeout; see status.identify_request."""
        token = self._token() if self.profile.process_id else None
        self._inbox.forget_answers()
        self.link.write(st.identify_request(token))
        self._read_until(lambda: bool(self._inbox.answers_to(st.is_gs_r_answer)))
        gs_r = bool(self._inbox.take(st.is_gs_r_answer))
        model = self._inbox.infos[0] if self._inbox.infos else None
        firmware = None
        if model is not None:
            self._inbox.infos.clear()
            self.link.write(st.firmware_request(gs_r))
            # with GS r, wait for its answer: no GS r answer of the probe may come after the probe
            self._read_until(lambda: bool(self._inbox.answers_to(st.is_gs_r_answer) if gs_r else self._inbox.infos))
            self._inbox.take(st.is_gs_r_answer)
            firmware = self._inbox.infos[0] if self._inbox.infos else None
        answers = st.Answers(dle_eot, gs_r, token is not None and token in self._inbox.process_ids, model, firmware)
        log.info(
            "printer %s answers DLE EOT %s, GS r %s, GS ( H %s; model %s, firmware %s: jobs confirmed by %s",
            self.name,
            *("yes" if said else "no" for said in (answers.dle_eot, answers.gs_r, answers.process_id)),
            answers.model or "-",
            answers.firmware or "-",
            answers.confirmation,
        )
        return answers

    def _ask(self, query: bytes, count: int, shape: Callable[[int], bool]) -> list[int]:
        """Send a status query; the first `count` answer bytes of its shape within the status timeout."""
        self._inbox.take(shape)  # a late answer to an earlier query is not this one's
        self.link.write(query)
        self._read_until(lambda: len(self._inbox.answers_to(shape)) >= count)
        return self._inbox.take(shape)[:count]

    def _read_until(self, done: Callable[[], bool]) -> None:
        """Read what the printer sends until `done()` or the status timeout."""
        deadline = time.monotonic() + self.status_timeout
        while not done() and (remaining := deadline - time.monotonic()) > 0:
            self._inbox.feed(self.link.read(remaining))

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
        kind = PAPER_EVENTS.get(paper.paper)
        if paper.paper != previous and kind is not None:
            self._emit(kind)

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


def _stopped(paper: st.PaperStatus) -> bool:
    return paper.paper is Level.OUT or paper.cover_open or paper.error
