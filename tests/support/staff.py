"""The test hall's staff account, and the staff view of an application through the API, for tests."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import requests

STAFF_NAME = "test-staff"
STAFF_PASSWORD = "correct horse battery staple"
STAFF_USERS = {STAFF_NAME: STAFF_PASSWORD}  # what a test hall is started with (tests/conftest.py: hall_server)
STAFF_AUTH = (STAFF_NAME, STAFF_PASSWORD)  # requests' `auth=`: HTTP Basic


def staff_get(base_url: str, path: str, **kwargs: Any) -> requests.Response:
    """GET a staff route as the test staff account."""
    return requests.get(base_url.rstrip("/") + path, auth=STAFF_AUTH, timeout=10, **kwargs)


def application(base_url: str, receipt_no: str) -> dict[str, Any]:
    """The hall's full record of one application (GET /v1/applications/{receipt_no}); raises on an error."""
    response = staff_get(base_url, f"/v1/applications/{quote(receipt_no, safe='')}")
    response.raise_for_status()
    return dict(response.json())


def document(base_url: str, receipt_no: str, material_id: str, page: int) -> bytes:
    """One stored page or PDF, as the hall keeps it; raises on an error."""
    path = f"/v1/applications/{quote(receipt_no, safe='')}/documents/{quote(material_id, safe='')}/{page}"
    response = staff_get(base_url, path)
    response.raise_for_status()
    return response.content
