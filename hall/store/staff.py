"""Staff accounts (hall.staff_auth): their password hashes, and their failed logins."""

from __future__ import annotations

import sqlalchemy as sa

from hall.store.engine import StorePart, upsert, utc_now
from hall.store.limits import Limit, count_failures, failure_key, lock_wait
from hall.store.tables import staff


class StaffStore(StorePart):
    def set_staff(self, password_hashes: dict[str, str]) -> None:
        """Insert or replace staff accounts (the hall's configuration wins over what is stored)."""
        rows = [{"name": n, "password_hash": h, "created_at": utc_now()} for n, h in password_hashes.items()]
        upsert(self.engine, staff, rows, replace=["password_hash"])

    def staff_password_hash(self, name: str) -> str | None:
        with self.engine.connect() as conn:
            return conn.execute(sa.select(staff.c.password_hash).where(staff.c.name == name)).scalar_one_or_none()

    def failure_wait(self, key: str, limit: Limit, now: float) -> int:
        """Seconds until `key` (e.g. "staff:<name>") is below `limit` again; 0 when it is now."""
        with self.engine.connect() as conn:
            return lock_wait(conn, failure_key(key), limit, now)

    def record_failure(self, key: str, limit: Limit, now: float) -> None:
        """Count a failed attempt for `key`."""
        with self.engine.begin() as conn:
            count_failures(conn, [failure_key(key)], now, limit.window_s)
