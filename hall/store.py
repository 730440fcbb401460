"""The hall's storage: SQLAlchemy Core tables (SQLite, or PostgreSQL with the same code) and page files.

Page images live as files named by their SHA-256 (content-addressed): a page sent twice is stored
once, and a file's name proves its content. The database holds what refers to them.
Everything here takes already-validated plain data; HTTP and validation live in hall.app.

An application comes in steps (docs/submission-protocol.md): opened with its manifest (state "open",
seen by no one; `open_application`), its parts uploaded as resumable blobs (`DocumentFiles`), then
committed (`commit_application`).
"""

from __future__ import annotations

import datetime as dt
import fcntl
import hashlib
import hmac
import json
import math
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, BinaryIO, Literal

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from kiosk.core.signing import receipt_token

RECEIVED = "received"  # 受理: the first state of every application
# The states staff may move an application to (POST /v1/applications/{receipt_no}/events), from which.
TRANSITIONS: dict[str, tuple[str, ...]] = {
    RECEIVED: ("reviewing",),
    "reviewing": ("approved", "rejected"),
    "approved": ("mailed",),
}
OPEN = "open"  # created by a terminal, parts still coming: visible to no one until committed
MAX_BLOB_BYTES = 20 * 1024 * 1024  # one page image or PDF
# The shape of a receipt number the hall accepts (the terminal's format, loosely). hall.app checks
# submissions against it and hall.pages the progress page's URL.
RECEIPT_PATTERN = r"^[A-Z0-9-]{7,39}[A-Z0-9*]$"  # the check character may be "*" (ISO 7064 MOD 37-2)


def _text(length: int) -> sa.types.TypeEngine[str]:
    """VARCHAR(length), compared and sorted byte-wise on PostgreSQL too (COLLATE "C").

    SQLite compares text byte-wise (BINARY); PostgreSQL by the database's locale, which orders
    "A-1" and "A1", "id_card" and "idcard" differently. Keys and sort orders must not depend on how
    the server was installed. SQLite knows no collation "C": the variant keeps its schema as it was.
    """
    return sa.String(length).with_variant(sa.String(length, collation="C"), "postgresql")


metadata = sa.MetaData()

applications = sa.Table(
    "applications",
    metadata,
    sa.Column("receipt_no", _text(40), primary_key=True),
    sa.Column("terminal_id", _text(64), nullable=False),
    sa.Column("session_id", _text(128), nullable=False),
    sa.Column("item_id", _text(128), nullable=False),
    sa.Column("item_name", sa.Text, nullable=False),
    sa.Column("submitted_at", _text(40), nullable=False),  # as the terminal sent it
    sa.Column("received_at", _text(40), nullable=False),  # ISO-8601 UTC, sorts as text
    sa.Column("state", _text(32), nullable=False),
    # Upper-cased last 6 characters of the ID number: the progress query checks only this, so it
    # keeps working once the applicant record is encrypted at rest.
    sa.Column("id_tail", _text(6), nullable=False),
    sa.Column("applicant", sa.JSON, nullable=False),
    sa.Column("form", sa.JSON, nullable=False),
    sa.Column("materials", sa.JSON, nullable=False),
    sa.Column("appointment", _text(32), nullable=True),  # the appointment code it was made under
    # SHA-256 over the application and its page hashes: tells a retry from a different submission.
    sa.Column("fingerprint", _text(64), nullable=False),
    # The documents it is made of ([Document as dict]), written when opened; the documents table
    # gets them at commit. Null in rows older than the stepwise protocol.
    sa.Column("manifest", sa.JSON, nullable=True),
)

