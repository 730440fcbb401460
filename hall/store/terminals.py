"""Terminals: the keys they sign with, the nonces of their accepted requests (hall.signing), and
their latest heartbeats (hall.terminal_status).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hall.store.engine import StorePart, insert, upsert, utc_now
from hall.store.tables import heartbeats, nonces, terminals


def key_of(conn: Connection, terminal_id: str) -> bytes | None:
    """The terminal's key; None for a terminal the hall has none for."""
    key_hex = conn.execute(
        sa.select(terminals.c.key_hex).where(terminals.c.terminal_id == terminal_id)
    ).scalar_one_or_none()
    return None if key_hex is None else bytes.fromhex(key_hex)


class TerminalStore(StorePart):
    def set_terminal_keys(self, keys: dict[str, bytes]) -> None:
        """Insert or replace terminals' keys (the hall's configuration wins over what is stored)."""
        rows = [{"terminal_id": t, "key_hex": key.hex(), "created_at": utc_now()} for t, key in keys.items()]
        upsert(self.engine, terminals, rows, replace=["key_hex"])

    def terminal_key(self, terminal_id: str) -> bytes | None:
        with self.engine.connect() as conn:
            return key_of(conn, terminal_id)

    def remember_nonce(self, terminal_id: str, nonce: str, now: float, ttl: float) -> bool:
        """Record a nonce; False when the terminal used it within the last `ttl` seconds (a replay).

        Atomic across hall workers: of two requests with one nonce, exactly one inserts (or renews) the row.
        """
        with self.engine.begin() as conn:
            inserted = conn.execute(
                insert(conn, nonces)
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

    def record_heartbeat(self, terminal_id: str, beat: dict[str, Any]) -> str:
        """Keep `beat` (a heartbeat's body as JSON) as the terminal's latest; returns when it arrived
        (ISO-8601, hall clock)."""
        received_at = utc_now()
        values = {"received_at": received_at, **beat}
        upsert(self.engine, heartbeats, [{"terminal_id": terminal_id, **values}], replace=list(values))
        return received_at

    def latest_heartbeats(self) -> list[dict[str, Any]]:
        """Every terminal the hall has a key for, by id, with the columns of its latest heartbeat
        (None each when it never sent one)."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(terminals.c.terminal_id, *(c for c in heartbeats.c if c.name != "terminal_id"))
                .select_from(terminals.outerjoin(heartbeats, heartbeats.c.terminal_id == terminals.c.terminal_id))
                .order_by(terminals.c.terminal_id)
            ).all()
        return [dict(row._mapping) for row in rows]
