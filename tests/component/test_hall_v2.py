"""The stepwise submission protocol (docs/submission-protocol.md) against the real hall over HTTP."""

from __future__ import annotations

import hashlib
import json
import os
import random
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from hall.server import EmbeddedHall
from kiosk.core.signing import MAX_SKEW_S, signed_headers
from tests.component.test_hall import ID_NUMBER, TERMINAL, make_application
from tests.support.halls import start_hall
from tests.support.staff import application, staff_get

KEY = bytes(range(32))
OTHER = "T0002"
OTHER_KEY = bytes(range(32, 64))
KEYS = {TERMINAL: KEY, OTHER: OTHER_KEY}
RECEIPT = "T0001-20240501-0001-K"
CHUNK = 256 * 1024
NAMES = ["id_card/1.jpg", "id_card/2.jpg", "hukou_book/1.jpg"]


@pytest.fixture
def hall(tmp_path: Path) -> Iterator[EmbeddedHall]:
    server = start_hall(tmp_path, keys=KEYS)
    yield server
    server.stop()


def send(
    hall: EmbeddedHall,
    method: str,
    target: str,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
    terminal: str = TERMINAL,
    key: bytes = KEY,
    now: float | None = None,
) -> requests.Response:
    """A signed request; `target` is the path and query exactly as sent, as the signature covers it."""
    signed = signed_headers(key, terminal, method, target, body, now=now)
    return requests.request(method, hall.url + target, data=body, headers={**signed, **(headers or {})}, timeout=10)


def blobs(seed: int = 0) -> list[bytes]:
    rng = random.Random(seed)
    return [rng.randbytes(500_000 + 1000 * i) for i in range(3)]


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def manifest(parts: list[bytes], receipt_no: str = RECEIPT, **changes: Any) -> dict[str, Any]:
    return {
        "application": make_application(receipt_no, **changes),
        "parts": [{"name": n, "sha256": sha(p), "size": len(p)} for n, p in zip(NAMES, parts, strict=True)],
    }


def create(hall: EmbeddedHall, body: dict[str, Any], **kwargs: Any) -> requests.Response:
    receipt_no = body["application"]["receipt_no"]
    return send(hall, "PUT", f"/v1/applications/{receipt_no}", json.dumps(body).encode(), **kwargs)


def put_chunk(hall: EmbeddedHall, data: bytes, start: int, end: int, **kwargs: Any) -> requests.Response:
    """Bytes start..end (inclusive) of `data`."""
    headers = {"Content-Range": f"bytes {start}-{end}/{len(data)}"}
    return send(hall, "PUT", f"/v1/blobs/{sha(data)}", data[start : end + 1], headers=headers, **kwargs)


def upload(hall: EmbeddedHall, data: bytes, start: int = 0) -> None:
    for offset in range(start, len(data), CHUNK):
        answer = put_chunk(hall, data, offset, min(offset + CHUNK, len(data)) - 1)
        assert answer.status_code == 200, answer.text
    assert answer.json() == {"sha256": sha(data), "received": len(data), "complete": True}


def head(hall: EmbeddedHall, sha256: str) -> requests.Response:
    return send(hall, "HEAD", f"/v1/blobs/{sha256}")


def commit(hall: EmbeddedHall, receipt_no: str = RECEIPT, **kwargs: Any) -> requests.Response:
    return send(hall, "POST", f"/v1/applications/{receipt_no}/commit", **kwargs)


def error(response: requests.Response) -> dict[str, Any]:
    return dict(response.json()["error"])


def listing(hall: EmbeddedHall) -> dict[str, Any]:
    return dict(staff_get(hall.url, "/v1/applications").json())


def stored_files(tmp_path: Path) -> list[Path]:
    return sorted(p for p in (tmp_path / "hall-documents").rglob("*") if p.is_file() and "staging" not in p.parts)


# -- the three steps --------------------------------------------------------------------------


