"""The kiosk's side of the hall API (see hall/app.py for the server), over `requests`.

Every failure is a HallError whose code tells the caller what to do:
  hall.unreachable   no answer (connection refused, DNS, timeout): keep it in the outbox, retry later
  hall.server_error  the hall answered 5xx or garbage: retry later
  hall.rejected      4xx other than 404: retrying the same request will not help; params carry
                     `status` and the hall's own `server_code` (e.g. hall.invalid, hall.conflict)
  hall.not_found     404 (unknown receipt number, or wrong ID tail in a progress query)

Session ids: each method takes `session_id` (sent as X-Session-Id when not empty) rather than the
client holding one, because one client serves several sessions at once: the outbox worker drains
applications of sessions long ended while the screen runs a new one. submit() and rate() default
to the session id inside the application / rating.

No personal data goes into log lines or exception messages: only the operation, the HTTP status
and the hall's error code; never a URL (a progress query's URL holds part of an ID number).
A HallClient holds a requests.Session, which is not meant to be shared between threads: give each
thread its own client.
"""

from __future__ import annotations

import json
import logging
import time
from types import TracebackType
from typing import Any, Self
from urllib.parse import quote

import requests

from kiosk.core.errors import HallError

PDF_NAME = "document.pdf"  # a material's PDF, beside its pages: <material_id>/document.pdf
log = logging.getLogger("kiosk.hall")


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


class HallClient:
    def __init__(self, base_url: str, timeout: float, terminal_id: str) -> None:
        self.base_url = str(base_url).rstrip("/")  # pydantic's HttpUrl adds a trailing slash
        self.timeout = timeout
        self.terminal_id = terminal_id
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

    # -- API --------------------------------------------------------------------------------------

    def health(self) -> bool:
        """True if the hall answers and says it is well. Never raises."""
        try:
            response = self._send("GET", "/v1/health", op="health", session_id="")
            return bool(response.json().get("status") == "ok")
        except (HallError, ValueError, AttributeError):
            return False

    def submit(
        self,
        application: dict[str, Any],
        pages: list[tuple[str, int, bytes]],
        session_id: str = "",
        pdfs: list[tuple[str, bytes]] | None = None,
    ) -> dict[str, Any]:
        """Send an application with its pages (material_id, page from 1, JPEG bytes) and, optionally,
        one PDF per material (material_id, PDF bytes).

        Safe to repeat: the hall answers a resubmission of the same content with the stored record
        (200 instead of 201). Returns {"receipt_no", "state", "received_at"}.
        """
        files = [("pages", (f"{material_id}/{page}.jpg", data, "image/jpeg")) for material_id, page, data in pages]
        files += [("pages", (f"{material_id}/{PDF_NAME}", data, "application/pdf")) for material_id, data in pdfs or []]
        response = self._send(
            "POST",
            "/v1/applications",
            op="submit",
            session_id=session_id or str(application.get("session_id", "")),
            data={"application": json.dumps(application, ensure_ascii=False)},
            files=files,
        )
        return json_object(response, "submit")

    def application(self, receipt_no: str, session_id: str = "") -> dict[str, Any]:
        """The hall's full record of one application (staff view: documents, timeline)."""
        response = self._send("GET", f"/v1/applications/{_seg(receipt_no)}", op="application", session_id=session_id)
        return json_object(response, "application")

    def document(self, receipt_no: str, material_id: str, page: int, session_id: str = "") -> bytes:
        """One stored page image, as the hall keeps it."""
        path = f"/v1/applications/{_seg(receipt_no)}/documents/{_seg(material_id)}/{_seg(page)}"
        return self._send("GET", path, op="document", session_id=session_id).content

    def progress(self, receipt_no: str, id_tail: str, session_id: str = "") -> dict[str, Any]:
        """The citizen's progress query: receipt number plus the last 6 characters of the ID number.

        Returns {"receipt_no", "item_name", "state", "timeline"}; hall.not_found for an unknown
        number or a wrong tail alike.
        """
        response = self._send(
            "GET",
            "/v1/progress",
            op="progress",
            session_id=session_id,
            params={"receipt_no": receipt_no, "id_tail": id_tail},
        )
        return json_object(response, "progress")

    def appointment(self, code: str, session_id: str = "") -> dict[str, Any]:
        """An appointment or pre-review code: {"code", "kind", "item_id", "slot"}; hall.not_found if unknown."""
        response = self._send("GET", f"/v1/appointments/{_seg(code)}", op="appointment", session_id=session_id)
        return json_object(response, "appointment")

    def rate(self, rating: dict[str, Any], session_id: str = "") -> dict[str, Any]:
        """Send a 好差评 rating. Returns {"id", "received_at"}. Safe to repeat for the same session."""
        response = self._send(
            "POST",
            "/v1/ratings",
            op="rate",
            session_id=session_id or str(rating.get("session_id", "")),
            json=rating,
        )
        return json_object(response, "rate")

    # -- plumbing ---------------------------------------------------------------------------------

    def _send(self, method: str, path: str, *, op: str, session_id: str, **kwargs: Any) -> requests.Response:
        headers = {"X-Terminal-Id": self.terminal_id}
        if session_id:
            headers["X-Session-Id"] = session_id
        start = time.monotonic()
        try:
            response = self._http.request(method, self.base_url + path, headers=headers, timeout=self.timeout, **kwargs)
        except requests.RequestException as exc:
            # Only the exception's type: its text contains the URL, and with it any query string.
            log.warning("hall %s: unreachable (%s) session=%s", op, type(exc).__name__, session_id or "-")
            raise HallError(f"{op}: hall unreachable ({type(exc).__name__})", code="hall.unreachable") from None
        elapsed_ms = (time.monotonic() - start) * 1000
        status = response.status_code
        if status < 400:
            log.info("hall %s: %d in %.0f ms session=%s", op, status, elapsed_ms, session_id or "-")
            return response
        server_code, server_message = _error_body(response)
        log.warning("hall %s: %d %s session=%s", op, status, server_code or "-", session_id or "-")
        detail = f"{op}: HTTP {status} {server_code or ''} {server_message or ''}".rstrip()
        if status >= 500:
            raise HallError(detail, code="hall.server_error", status=status, server_code=server_code)
        if status == 404:
            raise HallError(detail, code="hall.not_found", status=status, server_code=server_code)
        raise HallError(detail, code="hall.rejected", status=status, server_code=server_code)


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
