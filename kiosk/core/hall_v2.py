"""The terminal's client for submission protocol v2 (docs/submission-protocol.md): create, parts, commit.

Every request is signed (kiosk.core.signing) over exactly what goes on the wire: the request is
prepared first, then its path, query and body are signed, so nothing requests changes afterwards
can make the signature disagree with the bytes sent.

Errors are HallErrors with the codes of kiosk.core.hall_client (hall.unreachable,
hall.server_error, hall.rejected, hall.not_found); params carry `status`, the hall's
`server_code`, and where the hall gives them `server_time` with our `clock_skew_s` (401 stale) and
`received` (409 offset).
As in hall_client, nothing personal is logged: the operation, the status and the hall's code.
A SignedHall holds a requests.Session: one per thread.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from typing import Any

import requests

from kiosk.core.errors import HallError
from kiosk.core.hall_client import _error_body, _seg, json_object
from kiosk.core.signing import signed_headers

log = logging.getLogger("kiosk.hall")
EXTRA_FIELDS = ("server_time", "received")  # error fields the uploader acts on; nothing else is kept


class SignedHall:
    def __init__(
        self,
        base_url: str,
        key: bytes,
        terminal_id: str,
        timeout: float = 15.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.base_url = str(base_url).rstrip("/")
        self.terminal_id = terminal_id
        self.timeout = timeout
        self._key = key
        self._clock = clock
        self._http = requests.Session()

    def close(self) -> None:
        self._http.close()

    def create(self, receipt_no: str, application: dict[str, Any], parts: list[tuple[str, str, int]]) -> dict[str, Any]:
        """Step 1: {"receipt_no", "state", "missing": [sha256…], "received": {sha256: bytes}}."""
        body = {"application": application, "parts": [{"name": n, "sha256": s, "size": z} for n, s, z in parts]}
        encoded = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        response = self._send(
            "PUT", f"/v1/applications/{_seg(receipt_no)}", op="create", body=encoded, content_type="application/json"
        )
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
            content_type="application/octet-stream",
            extra_headers={"Content-Range": f"bytes {start}-{start + len(data) - 1}/{total}"},
        )
        return json_object(response, "part")

    def commit(self, receipt_no: str) -> dict[str, Any]:
        """Step 3: {"receipt_no", "state": "committed", "documents": [...]}."""
        response = self._send("POST", f"/v1/applications/{_seg(receipt_no)}/commit", op="commit")
        return json_object(response, "commit")

    def _send(
        self,
        method: str,
        path: str,
        *,
        op: str,
        body: bytes = b"",
        content_type: str | None = None,
        extra_headers: dict[str, str] | None = None,
    ) -> requests.Response:
        headers = dict(extra_headers or {})
        if content_type:
            headers["Content-Type"] = content_type
        request = requests.Request(method, self.base_url + path, data=body, headers=headers)
        prepared = self._http.prepare_request(request)
        sent = bytes(prepared.body or b"")  # always bytes here: we only pass bytes
        now = self._clock()
        prepared.headers.update(signed_headers(self._key, self.terminal_id, method, prepared.path_url, sent, now=now))
        settings = self._http.merge_environment_settings(prepared.url, {}, None, None, None)  # proxies from env
        start = time.monotonic()
        try:
            response = self._http.send(prepared, timeout=self.timeout, **settings)
        except requests.RequestException as exc:
            # Only the exception's type: its text holds the URL.
            log.warning("hall %s: unreachable (%s)", op, type(exc).__name__)
            raise HallError(f"{op}: hall unreachable ({type(exc).__name__})", code="hall.unreachable") from None
        status = response.status_code
        if status < 400:
            log.debug("hall %s: %d in %.0f ms", op, status, (time.monotonic() - start) * 1000)
            return response
        server_code, server_message = _error_body(response)
        log.warning("hall %s: %d %s", op, status, server_code or "-")
        params: dict[str, Any] = {"status": status, "server_code": server_code, **_extras(response)}
        if "server_time" in params:  # how far our signing clock is from the hall's (negative: behind)
            params["clock_skew_s"] = round(now - params["server_time"])
        detail = f"{op}: HTTP {status} {server_code or ''} {server_message or ''}".rstrip()
        if status >= 500:
            raise HallError(detail, code="hall.server_error", **params)
        if status == 404:
            raise HallError(detail, code="hall.not_found", **params)
        raise HallError(detail, code="hall.rejected", **params)


def _extras(response: requests.Response) -> dict[str, Any]:
    """server_time / received from an error answer, at its top level or inside "error"."""
    try:
        body = response.json()
    except ValueError:
        return {}
    if not isinstance(body, dict):
        return {}
    fields = {**body, **(body.get("error") if isinstance(body.get("error"), dict) else {})}
    return {k: fields[k] for k in EXTRA_FIELDS if isinstance(fields.get(k), int | float)}
