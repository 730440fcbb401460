"""The terminal's side of the hall API (hall/app.py is the server), over `requests`.

Every request is signed (kiosk.core.signing, docs/submission-protocol.md) over exactly what goes on
the wire: the request is prepared first, then its path, query and body are signed, so nothing
requests changes afterwards can make the signature disagree with the bytes sent.

Every failure is a HallError whose code tells the caller what to do:
  hall.unreachable   no answer (connection refused, DNS, timeout): keep it in the outbox, retry later
  hall.server_error  the hall answered 5xx or garbage: retry later
  hall.rejected      4xx other than 404: retrying the same request will not help; params carry
                     `status` and the hall's own `server_code` (e.g. hall.invalid, hall.conflict)
  hall.not_found     404 (unknown receipt number, or wrong ID tail in a progress query)
params also carry, where the hall gives them, `server_time`, `received` (409 offset) and
`retry_after` (429).

Clock skew: a terminal whose clock is off by more than the hall's window gets 401 stale with the
hall's time. The client then signs with the hall's time from there on (a HallClock shared by every
client of the terminal) and sends the request once more, so a wrong clock never stops submissions.

Session ids: each method takes `session_id` (sent as X-Session-Id when not empty) rather than the
client holding one, because one client serves several sessions: the outbox worker drains
applications of sessions long ended while the screen runs a new one.

No personal data goes into log lines or exception messages: only the operation, the HTTP status
and the hall's error code; never a URL (a progress query's URL holds part of an ID number).
A HallClient holds a requests.Session, which is not meant to be shared between threads: give each
thread its own client.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any, Self
from urllib.parse import quote

import requests
from pydantic import ValidationError

from kiosk.core.errors import HallError
from kiosk.core.protocol import HallErrorCode, manifest, refusal
from kiosk.core.signing import signed_headers

log = logging.getLogger("kiosk.hall")
EXTRA_FIELDS = ("server_time", "received", "retry_after")  # error fields callers act on; nothing else is kept


class _NoQueryStrings(logging.Filter):
    """urllib3 logs each request's URL at DEBUG, query string included: a progress query's holds
    part of an ID number. This cuts query strings off those records, whoever sent the request."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                a.split("?", 1)[0] + "?…" if isinstance(a, str) and "?" in a else a for a in record.args
            )
        return True


logging.getLogger("urllib3.connectionpool").addFilter(_NoQueryStrings())


def _seg(value: str | int) -> str:
    return quote(str(value), safe="")


