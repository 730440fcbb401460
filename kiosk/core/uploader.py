"""The worker that drains the outbox to the hall (docs/submission-protocol.md, "Terminal side").

One application at a time, oldest due first: create → send what the hall is missing, from the
offset it already holds, in 256 KiB chunks → commit → outbox.mark_done. Every step is idempotent
at the hall, so a try cut off anywhere is simply tried again from the start.

What a failure means:
  no answer, 5xx, 401 stale (after the client has learnt the hall's clock and tried once more)
  or replay, 409 hall.incomplete, repeated 409 hall.blob.offset
      → try again later, after 1 s doubling to 5 min with full jitter (spreads a fleet's retries
        after a hall outage);
  409 hall.conflict, 422 and every other 4xx → parked for a technician (state stuck): sending
        the same request again would get the same answer;
  422 hall.blob.hash → that blob is sent again from 0 once (it hashed right here, so it was
        damaged on the way), then parked.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

from kiosk.core.errors import HallError, KioskError
from kiosk.core.outbox import Item, Outbox
from kiosk.core.protocol import HallErrorCode

log = logging.getLogger(__name__)

CHUNK_BYTES = 256 * 1024
BACKOFF_BASE_S = 1.0
BACKOFF_CAP_S = 300.0
IDLE_S = 2.0  # between rounds when nothing was due or a try failed
STOP_POLL_S = 0.1  # how soon run() notices `stop` while idle
MAX_OFFSET_FIXES = 3  # 409 hall.blob.offset answers per blob and try: more means the hall and we disagree
RETRY_CODES = frozenset({"hall.unreachable", "hall.server_error"})
RETRY_SERVER_CODES = frozenset(
    {
        HallErrorCode.SIGNATURE_STALE,
        HallErrorCode.SIGNATURE_REPLAY,
        HallErrorCode.INCOMPLETE,
        HallErrorCode.BLOB_OFFSET,
    }
)


class Hall(Protocol):
    """What the uploader needs of the hall (kiosk.core.hall_client.HallClient)."""

    def create(
        self, receipt_no: str, application: dict[str, Any], parts: list[tuple[str, str, int]]
    ) -> dict[str, Any]: ...
    def head_blob(self, sha256: str) -> int | None: ...
    def put_chunk(self, sha256: str, start: int, data: bytes, total: int) -> dict[str, Any]: ...
    def commit(self, receipt_no: str) -> dict[str, Any]: ...
    def rate(self, rating: dict[str, Any]) -> dict[str, Any]: ...


class Uploader:
    def __init__(
        self,
        outbox: Outbox,
        hall: Hall,
        clock: Callable[[], float] = time.time,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self._outbox = outbox
        self._hall = hall
        self._clock = clock
        self._rng = rng
        self._wake = threading.Event()
        self._delivered: set[str] = set()  # committed since someone last asked: see wait_delivered
        self._done = threading.Condition()

    def wake(self) -> None:
        """Drain now rather than at the next round (call after an enqueue)."""
        self._wake.set()

    def wait_delivered(self, receipt_no: str, timeout: float) -> bool:
        """Until the hall has committed `receipt_no` (True) or `timeout` s have passed (False).

        The journey asks this right after an enqueue: a receipt printed before the hall has the
        application says 待上传."""
        with self._done:
            delivered = self._done.wait_for(lambda: receipt_no in self._delivered, timeout)
            self._delivered.discard(receipt_no)
            return delivered

    def run(self, stop: threading.Event) -> None:
        """Drain until `stop` is set: straight on after a delivery, after IDLE_S otherwise."""
        while not stop.is_set():
            try:
                delivered = self.drain_once()
            except Exception as exc:  # the worker must outlive a bad round; the type says enough
                log.error("uploader: round failed (%s)", type(exc).__name__)
                delivered = None
            if delivered is None:
                self._idle(stop)

    def _idle(self, stop: threading.Event) -> None:
        deadline = time.monotonic() + IDLE_S
        while not stop.is_set() and (left := deadline - time.monotonic()) > 0:
            if self._wake.wait(min(left, STOP_POLL_S)):
                break
        self._wake.clear()

    def drain_once(self) -> str | None:
        """Try the oldest due application once (a rating when none is due): the receipt number the
        hall committed (the session id of the rating it took), else None."""
        item = self._outbox.next_due(self._clock())
        if item is None:
            return self._rate_once()
        try:
            self._deliver(item)
        except HallError as exc:
            self._failed(item.receipt_no, item.attempts, exc, "applications")
            return None
        except KioskError as exc:  # a part no longer opens here: nothing to send, a technician looks
            log.error("uploader: %s parked: %s", item.receipt_no, exc.code)
            self._outbox.mark_stuck(item.receipt_no, exc.code)
            return None
        self._outbox.mark_done(item.receipt_no)
        with self._done:
            self._delivered.add(item.receipt_no)
            self._done.notify_all()
        log.info("uploader: %s delivered after %d failed tries", item.receipt_no, item.attempts)
        return item.receipt_no

    def _rate_once(self) -> str | None:
        rating = self._outbox.next_rating_due(self._clock())
        if rating is None:
            return None
        try:
            self._hall.rate(rating.rating)
        except HallError as exc:
            self._failed(rating.session_id, rating.attempts, exc, "ratings")
            return None
        self._outbox.mark_rating_done(rating.session_id)
        return rating.session_id

    def _deliver(self, item: Item) -> None:
        answer = self._hall.create(item.receipt_no, item.application, item.parts)
        manifest = {sha for _, sha, _ in item.parts}
        missing, received = answer.get("missing") or [], answer.get("received") or {}
        if not isinstance(missing, list) or not isinstance(received, dict) or not set(missing) <= manifest:
            raise HallError("create: the hall's answer does not fit our manifest", code="hall.server_error")
        for sha in missing:
            held = received.get(sha, 0)
            self._send_blob(sha, max(held, 0) if isinstance(held, int) else 0)
        self._hall.commit(item.receipt_no)

    def _send_blob(self, sha: str, offset: int) -> None:
        data = self._outbox.part_bytes(sha)
        resent, fixes = False, 0
        while offset < len(data):
            chunk = data[offset : offset + CHUNK_BYTES]
            try:
                answer = self._hall.put_chunk(sha, offset, chunk, len(data))
            except HallError as exc:
                server_code = exc.params.get("server_code")
                if server_code == HallErrorCode.BLOB_OFFSET and fixes < MAX_OFFSET_FIXES:
                    fixes += 1
                    offset = self._hall.head_blob(sha) or 0
                    continue
                if server_code == HallErrorCode.BLOB_HASH and not resent:
                    resent, offset = True, 0
                    continue
                raise
            # The hall may say it holds more (e.g. the blob was already complete): skip ahead.
            held = answer.get("received")
            offset = held if isinstance(held, int) and held > offset else offset + len(chunk)

    def _failed(self, key: str, attempts: int, exc: HallError, table: str) -> None:
        server_code = exc.params.get("server_code")
        reason = server_code or exc.code
        if exc.code in RETRY_CODES or server_code in RETRY_SERVER_CODES:
            # The exponent is capped too: 2.0 ** 1024 would overflow a float.
            delay = self._rng() * min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2 ** min(attempts, 30))
            self._outbox.mark_retry(key, reason, self._clock() + delay, table)
            log.warning("uploader: %s not delivered (%s), next try in %.1f s", key, reason, delay)
        else:
            self._outbox.mark_stuck(key, reason, table)
            log.error("uploader: %s parked for a technician (%s)", key, reason)