def test_create_upload_commit_then_listed_with_identical_documents(hall: EmbeddedHall, tmp_path: Path) -> None:
    parts = blobs()
    created = create(hall, manifest(parts))
    assert created.status_code == 201, created.text
    assert created.json() == {
        "receipt_no": RECEIPT,
        "state": "open",
        "missing": [sha(p) for p in parts],
        "received": {sha(p): 0 for p in parts},
    }
    for data in parts:
        upload(hall, data)
    answer = commit(hall)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {
        "receipt_no": RECEIPT,
        "state": "committed",
        "documents": [{"name": n, "sha256": sha(p), "size": len(p)} for n, p in zip(NAMES, parts, strict=True)],
    }

    (item,) = listing(hall)["items"]
    assert item["receipt_no"] == RECEIPT
    assert item["state"] == "received"
    expected = {("id_card", 1): parts[0], ("id_card", 2): parts[1], ("hukou_book", 1): parts[2]}
    assert {(d["material_id"], d["page"]): (d["sha256"], d["size"]) for d in item["documents"]} == {
        key: (sha(data), len(data)) for key, data in expected.items()
    }
    for (material_id, page), data in expected.items():
        got = staff_get(hall.url, f"/v1/applications/{RECEIPT}/documents/{material_id}/{page}")
        assert got.status_code == 200
        assert sha(got.content) == sha(data)
        assert got.headers["content-type"] == "image/jpeg"
    record = application(hall.url, RECEIPT)
    assert [e["state"] for e in record["timeline"]] == ["received"]
    assert record["applicant"]["id_number"] == ID_NUMBER
    progress = send(hall, "GET", f"/v1/progress?receipt_no={RECEIPT}&id_tail={ID_NUMBER[-6:]}")
    assert progress.json()["state"] == "received"
    assert os.listdir(tmp_path / "hall-documents" / "tmp") == []
    assert os.listdir(tmp_path / "hall-documents" / "staging") == []


def test_a_pdf_part_is_page_zero(hall: EmbeddedHall) -> None:
    parts = blobs()
    pdf = b"%PDF-1.4 " + parts[0][:1000]
    body = manifest(parts)
    body["parts"].append({"name": "id_card/document.pdf", "sha256": sha(pdf), "size": len(pdf)})
    assert create(hall, body).status_code == 201
    for data in [*parts, pdf]:
        upload(hall, data)
    assert commit(hall).json()["documents"][-1] == {"name": "id_card/document.pdf", "sha256": sha(pdf), "size": 1009}
    got = staff_get(hall.url, f"/v1/applications/{RECEIPT}/documents/id_card/0")
    assert (got.content, got.headers["content-type"]) == (pdf, "application/pdf")


def test_resume_after_a_partial_upload(hall: EmbeddedHall) -> None:
    data = blobs()[0]
    assert head(hall, sha(data)).status_code == 404
    assert put_chunk(hall, data, 0, CHUNK - 1).json() == {"sha256": sha(data), "received": CHUNK, "complete": False}
    state = head(hall, sha(data))
    assert state.status_code == 200
    assert state.headers["Upload-Offset"] == str(CHUNK)
    assert state.headers["Upload-Complete"] == "0"
    upload(hall, data, start=int(state.headers["Upload-Offset"]))
    done = head(hall, sha(data))
    assert (done.status_code, done.headers["Upload-Offset"], done.headers["Upload-Complete"]) == (
        200,
        str(len(data)),
        "1",
    )


def test_a_chunk_at_the_wrong_offset_is_refused_with_what_the_hall_has(hall: EmbeddedHall) -> None:
    data = blobs()[0]
    put_chunk(hall, data, 0, CHUNK - 1)
    for start in (0, CHUNK + 1000):  # a chunk sent again, one beyond a gap
        answer = put_chunk(hall, data, start, min(start + CHUNK, len(data)) - 1)
        assert answer.status_code == 409
        assert error(answer)["code"] == "hall.blob.offset"
        assert error(answer)["received"] == CHUNK
    assert head(hall, sha(data)).headers["Upload-Offset"] == str(CHUNK)


def test_a_corrupted_blob_is_refused_and_discarded(hall: EmbeddedHall, tmp_path: Path) -> None:
    data = blobs()[0]
    corrupted = data[:-1] + bytes([data[-1] ^ 1])
    name = sha(data)
    put_chunk(hall, data, 0, CHUNK - 1)
    headers = {"Content-Range": f"bytes {CHUNK}-{len(data) - 1}/{len(data)}"}
    answer = send(hall, "PUT", f"/v1/blobs/{name}", corrupted[CHUNK:], headers=headers)
    assert answer.status_code == 422
    assert error(answer)["code"] == "hall.blob.hash"
    assert head(hall, name).status_code == 404
    assert os.listdir(tmp_path / "hall-documents" / "staging") == []
    assert stored_files(tmp_path) == []


def test_a_complete_blob_answers_200_without_being_rewritten(hall: EmbeddedHall, tmp_path: Path) -> None:
    data = blobs()[0]
    upload(hall, data)
    (path,) = stored_files(tmp_path)
    before = path.stat().st_mtime_ns
    answer = put_chunk(hall, data, 0, CHUNK - 1)
    assert answer.status_code == 200
    assert answer.json()["complete"] is True
    assert path.stat().st_mtime_ns == before


