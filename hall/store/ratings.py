"""Ratings (好差评): one per citizen session, a retried POST counted once."""

from __future__ import annotations

from typing import Any, Literal

import sqlalchemy as sa

from hall.store.engine import ConflictError, StorePart, insert, utc_now
from hall.store.tables import ratings


class RatingStore(StorePart):
    _RATING_CONTENT = ("receipt_no", "item_id", "level", "reasons", "comment")

    def add_rating(self, rating: dict[str, Any]) -> tuple[Literal["created", "duplicate"], dict[str, Any]]:
        """Store a rating; the same session rating again with the same content is a retry."""
        now = utc_now()
        with self.engine.begin() as conn:
            rating_id = conn.execute(
                insert(conn, ratings)
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
