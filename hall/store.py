"""The hall's storage: SQLAlchemy Core tables (SQLite now, PostgreSQL later) and page files.

Page images live as files named by their SHA-256 (content-addressed): a page sent twice is stored
once, and a file's name proves its content. The database holds what refers to them.
Everything here takes already-validated plain data; HTTP and validation live in hall.app.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Literal

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

RECEIVED = "received"  # 受理: the first state of every application
# The shape of a receipt number the hall accepts (the terminal's format, loosely). hall.app checks
# submissions against it and hall.pages the progress page's URL.
RECEIPT_PATTERN = r"^[A-Z0-9-]{8,40}$"

metadata = sa.MetaData()

applications = sa.Table(
    "applications",
    metadata,
    sa.Column("receipt_no", sa.String(40), primary_key=True),
    sa.Column("terminal_id", sa.String(64), nullable=False),
    sa.Column("session_id", sa.String(128), nullable=False),
    sa.Column("item_id", sa.String(128), nullable=False),
    sa.Column("item_name", sa.Text, nullable=False),
    sa.Column("submitted_at", sa.String(40), nullable=False),  # as the terminal sent it
    sa.Column("received_at", sa.String(40), nullable=False),  # ISO-8601 UTC, sorts as text
    sa.Column("state", sa.String(32), nullable=False),
    # Upper-cased last 6 characters of the ID number: the progress query checks only this, so it
    # keeps working once the applicant record is encrypted at rest.
    sa.Column("id_tail", sa.String(6), nullable=False),
    sa.Column("applicant", sa.JSON, nullable=False),
    sa.Column("form", sa.JSON, nullable=False),
    sa.Column("materials", sa.JSON, nullable=False),
    sa.Column("appointment", sa.String(32), nullable=True),  # the appointment code it was made under
    # SHA-256 over the application and its page hashes: tells a retry from a different submission.
    sa.Column("fingerprint", sa.String(64), nullable=False),
)

documents = sa.Table(
    "documents",
    metadata,
    sa.Column(
        "receipt_no",
        sa.String(40),
        sa.ForeignKey("applications.receipt_no", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("material_id", sa.String(128), primary_key=True),
    sa.Column("page", sa.Integer, primary_key=True),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("size", sa.Integer, nullable=False),
    sa.Column("content_type", sa.String(100), nullable=False),
)

events = sa.Table(
    "events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "receipt_no",
        sa.String(40),
        sa.ForeignKey("applications.receipt_no", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    sa.Column("state", sa.String(32), nullable=False),
    sa.Column("at", sa.String(40), nullable=False),
    sa.Column("note", sa.Text, nullable=False, default=""),  # shown to the citizen: no personal data
)

ratings = sa.Table(
    "ratings",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("receipt_no", sa.String(40), nullable=True, index=True),  # no FK: may arrive first
    sa.Column("item_id", sa.String(128), nullable=False),
    sa.Column("terminal_id", sa.String(64), nullable=False),
    sa.Column("session_id", sa.String(128), nullable=False),
    sa.Column("level", sa.Integer, nullable=False),
    sa.Column("reasons", sa.JSON, nullable=False),
    sa.Column("comment", sa.Text, nullable=False),
    sa.Column("received_at", sa.String(40), nullable=False),
    # One rating per citizen session: a retried POST must not count twice.
    sa.UniqueConstraint("terminal_id", "session_id", name="uq_ratings_session"),
)


appointments = sa.Table(
    "appointments",
    metadata,
    # Made by the hall's booking or pre-review (预审) system; the terminal looks them up by the code
    # the citizen shows. No personal data: anyone holding the code may see what it is for.
    sa.Column("code", sa.String(32), primary_key=True),
    sa.Column("kind", sa.String(16), nullable=False),  # "appointment" | "prereview"
    sa.Column("item_id", sa.String(128), nullable=False),
    sa.Column("slot", sa.String(40), nullable=False, default=""),  # booked time, ISO-8601; "" for pre-review
    sa.Column("created_at", sa.String(40), nullable=False),
)


class ConflictError(Exception):
    """The key (receipt number, rating session) is taken by different content."""


def utc_now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")


def make_engine(db_url: str) -> Engine:
    """An engine with the schema created. SQLite gets WAL and a busy timeout for concurrent requests."""
    url = sa.make_url(db_url)
    if url.get_backend_name() != "sqlite":
        engine = sa.create_engine(db_url, pool_pre_ping=True)
    else:
        if url.database and url.database != ":memory:":
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(db_url)

        @sa.event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=FULL")  # an acknowledged application survives power loss
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=5000")
            cur.close()

    metadata.create_all(engine)
    _add_missing_columns(engine)
    return engine


def _add_missing_columns(engine: Engine) -> None:
    """create_all makes missing tables, not missing columns: add nullable ones a newer version
    brought, so an existing hall database keeps working (a real migration tool is issue 6's)."""
    inspector = sa.inspect(engine)
    with engine.begin() as conn:
        for table in metadata.sorted_tables:
            present = {c["name"] for c in inspector.get_columns(table.name)}
            for column in table.columns:
                if column.name not in present and column.nullable:
                    kind = column.type.compile(engine.dialect)
                    conn.execute(sa.text(f'ALTER TABLE {table.name} ADD COLUMN "{column.name}" {kind}'))


@dataclass(frozen=True)
class StagedFile:
    """A page written to a temporary file and hashed, not yet under its content name."""

    sha256: str
    size: int
    tmp_path: Path


class DocumentFiles:
    """Content-addressed page files: <dir>/<sha[:2]>/<sha>. The fan-out keeps directories small."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._tmp = self.root / "tmp"
        self._tmp.mkdir(parents=True, exist_ok=True)

    def path(self, sha256: str) -> Path:
        return self.root / sha256[:2] / sha256

    def stage(self, source: BinaryIO, chunk_size: int = 1 << 16) -> StagedFile:
        """Copy `source` to a temporary file while hashing it."""
        digest = hashlib.sha256()
        size = 0
        fd, name = tempfile.mkstemp(dir=self._tmp, suffix=".part")
        try:
            with os.fdopen(fd, "wb") as out:
                while chunk := source.read(chunk_size):
                    digest.update(chunk)
                    size += len(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
        except BaseException:
            os.unlink(name)
            raise
        return StagedFile(digest.hexdigest(), size, Path(name))

    def commit(self, staged: StagedFile) -> None:
        """Move a staged file under its content name (atomic; a file already there is identical)."""
        final = self.path(staged.sha256)
        if final.exists():
            staged.tmp_path.unlink(missing_ok=True)
            return
        final.parent.mkdir(exist_ok=True)
        os.replace(staged.tmp_path, final)

    def discard(self, staged: StagedFile) -> None:
        staged.tmp_path.unlink(missing_ok=True)


@dataclass(frozen=True)
class PageUpload:
    material_id: str
    page: int
    content_type: str
    file: StagedFile


def _fingerprint(application: dict[str, Any], pages: list[PageUpload]) -> str:
    doc_keys = sorted((p.material_id, p.page, p.file.sha256) for p in pages)
    canonical = json.dumps(
        {"application": application, "documents": doc_keys},
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


class Store:
    """The hall's state. Thread-safe: every call takes its own connection from the pool."""

    def __init__(self, db_url: str, documents_dir: Path) -> None:
        self.engine = make_engine(db_url)
        self.files = DocumentFiles(documents_dir)

    def dispose(self) -> None:
        self.engine.dispose()

    # -- applications -------------------------------------------------------------------------

    def submit_application(
        self, application: dict[str, Any], pages: list[PageUpload]
    ) -> tuple[Literal["created", "duplicate"], dict[str, Any]]:
        """Store a new application, or recognise a retry of one already stored.

        Returns ("created" | "duplicate", {"receipt_no", "state", "received_at"}); raises ConflictError
        when the receipt number is stored with different content. The staged files are always
        either moved into place or removed.
        """
        fingerprint = _fingerprint(application, pages)
        receipt_no = application["receipt_no"]
        now = utc_now()
        try:
            # Insert first rather than look first: the write takes the database's write lock
            # at once, and the primary key settles a race between two identical retries.
            with self.engine.begin() as conn:
                conn.execute(
                    applications.insert().values(
                        receipt_no=receipt_no,
                        terminal_id=application["terminal_id"],
                        session_id=application["session_id"],
                        item_id=application["item_id"],
                        item_name=application["item_name"],
                        submitted_at=application["submitted_at"],
                        received_at=now,
                        state=RECEIVED,
                        id_tail=application["applicant"]["id_number"][-6:].upper(),
                        applicant=application["applicant"],
                        form=application["form"],
                        materials=application["materials"],
                        appointment=application.get("appointment"),
                        fingerprint=fingerprint,
                    )
                )
                if pages:
                    conn.execute(
                        documents.insert(),
                        [
                            {
                                "receipt_no": receipt_no,
                                "material_id": p.material_id,
                                "page": p.page,
                                "sha256": p.file.sha256,
                                "size": p.file.size,
                                "content_type": p.content_type,
                            }
                            for p in pages
                        ],
                    )
                conn.execute(events.insert().values(receipt_no=receipt_no, state=RECEIVED, at=now, note="自助终端提交"))
                # Files go into place before the commit, so a stored row never names a missing file;
                # a failed commit only leaves unreferenced files behind.
                for p in pages:
                    self.files.commit(p.file)
            return "created", {"receipt_no": receipt_no, "state": RECEIVED, "received_at": now}
        except IntegrityError:
            with self.engine.connect() as conn:
                row = conn.execute(
                    sa.select(applications.c.fingerprint, applications.c.state, applications.c.received_at).where(
                        applications.c.receipt_no == receipt_no
                    )
                ).first()
            if row is None:  # the integrity error was something else: let it surface as a 500
                raise
            if row.fingerprint != fingerprint:
                raise ConflictError(receipt_no) from None
            return "duplicate", {"receipt_no": receipt_no, "state": row.state, "received_at": row.received_at}
        finally:
            for p in pages:
                self.files.discard(p.file)  # no-op for committed files

    def application(self, receipt_no: str) -> dict[str, Any] | None:
        """The staff view of one application, with documents and timeline."""
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(applications).where(applications.c.receipt_no == receipt_no)).first()
            if row is None:
                return None
            docs = conn.execute(
                sa.select(documents)
                .where(documents.c.receipt_no == receipt_no)
                .order_by(documents.c.material_id, documents.c.page)
            ).all()
            timeline = self._timeline(conn, receipt_no)
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
            "timeline": timeline,
        }

    def list_applications(self, limit: int, offset: int) -> tuple[list[dict[str, Any]], int]:
        """Newest first. Returns (page of items, total count)."""
        with self.engine.connect() as conn:
            total = conn.execute(sa.select(sa.func.count()).select_from(applications)).scalar_one()
            rows = conn.execute(
                sa.select(
                    applications.c.receipt_no,
                    applications.c.item_id,
                    applications.c.item_name,
                    applications.c.state,
                    applications.c.received_at,
                )
                .order_by(applications.c.received_at.desc(), applications.c.receipt_no.desc())
                .limit(limit)
                .offset(offset)
            ).all()
            by_receipt: dict[str, list[dict[str, Any]]] = {r.receipt_no: [] for r in rows}
            if by_receipt:
                docs = conn.execute(
                    sa.select(documents.c.receipt_no, documents.c.material_id, documents.c.page, documents.c.sha256)
                    .where(documents.c.receipt_no.in_(list(by_receipt)))
                    .order_by(documents.c.material_id, documents.c.page)
                ).all()
                for d in docs:
                    by_receipt[d.receipt_no].append({"material_id": d.material_id, "page": d.page, "sha256": d.sha256})
        items = [
            {
                "receipt_no": r.receipt_no,
                "item_id": r.item_id,
                "item_name": r.item_name,
                "state": r.state,
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

    def progress(self, receipt_no: str, id_tail: str) -> dict[str, Any] | None:
        """The citizen's view: None both for an unknown number and a wrong tail (no probing)."""
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(
                    applications.c.receipt_no,
                    applications.c.item_name,
                    applications.c.state,
                    applications.c.id_tail,
                ).where(applications.c.receipt_no == receipt_no)
            ).first()
            if row is None or not hmac.compare_digest(row.id_tail, id_tail.upper()):
                return None
            timeline = self._timeline(conn, receipt_no)
        return {
            "receipt_no": row.receipt_no,
            "item_name": row.item_name,
            "state": row.state,
            "timeline": timeline,
        }

    @staticmethod
    def _timeline(conn: Connection, receipt_no: str) -> list[dict[str, Any]]:
        rows = conn.execute(
            sa.select(events.c.state, events.c.at, events.c.note)
            .where(events.c.receipt_no == receipt_no)
            .order_by(events.c.id)
        ).all()
        return [{"state": e.state, "at": e.at, "note": e.note} for e in rows]

    # -- ratings (好差评) ------------------------------------------------------------------------

    _RATING_CONTENT = ("receipt_no", "item_id", "level", "reasons", "comment")

    def add_rating(self, rating: dict[str, Any]) -> tuple[Literal["created", "duplicate"], dict[str, Any]]:
        """Store a rating; the same session rating again with the same content is a retry."""
        now = utc_now()
        try:
            with self.engine.begin() as conn:
                result = conn.execute(ratings.insert().values(**rating, received_at=now))
                rating_id = result.inserted_primary_key[0]
            return "created", {"id": rating_id, "received_at": now}
        except IntegrityError:
            with self.engine.connect() as conn:
                row = conn.execute(
                    sa.select(ratings).where(
                        ratings.c.terminal_id == rating["terminal_id"],
                        ratings.c.session_id == rating["session_id"],
                    )
                ).first()
            if row is None:
                raise
            stored = row._mapping
            if any(stored[k] != rating[k] for k in self._RATING_CONTENT):
                raise ConflictError(rating["session_id"]) from None
            return "duplicate", {"id": row.id, "received_at": row.received_at}

    def ratings(self, receipt_no: str | None, limit: int, offset: int) -> tuple[list[dict[str, Any]], int]:
        """Newest first, optionally for one receipt number. Returns (page of items, total count)."""
        where = [ratings.c.receipt_no == receipt_no] if receipt_no else []
        with self.engine.connect() as conn:
            total = conn.execute(sa.select(sa.func.count()).select_from(ratings).where(*where)).scalar_one()
            rows = conn.execute(
                sa.select(ratings).where(*where).order_by(ratings.c.id.desc()).limit(limit).offset(offset)
            ).all()
        return [dict(r._mapping) for r in rows], total

    # -- appointments -------------------------------------------------------------------------

    def add_appointment(self, appointment: dict[str, Any]) -> Literal["created", "duplicate"]:
        """Register a code; the same code again with the same content is a retry."""
        try:
            with self.engine.begin() as conn:
                conn.execute(appointments.insert().values(**appointment, created_at=utc_now()))
            return "created"
        except IntegrityError:
            stored = self.appointment(appointment["code"])
            if stored is None or any(stored[k] != v for k, v in appointment.items()):
                raise ConflictError(appointment["code"]) from None
            return "duplicate"

    def appointment(self, code: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(appointments.c.code, appointments.c.kind, appointments.c.item_id, appointments.c.slot).where(
                    appointments.c.code == code
                )
            ).first()
        return dict(row._mapping) if row else None
