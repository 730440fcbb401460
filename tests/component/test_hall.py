"""The hall server and the kiosk's HallClient, together over real HTTP on loopback."""

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

import pytest
import requests

from hall.server import EmbeddedHall
from kiosk.core.errors import HallError
from kiosk.core.hall_client import HallClient

TERMINAL = "T0001"
NAME = "张三丰"
ID_NUMBER = "11010519491231002X"  # valid check character, ends in X


def fake_jpeg(seed: str, size: int = 2048) -> bytes:
    """Bytes shaped like a JPEG (SOI … EOI); the hall stores pages without decoding them."""
    body = hashlib.sha256(seed.encode()).digest() * (size // 32)
    return b"\xff\xd8\xff\xe0" + body + b"\xff\xd9"


def make_application(receipt_no: str = "T0001-20240501-0001-K", **changes: Any) -> dict[str, Any]:
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
    server = EmbeddedHall(f"sqlite:///{tmp_path}/hall.db", tmp_path / "documents")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def client(hall: EmbeddedHall) -> Iterator[HallClient]:
    # Trailing slash as pydantic's HttpUrl writes it: the client must not produce "//v1/…".
    with HallClient(hall.url + "/", timeout=5, terminal_id=TERMINAL) as c:
        yield c


def rejected_code(exc: pytest.ExceptionInfo[HallError]) -> str:
    assert exc.value.code == "hall.rejected"
    return str(exc.value.params["server_code"])


# -- intake -----------------------------------------------------------------------------------


def test_submit_then_every_page_is_stored_intact(client: HallClient, tmp_path: Path) -> None:
    pages = make_pages()
    answer = client.submit(make_application(), pages)
    assert answer["receipt_no"] == "T0001-20240501-0001-K"
    assert answer["state"] == "received"

    record = client.application("T0001-20240501-0001-K")
    assert record["item_id"] == "hukou.transfer"
    assert record["terminal_id"] == TERMINAL
    assert record["applicant"]["id_number"] == ID_NUMBER
    assert record["applicant"]["phone"] == "13800000000"  # free applicant keys are kept
    assert record["form"] == {"reason": "工作调动"}
    assert [e["state"] for e in record["timeline"]] == ["received"]
    stored = {(d["material_id"], d["page"]): d for d in record["documents"]}
    assert set(stored) == {(m, p) for m, p, _ in pages}
    for material_id, page, data in pages:
        sha = hashlib.sha256(data).hexdigest()
        assert stored[material_id, page]["sha256"] == sha
        assert stored[material_id, page]["size"] == len(data)
        assert client.document("T0001-20240501-0001-K", material_id, page) == data
        assert (tmp_path / "documents" / sha[:2] / sha).read_bytes() == data  # content-addressed


def test_resubmitting_the_same_application_stores_nothing_twice(client: HallClient, tmp_path: Path) -> None:
    first = client.submit(make_application(), make_pages())
    files_before = sorted(p for p in (tmp_path / "documents").rglob("*") if p.is_file())
    again = client.submit(make_application(), make_pages())
    assert again == first  # the stored record, including its original received_at
    assert sorted(p for p in (tmp_path / "documents").rglob("*") if p.is_file()) == files_before
    assert len(client.application(first["receipt_no"])["timeline"]) == 1
    listing = requests.get(f"{client.base_url}/v1/applications", timeout=5).json()
    assert listing["total"] == 1


def test_same_receipt_number_with_different_pages_is_a_conflict(client: HallClient) -> None:
    client.submit(make_application(), make_pages())
    with pytest.raises(HallError) as exc:
        client.submit(make_application(), make_pages(seed="other"))
    assert rejected_code(exc) == "hall.conflict"
    assert exc.value.params["status"] == 409


@pytest.mark.parametrize(
    ("pages", "problem"),
    [
        (make_pages()[:2], "missing"),
        ([*make_pages(), ("id_card", 3, fake_jpeg("x"))], "not declared"),
        ([*make_pages(), ("passport", 1, fake_jpeg("x"))], "not declared"),
        ([*make_pages()[:2], ("hukou_book", 1, b"")], "empty"),
    ],
    ids=["missing-page", "extra-page", "undeclared-material", "empty-page"],
)
def test_pages_must_match_the_declared_materials(
    client: HallClient, pages: list[tuple[str, int, bytes]], problem: str
) -> None:
    with pytest.raises(HallError) as exc:
        client.submit(make_application(), pages)
    assert rejected_code(exc) == "hall.invalid"
    assert problem in str(exc.value)
    with pytest.raises(HallError) as exc:
        client.application("T0001-20240501-0001-K")
    assert exc.value.code == "hall.not_found"  # nothing was half-stored


@pytest.mark.parametrize(
    "changes",
    [
        {"receipt_no": "short"},
        {"receipt_no": "t0001-lower-case"},
        {"submitted_at": "yesterday"},
        {"applicant": {"name": NAME}},
        {"terminal_id": "OTHER"},  # must match the X-Terminal-Id header
        {"unexpected": 1},
    ],
    ids=["receipt-short", "receipt-lowercase", "bad-time", "no-id-number", "other-terminal", "unknown-key"],
)
def test_invalid_applications_are_rejected_without_echoing_data(client: HallClient, changes: dict[str, Any]) -> None:
    with pytest.raises(HallError) as exc:
        client.submit(make_application(**changes), make_pages())
    assert rejected_code(exc) == "hall.invalid"
    assert NAME not in str(exc.value)


# -- staff list -------------------------------------------------------------------------------


def test_list_is_paginated_newest_first(client: HallClient) -> None:
    receipts = [f"T0001-20240501-000{i}-K" for i in range(5)]
    for n, receipt_no in enumerate(receipts):
        client.submit(make_application(receipt_no), make_pages(seed=str(n)))

    def page(limit: int, offset: int) -> dict[str, Any]:
        response = requests.get(
            f"{client.base_url}/v1/applications", params={"limit": limit, "offset": offset}, timeout=5
        )
        assert response.status_code == 200
        return response.json()

    pages = [page(2, 0), page(2, 2), page(2, 4)]
    assert [p["total"] for p in pages] == [5, 5, 5]
    seen = [item["receipt_no"] for p in pages for item in p["items"]]
    assert seen == receipts[::-1]
    first = pages[0]["items"][0]
    assert set(first) == {"receipt_no", "item_id", "item_name", "state", "received_at", "documents"}
    assert len(first["documents"]) == 3
    assert page(2, 10)["items"] == []
    bad = requests.get(f"{client.base_url}/v1/applications", params={"limit": 0}, timeout=5)
    assert bad.status_code == 400
    assert bad.json()["error"]["code"] == "hall.invalid"


# -- progress query (办件查询) ------------------------------------------------------------------


def test_progress_with_the_right_id_tail(client: HallClient) -> None:
    client.submit(make_application(), make_pages())
    answer = client.progress("T0001-20240501-0001-K", ID_NUMBER[-6:])
    assert set(answer) == {"receipt_no", "item_name", "state", "timeline"}
    assert answer["state"] == "received"
    assert answer["item_name"] == "户口迁移"
    assert [e["state"] for e in answer["timeline"]] == ["received"]
    text = json.dumps(answer, ensure_ascii=False)
    assert NAME not in text
    assert ID_NUMBER not in text
    assert "1380000" not in text


def test_progress_tail_is_case_insensitive_for_x(client: HallClient) -> None:
    client.submit(make_application(), make_pages())
    assert ID_NUMBER.endswith("X")
    assert client.progress("T0001-20240501-0001-K", ID_NUMBER[-6:].lower())["state"] == "received"


def test_progress_wrong_tail_and_unknown_number_answer_alike(
    client: HallClient, caplog: pytest.LogCaptureFixture
) -> None:
    client.submit(make_application(), make_pages())
    caplog.set_level(logging.DEBUG)
    errors = []
    for receipt_no, tail in [("T0001-20240501-0001-K", "123456"), ("T0001-20240501-9999-K", ID_NUMBER[-6:])]:
        with pytest.raises(HallError) as exc:
            client.progress(receipt_no, tail)
        assert exc.value.code == "hall.not_found"
        errors.append((exc.value.params, str(exc.value)))
        assert tail not in str(exc.value)
    assert errors[0] == errors[1]
    # Neither the client's nor the hall's log lines carry the tail (it is part of an ID number).
    assert caplog.records
    assert not any(ID_NUMBER[-6:] in r.getMessage() or "123456" in r.getMessage() for r in caplog.records)


# -- ratings (好差评) ---------------------------------------------------------------------------


def test_ratings(client: HallClient) -> None:
    client.submit(make_application(), make_pages())
    rating = {
        "receipt_no": "T0001-20240501-0001-K",
        "item_id": "hukou.transfer",
        "terminal_id": TERMINAL,
        "session_id": "S-1",
        "level": 5,
        "reasons": ["办理快"],
        "comment": "",
    }
    first = client.rate(rating)
    assert {"id", "received_at"} <= set(first)
    assert client.rate(rating) == first  # a retry does not count twice
    with pytest.raises(HallError) as exc:
        client.rate({**rating, "level": 1})  # the same session cannot change its vote
    assert rejected_code(exc) == "hall.conflict"
    client.rate({**rating, "receipt_no": None, "session_id": "S-2", "level": 3, "reasons": []})

    response = requests.get(f"{client.base_url}/v1/ratings", params={"receipt_no": "T0001-20240501-0001-K"}, timeout=5)
    items = response.json()["items"]
    assert [(r["id"], r["level"], r["reasons"]) for r in items] == [(first["id"], 5, ["办理快"])]
    assert requests.get(f"{client.base_url}/v1/ratings", timeout=5).json()["total"] == 2


@pytest.mark.parametrize(
    "changes",
    [
        {"level": 0},
        {"level": 6},
        {"level": "5"},
        {"terminal_id": "OTHER"},
        {"comment": "好\x00评"},  # PostgreSQL cannot store NUL: refused on both databases alike
        {"session_id": "S" * 129},
    ],
)
def test_invalid_ratings_are_rejected(client: HallClient, changes: dict[str, Any]) -> None:
    rating = {"item_id": "x", "terminal_id": TERMINAL, "session_id": "S-9", "level": 4, **changes}
    with pytest.raises(HallError) as exc:
        client.rate(rating)
    assert rejected_code(exc) == "hall.invalid"


# -- failures ---------------------------------------------------------------------------------


def test_health(client: HallClient) -> None:
    assert client.health() is True


def test_stopped_hall_is_unreachable(hall: EmbeddedHall) -> None:
    client = HallClient(hall.url, timeout=2, terminal_id=TERMINAL)
    assert client.health()
    hall.stop()
    assert client.health() is False
    with pytest.raises(HallError) as exc:
        client.submit(make_application(), make_pages())
    assert exc.value.code == "hall.unreachable"
    with pytest.raises(HallError) as exc:
        client.progress("T0001-20240501-0001-K", ID_NUMBER[-6:])
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
    return HallClient(f"http://{host}:{port}/", timeout=2, terminal_id=TERMINAL)


def test_5xx_is_a_server_error(stub: ThreadingHTTPServer) -> None:
    client = _stub_client(stub)
    with pytest.raises(HallError) as exc:
        client.submit(make_application(), make_pages(), session_id="S-42")
    assert exc.value.code == "hall.server_error"
    assert exc.value.params["status"] == 500
    headers = stub.seen_headers[-1]  # type: ignore[attr-defined]
    assert headers["X-Terminal-Id"] == TERMINAL
    assert headers["X-Session-Id"] == "S-42"
    assert client.health() is False


def test_session_header_defaults_to_the_application_and_is_omitted_when_empty(
    stub: ThreadingHTTPServer,
) -> None:
    client = _stub_client(stub)
    with pytest.raises(HallError):
        client.submit(make_application(), make_pages())
    assert stub.seen_headers[-1]["X-Session-Id"] == "S-1"  # type: ignore[attr-defined]
    with pytest.raises(HallError):
        client.application("T0001-20240501-0001-K")
    assert "X-Session-Id" not in stub.seen_headers[-1]  # type: ignore[attr-defined]


def test_an_answer_that_is_not_json_is_a_server_error(stub: ThreadingHTTPServer) -> None:
    stub.reply = (200, b"<html>captive portal</html>")  # type: ignore[attr-defined]
    with pytest.raises(HallError) as exc:
        _stub_client(stub).progress("T0001-20240501-0001-K", "12345X")
    assert exc.value.code == "hall.server_error"


def test_a_4xx_from_something_else_is_rejected_without_a_server_code(stub: ThreadingHTTPServer) -> None:
    stub.reply = (403, b"forbidden")  # type: ignore[attr-defined]
    with pytest.raises(HallError) as exc:
        _stub_client(stub).rate({"level": 5})
    assert exc.value.code == "hall.rejected"
    assert exc.value.params == {"status": 403, "server_code": None}


def test_documents_dir_holds_no_leftover_temporary_files(client: HallClient, tmp_path: Path) -> None:
    client.submit(make_application(), make_pages())
    with pytest.raises(HallError):
        client.submit(make_application(), make_pages(seed="other"))  # conflict: staged files dropped
    with pytest.raises(HallError):
        client.submit(make_application("T0001-20240501-0002-K"), [*make_pages()[:2], ("hukou_book", 1, b"")])
    assert os.listdir(tmp_path / "documents" / "tmp") == []


def test_appointments_are_looked_up_by_code_and_carried_by_the_application(
    client: HallClient, hall: EmbeddedHall
) -> None:
    appointment = {"code": "YY20261124000001", "kind": "appointment", "item_id": "hukou.transfer", "slot": ""}
    url = client.base_url + "/v1/appointments"
    assert requests.post(url, json=appointment, timeout=5).status_code == 201
    assert requests.post(url, json=appointment, timeout=5).status_code == 200  # a retry
    changed = {**appointment, "item_id": "other"}
    assert requests.post(url, json=changed, timeout=5).status_code == 409
    assert requests.post(url, json={**appointment, "code": "bad code"}, timeout=5).status_code == 400
    assert client.appointment("YY20261124000001") == appointment
    with pytest.raises(HallError) as caught:
        client.appointment("YY20261124000002")
    assert caught.value.code == "hall.not_found"
    client.submit(make_application(appointment="YY20261124000001"), make_pages())
    assert client.application("T0001-20240501-0001-K")["appointment"] == "YY20261124000001"


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
