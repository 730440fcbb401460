"""The durable outbox: applications wait here, encrypted, until the hall has committed them.

Layout of the outbox folder (mode 0700):

    outbox.db              SQLite (WAL, synchronous=FULL): one row per application, one per part
    blobs/<sha256>.bin     each part, sealed; named by the SHA-256 of its plaintext, so a page
                           sent twice (or shared by two applications) is stored once

A part is written before the transaction that refers to it, so after a crash the database never
names a file that is not there; files left without a row are removed by `sweep()` at open.
Once the hall has committed an application its row stays as a tombstone (receipt number, state,
times) and everything personal (the application, its manifest, unshared parts) is deleted;
`purge()` drops tombstones older than a retention period.

Ratings (好差评) wait here too, sealed (a comment is free text and may name someone), one per
citizen session, and are deleted once the hall has them.

One connection serves all threads behind a lock: the UI thread enqueues while the worker drains,
and the lock also keeps the worker's clean-up from deleting a file an enqueue is about to reuse.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import logging
import os
import re
import secrets
import shutil
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kiosk.core.errors import KioskError
from kiosk.core.sealing import NONCE_BYTES, TAG_BYTES, Sealer, fsync_directory

log = logging.getLogger(__name__)

ACTIVE = ("queued", "retrying")  # waiting for the worker; 'stuck' waits for a technician
STATES = (*ACTIVE, "stuck", "done")
BUSY_TIMEOUT_MS = 10_000
SEAL_OVERHEAD = 1 + NONCE_BYTES + TAG_BYTES
PART_NAME = re.compile(r"^[^/\s]+/(?:[1-9][0-9]*\.jpg|document\.pdf)$")

SCHEMA = """
CREATE TABLE IF NOT EXISTS applications (
    receipt_no  TEXT PRIMARY KEY,
    state       TEXT NOT NULL CHECK (state IN ('queued', 'retrying', 'stuck', 'done')),
    created_at  REAL NOT NULL,
    updated_at  REAL NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0,
    next_try_at REAL NOT NULL,
    last_error  TEXT,
    digest      TEXT NOT NULL,  -- keyed fingerprint of application + manifest: tells a repeat from a conflict
    application BLOB            -- sealed JSON; NULL once done
);
CREATE INDEX IF NOT EXISTS applications_due ON applications (state, next_try_at);
CREATE TABLE IF NOT EXISTS parts (
    receipt_no TEXT NOT NULL REFERENCES applications (receipt_no),
    position   INTEGER NOT NULL,
    name       TEXT NOT NULL,
    sha256     TEXT NOT NULL,
    size       INTEGER NOT NULL,
    PRIMARY KEY (receipt_no, name)
);
CREATE INDEX IF NOT EXISTS parts_sha256 ON parts (sha256);
CREATE TABLE IF NOT EXISTS ratings (
    session_id  TEXT PRIMARY KEY,
    state       TEXT NOT NULL CHECK (state IN ('queued', 'retrying', 'stuck')),
    created_at  REAL NOT NULL,
    updated_at  REAL NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0,
    next_try_at REAL NOT NULL,
    last_error  TEXT,
    rating      BLOB NOT NULL   -- sealed JSON; the row goes once the hall has it
);
"""
# The key column of each table the worker drains: applications by receipt number, ratings by session.
_KEYS = {"applications": "receipt_no", "ratings": "session_id"}


@dataclass(frozen=True)
class Rating:
    """A rating due for delivery."""

    session_id: str
    rating: dict[str, Any]
    attempts: int


@dataclass(frozen=True)
class Item:
    """An application due for upload, as the worker needs it."""

    receipt_no: str
    application: dict[str, Any]
    parts: list[tuple[str, str, int]]  # (name, sha256, size)
    attempts: int


class Outbox:
    def __init__(
        self,
        directory: Path,
        sealer: Sealer,
        min_free_mb: int = 200,
        clock: Callable[[], float] = time.time,
        upkeep: bool = True,
    ) -> None:
        """`upkeep=False` for a second process beside the kiosk (a technician's tool): no sweep, which
        could take a file the kiosk's enqueue has just written for an orphan."""
        self.directory = Path(directory)
        self.blobs = self.directory / "blobs"
        self.blobs.mkdir(parents=True, exist_ok=True)
        self.directory.chmod(0o700)  # the files are sealed, but their names and sizes are nobody's business
        self._sealer = sealer
        self._min_free = min_free_mb * 2**20
        self._clock = clock
        self._upkeep = upkeep
        self._lock = threading.RLock()
        self._db: sqlite3.Connection | None = None
        with contextlib.suppress(KioskError):  # a full disk: the kiosk starts and says so (has_room)
            self._conn()

    def _conn(self) -> sqlite3.Connection:
        """The database, opened on first use. On a disk with no room at all SQLite cannot even make
        its WAL files: that is storage.full, and the next call tries again."""
        with self._lock:
            return self._db if self._db is not None else self._open()

    def _open(self) -> sqlite3.Connection:
        db = sqlite3.connect(
            self.directory / "outbox.db", isolation_level=None, check_same_thread=False, timeout=BUSY_TIMEOUT_MS / 1000
        )
        try:
            for pragma in (
                "journal_mode=WAL",
                "synchronous=FULL",
                f"busy_timeout={BUSY_TIMEOUT_MS}",
                "foreign_keys=ON",
                "secure_delete=ON",  # cleared rows are zeroed in the file, not just unlinked from the b-tree
            ):
                db.execute(f"PRAGMA {pragma}")
            db.executescript(SCHEMA)
        except sqlite3.Error as exc:
            db.close()
            if _disk_full(exc) or shutil.disk_usage(self.directory).free < self._min_free:
                log.warning("outbox: cannot open, the disk is full")
                raise KioskError("the disk is full", code="storage.full") from None
            raise
        self._db = db
        if self._upkeep:
            self.sweep()
        return db

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()

    # -- enqueue ------------------------------------------------------------------------------

    def enqueue(self, receipt_no: str, application: dict[str, Any], parts: list[tuple[str, bytes]]) -> None:
        """Keep an application and its parts until the hall has them. Durable once this returns.

        The same receipt number with the same content again is a no-op; with other content it is
        refused (outbox.conflict). Without room for it plus the reserve: storage.full, nothing written.
        """
        manifest = _manifest(parts)
        document = json.dumps(application, ensure_ascii=False, sort_keys=True).encode("utf-8")
        digest = self._sealer.digest(document + b"\n" + json.dumps(manifest).encode("ascii"))
        contents = {hashlib.sha256(data).hexdigest(): data for _, data in parts}
        with self._lock:
            if self._already_queued(receipt_no, digest):
                return
            need = len(document) + sum(len(data) for data in contents.values()) + SEAL_OVERHEAD * (1 + len(contents))
            if shutil.disk_usage(self.directory).free < need + self._min_free:
                log.warning("outbox: no room for %s (%d bytes)", receipt_no, need)
                raise KioskError("not enough free space for this application", code="storage.full")
            written: list[Path] = []
            try:
                for sha, data in contents.items():
                    if self._write_blob(sha, data):
                        written.append(self._blob_path(sha))
                fsync_directory(self.blobs)
                sealed = self._sealer.seal(document, _application_aad(receipt_no))
                now = self._clock()
                with self._transaction() as db:
                    db.execute(
                        "INSERT INTO applications (receipt_no, state, created_at, updated_at, attempts, next_try_at,"
                        " last_error, digest, application) VALUES (?, 'queued', ?, ?, 0, ?, NULL, ?, ?)",
                        (receipt_no, now, now, now, digest, sealed),
                    )
                    db.executemany(
                        "INSERT INTO parts (receipt_no, position, name, sha256, size) VALUES (?, ?, ?, ?, ?)",
                        [(receipt_no, i, name, sha, size) for i, (name, sha, size) in enumerate(manifest)],
                    )
            except BaseException as exc:
                for path in written:  # ours alone: nothing else writes blobs while we hold the lock
                    path.unlink(missing_ok=True)
                if _disk_full(exc):
                    log.warning("outbox: disk full while queueing %s", receipt_no)
                    raise KioskError("the disk filled up while queueing", code="storage.full") from None
                raise
        log.info("outbox: queued %s with %d parts", receipt_no, len(manifest))

    def _already_queued(self, receipt_no: str, digest: str) -> bool:
        row = self._conn().execute("SELECT digest FROM applications WHERE receipt_no = ?", (receipt_no,)).fetchone()
        if row is None:
            return False
        if row[0] != digest:
            raise KioskError("another application holds this receipt number", code="outbox.conflict")
        return True

    def _write_blob(self, sha: str, data: bytes) -> bool:
        """Seal `data` into blobs/<sha>.bin; False when a sound copy is already there."""
        path = self._blob_path(sha)
        if path.exists():
            with contextlib.suppress(KioskError):  # a damaged copy is replaced by the fresh one
                self.part_bytes(sha)
                return False
        tmp = self.blobs / f".{sha}.{secrets.token_hex(4)}.tmp"
        try:
            with open(tmp, "xb") as fh:
                fh.write(self._sealer.seal(data, _part_aad(sha)))
                fh.flush()
                os.fsync(fh.fileno())
            tmp.replace(path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return True

    # -- room ---------------------------------------------------------------------------------

    def has_room(self) -> bool:
        """False when free space is under the reserve (or the outbox cannot open for want of it):
        then the terminal refuses new sessions."""
        if shutil.disk_usage(self.directory).free < self._min_free:
            return False
        try:
            self._conn()
        except KioskError:
            return False
        return True

    # -- the worker's side --------------------------------------------------------------------

    def next_due(self, now: float) -> Item | None:
        """The oldest waiting application whose next try is due, or None.

        One whose sealed application no longer opens is parked (stuck) and skipped.
        """
        while True:
            with self._lock:
                row = (
                    self._conn()
                    .execute(
                        "SELECT receipt_no, attempts, application FROM applications"
                        " WHERE state IN (?, ?) AND next_try_at <= ? ORDER BY created_at, receipt_no LIMIT 1",
                        (*ACTIVE, now),
                    )
                    .fetchone()
                )
                if row is None:
                    return None
                receipt_no, attempts, sealed = row
                parts = (
                    self._conn()
                    .execute(
                        "SELECT name, sha256, size FROM parts WHERE receipt_no = ? ORDER BY position", (receipt_no,)
                    )
                    .fetchall()
                )
            try:
                application = json.loads(self._sealer.open(sealed, _application_aad(receipt_no)))
            except KioskError as exc:
                log.error("outbox: %s does not open (%s): parked", receipt_no, exc.code)
                self.mark_stuck(receipt_no, exc.code)
                continue
            return Item(receipt_no, application, parts, attempts)

    def part_bytes(self, sha256: str) -> bytes:
        """A part's plaintext, checked against its hash (storage.corrupt if missing or changed)."""
        try:
            sealed = self._blob_path(sha256).read_bytes()
        except FileNotFoundError:
            raise KioskError("a queued part is missing", code="storage.corrupt") from None
        data = self._sealer.open(sealed, _part_aad(sha256))
        if hashlib.sha256(data).hexdigest() != sha256:
            raise KioskError("a queued part does not match its hash", code="storage.corrupt")
        return data

    def mark_retry(self, receipt_no: str, error_code: str, next_try_at: float, table: str = "applications") -> None:
        """Try again at `next_try_at`. `table` is "ratings" for a rating (keyed by session id)."""
        self._set_state(table, receipt_no, "retrying", error_code, next_try_at)

    def mark_stuck(self, receipt_no: str, error_code: str, table: str = "applications") -> None:
        """Park an application (or rating) for a technician: the worker no longer takes it; nothing is deleted."""
        self._set_state(table, receipt_no, "stuck", error_code, None)

    def _set_state(self, table: str, key: str, state: str, error_code: str, next_try_at: float | None) -> None:
        with self._lock, self._transaction() as db:
            db.execute(
                f"UPDATE {table} SET state = ?, attempts = attempts + 1, last_error = ?,"
                f" next_try_at = COALESCE(?, next_try_at), updated_at = ? WHERE {_KEYS[table]} = ? AND state IN (?, ?)",
                (state, error_code, next_try_at, self._clock(), key, *ACTIVE),
            )

    def requeue(self, key: str) -> bool:
        """A technician's second chance for a parked application or rating: due now, attempts kept."""
        with self._lock, self._transaction() as db:
            changed = sum(
                db.execute(
                    f"UPDATE {table} SET state = 'queued', next_try_at = ?, updated_at = ?"
                    f" WHERE {column} = ? AND state = 'stuck'",
                    (self._clock(), self._clock(), key),
                ).rowcount
                for table, column in _KEYS.items()
            )
        if changed:
            log.info("outbox: %s requeued by a technician", key)
        return bool(changed)

    # -- ratings ------------------------------------------------------------------------------

    def enqueue_rating(self, rating: dict[str, Any]) -> None:
        """Keep a rating until the hall has it; one per session (a second one for a session is ignored)."""
        session_id = str(rating["session_id"])
        sealed = self._sealer.seal(json.dumps(rating, ensure_ascii=False).encode("utf-8"), _rating_aad(session_id))
        now = self._clock()
        try:
            with self._lock, self._transaction() as db:
                db.execute(
                    "INSERT OR IGNORE INTO ratings (session_id, state, created_at, updated_at, next_try_at, rating)"
                    " VALUES (?, 'queued', ?, ?, ?, ?)",
                    (session_id, now, now, now, sealed),
                )
        except sqlite3.Error as exc:
            if _disk_full(exc):
                raise KioskError("the disk is full", code="storage.full") from None
            raise

    def next_rating_due(self, now: float) -> Rating | None:
        with self._lock:
            row = (
                self._conn()
                .execute(
                    "SELECT session_id, attempts, rating FROM ratings WHERE state IN (?, ?) AND next_try_at <= ?"
                    " ORDER BY created_at LIMIT 1",
                    (*ACTIVE, now),
                )
                .fetchone()
            )
        if row is None:
            return None
        session_id, attempts, sealed = row
        return Rating(session_id, json.loads(self._sealer.open(sealed, _rating_aad(session_id))), attempts)

    def mark_rating_done(self, session_id: str) -> None:
        with self._lock, self._transaction() as db:
            db.execute("DELETE FROM ratings WHERE session_id = ?", (session_id,))

    def mark_done(self, receipt_no: str) -> None:
        """The hall has committed it: keep a tombstone row, delete the rest."""
        with self._lock:
            with self._transaction() as db:
                shas = {sha for (sha,) in db.execute("SELECT sha256 FROM parts WHERE receipt_no = ?", (receipt_no,))}
                db.execute(
                    "UPDATE applications SET state = 'done', application = NULL, last_error = NULL, updated_at = ?"
                    " WHERE receipt_no = ?",
                    (self._clock(), receipt_no),
                )
                db.execute("DELETE FROM parts WHERE receipt_no = ?", (receipt_no,))
            # After the commit: a crash in between leaves unreferenced files, which sweep() removes.
            for sha in shas:
                if self._conn().execute("SELECT 1 FROM parts WHERE sha256 = ? LIMIT 1", (sha,)).fetchone() is None:
                    self._blob_path(sha).unlink(missing_ok=True)
        log.info("outbox: %s done", receipt_no)

    # -- upkeep and reporting -----------------------------------------------------------------

    def sweep(self) -> int:
        """Delete blob files no waiting or stuck application refers to (left by a crash). Returns how many."""
        removed = 0
        with self._lock:
            referenced = {sha for (sha,) in self._conn().execute("SELECT DISTINCT sha256 FROM parts")}
            for path in self.blobs.iterdir():
                if path.name.endswith(".tmp") or (path.suffix == ".bin" and path.stem not in referenced):
                    path.unlink(missing_ok=True)
                    removed += 1
        if removed:
            log.info("outbox: swept %d orphaned files", removed)
        return removed

    def purge(self, older_than_s: float) -> int:
        """Drop tombstones of applications the hall committed more than `older_than_s` ago. Returns how many."""
        with self._lock, self._transaction() as db:
            removed = db.execute(
                "DELETE FROM applications WHERE state = 'done' AND updated_at < ?", (self._clock() - older_than_s,)
            ).rowcount
        if removed:
            log.info("outbox: purged %d tombstones", removed)
        return int(removed)

    def waiting(self) -> list[dict[str, Any]]:
        """What has not reached the hall, for a technician: key, kind, state, attempts, last error, age."""
        now = self._clock()
        with self._lock:
            rows = [
                (kind, *row)
                for kind, table in (("application", "applications"), ("rating", "ratings"))
                for row in self._conn().execute(
                    f"SELECT {_KEYS[table]}, state, attempts, last_error, created_at, next_try_at FROM {table}"
                    " WHERE state != 'done' ORDER BY created_at"
                )
            ]
        return [
            {
                "key": key,
                "kind": kind,
                "state": state,
                "attempts": attempts,
                "last_error": last_error,
                "age_s": round(now - created_at, 1),
                "next_try_in_s": round(max(0.0, next_try_at - now), 1) if state != "stuck" else None,
            }
            for kind, key, state, attempts, last_error, created_at, next_try_at in rows
        ]

    def next_try_at(self) -> float | None:
        """When the earliest waiting application is due; None when none waits."""
        with self._lock:
            (at,) = (
                self._conn()
                .execute("SELECT MIN(next_try_at) FROM applications WHERE state IN (?, ?)", ACTIVE)
                .fetchone()
            )
        return None if at is None else float(at)

    def depth(self) -> int:
        """Applications still to send (queued or retrying)."""
        with self._lock:
            (count,) = (
                self._conn().execute("SELECT COUNT(*) FROM applications WHERE state IN (?, ?)", ACTIVE).fetchone()
            )
        return int(count)

    def stats(self) -> dict[str, Any]:
        """For heartbeats: {"queued", "retrying", "stuck", "done", "depth", "oldest_queued_age_s", "ratings"}."""
        with self._lock:
            counts = dict(self._conn().execute("SELECT state, COUNT(*) FROM applications GROUP BY state").fetchall())
            (oldest,) = (
                self._conn()
                .execute("SELECT MIN(created_at) FROM applications WHERE state IN (?, ?)", ACTIVE)
                .fetchone()
            )
        result: dict[str, Any] = {state: int(counts.get(state, 0)) for state in STATES}
        result["depth"] = result["queued"] + result["retrying"]
        result["oldest_queued_age_s"] = None if oldest is None else max(0.0, self._clock() - oldest)
        with self._lock:
            result["ratings"] = int(self._conn().execute("SELECT COUNT(*) FROM ratings").fetchone()[0])
        return result

    # -- plumbing -----------------------------------------------------------------------------

    def _blob_path(self, sha256: str) -> Path:
        return self.blobs / f"{sha256}.bin"

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        self._conn().execute("BEGIN IMMEDIATE")
        try:
            yield self._conn()
        except BaseException:
            if self._conn().in_transaction:  # SQLite may already have rolled back (e.g. disk full)
                self._conn().execute("ROLLBACK")
            raise
        self._conn().execute("COMMIT")


def _manifest(parts: list[tuple[str, bytes]]) -> list[tuple[str, str, int]]:
    names = [name for name, _ in parts]
    if len(set(names)) != len(names):
        raise KioskError("two parts share a name", code="outbox.bad_part")
    if not all(data for _, data in parts):
        raise KioskError("a part is empty", code="outbox.bad_part")  # the protocol cannot send 0 bytes
    for name in names:
        if not PART_NAME.match(name):
            raise KioskError(
                "a part name is not <material>/<page>.jpg or <material>/document.pdf", code="outbox.bad_part"
            )
    return [(name, hashlib.sha256(data).hexdigest(), len(data)) for name, data in parts]


def _application_aad(receipt_no: str) -> bytes:
    return b"application:" + receipt_no.encode("utf-8")


def _rating_aad(session_id: str) -> bytes:
    return b"rating:" + session_id.encode("utf-8")


def _part_aad(sha256: str) -> bytes:
    # Parts are shared between applications, so they are bound to their content hash (their
    # file name), not to one receipt number.
    return b"part:" + sha256.encode("ascii")


def _disk_full(exc: BaseException) -> bool:
    if isinstance(exc, OSError):
        return exc.errno in (errno.ENOSPC, errno.EDQUOT)
    return isinstance(exc, sqlite3.OperationalError) and getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL
