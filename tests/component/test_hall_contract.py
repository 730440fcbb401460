"""The hall keeps the contract its own OpenAPI document states (schemathesis, property-based).

The document is read over HTTP from a running hall (/openapi.json), and every operation in it is
called with generated inputs, valid and not: no answer may be a 5xx, and every answer must have a
status code, content type and body the document declares for that operation.

Nothing in the document is excluded. The citizen's progress pages (/progress/…, HTML) are not in it
(include_in_schema=False in hall.web: they are a browser form, not API) and have their own tests
in test_hall_pages.py.

Like every tests/component/test_hall*.py, this runs on SQLite and on PostgreSQL (tests/conftest.py).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import APIOperation, Case, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from kiosk.core.signing import signed_headers
from tests.support.staff import STAFF_AUTH
from tests.support.terminal_keys import TERMINAL_KEYS

TERMINAL_ID = "TEST0001"

# The terminal's requests (docs/submission-protocol.md, "Signing"): the document declares their 401.
SIGNED = {
    "PUT /v1/applications/{receipt_no}",
    "POST /v1/applications/{receipt_no}/commit",
    "PUT /v1/blobs/{sha256}",
    "HEAD /v1/blobs/{sha256}",
    "GET /v1/progress",
    "POST /v1/ratings",
    "GET /v1/appointments/{code}",
    "GET /v1/catalogue",
    "POST /v1/terminals/{terminal_id}/heartbeat",
}
MAX_EXAMPLES = 60  # per operation: both databases in well under a minute
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


class TerminalSignature(requests.auth.AuthBase):
    """Signs the request exactly as it goes on the wire: method, path and query, body bytes."""

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        body = request.body or b""
        if isinstance(body, str):
            body = body.encode("utf-8")
        assert request.method is not None
        request.headers.update(
            signed_headers(TERMINAL_KEYS[TERMINAL_ID], TERMINAL_ID, request.method, request.path_url, body)
        )
        return request


def _seed(url: str) -> dict[str, list[Any]]:
    """Make, through the API, one committed application with its page, one still open and one appointment: the
    values to look them up by, which generated lookups use now and then, so that the document's 200 answers
    are checked against real records too, not only its 404s."""
    key = TERMINAL_KEYS[TERMINAL_ID]
    committed, still_open = f"{TERMINAL_ID}-20260101-00011", f"{TERMINAL_ID}-20260101-00029"
    pages = {committed: b"page one", still_open: b"a page never sent"}

    def send(method: str, path: str, body: bytes, **headers: str) -> requests.Response:
        headers.update(signed_headers(key, TERMINAL_ID, method, path, body))
        response = requests.request(method, url + path, data=body, headers=headers, timeout=10)
        response.raise_for_status()
        return response

    for receipt_no, page in pages.items():
        application = {
            "receipt_no": receipt_no,
            "terminal_id": TERMINAL_ID,
            "session_id": f"session-{receipt_no}",
            "item_id": "item-1",
            "item_name": "居住证签注",
            "submitted_at": "2026-01-01T09:30:00+08:00",
            "applicant": {"name": "张三", "id_number": "11010119900101123X"},
            "form": {},
            "materials": [{"id": "id-card", "name": "身份证", "pages": 1}],
        }
        part = {"name": "id-card/1.jpg", "sha256": hashlib.sha256(page).hexdigest(), "size": len(page)}
        send(
            "PUT", f"/v1/applications/{receipt_no}", json.dumps({"application": application, "parts": [part]}).encode()
        )
    page = pages[committed]
    send(
        "PUT",
        f"/v1/blobs/{hashlib.sha256(page).hexdigest()}",
        page,
        **{"Content-Range": f"bytes 0-{len(page) - 1}/{len(page)}"},
    )
    send("POST", f"/v1/applications/{committed}/commit", b"")
    appointment = {"code": "APPT2026", "kind": "appointment", "item_id": "item-1", "slot": "2026-01-02T10:00:00+08:00"}
    requests.post(f"{url}/v1/appointments", json=appointment, auth=STAFF_AUTH, timeout=10).raise_for_status()
    etag = send("GET", "/v1/catalogue", b"").headers["ETag"]
    return {
        "receipt_no": [committed, still_open],
        "id_tail": ["01123X"],
        "material_id": ["id-card"],
        "page": [1],
        "code": [appointment["code"]],
        "sha256": [hashlib.sha256(page).hexdigest()],
        "terminal_id": [TERMINAL_ID],
        "etag": [etag],
    }


@st.composite
def _cases(draw: st.DrawFn, operation: APIOperation, known: dict[str, list[Any]]) -> Case:
    """Invalid inputs as generated; valid ones made consistent where the document cannot say how, so that they
    get past the first check to the store: lookups sometimes by a seeded record's values, a manifest names the
    receipt number of its path and the signing terminal, as a rating does, a blob is named by a SHA-256 and a
    chunk's Content-Range fits its body, and a catalogue request now and then names the current version (304)."""
    if draw(st.booleans()):
        return draw(operation.as_strategy(GenerationMode.NEGATIVE))
    case = draw(operation.as_strategy(GenerationMode.POSITIVE))
    for parameters in (case.path_parameters, case.query):
        for name in (parameters or {}).keys() & known.keys():
            if draw(st.booleans()):
                parameters[name] = draw(st.sampled_from(known[name]))
    if operation.label == "PUT /v1/applications/{receipt_no}":
        application = case.body["application"]
        case.path_parameters["receipt_no"] = application["receipt_no"]
        application["terminal_id"] = TERMINAL_ID
    elif operation.label == "POST /v1/ratings":
        case.body["terminal_id"] = TERMINAL_ID
    elif operation.label == "GET /v1/catalogue" and draw(st.booleans()):
        case.headers = {**(case.headers or {}), "If-None-Match": known["etag"][0]}
    elif operation.label == "PUT /v1/blobs/{sha256}":
        body = case.body.data  # schemathesis wraps generated binary bodies
        case.headers["Content-Range"] = f"bytes 0-{len(body) - 1}/{len(body)}" if body else "bytes 0-0/1"
        named = body if draw(st.booleans()) else draw(st.binary(max_size=8))  # else: a hash mismatch, 422
        case.path_parameters["sha256"] = hashlib.sha256(named).hexdigest()
    elif operation.label == "HEAD /v1/blobs/{sha256}" and case.path_parameters["sha256"] not in known["sha256"]:
        case.path_parameters["sha256"] = hashlib.sha256(draw(st.binary(max_size=8))).hexdigest()
    return case


