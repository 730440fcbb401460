"""Appointment and pre-review (预审) codes from the hall's booking system, looked up by terminals.

No personal data: anyone holding the code may see what it is for.
"""

from __future__ import annotations

from typing import Any, Literal

import sqlalchemy as sa

from hall.store.engine import ConflictError, StorePart, insert, utc_now
from hall.store.tables import appointments


class AppointmentStore(StorePart):
    def add_appointment(self, appointment: dict[str, Any]) -> Literal["created", "duplicate"]:
        """Register a code; the same code again with the same content is a retry."""
        with self.engine.begin() as conn:
            inserted = conn.execute(
                insert(conn, appointments)
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