documents = sa.Table(
    "documents",
    metadata,
    sa.Column(
        "receipt_no",
        _text(40),
        sa.ForeignKey("applications.receipt_no", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("material_id", _text(128), primary_key=True),
    sa.Column("page", sa.Integer, primary_key=True),
    sa.Column("sha256", _text(64), nullable=False),
    sa.Column("size", sa.Integer, nullable=False),
    sa.Column("content_type", _text(100), nullable=False),
)

events = sa.Table(
    "events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "receipt_no",
        _text(40),
        sa.ForeignKey("applications.receipt_no", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    sa.Column("state", _text(32), nullable=False),
    sa.Column("at", _text(40), nullable=False),
    sa.Column("note", sa.Text, nullable=False, default=""),  # shown to the citizen: no personal data
    sa.Column("staff", _text(64), nullable=True),  # the staff account that made the change (None: the terminal's)
)

ratings = sa.Table(
    "ratings",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("receipt_no", _text(40), nullable=True, index=True),  # no FK: may arrive first
    sa.Column("item_id", _text(128), nullable=False),
    sa.Column("terminal_id", _text(64), nullable=False),
    sa.Column("session_id", _text(128), nullable=False),
    sa.Column("level", sa.Integer, nullable=False),
    sa.Column("reasons", sa.JSON, nullable=False),
    sa.Column("comment", sa.Text, nullable=False),
    sa.Column("received_at", _text(40), nullable=False),
    # One rating per citizen session: a retried POST must not count twice.
    sa.UniqueConstraint("terminal_id", "session_id", name="uq_ratings_session"),
)


appointments = sa.Table(
    "appointments",
    metadata,
    # Made by the hall's booking or pre-review (预审) system; the terminal looks them up by the code
    # the citizen shows. No personal data: anyone holding the code may see what it is for.
    sa.Column("code", _text(32), primary_key=True),
    sa.Column("kind", _text(16), nullable=False),  # "appointment" | "prereview"
    sa.Column("item_id", _text(128), nullable=False),
    sa.Column("slot", _text(40), nullable=False, default=""),  # booked time, ISO-8601; "" for pre-review
    sa.Column("created_at", _text(40), nullable=False),
)


terminals = sa.Table(
    "terminals",
    metadata,
    # The secret each terminal signs its requests with (hall.signing). Written at start from the
    # hall's configuration, so a restart keeps the keys and every hall worker reads the same ones.
    sa.Column("terminal_id", _text(64), primary_key=True),
    sa.Column("key_hex", _text(128), nullable=False),
    sa.Column("created_at", _text(40), nullable=False),
)

nonces = sa.Table(
    "nonces",
    metadata,
    # Nonces of accepted signed requests. The primary key refuses a replay even when it reaches
    # another hall worker; rows older than the replay window are pruned.
    sa.Column("terminal_id", _text(64), primary_key=True),
    sa.Column("nonce", _text(64), primary_key=True),
    # Unix seconds, the hall's clock: FLOAT is double precision on PostgreSQL, REAL (8 bytes) on SQLite.
    sa.Column("seen_at", sa.Float, nullable=False, index=True),
)

progress_failures = sa.Table(
    "progress_failures",
    metadata,
    # Failed progress lookups (Store.lookup_progress), one row per counted key: the receipt number
    # and the caller; and failed staff logins (hall.staff_auth), keyed by the name. Keys are hashed,
    # so the table holds no client addresses or names. Older rows are pruned.
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("key_hash", _text(64), nullable=False),
    sa.Column("at", sa.Float, nullable=False, index=True),  # Unix seconds, the hall's clock
    sa.Index("ix_progress_failures_key_at", "key_hash", "at"),
)

heartbeats = sa.Table(
    "heartbeats",
    metadata,
    # The latest heartbeat of each terminal (hall.terminals), replaced by the next one.
    sa.Column("terminal_id", _text(64), primary_key=True),
    sa.Column("received_at", _text(40), nullable=False),  # ISO-8601 UTC, the hall's clock
    sa.Column("sent_at", _text(40), nullable=False),  # as the terminal sent it
    sa.Column("interval_s", sa.Integer, nullable=False),
    sa.Column("version", _text(40), nullable=False),
    sa.Column("devices", sa.JSON, nullable=False),
    sa.Column("outbox", sa.JSON, nullable=False),
    sa.Column("catalogue_version", _text(64), nullable=True),
    sa.Column("clock_skew_s", sa.Integer, nullable=True),  # how far the terminal's clock is behind the hall's
)


staff = sa.Table(
    "staff",
    metadata,
    # Written at start from the hall's configuration (hall.staff_auth), like the terminals' keys.
    sa.Column("name", _text(64), primary_key=True),
    sa.Column("password_hash", _text(200), nullable=False),  # scrypt$n$r$p$salt$hash
    sa.Column("created_at", _text(40), nullable=False),
)


class ConflictError(Exception):
    """The key (receipt number, rating session) is taken by different content."""


class IncompleteError(Exception):
    """A commit before every part has arrived."""

    def __init__(self, missing: list[str]) -> None:
        super().__init__(f"{len(missing)} part(s) missing")
        self.missing = missing


class TransitionError(Exception):
    """A state change the application's current state does not allow (see TRANSITIONS)."""


class BlobOffsetError(Exception):
    """A chunk that does not start where the hall's copy ends."""

    def __init__(self, received: int) -> None:
        super().__init__(f"the hall has {received} bytes")
        self.received = received


class BlobHashError(Exception):
    """The complete upload does not hash to its name; it has been discarded."""


def utc_now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")


def make_engine(db_url: str) -> Engine:
    """An engine with the schema created: SQLite (a file) or PostgreSQL (`postgresql+psycopg://…`).

    SQLite gets WAL and a busy timeout for concurrent requests; PostgreSQL a pool checked before use
    (a restarted database server costs one failed ping, not a failed request). The schema is
    `metadata.create_all` plus `_add_missing_columns`: additive changes only (a real migration tool
    is issue 6's).
    """
    url = sa.make_url(db_url)
    backend = url.get_backend_name()
    if backend == "postgresql":
        # A hall worker serves up to anyio's 40 threads at once; more waiting beyond the pool is fine.
        engine = sa.create_engine(db_url, pool_pre_ping=True, pool_size=10, max_overflow=20, pool_recycle=1800)
    elif backend == "sqlite":
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
    else:
        raise ValueError(f"unsupported database {backend!r}: use sqlite:/// or postgresql+psycopg://")

    with engine.begin() as conn:
        if backend == "postgresql":
            # Hall workers starting together would race to create the same tables: one at a time.
            # The lock ends with this transaction, and PostgreSQL's DDL is transactional.
            conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_SCHEMA_LOCK)))
        metadata.create_all(conn)
        _add_missing_columns(conn)
    return engine