class HallClock:
    """The time the terminal signs with: its own clock plus what the hall last said it is off by."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._offset = 0.0
        self._lock = threading.Lock()

    def now(self) -> float:
        with self._lock:
            return self._clock() + self._offset

    @property
    def skew_s(self) -> float:
        """How far the terminal's own clock is behind the hall's (negative: ahead), as last learnt."""
        with self._lock:
            return self._offset

    def learn(self, server_time: float, signed_at: float) -> None:
        """The hall refused a request signed at `signed_at` (our hall time) and said it was `server_time`."""
        with self._lock:
            self._offset += server_time - signed_at
        log.warning("hall: this terminal's clock is %+.0f s off the hall's; signing with the hall's", -self._offset)


class HallClient:
    def __init__(
        self,
        base_url: str,
        key: bytes,
        terminal_id: str,
        timeout: float = 15.0,
        clock: HallClock | None = None,
        on_answer: Callable[[bool], None] | None = None,
    ) -> None:
        """`on_answer(reachable)` hears of every exchange: False for no answer or a 5xx (the
        offline indicator listens); `clock` is shared by all of a terminal's clients."""
        self.base_url = str(base_url).rstrip("/")  # pydantic's HttpUrl adds a trailing slash
        self.terminal_id = terminal_id
        self.timeout = timeout
        self.clock = clock or HallClock()
        self._key = key
        self._on_answer = on_answer
        self._http = requests.Session()

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- the citizen's requests -------------------------------------------------------------------

    def health(self) -> bool:
        """True if the hall answers and says it is well. Never raises."""
        try:
            return json_object(self._send("GET", "/v1/health", op="health"), "health").get("status") == "ok"
        except HallError:
            return False

    def progress(self, receipt_no: str, *, id_tail: str = "", token: str = "", session_id: str = "") -> dict[str, Any]:
        """The citizen's progress query: receipt number plus the last 6 characters of the ID number,
        or the token of the receipt's QR link.

        Returns {"receipt_no", "item_name", "state", "timeline"}; hall.not_found for an unknown
        number or a wrong tail/token alike; 429 hall.progress.locked after too many wrong tries.
        """
        params = {"receipt_no": receipt_no, **({"token": token} if token else {"id_tail": id_tail})}
        return json_object(
            self._send("GET", "/v1/progress", op="progress", session_id=session_id, params=params), "progress"
        )

    def appointment(self, code: str, session_id: str = "") -> dict[str, Any]:
        """An appointment or pre-review code: {"code", "kind", "item_id", "slot"}; hall.not_found if unknown."""
        response = self._send("GET", f"/v1/appointments/{_seg(code)}", op="appointment", session_id=session_id)
        return json_object(response, "appointment")

    def rate(self, rating: dict[str, Any]) -> dict[str, Any]:
        """Send a 好差评 rating. Returns {"id", "received_at"}. Safe to repeat for the same session."""
        response = self._send(
            "POST", "/v1/ratings", op="rate", session_id=str(rating.get("session_id", "")), json_body=rating
        )
        return json_object(response, "rate")

    # -- the terminal's own -----------------------------------------------------------------------

    def catalogue(self, etag: str | None) -> dict[str, Any] | None:
        """The hall's service catalogue {"version", "items"}; None when it is still `etag`'s."""
        headers = {"If-None-Match": f'"{etag}"'} if etag else {}
        response = self._send("GET", "/v1/catalogue", op="catalogue", extra_headers=headers)
        return None if response.status_code == 304 else json_object(response, "catalogue")

    def heartbeat(self, report: dict[str, Any]) -> dict[str, Any]:
        """The terminal's health for the hall's dashboard; the answer names the hall's catalogue version."""
        path = f"/v1/terminals/{_seg(self.terminal_id)}/heartbeat"
        return json_object(self._send("POST", path, op="heartbeat", json_body=report), "heartbeat")

    # -- submitting (docs/submission-protocol.md) -------------------------------------------------

    def create(self, receipt_no: str, application: dict[str, Any], parts: list[tuple[str, str, int]]) -> dict[str, Any]:
        """Step 1: {"receipt_no", "state", "missing": [sha256…], "received": {sha256: bytes}}. `application`
        goes as it was queued; hall.rejected, before anything is sent, for a part the hall would refuse."""
        try:
            body = manifest(application, parts)
        except ValidationError as exc:
            raise HallError(f"create: {refusal(exc)}", code="hall.rejected") from None
        response = self._send("PUT", f"/v1/applications/{_seg(receipt_no)}", op="create", json_body=body)
        return json_object(response, "create")

    def head_blob(self, sha256: str) -> int | None:
        """How many bytes of a blob the hall holds; None if it knows nothing of it."""
        try:
            response = self._send("HEAD", f"/v1/blobs/{_seg(sha256)}", op="head")
        except HallError as exc:
            if exc.code == "hall.not_found":
                return None
            raise
        try:
            return int(response.headers["Upload-Offset"])
        except (KeyError, ValueError):
            raise HallError("head: no Upload-Offset in the hall's answer", code="hall.server_error") from None

    def put_chunk(self, sha256: str, start: int, data: bytes, total: int) -> dict[str, Any]:
        """Step 2, one chunk: bytes start..start+len(data)-1 of a blob of `total` bytes."""
        response = self._send(
            "PUT",
            f"/v1/blobs/{_seg(sha256)}",
            op="part",
            body=data,
            extra_headers={
                "Content-Type": "application/octet-stream",
                "Content-Range": f"bytes {start}-{start + len(data) - 1}/{total}",
            },
        )
        return json_object(response, "part")

    def commit(self, receipt_no: str) -> dict[str, Any]:
        """Step 3: {"receipt_no", "state": "committed", "documents": [...]}."""
        return json_object(self._send("POST", f"/v1/applications/{_seg(receipt_no)}/commit", op="commit"), "commit")

    # -- plumbing ---------------------------------------------------------------------------------

    def _send(
        self,
        method: str,
        path: str,
        *,
        op: str,
        session_id: str = "",
        params: dict[str, str] | None = None,
        body: bytes = b"",
        json_body: dict[str, Any] | None = None,
        extra_headers: dict[str, str] | None = None,
    ) -> requests.Response:
        headers = dict(extra_headers or {})
        if json_body is not None:
            body = json.dumps(json_body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
            headers["Content-Type"] = "application/json"
        if session_id:
            headers["X-Session-Id"] = session_id
        prepared = self._http.prepare_request(
            requests.Request(method, self.base_url + path, params=params, data=body, headers=headers)
        )
        response, signed_at = self._exchange(prepared, op, session_id)
        server_code = _error_body(response)[0] if response.status_code == 401 else None
        if server_code == HallErrorCode.SIGNATURE_STALE and "server_time" in (extras := _extras(response)):
            self.clock.learn(extras["server_time"], signed_at)
            response, signed_at = self._exchange(prepared, op, session_id)  # with a fresh nonce
        return self._checked(response, op, session_id, signed_at)

    def _exchange(
        self, prepared: requests.PreparedRequest, op: str, session_id: str
    ) -> tuple[requests.Response, float]:
        """Sign (anew: a new timestamp and nonce) and send; the answer and the time it was signed at."""
        assert prepared.body is None or isinstance(prepared.body, bytes)  # we only pass bytes
        sent = prepared.body or b""
        now = self.clock.now()
        prepared.headers.update(
            signed_headers(self._key, self.terminal_id, prepared.method or "", prepared.path_url, sent, now=now)
        )
        settings = self._http.merge_environment_settings(prepared.url or "", {}, None, None, None)  # proxies from env
        start = time.monotonic()
        try:
            response = self._http.send(prepared, timeout=self.timeout, **settings)
        except requests.RequestException as exc:
            # Only the exception's type: its text holds the URL, and with it any query string.
            log.warning("hall %s: unreachable (%s) session=%s", op, type(exc).__name__, session_id or "-")
            self._heard(False)
            raise HallError(f"{op}: hall unreachable ({type(exc).__name__})", code="hall.unreachable") from None
        self._heard(response.status_code < 500)
        log.debug(
            "hall %s: %d in %.0f ms session=%s",
            op,
            response.status_code,
            (time.monotonic() - start) * 1000,
            session_id or "-",
        )
        return response, now

    def _heard(self, reachable: bool) -> None:
        if self._on_answer is not None:
            self._on_answer(reachable)

    def _checked(self, response: requests.Response, op: str, session_id: str, signed_at: float) -> requests.Response:
        status = response.status_code
        if status < 400:
            return response
        server_code, server_message = _error_body(response)
        log.warning("hall %s: %d %s session=%s", op, status, server_code or "-", session_id or "-")
        params: dict[str, Any] = {"status": status, "server_code": server_code, **_extras(response)}
        if "server_time" in params:  # how far our signing clock is from the hall's (negative: behind)
            params["clock_skew_s"] = round(signed_at - params["server_time"])
        detail = f"{op}: HTTP {status} {server_code or ''} {server_message or ''}".rstrip()
        if status >= 500:
            raise HallError(detail, code="hall.server_error", **params)
        if status == 404:
            raise HallError(detail, code="hall.not_found", **params)
        raise HallError(detail, code="hall.rejected", **params)


def json_object(response: requests.Response, op: str) -> dict[str, Any]:
    """The answer as a JSON object; an empty body (e.g. 204) is {}."""
    if not response.content:
        return {}
    try:
        body = response.json()
    except ValueError:
        raise HallError(f"{op}: the hall's answer is not JSON", code="hall.server_error") from None
    if not isinstance(body, dict):
        raise HallError(f"{op}: the hall's answer is not a JSON object", code="hall.server_error")
    return body


def _error_body(response: requests.Response) -> tuple[str | None, str | None]:
    """The hall's {"error": {"code", "message"}}, or (None, None) from something that is not the hall."""
    try:
        error = response.json().get("error")
        return str(error["code"]), str(error.get("message", ""))
    except (ValueError, AttributeError, KeyError, TypeError):
        return None, None


def _extras(response: requests.Response) -> dict[str, Any]:
    """server_time / received / retry_after from an error answer, at its top level or inside "error"."""
    try:
        body = response.json()
    except ValueError:
        return {}
    if not isinstance(body, dict):
        return {}
    error = body.get("error")
    fields = {**body, **(error if isinstance(error, dict) else {})}
    return {k: fields[k] for k in EXTRA_FIELDS if isinstance(fields.get(k), int | float)}
