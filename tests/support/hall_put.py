"""Talking to the real hall as a terminal does, for the hall's tests: signed requests, and whole
applications put through the three steps of docs/submission-protocol.md (create, parts, commit).

Plain `requests` plus kiosk.core.signing rather than the kiosk's HallClient: these tests are about
the hall, and must see its exact statuses and error bodies.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import requests

from kiosk.core.signing import signed_headers

CHUNK = 256 * 1024  # as the terminal's uploader sends them


class Refused(Exception):
    """The hall answered a step with an error: its status and error body."""

    def __init__(self, step: str, response: requests.Response) -> None:
        self.step = step
        self.status = response.status_code
        error = response.json()["error"]
        self.code: str = error["code"]
        self.message: str = error["message"]
        self.body: dict[str, Any] = error
        super().__init__(f"{step}: {self.status} {self.code}: {self.message}")


def signed(
    base_url: str,
    method: str,
    target: str,
    key: bytes,
    terminal_id: str,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
    now: float | None = None,
) -> requests.Response:
    """A request signed as the terminal signs it; `target` is the path and query exactly as sent."""
    signature = signed_headers(key, terminal_id, method, target, body, now=now)
    return requests.request(method, base_url + target, data=body, headers={**(headers or {}), **signature}, timeout=10)


def part_name(material_id: str, page: int) -> str:
    """A part's name in a manifest: page 0 is the material's PDF."""
    return f"{material_id}/document.pdf" if page == 0 else f"{material_id}/{page}.jpg"


def manifest_body(application: dict[str, Any], pages: list[tuple[str, int, bytes]]) -> bytes:
    """The body of step 1 (PUT /v1/applications/{receipt_no}) for `application` made of `pages`."""
    parts = [
        {"name": part_name(m, p), "sha256": hashlib.sha256(data).hexdigest(), "size": len(data)} for m, p, data in pages
    ]
    return json.dumps({"application": application, "parts": parts}, ensure_ascii=False).encode("utf-8")


def put_application(
    base_url: str,
    application: dict[str, Any],
    pages: list[tuple[str, int, bytes]],
    key: bytes,
    terminal_id: str | None = None,
) -> dict[str, Any]:
    """Create, upload every part the hall is missing, commit; the commit's answer. Raises Refused.

    `pages` are (material id, page from 1 or 0 for a PDF, bytes). Signed as `terminal_id` with `key`
    (default: the terminal the application names).
    """
    terminal_id = terminal_id or application["terminal_id"]
    receipt_no = application["receipt_no"]

    def send(step: str, method: str, target: str, body: bytes = b"", **headers: str) -> dict[str, Any]:
        response = signed(base_url, method, target, key, terminal_id, body, headers)
        if response.status_code >= 400:
            raise Refused(step, response)
        return dict(response.json())

    manifest = manifest_body(application, pages)
    created = send("create", "PUT", f"/v1/applications/{receipt_no}", manifest, **{"Content-Type": "application/json"})
    by_hash = {hashlib.sha256(data).hexdigest(): data for _, _, data in pages}
    for sha256 in created["missing"]:
        data = by_hash[sha256]
        for start in range(created["received"].get(sha256, 0), len(data), CHUNK):
            chunk = data[start : start + CHUNK]
            content_range = f"bytes {start}-{start + len(chunk) - 1}/{len(data)}"
            send("part", "PUT", f"/v1/blobs/{sha256}", chunk, **{"Content-Range": content_range})
    return send("commit", "POST", f"/v1/applications/{receipt_no}/commit")
