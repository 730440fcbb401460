"""Failed attempts counted against guessing: progress lookups (hall.store.progress) and staff logins
(hall.staff_auth), in one table. Keys are hashed, so it holds no client addresses or names.

The counts are in the database, so they hold across hall workers and restarts.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hall.store.tables import progress_failures


@dataclass(frozen=True)
class Limit:
    failures: int  # this many failed lookups within window_s lock the key
    window_s: int


# A 6-character tail cannot be guessed at 5 tries a quarter hour, and one terminal or address
# cannot sweep many receipt numbers either.
RECEIPT_LIMIT = Limit(5, 15 * 60)
CALLER_LIMIT = Limit(30, 60 * 60)


def failure_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def lock_wait(conn: Connection, key_hash: str, limit: Limit, now: float) -> int:
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


def count_failures(conn: Connection, key_hashes: list[str], now: float, window_s: int = 0) -> None:
    """Count a failed attempt for each key, and prune what no limit looks at any more.

    Only rows past every limit's window go (the progress lookups', and `window_s` of the caller's):
    progress lookups and staff logins count in the same table.
    """
    conn.execute(progress_failures.insert(), [{"key_hash": key_hash, "at": now} for key_hash in key_hashes])
    oldest = max(RECEIPT_LIMIT.window_s, CALLER_LIMIT.window_s, window_s)
    conn.execute(progress_failures.delete().where(progress_failures.c.at < now - oldest))