def test_blob_limits(hall: EmbeddedHall) -> None:
    big = send(hall, "PUT", "/v1/blobs/" + "a" * 64, b"x", headers={"Content-Range": "bytes 0-0/20971521"})
    assert (big.status_code, error(big)["code"]) == (413, "hall.blob.too_large")
    bad = send(hall, "PUT", "/v1/blobs/" + "a" * 64, b"xy", headers={"Content-Range": "bytes 0-0/5"})
    assert (bad.status_code, error(bad)["code"]) == (400, "hall.invalid")


def test_commit_before_every_part_is_incomplete(hall: EmbeddedHall) -> None:
    parts = blobs()
    create(hall, manifest(parts))
    upload(hall, parts[0])
    put_chunk(hall, parts[1], 0, CHUNK - 1)
    answer = commit(hall)
    assert answer.status_code == 409
    assert error(answer)["code"] == "hall.incomplete"
    assert error(answer)["missing"] == [sha(parts[1]), sha(parts[2])]
    again = create(hall, manifest(parts)).json()
    assert again["missing"] == [sha(parts[1]), sha(parts[2])]
    assert again["received"] == {sha(parts[0]): len(parts[0]), sha(parts[1]): CHUNK, sha(parts[2]): 0}


def test_create_is_idempotent_and_a_different_manifest_conflicts(hall: EmbeddedHall) -> None:
    parts = blobs()
    assert create(hall, manifest(parts)).status_code == 201
    again = create(hall, manifest(parts))
    assert again.status_code == 200
    assert again.json()["state"] == "open"
    other = create(hall, manifest(blobs(seed=1)))
    assert (other.status_code, error(other)["code"]) == (409, "hall.conflict")
    changed = create(hall, manifest(parts, form={"reason": "其他"}))
    assert (changed.status_code, error(changed)["code"]) == (409, "hall.conflict")
    for data in parts:
        upload(hall, data)
    assert commit(hall).status_code == 200
    assert commit(hall).status_code == 200  # twice: the same answer
    after = create(hall, manifest(parts))
    assert after.status_code == 200
    assert after.json() == {
        "receipt_no": RECEIPT,
        "state": "committed",
        "missing": [],
        "received": {sha(p): len(p) for p in parts},
    }
    assert listing(hall)["total"] == 1
    record = application(hall.url, RECEIPT)
    assert len(record["documents"]) == 3
    assert len(record["timeline"]) == 1


def test_an_open_application_is_invisible(hall: EmbeddedHall) -> None:
    parts = blobs()
    create(hall, manifest(parts))
    for data in parts:
        upload(hall, data)
    assert listing(hall) == {"items": [], "total": 0, "limit": 50, "offset": 0}
    progress = send(hall, "GET", f"/v1/progress?receipt_no={RECEIPT}&id_tail={ID_NUMBER[-6:]}")
    assert progress.status_code == 404
    assert staff_get(hall.url, f"/v1/applications/{RECEIPT}").status_code == 404
    page = requests.post(f"{hall.url}/progress/{RECEIPT}", data={"id_tail": ID_NUMBER[-6:]}, timeout=5)
    assert page.status_code == 404


def test_manifest_must_match_the_materials(hall: EmbeddedHall) -> None:
    parts = blobs()
    body = manifest(parts)
    body["parts"] = body["parts"][:2]
    answer = create(hall, body)
    assert (answer.status_code, error(answer)["code"]) == (400, "hall.invalid")
    assert "missing page" in error(answer)["message"]
    wrong_path = send(hall, "PUT", "/v1/applications/T0001-20240501-0002-K", json.dumps(manifest(parts)).encode())
    assert wrong_path.status_code == 400


def test_the_same_blob_in_two_applications_is_stored_once(hall: EmbeddedHall, tmp_path: Path) -> None:
    parts = blobs()
    second = "T0001-20240501-0002-K"
    create(hall, manifest(parts))
    answer = create(hall, manifest(parts, receipt_no=second)).json()
    assert answer["missing"] == [sha(p) for p in parts]
    for data in parts:
        upload(hall, data)
    assert create(hall, manifest(parts, receipt_no=second)).json()["missing"] == []
    assert commit(hall).status_code == 200
    assert commit(hall, second).status_code == 200
    assert listing(hall)["total"] == 2
    assert len(stored_files(tmp_path)) == 3