def _credentials(operation: APIOperation) -> requests.auth.AuthBase | tuple[str, str] | None:
    """What the operation's caller proves itself with: a terminal's signature, a staff account (the document's
    `security` asks for it: docs/submission-protocol.md, "Staff access"), or nothing."""
    if operation.label in SIGNED:
        return TerminalSignature()
    if operation.definition.raw.get("security"):
        return STAFF_AUTH
    return None


def _operation_test(operation: APIOperation, known: dict[str, list[Any]]) -> Callable[[], None]:
    # Signed and staff operations go out without their credentials now and then too (staff ones then with the
    # random Basic credentials schemathesis makes from the document): their 401 is part of the contract.
    @given(case=_cases(operation, known), signed=st.sampled_from((True, True, True, False)))
    @settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
    def run(case: Case, signed: bool) -> None:
        auth = _credentials(operation) if signed else None
        case.call_and_validate(checks=CHECKS, auth=auth)

    return run


def test_hall_keeps_its_openapi_contract(hall_server: Any, subtests: pytest.Subtests) -> None:
    # Built by hand rather than with schemathesis.pytest.from_fixture, whose lazy schema fails on pytest 9.2
    # (it sets the private Function._nodeid).
    schema = schemathesis.openapi.from_url(f"{hall_server.url}/openapi.json")
    schema.config.update(base_url=hall_server.url)
    known = _seed(hall_server.url)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {op.label for op in operations} >= SIGNED
    for operation in operations:
        with subtests.test(operation.label):
            _operation_test(operation, known)()