_SCHEMA_LOCK = 0x4841_4C4C  # "HALL": the advisory lock key for schema changes on PostgreSQL


def _add_missing_columns(conn: Connection) -> None:
    """create_all makes missing tables, not missing columns: add nullable ones a newer version
    brought, so an existing hall database keeps working (a real migration tool is issue 6's)."""
    inspector = sa.inspect(conn)
    quote = conn.dialect.identifier_preparer
    for table in metadata.sorted_tables:
        present = {c["name"] for c in inspector.get_columns(table.name)}
        for column in table.columns:
            if column.name not in present and column.nullable:
                kind = column.type.compile(conn.dialect)
                conn.execute(
                    sa.text(f"ALTER TABLE {quote.format_table(table)} ADD COLUMN {quote.quote(column.name)} {kind}")
                )


def _insert(conn: Connection, table: sa.Table) -> Any:
    """An INSERT for `table` that knows ON CONFLICT (… DO NOTHING / DO UPDATE): SQLite's or PostgreSQL's.

    A conflict that is expected (a retry, a race between two workers) then is no error: PostgreSQL
    would abort the whole transaction on one, and log it. Whether a row went in: add RETURNING and
    look for a row (the psycopg dialect reports no rowcount for an INSERT).
    """
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite  # make_engine allows no other
    return dialect.insert(table)


@dataclass(frozen=True)
class BlobState:
    received: int  # bytes the hall holds
    complete: bool


