"""The citizen's view of an application (GET /v1/progress, the progress page), limited against guessing.

Nothing about the applicant: the item, its state and its timeline. An unknown number and a wrong
proof look alike, so a lookup cannot probe either.
"""

from __future__ import annotations

import hmac
import time
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hall.store.applications import VISIBLE, timeline
from hall.store.engine import StorePart
from hall.store.limits import CALLER_LIMIT, RECEIPT_LIMIT, count_failures, failure_key, lock_wait
from hall.store.tables import applications
from hall.store.terminals import key_of
from kiosk.core.signing import receipt_token


@dataclass(frozen=True)
class Proof:
    """What a progress lookup shows it may see the application: one of the two."""

    id_tail: str | None = None  # the last 6 characters of the applicant's ID number
    token: str | None = None  # the receipt QR link's token


@dataclass(frozen=True)
class Locked:
    """A progress lookup refused for too many failures."""

    retry_after: int  # seconds until it may be tried again


class ProgressStore(StorePart):
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
            failure_key("receipt:" + receipt_no.upper()): RECEIPT_LIMIT,
            failure_key(caller): CALLER_LIMIT,
        }
        with self.engine.connect() as conn:
            waits = [lock_wait(conn, key, limit, now) for key, limit in keys.items()]
        if any(waits):
            return Locked(max(waits))
        found = self._progress(receipt_no, proof)
        if found is None:
            with self.engine.begin() as conn:
                count_failures(conn, list(keys), now)
        return found

    def _progress(self, receipt_no: str, proof: Proof) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(
                    applications.c.receipt_no,
                    applications.c.item_name,
                    applications.c.state,
                    applications.c.id_tail,
                    applications.c.terminal_id,
                ).where(applications.c.receipt_no == receipt_no, VISIBLE)
            ).first()
            if row is None or not _proven(conn, row, proof):
                return None
            history = timeline(conn, receipt_no, with_staff=False)
        return {
            "receipt_no": row.receipt_no,
            "item_name": row.item_name,
            "state": row.state,
            "timeline": history,
        }


def _proven(conn: Connection, row: Any, proof: Proof) -> bool:
    if proof.id_tail is not None:
        return hmac.compare_digest(row.id_tail, proof.id_tail.upper())
    key = key_of(conn, row.terminal_id)
    return key is not None and hmac.compare_digest(receipt_token(key, row.receipt_no), proof.token or "")
