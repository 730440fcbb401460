"""Applications: opened with their manifest, committed once every part is there, then moved through
their states by staff, each step on the timeline (docs/submission-protocol.md).

An application comes in steps: opened (state "open", seen by no one; `open_application`), its parts
uploaded as resumable blobs (hall.store.blobs), then committed (`commit_application`).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hall.store.blobs import DocumentFiles
from hall.store.engine import ConflictError, StorePart, insert, utc_now
from hall.store.tables import applications, documents, events

RECEIVED = "received"  # 受理: the first state of every application
# The states staff may move an application to (POST /v1/applications/{receipt_no}/events), from which.
TRANSITIONS: dict[str, tuple[str, ...]] = {
    RECEIVED: ("reviewing",),
    "reviewing": ("approved", "rejected"),
    "approved": ("mailed",),
}
OPEN = "open"  # created by a terminal, parts still coming: visible to no one until committed


class IncompleteError(Exception):
    """A commit before every part has arrived."""

    def __init__(self, missing: list[str]) -> None:
        super().__init__(f"{len(missing)} part(s) missing")
        self.missing = missing


class TransitionError(Exception):
    """A state change the application's current state does not allow (see TRANSITIONS)."""


@dataclass(frozen=True)
class Document:
    """One part of an application: a page image, or page 0 for a material's PDF."""

    material_id: str
    page: int
    content_type: str
    sha256: str
    size: int


@dataclass(frozen=True)
class Submission:
    """An application as the submission protocol sees it: whose, how far, made of what."""

    receipt_no: str
    terminal_id: str
    state: str  # OPEN, or the state of a committed application (RECEIVED, …)
    received_at: str
    documents: list[Document]

    @property
    def committed(self) -> bool:
        return self.state != OPEN