class DocumentFiles:
    """Content-addressed page files: <dir>/<sha[:2]>/<sha>. The fan-out keeps directories small.

    Resumable uploads grow in <dir>/staging/<sha>.part until complete and verified; they survive a
    restart. Each append holds an flock on the .part file, so concurrent uploads of one blob (from
    any hall worker) cannot interleave.
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._tmp = self.root / "tmp"
        self._tmp.mkdir(parents=True, exist_ok=True)
        self._staging = self.root / "staging"
        self._staging.mkdir(exist_ok=True)

    def path(self, sha256: str) -> Path:
        return self.root / sha256[:2] / sha256

    def temp_file(self) -> tuple[BinaryIO, Path]:
        """A new temporary file under the store (same file system: it can be renamed into place)."""
        fd, name = tempfile.mkstemp(dir=self._tmp, suffix=".part")
        return os.fdopen(fd, "w+b"), Path(name)

    def blob_state(self, sha256: str) -> BlobState | None:
        """How much of a blob the hall holds; None when it holds nothing."""
        try:
            return BlobState(self.path(sha256).stat().st_size, True)
        except FileNotFoundError:
            pass
        try:
            return BlobState((self._staging / f"{sha256}.part").stat().st_size, False)
        except FileNotFoundError:
            return None

    def append(self, sha256: str, start: int, total: int, chunk: Path) -> BlobState:
        """Append the file `chunk` to the blob's upload if it starts at `start`; verify once `total` is reached.

        Raises BlobOffsetError when `start` is not the current size, BlobHashError when the
        complete upload does not hash to `sha256` (the upload is then discarded).
        """
        if self.path(sha256).exists():
            return BlobState(self.path(sha256).stat().st_size, True)  # never rewritten
        with self._locked_part(sha256, create=start == 0) as part:
            if part is None:
                if self.path(sha256).exists():  # finished by another request while we waited
                    return BlobState(self.path(sha256).stat().st_size, True)
                raise BlobOffsetError(0)
            have = os.fstat(part.fileno()).st_size
            if start != have:
                raise BlobOffsetError(have)
            with chunk.open("rb") as source:
                shutil.copyfileobj(source, part)
            part.flush()
            os.fsync(part.fileno())
            have = os.fstat(part.fileno()).st_size
            if have < total:
                return BlobState(have, False)
            part_path = self._part_path(sha256)
            if _file_sha256(part_path) != sha256:
                part_path.unlink()
                raise BlobHashError(sha256)
            self.path(sha256).parent.mkdir(exist_ok=True)
            os.replace(part_path, self.path(sha256))
            return BlobState(have, True)

    def _part_path(self, sha256: str) -> Path:
        return self._staging / f"{sha256}.part"

    @contextmanager
    def _locked_part(self, sha256: str, create: bool) -> Iterator[BinaryIO | None]:
        """The .part file open for appending under an exclusive flock.

        None when the blob is complete, or when there is no .part and `create` is false.
        """
        path = self._part_path(sha256)
        while True:
            if self.path(sha256).exists():
                yield None
                return
            flags = os.O_WRONLY | os.O_APPEND | (os.O_CREAT if create else 0)
            try:
                fd = os.open(path, flags, 0o600)
            except FileNotFoundError:
                yield None
                return
            with os.fdopen(fd, "ab") as part:
                fcntl.flock(fd, fcntl.LOCK_EX)
                try:
                    current = os.stat(path).st_ino == os.fstat(fd).st_ino
                except FileNotFoundError:
                    current = False
                if current:
                    yield part
                    return
            # The holder before us completed or discarded the upload (renamed or removed the file): look again.


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as source:
        while chunk := source.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


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


@dataclass(frozen=True)
class Limit:
    failures: int  # this many failed lookups within window_s lock the key
    window_s: int


# A 6-character tail cannot be guessed at 5 tries a quarter hour, and one terminal or address
# cannot sweep many receipt numbers either.
RECEIPT_LIMIT = Limit(5, 15 * 60)
CALLER_LIMIT = Limit(30, 60 * 60)


@dataclass(frozen=True)
class Proof:
    """What a progress lookup shows it may see the application: one of the two."""

    id_tail: str | None = None  # the last 6 characters of the applicant's ID number
    token: str | None = None  # the receipt QR link's token


@dataclass(frozen=True)
class Locked:
    """A progress lookup refused for too many failures."""

    retry_after: int  # seconds until it may be tried again


def _failure_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def _lock_wait(conn: Connection, key_hash: str, limit: Limit, now: float) -> int:
    """Seconds until `key_hash` has fewer than `limit.failures` failures in its window; 0 when it has now."""
    # The limit-th newest failure in the window: once it ages out, fewer than the limit are left.
    at = conn.execute(
        sa.select(progress_failures.c.at)
        .where(progress_failures.c.key_hash == key_hash, progress_failures.c.at > now - limit.window_s)
        .order_by(progress_failures.c.at.desc())
        .limit(1)
        .offset(limit.failures - 1)
    ).scalar_one_or_none()
    return 0 if at is None else max(1, math.ceil(at + limit.window_s - now))


# What staff and citizens may see: an application still open is not there yet.
_VISIBLE = applications.c.state != OPEN


class Store:
    """The hall's state. Thread-safe: every call takes its own connection from the pool."""

    def __init__(self, db_url: str, documents_dir: Path) -> None:
        self.engine = make_engine(db_url)
        self.files = DocumentFiles(documents_dir)

    def dispose(self) -> None:
        self.engine.dispose()

    # -- applications -------------------------------------------------------------------------

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
                _insert(conn, applications)
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
            row = conn.execute(sa.select(applications).where(applications.c.receipt_no == receipt_no, _VISIBLE)).first()
            if row is None:
                return None
            docs = conn.execute(
                sa.select(documents)
                .where(documents.c.receipt_no == receipt_no)
                .order_by(documents.c.material_id, documents.c.page)
            ).all()
            timeline = self._timeline(conn, receipt_no, with_staff=True)
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

    def list_applications(
        self, limit: int, offset: int, state: str | None = None, receipt_prefix: str | None = None
    ) -> tuple[list[dict[str, Any]], int]:
        """Newest first, optionally only in one state or with receipt numbers starting so.

        Returns (page of items, total count).
        """
        where = [_VISIBLE]
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

    def lookup_progress(
        self, receipt_no: str, proof: Proof, caller: str, now: float | None = None
    ) -> dict[str, Any] | Locked | None:
        """The citizen's view, limited against guessing; None both for an unknown number and a wrong
        proof (no probing). The proof is the ID number's last 6 characters, or the token of the
        receipt's QR link (kiosk.core.signing.receipt_token, with the issuing terminal's key).

        Failures count per receipt number (known or not, so a lock reveals nothing) and per `caller`
        (e.g. "terminal:T0001", "address:10.0.0.7"); past RECEIPT_LIMIT or CALLER_LIMIT it answers Locked, even
        for the right tail, until enough failures age out. Success resets nothing: else a guess
        could be confirmed between wrong ones. Check and count are not one transaction: concurrent
        guesses may overshoot a limit by the few in flight.
        """
        now = time.time() if now is None else now
        keys = {
            _failure_key("receipt:" + receipt_no.upper()): RECEIPT_LIMIT,
            _failure_key(caller): CALLER_LIMIT,
        }
        with self.engine.connect() as conn:
            waits = [_lock_wait(conn, key, limit, now) for key, limit in keys.items()]
        if any(waits):
            return Locked(max(waits))
        found = self._progress(receipt_no, proof)
        if found is None:
            with self.engine.begin() as conn:
                conn.execute(progress_failures.insert(), [{"key_hash": key, "at": now} for key in keys])
                oldest = max(RECEIPT_LIMIT.window_s, CALLER_LIMIT.window_s)
                conn.execute(progress_failures.delete().where(progress_failures.c.at < now - oldest))
        return found

    def _proven(self, row: Any, proof: Proof) -> bool:
        if proof.id_tail is not None:
            return hmac.compare_digest(row.id_tail, proof.id_tail.upper())
        key = self.terminal_key(row.terminal_id)
        return key is not None and hmac.compare_digest(receipt_token(key, row.receipt_no), proof.token or "")

    def _progress(self, receipt_no: str, proof: Proof) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(
                    applications.c.receipt_no,
                    applications.c.item_name,
                    applications.c.state,
                    applications.c.id_tail,
                    applications.c.terminal_id,
                ).where(applications.c.receipt_no == receipt_no, _VISIBLE)
            ).first()
            if row is None or not self._proven(row, proof):
                return None
            timeline = self._timeline(conn, receipt_no, with_staff=False)
        return {
            "receipt_no": row.receipt_no,
            "item_name": row.item_name,
            "state": row.state,
            "timeline": timeline,
        }

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
                    sa.select(applications.c.receipt_no).where(applications.c.receipt_no == receipt_no, _VISIBLE)
                ).first()
                if found is None:
                    return None
                raise TransitionError(receipt_no)
            conn.execute(
                events.insert().values(receipt_no=receipt_no, state=state, at=now, note=note, staff=staff_name)
            )
        return {"receipt_no": receipt_no, "state": state, "at": now, "note": note, "staff": staff_name}

    @staticmethod
    def _timeline(conn: Connection, receipt_no: str, with_staff: bool) -> list[dict[str, Any]]:
        """Oldest first; `with_staff` adds who made each change (the staff view only, never the citizen's)."""
        rows = conn.execute(
            sa.select(events.c.state, events.c.at, events.c.note, events.c.staff)
            .where(events.c.receipt_no == receipt_no)
            .order_by(events.c.id)
        ).all()
        return [
            {"state": e.state, "at": e.at, "note": e.note, **({"staff": e.staff} if with_staff else {})} for e in rows
        ]

    # -- ratings (好差评) ------------------------------------------------------------------------

    _RATING_CONTENT = ("receipt_no", "item_id", "level", "reasons", "comment")

    def add_rating(self, rating: dict[str, Any]) -> tuple[Literal["created", "duplicate"], dict[str, Any]]:
        """Store a rating; the same session rating again with the same content is a retry."""
        now = utc_now()
        with self.engine.begin() as conn:
            rating_id = conn.execute(
                _insert(conn, ratings)
                .values(**rating, received_at=now)
                .on_conflict_do_nothing(index_elements=[ratings.c.terminal_id, ratings.c.session_id])
                .returning(ratings.c.id)
            ).scalar_one_or_none()
            if rating_id is not None:
                return "created", {"id": rating_id, "received_at": now}
            row = conn.execute(
                sa.select(ratings).where(
                    ratings.c.terminal_id == rating["terminal_id"],
                    ratings.c.session_id == rating["session_id"],
                )
            ).first()
        if row is None:
            raise RuntimeError("rating vanished while being stored")
        stored = row._mapping
        if any(stored[k] != rating[k] for k in self._RATING_CONTENT):
            raise ConflictError(rating["session_id"])
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
        with self.engine.begin() as conn:
            inserted = conn.execute(
                _insert(conn, appointments)
                .values(**appointment, created_at=utc_now())
                .on_conflict_do_nothing(index_elements=[appointments.c.code])
                .returning(appointments.c.code)
            ).first()
        if inserted is not None:
            return "created"
        stored = self.appointment(appointment["code"])
        if stored is None or any(stored[k] != v for k, v in appointment.items()):
            raise ConflictError(appointment["code"])
        return "duplicate"

    def appointment(self, code: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(appointments.c.code, appointments.c.kind, appointments.c.item_id, appointments.c.slot).where(
                    appointments.c.code == code
                )
            ).first()
        return dict(row._mapping) if row else None

    # -- terminals and their signatures (hall.signing) ----------------------------------------

    def set_terminal_keys(self, keys: dict[str, bytes]) -> None:
        """Insert or replace terminals' keys (the hall's configuration wins over what is stored)."""
        if not keys:
            return
        with self.engine.begin() as conn:
            for terminal_id, key in keys.items():
                statement = _insert(conn, terminals).values(
                    terminal_id=terminal_id, key_hex=key.hex(), created_at=utc_now()
                )
                # Another hall worker may write the same row at the same time: an upsert takes either.
                conn.execute(
                    statement.on_conflict_do_update(
                        index_elements=[terminals.c.terminal_id], set_={"key_hex": statement.excluded.key_hex}
                    )
                )

    def terminal_key(self, terminal_id: str) -> bytes | None:
        with self.engine.connect() as conn:
            key_hex = conn.execute(
                sa.select(terminals.c.key_hex).where(terminals.c.terminal_id == terminal_id)
            ).scalar_one_or_none()
        return None if key_hex is None else bytes.fromhex(key_hex)

    def remember_nonce(self, terminal_id: str, nonce: str, now: float, ttl: float) -> bool:
        """Record a nonce; False when the terminal used it within the last `ttl` seconds (a replay).

        Atomic across hall workers: of two requests with one nonce, exactly one inserts (or renews) the row.
        """
        with self.engine.begin() as conn:
            inserted = conn.execute(
                _insert(conn, nonces)
                .values(terminal_id=terminal_id, nonce=nonce, seen_at=now)
                .on_conflict_do_nothing(index_elements=[nonces.c.terminal_id, nonces.c.nonce])
                .returning(nonces.c.nonce)
            ).first()
            if inserted is not None:
                return True
            # Seen before, but maybe longer ago than the window and not yet pruned: then it is new again.
            renewed = conn.execute(
                nonces.update()
                .where(nonces.c.terminal_id == terminal_id, nonces.c.nonce == nonce, nonces.c.seen_at < now - ttl)
                .values(seen_at=now)
            ).rowcount
        return bool(renewed)

    def forget_nonces(self, before: float) -> None:
        with self.engine.begin() as conn:
            conn.execute(nonces.delete().where(nonces.c.seen_at < before))

    # -- staff accounts (hall.staff_auth) ------------------------------------------------------

    def set_staff(self, password_hashes: dict[str, str]) -> None:
        """Insert or replace staff accounts (the hall's configuration wins over what is stored)."""
        if not password_hashes:
            return
        with self.engine.begin() as conn:
            for name, password_hash in password_hashes.items():
                statement = _insert(conn, staff).values(name=name, password_hash=password_hash, created_at=utc_now())
                # Every hall worker writes the accounts at start, maybe at the same moment: an upsert takes either.
                conn.execute(
                    statement.on_conflict_do_update(
                        index_elements=[staff.c.name], set_={"password_hash": statement.excluded.password_hash}
                    )
                )

    def staff_password_hash(self, name: str) -> str | None:
        with self.engine.connect() as conn:
            return conn.execute(sa.select(staff.c.password_hash).where(staff.c.name == name)).scalar_one_or_none()

    def failure_wait(self, key: str, limit: Limit, now: float) -> int:
        """Seconds until `key` (e.g. "staff:<name>") is below `limit` again; 0 when it is now."""
        with self.engine.connect() as conn:
            return _lock_wait(conn, _failure_key(key), limit, now)

    def record_failure(self, key: str, limit: Limit, now: float) -> None:
        """Count a failed attempt for `key`."""
        with self.engine.begin() as conn:
            conn.execute(progress_failures.insert().values(key_hash=_failure_key(key), at=now))
            # Only rows past every limit's window go: progress lookups count in the same table.
            oldest = max(RECEIPT_LIMIT.window_s, CALLER_LIMIT.window_s, limit.window_s)
            conn.execute(progress_failures.delete().where(progress_failures.c.at < now - oldest))
