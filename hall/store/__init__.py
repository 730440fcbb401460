"""The hall's storage: SQLAlchemy Core tables (SQLite, or PostgreSQL with the same code) and page files.

Everything here takes already-validated plain data; HTTP and validation live in hall.api,
hall.schemas and kiosk.core.protocol. One module per concern, each a part of `Store`:

    tables.py        the schema: every table, one place
    engine.py        make_engine (schema created), upserts, ConflictError
    blobs.py         the page files: content-addressed, uploaded in resumable chunks
    applications.py  opened, committed, read and listed, moved through their states; the timeline
    progress.py      the citizen's view, limited against guessing
    limits.py        failed attempts counted (progress lookups, staff logins)
    ratings.py, appointments.py, terminals.py (keys, nonces, heartbeats), staff.py (accounts)
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from hall.store.applications import (
    TRANSITIONS,
    ApplicationStore,
    Document,
    IncompleteError,
    Submission,
    TransitionError,
)
from hall.store.appointments import AppointmentStore
from hall.store.blobs import BlobHashError, BlobOffsetError, BlobState, DocumentFiles
from hall.store.engine import ConflictError, make_engine
from hall.store.limits import CALLER_LIMIT, RECEIPT_LIMIT, Limit
from hall.store.progress import Locked, ProgressStore, Proof
from hall.store.ratings import RatingStore
from hall.store.staff import StaffStore
from hall.store.tables import applications, events, heartbeats, progress_failures
from hall.store.terminals import TerminalStore

# What the rest of the hall and its tests use; the modules hold more.
__all__ = [
    "CALLER_LIMIT",
    "RECEIPT_LIMIT",
    "TRANSITIONS",
    "BlobHashError",
    "BlobOffsetError",
    "BlobState",
    "ConflictError",
    "Document",
    "IncompleteError",
    "Limit",
    "Locked",
    "Proof",
    "Store",
    "Submission",
    "TransitionError",
    "applications",
    "events",
    "heartbeats",
    "make_engine",
    "progress_failures",
]


class Store(ApplicationStore, ProgressStore, RatingStore, AppointmentStore, TerminalStore, StaffStore):
    """The hall's state. Thread-safe: every call takes its own connection from the pool."""

    def __init__(self, db_url: str, documents_dir: Path) -> None:
        # `make_engine` is looked up in this module when a Store is made: the tests replace it here
        # (tests/conftest.py runs every hall on PostgreSQL that way).
        self.engine = make_engine(db_url)
        self.files = DocumentFiles(documents_dir)

    def ping(self) -> bool:
        """Whether the database answers (GET /v1/health)."""
        try:
            with self.engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
        except sa.exc.SQLAlchemyError:
            return False
        return True

    def dispose(self) -> None:
        self.engine.dispose()