def _fingerprint(application: dict[str, Any], docs: list[Document]) -> str:
    doc_keys = sorted((d.material_id, d.page, d.sha256) for d in docs)
    canonical = json.dumps(
        {"application": application, "documents": doc_keys},
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


# What staff and citizens may see: an application still open is not there yet.
VISIBLE = applications.c.state != OPEN


def timeline(conn: Connection, receipt_no: str, with_staff: bool) -> list[dict[str, Any]]:
    """Oldest first; `with_staff` adds who made each change (the staff view only, never the citizen's)."""
    rows = conn.execute(
        sa.select(events.c.state, events.c.at, events.c.note, events.c.staff)
        .where(events.c.receipt_no == receipt_no)
        .order_by(events.c.id)
    ).all()
    return [{"state": e.state, "at": e.at, "note": e.note, **({"staff": e.staff} if with_staff else {})} for e in rows]


class ApplicationStore(StorePart):
    """Applications, their documents and their timeline; the page files they are made of."""

    files: DocumentFiles

    def open_application(self, application: dict[str, Any], docs: list[Document]) -> Literal["created", "duplicate"]:
        """Record an application and the documents it is made of, visible to no one until committed.

        "duplicate" when the receipt number holds this very application (open or committed);
        ConflictError when it holds a different one.
        """
        fingerprint = _fingerprint(application, docs)
        receipt_no = application["receipt_no"]
        # Insert first rather than look first: the primary key settles a race between two identical
        # retries. On a conflict PostgreSQL waits for the other transaction to end, so the row read
        # next (a new snapshot per statement) is the committed one; SQLite serialises writers.
        with self.engine.begin() as conn:
            inserted = conn.execute(
                insert(conn, applications)
                .values(
                    receipt_no=receipt_no,
                    terminal_id=application["terminal_id"],
                    session_id=application["session_id"],
                    item_id=application["item_id"],
                    item_name=application["item_name"],
                    submitted_at=application["submitted_at"],
                    received_at=utc_now(),  # set again at commit, when the hall has everything
                    state=OPEN,
                    id_tail=application["applicant"]["id_number"][-6:].upper(),
                    applicant=application["applicant"],
                    form=application["form"],
                    materials=application["materials"],
                    appointment=application.get("appointment"),
                    fingerprint=fingerprint,
                    manifest=[asdict(d) for d in docs],
                )
                .on_conflict_do_nothing(index_elements=[applications.c.receipt_no])
                .returning(applications.c.receipt_no)
            ).first()
            if inserted is not None:
                return "created"
            stored = conn.execute(
                sa.select(applications.c.fingerprint).where(applications.c.receipt_no == receipt_no)
            ).scalar_one_or_none()
        if stored is None:  # the row that conflicted is gone again: nothing in the hall deletes applications
            raise RuntimeError("application vanished while being stored")
        if stored != fingerprint:
            raise ConflictError(receipt_no)
        return "duplicate"

    def submission(self, receipt_no: str) -> Submission | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(
                    applications.c.terminal_id,
                    applications.c.state,
                    applications.c.received_at,
                    applications.c.manifest,
                ).where(applications.c.receipt_no == receipt_no)
            ).first()
            if row is None:
                return None
            if row.state == OPEN:
                docs = [Document(**d) for d in row.manifest]
            else:  # the documents table is the record (rows older than the manifest column have none)
                stored = conn.execute(
                    sa.select(
                        documents.c.material_id,
                        documents.c.page,
                        documents.c.content_type,
                        documents.c.sha256,
                        documents.c.size,
                    )
                    .where(documents.c.receipt_no == receipt_no)
                    .order_by(documents.c.material_id, documents.c.page)
                ).all()
                docs = [Document(**d._mapping) for d in stored]
        return Submission(receipt_no, row.terminal_id, row.state, row.received_at, docs)

    def missing(self, submission: Submission) -> list[str]:
        """SHA-256 of the parts the hall does not yet hold complete, each once, in manifest order."""
        if submission.committed:
            return []
        missing = [d.sha256 for d in submission.documents if not self._complete(d.sha256)]
        return list(dict.fromkeys(missing))

    def received(self, submission: Submission) -> dict[str, int]:
        """SHA-256 → bytes the hall holds, for every part of the manifest."""
        received = {}
        for d in submission.documents:
            state = self.files.blob_state(d.sha256)
            received[d.sha256] = 0 if state is None else state.received
        return received

    def _complete(self, sha256: str) -> bool:
        state = self.files.blob_state(sha256)
        return state is not None and state.complete

    def commit_application(self, submission: Submission) -> None:
        """Make an open application whole and visible: documents, state received, the first timeline entry.

        Raises IncompleteError when a part has not fully arrived; ConflictError when a part's
        declared size is not its content's. Committing a committed application does nothing.
        """
        missing = self.missing(submission)
        if missing:
            raise IncompleteError(missing)
        if submission.committed:
            return
        for d in submission.documents:
            if self.files.path(d.sha256).stat().st_size != d.size:
                raise ConflictError(submission.receipt_no)
        now = utc_now()
        receipt_no = submission.receipt_no
        with self.engine.begin() as conn:
            flipped = conn.execute(
                applications.update()
                .where(applications.c.receipt_no == receipt_no, applications.c.state == OPEN)
                .values(state=RECEIVED, received_at=now)
            ).rowcount
            if not flipped:  # a concurrent commit got there first
                return
            if submission.documents:
                conn.execute(
                    documents.insert(), [{"receipt_no": receipt_no, **asdict(d)} for d in submission.documents]
                )
            conn.execute(events.insert().values(receipt_no=receipt_no, state=RECEIVED, at=now, note="自助终端提交"))

    def application(self, receipt_no: str) -> dict[str, Any] | None:
        """The staff view of one application, with documents and timeline."""
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(applications).where(applications.c.receipt_no == receipt_no, VISIBLE)).first()
            if row is None:
                return None
            docs = conn.execute(
                sa.select(documents)
                .where(documents.c.receipt_no == receipt_no)
                .order_by(documents.c.material_id, documents.c.page)
            ).all()
            history = timeline(conn, receipt_no, with_staff=True)
        return {
            "receipt_no": row.receipt_no,
            "item_id": row.item_id,
            "item_name": row.item_name,
            "terminal_id": row.terminal_id,
            "session_id": row.session_id,
            "state": row.state,
            "submitted_at": row.submitted_at,
            "received_at": row.received_at,
            "form": row.form,
            "applicant": row.applicant,
            "materials": row.materials,
            "appointment": row.appointment,
            "documents": [
                {
                    "material_id": d.material_id,
                    "page": d.page,
                    "sha256": d.sha256,
                    "size": d.size,
                    "content_type": d.content_type,
                }
                for d in docs
            ],
            "timeline": history,
        }

    def list_applications(
        self, limit: int, offset: int, state: str | None = None, receipt_prefix: str | None = None
    ) -> tuple[list[dict[str, Any]], int]:
        """Newest first, optionally only in one state or with receipt numbers starting so.

        Returns (page of items, total count).
        """
        where = [VISIBLE]
        if state:
            where.append(applications.c.state == state)
        if receipt_prefix:
            where.append(applications.c.receipt_no.startswith(receipt_prefix, autoescape=True))
        with self.engine.connect() as conn:
            total = conn.execute(sa.select(sa.func.count()).select_from(applications).where(*where)).scalar_one()
            rows = conn.execute(
                sa.select(
                    applications.c.receipt_no,
                    applications.c.item_id,
                    applications.c.item_name,
                    applications.c.terminal_id,
                    applications.c.state,
                    applications.c.submitted_at,
                    applications.c.received_at,
                )
                .where(*where)
                .order_by(applications.c.received_at.desc(), applications.c.receipt_no.desc())
                .limit(limit)
                .offset(offset)
            ).all()
            by_receipt: dict[str, list[dict[str, Any]]] = {r.receipt_no: [] for r in rows}
            if by_receipt:
                docs = conn.execute(
                    sa.select(
                        documents.c.receipt_no,
                        documents.c.material_id,
                        documents.c.page,
                        documents.c.sha256,
                        documents.c.size,
                    )
                    .where(documents.c.receipt_no.in_(list(by_receipt)))
                    .order_by(documents.c.material_id, documents.c.page)
                ).all()
                for d in docs:
                    by_receipt[d.receipt_no].append(
                        {"material_id": d.material_id, "page": d.page, "sha256": d.sha256, "size": d.size}
                    )
        items = [
            {
                "receipt_no": r.receipt_no,
                "item_id": r.item_id,
                "item_name": r.item_name,
                "terminal_id": r.terminal_id,
                "state": r.state,
                "submitted_at": r.submitted_at,
                "received_at": r.received_at,
                "documents": by_receipt[r.receipt_no],
            }
            for r in rows
        ]
        return items, total

    def document(self, receipt_no: str, material_id: str, page: int) -> tuple[Path, str] | None:
        """(file path, content type) of one page, or None if the application has no such page."""
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(documents.c.sha256, documents.c.content_type).where(
                    documents.c.receipt_no == receipt_no,
                    documents.c.material_id == material_id,
                    documents.c.page == page,
                )
            ).first()
        if row is None:
            return None
        return self.files.path(row.sha256), row.content_type

    def change_state(self, receipt_no: str, state: str, note: str, staff_name: str) -> dict[str, Any] | None:
        """Move a committed application to `state` as TRANSITIONS allow, with a timeline entry.

        Returns the entry; None when there is no such (committed) application; raises TransitionError
        when its current state does not lead to `state`.
        """
        sources = [source for source, targets in TRANSITIONS.items() if state in targets]
        now = utc_now()
        with self.engine.begin() as conn:
            # The state checked and changed in one statement: of two staff deciding at once, one wins.
            moved = conn.execute(
                applications.update()
                .where(applications.c.receipt_no == receipt_no, applications.c.state.in_(sources))
                .values(state=state)
            ).rowcount
            if not moved:
                found = conn.execute(
                    sa.select(applications.c.receipt_no).where(applications.c.receipt_no == receipt_no, VISIBLE)
                ).first()
                if found is None:
                    return None
                raise TransitionError(receipt_no)
            conn.execute(
                events.insert().values(receipt_no=receipt_no, state=state, at=now, note=note, staff=staff_name)
            )
        return {"receipt_no": receipt_no, "state": state, "at": now, "note": note, "staff": staff_name}
