"""The citizen journey: what every screen asks of core, callable from tests without a screen.

Methods that block (HTTP to the hall, printing) are marked "blocking": screens run them on a
worker thread and bring the result back to the UI thread. Everything else is quick and is
called on the UI thread. Transitions happen only on the caller's thread of the non-blocking
methods, so the session is never changed from two threads at once.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from pydantic import ValidationError

from kiosk.core import papers, protocol
from kiosk.core.catalogue import Catalogue, Material, ServiceItem
from kiosk.core.code_kinds import Classified, CodeKind, CodeRules, classify
from kiosk.core.devices import CodeRead, Frame, Printer, PrintResult
from kiosk.core.documents import Document
from kiosk.core.errors import HallError, KioskError, SessionError
from kiosk.core.identity import Identity
from kiosk.core.logctx import set_session
from kiosk.core.messages import Messages
from kiosk.core.outbox import Outbox
from kiosk.core.pdf import PdfPage, pdf_from_jpegs
from kiosk.core.receipt_number import ReceiptNumbers
from kiosk.core.session import EndReason, IdlePhase, IdleWatch, Page, Session, Step
from kiosk.core.signing import receipt_token
from kiosk.core.uploader import Uploader
from kiosk.core.validation import normalise, validate

log = logging.getLogger(__name__)

_BACK = {Step.IDENTIFY: Step.GUIDE, Step.MATERIALS: Step.FORM, Step.REVIEW: Step.MATERIALS}
RATING_LEVELS = (5, 4, 3, 2, 1)  # 非常满意 … 非常不满意, as 好差评 orders them


class Hall(Protocol):
    def progress(
        self, receipt_no: str, *, id_tail: str = "", token: str = "", session_id: str = ""
    ) -> dict[str, Any]: ...
    def appointment(self, code: str, session_id: str = "") -> dict[str, Any]: ...


def applicant_record(identity: Identity) -> dict[str, str]:
    """The applicant as the hall receives it, from the card that was read."""
    return {
        "card_type": identity.card_type.value,
        "name": identity.name,
        "id_number": identity.id_number,
        "sex": identity.sex,
        "birth_date": identity.birth_date.isoformat() if identity.birth_date else "",
        "address": identity.address,
    }


@dataclass(frozen=True)
class Terminal:
    id: str
    hall_name: str
    consult_phone: str
    progress_url: str  # prefix of the receipt QR; the receipt number is appended
    link_key: bytes = field(default=b"", repr=False)  # makes the receipt link's token (signing.receipt_token)

    def progress_link(self, receipt_no: str) -> str:
        """The receipt's QR: the hall's progress page for this number, with the token that opens it."""
        return f"{self.progress_url}{receipt_no}?k={receipt_token(self.link_key, receipt_no)}"


@dataclass(frozen=True)
class Submission:
    """What goes to the hall, frozen at the moment the citizen taps submit."""

    application: dict[str, Any]
    pages: list[tuple[str, int, bytes]]
    pdfs: list[tuple[str, bytes]]  # one PDF of all its pages per material, for the hall's case file

    def parts(self) -> list[tuple[str, bytes]]:
        """Every file as the hall names it: <material>/<page>.jpg and <material>/document.pdf."""
        pages = [(f"{material}/{page}.jpg", data) for material, page, data in self.pages]
        return pages + [(f"{material}/{protocol.PDF_NAME}", pdf) for material, pdf in self.pdfs]


class Journey:
    def __init__(
        self,
        *,
        catalogue: Catalogue,
        hall: Hall,
        printer: Printer | None,
        numbers: ReceiptNumbers,
        messages: Messages,
        terminal: Terminal,
        idle: IdleWatch,
        outbox: Outbox,
        uploader: Uploader,
        code_rules: CodeRules | None = None,
        now: Callable[[], dt.datetime] = dt.datetime.now,
        delivery_wait_s: float = 10.0,
    ) -> None:
        self.catalogue = catalogue
        self._next_catalogue: Catalogue | None = None  # from the hall, taken at the next session boundary
        self.hall = hall
        self.outbox = outbox
        self.uploader = uploader
        self.delivery_wait_s = delivery_wait_s  # how long the citizen waits for the hall before 待上传
        self.printer = printer
        self.numbers = numbers
        self.messages = messages
        self.terminal = terminal
        self.idle = idle
        self.code_rules = code_rules or CodeRules(progress_url=terminal.progress_url)
        self._now = now
        self.listeners: list[Callable[[Session], None]] = []
        self.session = self._fresh()

    # -- session lifecycle ------------------------------------------------------------------
    def _fresh(self) -> Session:
        session = Session(on_change=self._changed)
        set_session(session.session_id)
        self.idle.touch()
        return session

    def _changed(self, session: Session) -> None:
        for listener in list(self.listeners):
            listener(session)

    @property
    def step(self) -> Step:
        return self.session.step

    @property
    def item(self) -> ServiceItem:
        if self.session.item is None:
            raise SessionError("no item chosen", code="error.session")
        return self.session.item

    def end(self, reason: EndReason) -> None:
        """End the session (wiping it) and start a fresh one at home."""
        self.session.end(reason)
        self._take_next_catalogue()
        self.session = self._fresh()
        self._changed(self.session)

    def use_catalogue(self, catalogue: Catalogue) -> None:
        """A catalogue the hall published. Any thread may call this; it is taken between sessions,
        so a citizen halfway through a service never sees it change under them."""
        self._next_catalogue = catalogue

    def _take_next_catalogue(self) -> bool:
        catalogue, self._next_catalogue = self._next_catalogue, None
        if catalogue is None:
            return False
        self.catalogue = catalogue
        return True

    def touch(self) -> None:
        self.idle.touch()

    def tick(self) -> tuple[IdlePhase, float]:
        """Called about once a second by the UI; ends the session when the idle time is up."""
        if self.session.step is Step.HOME and not self.session.holds_personal_data():
            self.idle.touch()
            if self._take_next_catalogue():
                self._changed(self.session)  # home shows the new tiles
            return IdlePhase.ACTIVE, self.idle.timeout
        phase, left = self.idle.phase()
        if phase is IdlePhase.EXPIRED:
            self.end(EndReason.TIMEOUT)
        return phase, left

    # -- navigation -------------------------------------------------------------------------
    def open_item(self, item_id: str) -> ServiceItem:
        item = self.catalogue.get(item_id)
        self.session.item = item
        self.session.go(Step.GUIDE)
        return item

    def open_query(self) -> None:
        """The query typed by hand: nothing scanned earlier in the session is filled in."""
        self.session.query_receipt = self.session.query_token = ""
        self.session.go(Step.QUERY)

    # -- codes held up to the camera ----------------------------------------------------------
    def open_scan(self) -> None:
        self.session.go(Step.SCAN)

    def read_code(self, read: CodeRead) -> Classified:
        """What a code is. Only our receipts and the hall's appointment codes lead anywhere from
        the scan screen; anything else is shown and not acted on."""
        found = classify(read, self.code_rules)
        log.info("session %s: code read: %s %s", self.session.session_id, read.format, found.kind.value)
        return found

    def follow_receipt(self, found: Classified) -> None:
        """A receipt QR: on to the progress query with its number filled in, and with the link's
        token, which answers without the ID tail (a bare number still needs it)."""
        if found.kind is not CodeKind.RECEIPT:
            raise SessionError(found.kind.value, code="scan.not_actionable")
        self.session.query_receipt = found.value
        self.session.query_token = found.token
        self.session.go(Step.QUERY)

    def lookup_appointment(self, found: Classified) -> dict[str, Any]:
        """Blocking: what the hall booked under this code (hall.not_found if it knows none)."""
        if found.kind not in (CodeKind.APPOINTMENT, CodeKind.PREREVIEW):
            raise SessionError(found.kind.value, code="scan.not_actionable")
        return self.hall.appointment(found.value, session_id=self.session.session_id)

    def open_appointment(self, appointment: dict[str, Any]) -> ServiceItem:
        """UI thread: the booked item's guide; the code goes with the application."""
        item = self.open_item(str(appointment["item_id"]))
        self.session.appointment = str(appointment["code"])
        return item

    def open_help(self) -> None:
        if self.session.step is not Step.HELP:
            self.session.go(Step.HELP)

    def close_help(self) -> None:
        self.session.leave_help()
        if self.session.step is Step.HOME:
            self.idle.touch()

    def back(self) -> None:
        """One step back along the journey; from the first step, end the session."""
        step = self.session.step
        if step is Step.REVIEW and self.frozen:
            raise SessionError("submission attempted", code="review.frozen")
        if step in (Step.GUIDE, Step.QUERY, Step.SCAN):
            self.end(EndReason.CANCELLED)
        elif step is Step.FORM:
            self.session.go(Step.IDENTIFY if self.item.needs_card else Step.GUIDE)
        elif step in _BACK:
            self.session.go(_BACK[step])
        else:
            raise SessionError(f"no way back from {step}", code="error.session")

    @property
    def frozen(self) -> bool:
        """Once a submission was attempted the application may already be at the hall: it can be
        retried as it is, or the session cancelled, but not edited (the hall would see two
        different applications under one receipt number)."""
        return bool(self.session.receipt_no)

    def start_item(self) -> None:
        """Begin an application; refused while the disk has no room to keep one (storage.full)."""
        if not self.outbox.has_room():
            raise SessionError("no room for another application", code="storage.full")
        self.session.go(Step.IDENTIFY if self.item.needs_card else Step.FORM)

    def accept_identity(self, identity: Identity) -> None:
        """A card was read: fill the form from it and move on to the form."""
        if self.session.step is not Step.IDENTIFY:
            raise SessionError("not waiting for a card", code="error.session")
        self.session.identity = identity
        known = identity.field_values()
        for form_field in self.item.fields:
            if form_field.prefill and known.get(form_field.prefill):
                self.session.values[form_field.id] = normalise(form_field, known[form_field.prefill])
            elif form_field.default and form_field.id not in self.session.values:
                self.session.values[form_field.id] = form_field.default
        self.session.go(Step.FORM)

    # -- form -------------------------------------------------------------------------------
    def set_value(self, field_id: str, value: str) -> str | None:
        """Store what the citizen typed (even if wrong, so they can fix it); return its problem."""
        form_field = next((f for f in self.item.fields if f.id == field_id), None)
        if form_field is None:
            raise SessionError(field_id, code="error.session")
        self.session.values[field_id] = normalise(form_field, value)
        return validate(form_field, value, self._now().date())

    def problems(self) -> dict[str, str]:
        today = self._now().date()
        found = {}
        for form_field in self.item.fields:
            problem = validate(form_field, self.session.values.get(form_field.id, ""), today)
            if problem:
                found[form_field.id] = problem
        return found

    def to_materials(self) -> None:
        if self.problems():
            raise SessionError("form has errors", code="form.has_errors")
        self.session.go(Step.MATERIALS)

    # -- materials --------------------------------------------------------------------------
    def add_page(self, material_id: str, frame: Frame) -> int:
        material = self.item.material(material_id)
        pages = self.session.pages.setdefault(material_id, [])
        if len(pages) >= material.max_pages:
            raise SessionError(material_id, code="materials.too_many_pages", max=material.max_pages)
        pages.append(Page(bytearray(frame.jpeg), frame.width, frame.height))
        return len(pages)

    def replace_page(self, material_id: str, index: int, frame: Frame) -> None:
        page = self.session.pages[material_id][index]
        page.jpeg[:] = bytes(len(page.jpeg))
        self.session.pages[material_id][index] = Page(bytearray(frame.jpeg), frame.width, frame.height)

    def remove_page(self, material_id: str, index: int) -> None:
        page = self.session.pages[material_id].pop(index)
        page.jpeg[:] = bytes(len(page.jpeg))

    def page_count(self, material_id: str) -> int:
        return len(self.session.pages.get(material_id, []))

    def missing_materials(self) -> list[Material]:
        return [m for m in self.item.materials if m.required and not self.page_count(m.id)]

    def to_review(self) -> None:
        if self.missing_materials():
            raise SessionError("materials missing", code="materials.missing")
        self.session.go(Step.REVIEW)

    # -- review and submit ------------------------------------------------------------------
    def give_consent(self, agreed: bool) -> None:
        self.session.consent = agreed

    def begin_submit(self) -> Submission:
        """UI thread: freeze what is sent. The receipt number and the submission time are made
        here, once per session, so a retry after a failure sends the very same application and
        the hall can deduplicate it (a changed time would make the hall refuse it as a conflict)."""
        if self.session.step is not Step.REVIEW:
            raise SessionError("not on review", code="error.session")
        if not self.session.consent:
            raise SessionError("no consent", code="review.consent_required")
        if not self.session.receipt_no:
            now = self._now()
            self.session.receipt_no = self.numbers.next(now.date())
            self.session.submitted_at = now.timestamp()
        submission = self._submission()
        self.session.go(Step.SUBMITTING)
        return submission

    def _submission(self) -> Submission:
        """Raises HallError hall.rejected for an application the hall would refuse (kiosk.core.protocol)."""
        item = self.item
        pages = [
            (material_id, index + 1, bytes(page.jpeg))
            for material_id, material_pages in self.session.pages.items()
            for index, page in enumerate(material_pages)
        ]
        try:
            application = protocol.wire(self._application())
        except ValidationError as exc:
            log.error("session %s: application not valid: %s", self.session.session_id, protocol.refusal(exc))
            raise HallError(protocol.refusal(exc), code="hall.rejected") from None
        pdfs = [
            (
                m.id,
                pdf_from_jpegs(
                    [PdfPage(bytes(p.jpeg), p.width, p.height, m.size_mm) for p in self.session.pages[m.id]]
                ),
            )
            for m in item.materials
            if self.page_count(m.id)
        ]
        return Submission(application, pages, pdfs)

    def _application(self) -> protocol.Application:
        """The application as the hall receives it (Application's wire form leaves out an absent appointment)."""
        item, identity = self.item, self.session.identity
        applicant = applicant_record(identity) if identity is not None else {}
        for key in ("name", "id_number"):
            if self.session.values.get(key):
                applicant[key] = self.session.values[key]
        submitted_at = dt.datetime.fromtimestamp(self.session.submitted_at).astimezone()
        appointment = {"appointment": self.session.appointment} if self.session.appointment else {}
        return protocol.Application(
            receipt_no=self.session.receipt_no,
            terminal_id=self.terminal.id,
            session_id=self.session.session_id,
            item_id=item.id,
            item_name=item.name,
            submitted_at=submitted_at.isoformat(timespec="seconds"),
            applicant=protocol.Applicant(**applicant),
            form=dict(self.session.values),
            materials=[
                protocol.Material(id=m.id, name=m.name, pages=self.page_count(m.id))
                for m in item.materials
                if self.page_count(m.id)
            ],
            **appointment,
        )

    def send_submission(self, submission: Submission) -> bool:
        """Blocking: into the outbox, sealed and on disk before anything says "submitted"; from
        there it reaches the hall whatever happens. Then a short wait for the hall to commit it:
        True if it did, False if it waits in the outbox (the receipt says 待上传). Raises
        KioskError (storage.full, …) when it could not be kept: nothing is lost, the citizen
        stays on review with everything."""
        application = submission.application
        self.outbox.enqueue(application["receipt_no"], application, submission.parts())
        self.uploader.wake()
        return self.uploader.wait_delivered(application["receipt_no"], self.delivery_wait_s)

    def finish_submit(self, error: KioskError | None, delivered: bool = True) -> None:
        """UI thread: kept (error None; `delivered` says whether the hall has it yet) or not kept
        (back to review, data kept)."""
        if error is None:
            self.session.offline = not delivered
            self.session.go(Step.RECEIPT)
        else:
            log.warning("session %s: submission not kept: %s", self.session.session_id, error.code)
            self.session.go(Step.REVIEW)

    def submit(self) -> bool:
        """The three submit steps in one, for tests and command-line use: whether the hall has it."""
        submission = self.begin_submit()
        try:
            delivered = self.send_submission(submission)
        except KioskError as exc:
            self.finish_submit(exc)
            raise
        self.finish_submit(None, delivered)
        return delivered

    # -- papers -----------------------------------------------------------------------------
    def query_progress(self, receipt_no: str, id_tail: str = "", token: str = "") -> dict[str, Any]:
        """Blocking: the hall's answer to a progress query, by the ID tail or a receipt link's token.
        HallError as the client raises it, except the hall's lock after too many wrong tries, which is
        query.locked with the minutes left."""
        try:
            return self.hall.progress(receipt_no, id_tail=id_tail, token=token, session_id=self.session.session_id)
        except HallError as exc:
            if exc.params.get("server_code") != protocol.HallErrorCode.PROGRESS_LOCKED:
                raise
            minutes = max(1, -(-int(exc.params.get("retry_after") or 900) // 60))
            raise KioskError("too many tries for this receipt number", code="query.locked", minutes=minutes) from None

    def progress_url(self) -> str:
        return self.terminal.progress_link(self.session.receipt_no)

    def receipt_document(self) -> Document:
        if not self.session.receipt_no:
            raise SessionError("nothing submitted", code="error.session")
        name = self.session.values.get("name") or (self.session.identity.name if self.session.identity else "")
        id_number = self.session.values.get("id_number") or (
            self.session.identity.id_number if self.session.identity else ""
        )
        return papers.acceptance_receipt(
            messages=self.messages,
            item=self.item,
            receipt_no=self.session.receipt_no,
            applicant_name=name,
            id_number=id_number,
            submitted_at=dt.datetime.fromtimestamp(self.session.submitted_at or self._now().timestamp()),
            materials=[(m.name, self.page_count(m.id)) for m in self.item.materials if self.page_count(m.id)],
            hall_name=self.terminal.hall_name,
            terminal_id=self.terminal.id,
            progress_url=self.progress_url(),
            offline=self.session.offline,
        )

    def checklist_document(self, item_id: str | None = None, *, only_missing: bool = False) -> Document:
        """一次性告知单: the item's whole checklist, or exactly what this citizen still lacks."""
        item = self.catalogue.get(item_id) if item_id else self.item
        missing = [m.id for m in self.missing_materials()] if only_missing else None
        return papers.checklist(
            item, messages=self.messages, hall_name=self.terminal.hall_name, printed_at=self._now(), missing=missing
        )

    def progress_document(self, answer: dict[str, Any]) -> Document:
        """办件查询结果: the hall's answer to a progress query, on paper."""
        return papers.progress_result(
            messages=self.messages,
            answer=answer,
            hall_name=self.terminal.hall_name,
            printed_at=self._now(),
            terminal_id=self.terminal.id,
        )

    def progress_job_id(self, answer: dict[str, Any]) -> str:
        """One print of a result per session and receipt: a second tap does not print it twice."""
        return f"{self.session.session_id}-progress-{answer.get('receipt_no', '')}"

    def print_document(self, document: Document, job_id: str, timeout: float = 30.0) -> PrintResult:
        """Blocking. The job id makes a retry safe: a printer never prints one job twice."""
        if self.printer is None:
            raise SessionError("no printer", code="printer.not_configured")
        return self.printer.print_document(document, job_id, timeout)

    def receipt_job_id(self) -> str:
        return f"{self.session.receipt_no}-receipt"

    # -- rating -----------------------------------------------------------------------------
    def to_rating(self) -> None:
        self.session.go(Step.RATING)

    def rating_payload(self, level: int, reasons: list[str], comment: str = "") -> dict[str, Any]:
        """The rating as the hall receives it (kiosk.core.protocol.Rating); rating.invalid for one it would refuse."""
        if level not in RATING_LEVELS:
            raise SessionError(str(level), code="rating.invalid")
        try:
            rating = protocol.Rating(
                receipt_no=self.session.receipt_no or None,
                item_id=self.item.id,
                terminal_id=self.terminal.id,
                session_id=self.session.session_id,
                level=level,
                reasons=reasons,
                comment=comment,
            )
        except ValidationError as exc:
            raise SessionError(protocol.refusal(exc), code="rating.invalid") from None
        self.session.rating = level
        return protocol.wire(rating)

    def send_rating(self, payload: dict[str, Any]) -> None:
        """Into the outbox, which the uploader drains: a rating made while the hall is away still
        arrives, and the citizen is not kept waiting. A full disk loses the rating, never the
        citizen's time: it is logged and the thanks are said all the same."""
        try:
            self.outbox.enqueue_rating(payload)
        except KioskError as exc:
            log.warning("session %s: rating not kept: %s", payload["session_id"], exc.code)
            return
        self.uploader.wake()

    def rate(self, level: int, reasons: list[str], comment: str = "") -> None:
        self.send_rating(self.rating_payload(level, reasons, comment))
        self.end(EndReason.DONE)
