"""The hall server over real HTTP on loopback: intake, the staff list, progress, ratings, appointments;
and the kiosk's HallClient against a hall that fails."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
import requests

from hall.server import EmbeddedHall
from kiosk.core.errors import HallError
from kiosk.core.hall_client import HallClient
from kiosk.core.signing import signed_headers
from tests.support.hall_put import Refused, put_application, signed
from tests.support.staff import STAFF_AUTH, STAFF_USERS
from tests.support.staff import staff_get as get_as_staff

TERMINAL = "T0001"
KEY = bytes(range(32))  # T0001's signing key in every hall these tests start
NAME = "张三丰"
ID_NUMBER = "11010519491231002X"  # valid check character, ends in X
RECEIPT = "T0001-20240501-0001-K"


def fake_jpeg(seed: str, size: int = 2048) -> bytes:
    """Bytes shaped like a JPEG (SOI … EOI); the hall stores pages without decoding them."""
    body = hashlib.sha256(seed.encode()).digest() * (size // 32)
    return b"\xff\xd8\xff\xe0" + body + b"\xff\xd9"


def make_application(receipt_no: str = RECEIPT, **changes: Any) -> dict[str, Any]:
    app = {
        "receipt_no": receipt_no,
        "terminal_id": TERMINAL,
        "session_id": "S-1",
        "item_id": "hukou.transfer",
        "item_name": "户口迁移",
        "submitted_at": "2024-05-01T10:00:00+08:00",
        "applicant": {"name": NAME, "id_number": ID_NUMBER, "phone": "13800000000"},
        "form": {"reason": "工作调动"},
        "materials": [
            {"id": "id_card", "name": "居民身份证", "pages": 2},
            {"id": "hukou_book", "name": "户口簿", "pages": 1},
        ],
    }
    app.update(changes)
    return app


def make_pages(seed: str = "") -> list[tuple[str, int, bytes]]:
    return [
        ("id_card", 1, fake_jpeg(seed + "id1")),
        ("id_card", 2, fake_jpeg(seed + "id2")),
        ("hukou_book", 1, fake_jpeg(seed + "hk1")),
    ]


@pytest.fixture
def hall(tmp_path: Path) -> Iterator[EmbeddedHall]:
    server = EmbeddedHall(
        f"sqlite:///{tmp_path}/hall.db", tmp_path / "documents", terminal_keys={TERMINAL: KEY}, staff_users=STAFF_USERS
    )
    server.start()
    yield server
    server.stop()


def submit(hall: EmbeddedHall, application: dict[str, Any], pages: list[tuple[str, int, bytes]]) -> dict[str, Any]:
    """Through the three steps, signed by T0001 (whatever terminal the application names)."""
    return put_application(hall.url, application, pages, KEY, terminal_id=TERMINAL)


def as_terminal(hall: EmbeddedHall, method: str, target: str, body: Any = None) -> requests.Response:
    """A request signed by T0001; `body` is sent as JSON."""
    data = b"" if body is None else json.dumps(body, ensure_ascii=False).encode("utf-8")
    return signed(hall.url, method, target, KEY, TERMINAL, data)


def progress(hall: EmbeddedHall, receipt_no: str, id_tail: str) -> requests.Response:
    return as_terminal(hall, "GET", "/v1/progress?" + urlencode({"receipt_no": receipt_no, "id_tail": id_tail}))


def staff_get(hall: EmbeddedHall, path: str, **params: Any) -> requests.Response:
    return get_as_staff(hall.url, path, params=params)


def record(hall: EmbeddedHall, receipt_no: str = RECEIPT) -> dict[str, Any]:
    answer = staff_get(hall, f"/v1/applications/{receipt_no}")
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def error(response: requests.Response) -> tuple[int, str]:
    return response.status_code, response.json()["error"]["code"]


# -- intake -----------------------------------------------------------------------------------


def test_submit_then_every_page_is_stored_intact(hall: EmbeddedHall, tmp_path: Path) -> None:
    pages = make_pages()
    answer = submit(hall, make_application(), pages)
    assert answer["receipt_no"] == RECEIPT
    assert answer["state"] == "committed"

    stored_record = record(hall)
    assert stored_record["item_id"] == "hukou.transfer"
    assert stored_record["terminal_id"] == TERMINAL
    assert stored_record["state"] == "received"
    assert stored_record["applicant"]["id_number"] == ID_NUMBER
    assert stored_record["applicant"]["phone"] == "13800000000"  # free applicant keys are kept
    assert stored_record["form"] == {"reason": "工作调动"}
    assert [e["state"] for e in stored_record["timeline"]] == ["received"]
    stored = {(d["material_id"], d["page"]): d for d in stored_record["documents"]}
    assert set(stored) == {(m, p) for m, p, _ in pages}
    for material_id, page, data in pages:
        sha = hashlib.sha256(data).hexdigest()
        assert stored[material_id, page]["sha256"] == sha
        assert stored[material_id, page]["size"] == len(data)
        assert staff_get(hall, f"/v1/applications/{RECEIPT}/documents/{material_id}/{page}").content == data
        assert (tmp_path / "documents" / sha[:2] / sha).read_bytes() == data  # content-addressed


def test_resubmitting_the_same_application_stores_nothing_twice(hall: EmbeddedHall, tmp_path: Path) -> None:
    first = submit(hall, make_application(), make_pages())
    received_at = record(hall)["received_at"]
    files_before = sorted(p for p in (tmp_path / "documents").rglob("*") if p.is_file())
    again = submit(hall, make_application(), make_pages())
    # the same answer; documents in the hall's order now, the manifest's the first time
    assert {**again, "documents": None} == {**first, "documents": None}
    assert sorted(again["documents"], key=str) == sorted(first["documents"], key=str)
    assert record(hall)["received_at"] == received_at  # the stored record, unchanged
    assert sorted(p for p in (tmp_path / "documents").rglob("*") if p.is_file()) == files_before
    assert len(record(hall)["timeline"]) == 1
    assert staff_get(hall, "/v1/applications").json()["total"] == 1


def test_same_receipt_number_with_different_pages_is_a_conflict(hall: EmbeddedHall) -> None:
    submit(hall, make_application(), make_pages())
    with pytest.raises(Refused) as exc:
        submit(hall, make_application(), make_pages(seed="other"))
    assert (exc.value.status, exc.value.code) == (409, "hall.conflict")


@pytest.mark.parametrize(
    ("pages", "problem"),
    [
        (make_pages()[:2], "missing"),
        ([*make_pages(), ("id_card", 3, fake_jpeg("x"))], "not declared"),
        ([*make_pages(), ("passport", 1, fake_jpeg("x"))], "not declared"),
        ([*make_pages()[:2], ("hukou_book", 1, b"")], "parts.2.size"),
    ],
    ids=["missing-page", "extra-page", "undeclared-material", "empty-page"],
)
def test_pages_must_match_the_declared_materials(
    hall: EmbeddedHall, pages: list[tuple[str, int, bytes]], problem: str
) -> None:
    with pytest.raises(Refused) as exc:
        submit(hall, make_application(), pages)
    assert (exc.value.step, exc.value.status, exc.value.code) == ("create", 400, "hall.invalid")
    assert problem in exc.value.message
    assert staff_get(hall, f"/v1/applications/{RECEIPT}").status_code == 404  # nothing was half-stored


@pytest.mark.parametrize(
    "changes",
    [
        {"receipt_no": "short"},
        {"receipt_no": "t0001-lower-case"},
        {"submitted_at": "yesterday"},
        {"applicant": {"name": NAME}},
        {"terminal_id": "OTHER"},  # must be the signing terminal
        {"unexpected": 1},
    ],
    ids=["receipt-short", "receipt-lowercase", "bad-time", "no-id-number", "other-terminal", "unknown-key"],
)
def test_invalid_applications_are_rejected_without_echoing_data(hall: EmbeddedHall, changes: dict[str, Any]) -> None:
    with pytest.raises(Refused) as exc:
        submit(hall, make_application(**changes), make_pages())
    assert (exc.value.status, exc.value.code) == (400, "hall.invalid")
    assert NAME not in json.dumps(exc.value.body, ensure_ascii=False)


# -- staff list -------------------------------------------------------------------------------


def test_list_is_paginated_newest_first(hall: EmbeddedHall) -> None:
    receipts = [f"T0001-20240501-000{i}-K" for i in range(5)]
    for n, receipt_no in enumerate(receipts):
        submit(hall, make_application(receipt_no), make_pages(seed=str(n)))

    def page(limit: int, offset: int) -> dict[str, Any]:
        response = staff_get(hall, "/v1/applications", limit=limit, offset=offset)
        assert response.status_code == 200
        return dict(response.json())

    pages = [page(2, 0), page(2, 2), page(2, 4)]
    assert [p["total"] for p in pages] == [5, 5, 5]
    seen = [item["receipt_no"] for p in pages for item in p["items"]]
    assert seen == receipts[::-1]
    first = pages[0]["items"][0]
    assert {"receipt_no", "item_id", "item_name", "state", "received_at", "documents"} <= set(first)
    assert len(first["documents"]) == 3
    assert page(2, 10)["items"] == []
    bad = staff_get(hall, "/v1/applications", limit=0)
    assert error(bad) == (400, "hall.invalid")


# -- progress query (办件查询) ------------------------------------------------------------------


def test_progress_with_the_right_id_tail(hall: EmbeddedHall) -> None:
    submit(hall, make_application(), make_pages())
    response = progress(hall, RECEIPT, ID_NUMBER[-6:])
    assert response.status_code == 200
    answer = response.json()
    assert set(answer) == {"receipt_no", "item_name", "state", "timeline"}
    assert answer["state"] == "received"
    assert answer["item_name"] == "户口迁移"
    assert [e["state"] for e in answer["timeline"]] == ["received"]
    text = json.dumps(answer, ensure_ascii=False)
    assert NAME not in text
    assert ID_NUMBER not in text
    assert "1380000" not in text


def test_progress_tail_is_case_insensitive_for_x(hall: EmbeddedHall) -> None:
    submit(hall, make_application(), make_pages())
    assert ID_NUMBER.endswith("X")
    assert progress(hall, RECEIPT, ID_NUMBER[-6:].lower()).json()["state"] == "received"


def test_progress_wrong_tail_and_unknown_number_answer_alike(
    hall: EmbeddedHall, caplog: pytest.LogCaptureFixture
) -> None:
    submit(hall, make_application(), make_pages())
    caplog.set_level(logging.DEBUG)
    answers = []
    for receipt_no, tail in [(RECEIPT, "123456"), ("T0001-20240501-9999-K", ID_NUMBER[-6:])]:
        response = progress(hall, receipt_no, tail)
        assert error(response) == (404, "hall.not_found")
        assert tail not in response.text
        answers.append(response.json())
    assert answers[0] == answers[1]
    # The hall's log lines do not carry the tail (it is part of an ID number).
    hall_records = [r for r in caplog.records if r.name.startswith("hall")]
    assert hall_records
    assert not any(ID_NUMBER[-6:] in r.getMessage() or "123456" in r.getMessage() for r in hall_records)


# -- ratings (好差评) ---------------------------------------------------------------------------


def test_ratings(hall: EmbeddedHall) -> None:
    submit(hall, make_application(), make_pages())
    rating = {
        "receipt_no": RECEIPT,
        "item_id": "hukou.transfer",
        "terminal_id": TERMINAL,
        "session_id": "S-1",
        "level": 5,
        "reasons": ["办理快"],
        "comment": "",
    }
    first = as_terminal(hall, "POST", "/v1/ratings", rating)
    assert first.status_code == 201
    assert {"id", "received_at"} <= set(first.json())
    again = as_terminal(hall, "POST", "/v1/ratings", rating)  # a retry does not count twice
    assert (again.status_code, again.json()) == (200, first.json())
    changed = as_terminal(
        hall, "POST", "/v1/ratings", {**rating, "level": 1}
    )  # the same session cannot change its vote
    assert error(changed) == (409, "hall.conflict")
    other = {**rating, "receipt_no": None, "session_id": "S-2", "level": 3, "reasons": []}
    assert as_terminal(hall, "POST", "/v1/ratings", other).status_code == 201

    items = staff_get(hall, "/v1/ratings", receipt_no=RECEIPT).json()["items"]
    assert [(r["id"], r["level"], r["reasons"]) for r in items] == [(first.json()["id"], 5, ["办理快"])]
    assert staff_get(hall, "/v1/ratings").json()["total"] == 2


@pytest.mark.parametrize(
    "changes",
    [
        {"level": 0},
        {"level": 6},
        {"level": "5"},
        {"terminal_id": "OTHER"},  # not the signing terminal
        {"comment": "好\x00评"},  # PostgreSQL cannot store NUL: refused on both databases alike
        {"session_id": "S" * 129},
    ],
)
def test_invalid_ratings_are_rejected(hall: EmbeddedHall, changes: dict[str, Any]) -> None:
    rating = {"item_id": "x", "terminal_id": TERMINAL, "session_id": "S-9", "level": 4, **changes}
    assert error(as_terminal(hall, "POST", "/v1/ratings", rating)) == (400, "hall.invalid")


@pytest.mark.parametrize(
    ("method", "target", "body"),
    [
        ("GET", f"/v1/progress?receipt_no={RECEIPT}&id_tail=31002X", b""),
        ("POST", "/v1/ratings", b'{"item_id": "x", "terminal_id": "T0001", "session_id": "S-9", "level": 4}'),
        ("GET", "/v1/appointments/YY20261124000001", b""),
    ],
    ids=["progress", "rating", "appointment"],
)
def test_the_terminals_lookups_and_ratings_must_be_signed(
    hall: EmbeddedHall, method: str, target: str, body: bytes
) -> None:
    unsigned = requests.request(method, hall.url + target, data=body, headers={"X-Terminal-Id": TERMINAL}, timeout=5)
    assert error(unsigned) == (401, "hall.signature.missing")
    forged = signed(hall.url, method, target, bytes(32), TERMINAL, body)  # not T0001's key
    assert error(forged) == (401, "hall.signature.bad")


def test_a_progress_signature_covers_the_query(hall: EmbeddedHall) -> None:
    target = f"/v1/progress?receipt_no={RECEIPT}&id_tail=123456"
    headers = signed_headers(KEY, TERMINAL, "GET", target, b"")
    other_tail = requests.get(hall.url + target.replace("123456", "654321"), headers=headers, timeout=5)
    assert error(other_tail) == (401, "hall.signature.bad")


def test_appointments_are_looked_up_by_code_and_carried_by_the_application(hall: EmbeddedHall) -> None:
    appointment = {"code": "YY20261124000001", "kind": "appointment", "item_id": "hukou.transfer", "slot": ""}

    def book(body: dict[str, Any]) -> int:
        return requests.post(hall.url + "/v1/appointments", json=body, auth=STAFF_AUTH, timeout=5).status_code

    assert book(appointment) == 201
    assert book(appointment) == 200  # a retry
    assert book({**appointment, "item_id": "other"}) == 409
    assert book({**appointment, "code": "bad code"}) == 400
    found = as_terminal(hall, "GET", "/v1/appointments/YY20261124000001")
    assert (found.status_code, found.json()) == (200, appointment)
    assert error(as_terminal(hall, "GET", "/v1/appointments/YY20261124000002")) == (404, "hall.not_found")
    submit(hall, make_application(appointment="YY20261124000001"), make_pages())
    assert record(hall)["appointment"] == "YY20261124000001"


# -- failures ---------------------------------------------------------------------------------


def test_health_and_a_stopped_hall_is_unreachable(hall: EmbeddedHall) -> None:
    client = HallClient(hall.url + "/", KEY, TERMINAL, timeout=2)  # a trailing slash, as pydantic's HttpUrl writes it
    assert client.health() is True
    hall.stop()
    assert client.health() is False
    with pytest.raises(HallError) as exc:
        client.progress(RECEIPT, id_tail=ID_NUMBER[-6:])
    assert exc.value.code == "hall.unreachable"
    assert ID_NUMBER[-6:] not in str(exc.value)


class _StubHandler(BaseHTTPRequestHandler):
    """Answers every request with the status and body the test put on the server."""

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length", 0))
        self.rfile.read(length)
        self.server.seen_headers.append(dict(self.headers))  # type: ignore[attr-defined]
        status, body = self.server.reply  # type: ignore[attr-defined]
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer

    def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
        pass


@pytest.fixture
def stub() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _StubHandler)
    server.seen_headers = []  # type: ignore[attr-defined]
    server.reply = (500, b'{"error": {"code": "boom", "message": "stub"}}')  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(5)


def _stub_client(stub: ThreadingHTTPServer) -> HallClient:
    host, port = stub.server_address[:2]
    return HallClient(f"http://{host}:{port}/", KEY, TERMINAL, timeout=2)


def test_5xx_is_a_server_error(stub: ThreadingHTTPServer) -> None:
    client = _stub_client(stub)
    with pytest.raises(HallError) as exc:
        client.progress(RECEIPT, id_tail="12345X", session_id="S-42")
    assert exc.value.code == "hall.server_error"
    assert exc.value.params["status"] == 500
    headers = stub.seen_headers[-1]  # type: ignore[attr-defined]
    assert headers["X-Terminal-Id"] == TERMINAL
    assert headers["X-Session-Id"] == "S-42"
    assert client.health() is False


def test_session_header_comes_from_the_rating_and_is_omitted_when_empty(stub: ThreadingHTTPServer) -> None:
    client = _stub_client(stub)
    with pytest.raises(HallError):
        client.rate({"session_id": "S-1", "level": 5})
    assert stub.seen_headers[-1]["X-Session-Id"] == "S-1"  # type: ignore[attr-defined]
    with pytest.raises(HallError):
        client.appointment("YY20261124000001")
    assert "X-Session-Id" not in stub.seen_headers[-1]  # type: ignore[attr-defined]


def test_an_answer_that_is_not_json_is_a_server_error(stub: ThreadingHTTPServer) -> None:
    stub.reply = (200, b"<html>captive portal</html>")  # type: ignore[attr-defined]
    with pytest.raises(HallError) as exc:
        _stub_client(stub).progress(RECEIPT, id_tail="12345X")
    assert exc.value.code == "hall.server_error"


def test_a_4xx_from_something_else_is_rejected_without_a_server_code(stub: ThreadingHTTPServer) -> None:
    stub.reply = (403, b"forbidden")  # type: ignore[attr-defined]
    with pytest.raises(HallError) as exc:
        _stub_client(stub).rate({"level": 5})
    assert exc.value.code == "hall.rejected"
    assert exc.value.params == {"status": 403, "server_code": None}


def test_documents_dir_holds_no_leftover_temporary_files(hall: EmbeddedHall, tmp_path: Path) -> None:
    submit(hall, make_application(), make_pages())
    with pytest.raises(Refused):
        submit(hall, make_application(), make_pages(seed="other"))  # conflict
    with pytest.raises(Refused):
        submit(hall, make_application("T0001-20240501-0002-K"), [*make_pages()[:2], ("hukou_book", 1, b"")])
    wrong = fake_jpeg("wrong")
    named = hashlib.sha256(fake_jpeg("named")).hexdigest()
    headers = {"Content-Range": f"bytes 0-{len(wrong) - 1}/{len(wrong)}"}
    mismatch = signed(hall.url, "PUT", f"/v1/blobs/{named}", KEY, TERMINAL, wrong, headers)
    assert error(mismatch) == (422, "hall.blob.hash")
    assert os.listdir(tmp_path / "documents" / "tmp") == []
    assert os.listdir(tmp_path / "documents" / "staging") == []


def test_an_older_database_gains_the_new_nullable_columns(tmp_path: Path) -> None:
    import sqlalchemy as sa

    from hall.store import Store

    db = tmp_path / "old.db"
    engine = sa.create_engine(f"sqlite:///{db}")
    with engine.begin() as conn:  # the applications table as the first release made it
        conn.execute(sa.text("CREATE TABLE applications (receipt_no VARCHAR(40) PRIMARY KEY, materials JSON)"))
    engine.dispose()
    store = Store(f"sqlite:///{db}", tmp_path / "docs")
    columns = {c["name"] for c in sa.inspect(store.engine).get_columns("applications")}
    store.dispose()
    assert "appointment" in columns