def test_a_restart_keeps_keys_and_half_uploaded_blobs(tmp_path: Path) -> None:
    parts = blobs()
    hall = start_hall(tmp_path, keys=KEYS)
    try:
        create(hall, manifest(parts))
        put_chunk(hall, parts[0], 0, CHUNK - 1)
    finally:
        hall.stop()
    # Restarted without keys or staff accounts in its configuration: the database still has them.
    hall = EmbeddedHall(f"sqlite:///{tmp_path}/hall.db", tmp_path / "hall-documents")
    hall.start()
    try:
        assert head(hall, sha(parts[0])).headers["Upload-Offset"] == str(CHUNK)
        upload(hall, parts[0], start=CHUNK)
        for data in parts[1:]:
            upload(hall, data)
        assert commit(hall).status_code == 200
        assert listing(hall)["total"] == 1
    finally:
        hall.stop()


# -- signatures -------------------------------------------------------------------------------


def test_unsigned_requests_are_refused(hall: EmbeddedHall) -> None:
    body = json.dumps(manifest(blobs())).encode()
    for method, target in [
        ("PUT", f"/v1/applications/{RECEIPT}"),
        ("POST", f"/v1/applications/{RECEIPT}/commit"),
        ("PUT", "/v1/blobs/" + "a" * 64),
    ]:
        signed = signed_headers(KEY, TERMINAL, method, target, body)
        del signed["X-Nonce"]
        answer = requests.request(method, hall.url + target, data=body, headers=signed, timeout=5)
        assert (answer.status_code, error(answer)["code"]) == (401, "hall.signature.missing")
    assert requests.head(hall.url + "/v1/blobs/" + "a" * 64, timeout=5).status_code == 401


def test_an_unknown_terminal_is_refused(hall: EmbeddedHall) -> None:
    answer = create(hall, manifest(blobs(), terminal_id="T0009"), terminal="T0009")
    assert (answer.status_code, error(answer)["code"]) == (401, "hall.signature.unknown_terminal")


def test_a_body_altered_after_signing_is_refused(hall: EmbeddedHall) -> None:
    target = f"/v1/applications/{RECEIPT}"
    body = json.dumps(manifest(blobs())).encode()
    signed = signed_headers(KEY, TERMINAL, "PUT", target, body)
    altered = body.replace(b"T0001-20240501-0001-K", b"T0001-20240501-0002-K")
    answer = requests.put(hall.url + target, data=altered, headers=signed, timeout=5)
    assert (answer.status_code, error(answer)["code"]) == (401, "hall.signature.bad")
    wrong_key = create(hall, manifest(blobs()), key=OTHER_KEY)
    assert (wrong_key.status_code, error(wrong_key)["code"]) == (401, "hall.signature.bad")
    # The query is signed too, exactly as sent.
    signed = signed_headers(KEY, TERMINAL, "HEAD", "/v1/blobs/" + "a" * 64, b"")
    assert requests.head(f"{hall.url}/v1/blobs/{'a' * 64}?x=1", headers=signed, timeout=5).status_code == 401


# 5 s past the limit, not 1: timestamps are whole seconds, and the request takes time to arrive
@pytest.mark.parametrize("skew", [-(MAX_SKEW_S + 5), MAX_SKEW_S + 5])
def test_a_stale_timestamp_is_refused_with_the_hall_time(hall: EmbeddedHall, skew: int) -> None:
    answer = create(hall, manifest(blobs()), now=time.time() + skew)
    assert (answer.status_code, error(answer)["code"]) == (401, "hall.signature.stale")
    assert abs(error(answer)["server_time"] - time.time()) < 5


def test_a_replayed_request_is_refused(hall: EmbeddedHall) -> None:
    target = f"/v1/applications/{RECEIPT}"
    body = json.dumps(manifest(blobs())).encode()
    signed = signed_headers(KEY, TERMINAL, "PUT", target, body)
    assert requests.put(hall.url + target, data=body, headers=signed, timeout=5).status_code == 201
    replay = requests.put(hall.url + target, data=body, headers=signed, timeout=5)
    assert (replay.status_code, error(replay)["code"]) == (401, "hall.signature.replay")


def test_a_terminal_speaks_only_for_itself(hall: EmbeddedHall) -> None:
    parts = blobs()
    answer = create(hall, manifest(parts), terminal=OTHER, key=OTHER_KEY)
    assert (answer.status_code, error(answer)["code"]) == (400, "hall.invalid")
    assert create(hall, manifest(parts)).status_code == 201
    for data in parts:
        upload(hall, data)
    other = commit(hall, terminal=OTHER, key=OTHER_KEY)
    assert (other.status_code, error(other)["code"]) == (400, "hall.invalid")
    assert listing(hall)["total"] == 0
