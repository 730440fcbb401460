"""The hall's staff side over real HTTP: accounts and lockout, the /staff pages, state changes.

Applications go in as a terminal puts them (tests/support/hall_put.py); staff requests carry the test
account (tests/support/staff.py). Like every tests/component/test_hall*.py, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import re
from html import unescape
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import requests
from PIL import Image

import hall.store
from hall.server import EmbeddedHall
from tests.component.test_hall_pages import OUTPUT
from tests.support.chromium import chromium, require_chromium
from tests.support.hall_put import put_application, signed
from tests.support.staff import STAFF_AUTH, STAFF_NAME, STAFF_USERS, application, staff_get
from tests.support.terminal_keys import TERMINAL_KEYS

TERMINAL = "TEST0001"
KEY = TERMINAL_KEYS[TERMINAL]
ID_NUMBER = "11010519491231002X"
CHALLENGE = 'Basic realm="hall staff", charset="UTF-8"'
HOSTILE = '<script>alert("x")</script>'
NOBODY = "R0000001-20261124-00001"  # well-formed, never stored


def receipt(n: int) -> str:
    return f"{TERMINAL}-20261124-{n:04d}1"


def jpeg(seed: str) -> bytes:
    """Shaped like a JPEG; the hall stores parts without decoding them."""
    return b"\xff\xd8\xff\xe0" + hashlib.sha256(seed.encode()).digest() * 64 + b"\xff\xd9"


def make_application(receipt_no: str, **changes: Any) -> dict[str, Any]:
    app = {
        "receipt_no": receipt_no,
        "terminal_id": TERMINAL,
        "session_id": f"S-{receipt_no}",
        "item_id": "hukou.transfer",
        "item_name": "户口迁移",
        "submitted_at": "2026-11-24T01:30:00+00:00",  # 09:30 in Beijing
        "applicant": {"name": "张三丰", "id_number": ID_NUMBER, "phone": "13800000000"},
        "form": {"reason": "工作调动"},
        "materials": [{"id": "id_card", "name": "居民身份证", "pages": 2}],
    }
    app.update(changes)
    return app


PAGES = [("id_card", 1, jpeg("front")), ("id_card", 2, jpeg("back")), ("id_card", 0, b"%PDF-1.4 both pages")]


def put(hall: EmbeddedHall, receipt_no: str, **changes: Any) -> None:
    put_application(hall.url, make_application(receipt_no, **changes), PAGES, KEY)


def open_only(hall: EmbeddedHall, receipt_no: str) -> None:
    """Created but never committed: visible to no one."""
    parts = [{"name": "id_card/1.jpg", "sha256": hashlib.sha256(b"never sent").hexdigest(), "size": 10}]
    body = {"application": make_application(receipt_no, materials=[{"id": "id_card", "name": "证", "pages": 1}])}
    manifest = json.dumps({**body, "parts": parts}).encode()
    answer = signed(hall.url, "PUT", f"/v1/applications/{receipt_no}", KEY, TERMINAL, manifest)
    assert answer.status_code == 201, answer.text


def move(hall: EmbeddedHall, receipt_no: str, state: str, note: str = "") -> requests.Response:
    return requests.post(
        f"{hall.url}/v1/applications/{receipt_no}/events",
        json={"state": state, "note": note},
        auth=STAFF_AUTH,
        timeout=10,
    )


def form_post(hall: EmbeddedHall, receipt_no: str, data: dict[str, str], **headers: str | None) -> requests.Response:
    """What the application page's form sends, from the page itself unless `headers` say otherwise (None: not sent)."""
    return requests.post(
        f"{hall.url}/staff/applications/{receipt_no}",
        data=data,
        headers={"Origin": hall.url, **headers},
        auth=STAFF_AUTH,
        allow_redirects=False,
        timeout=10,
    )


def listed(text: str) -> list[str]:
    """The receipt numbers of the list page's rows, in order."""
    return re.findall(r'<tr><td class="mono"><a href="/staff/applications/[^"]+">([^<]+)</a>', text)


def age_failures(db_url: str, seconds: float) -> None:
    """Move every counted failure `seconds` into the past (the lockout window is 15 minutes)."""
    engine = hall.store.make_engine(db_url)  # the attribute: conftest swaps it for the PostgreSQL run
    try:
        with engine.begin() as conn:
            failures = hall.store.progress_failures
            conn.execute(failures.update().values(at=failures.c.at - seconds))
    finally:
        engine.dispose()


# -- authentication ---------------------------------------------------------------------------

STAFF_OPERATIONS = {  # as the OpenAPI document names them
    ("GET", "/v1/applications"),
    ("GET", "/v1/applications/{receipt_no}"),
    ("GET", "/v1/applications/{receipt_no}/documents/{material_id}/{page}"),
    ("POST", "/v1/applications/{receipt_no}/events"),
    ("GET", "/v1/ratings"),
    ("POST", "/v1/appointments"),
    ("GET", "/v1/terminals"),
}
PROTECTED = [
    ("GET", "/v1/applications"),
    ("GET", f"/v1/applications/{receipt(1)}"),
    ("GET", f"/v1/applications/{receipt(1)}/documents/id_card/1"),
    ("POST", f"/v1/applications/{receipt(1)}/events"),
    ("GET", "/v1/ratings"),
    ("POST", "/v1/appointments"),
    ("GET", "/v1/terminals"),
    ("GET", "/staff"),
    ("GET", f"/staff/applications/{receipt(1)}"),
    ("POST", f"/staff/applications/{receipt(1)}"),
    ("GET", f"/staff/applications/{receipt(1)}/documents/id_card/1"),
    ("GET", "/staff/ratings"),
]


def test_the_document_marks_exactly_the_staff_operations(hall_server: EmbeddedHall) -> None:
    document = requests.get(f"{hall_server.url}/openapi.json", timeout=10).json()
    assert document["components"]["securitySchemes"]["staff"] == {
        "type": "http",
        "scheme": "basic",
        "description": "a hall staff account (kiosk hall --staff-user)",
    }
    secured = {
        (method.upper(), path)
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
        if operation.get("security") == [{"staff": []}]
    }
    assert secured == STAFF_OPERATIONS


@pytest.mark.parametrize(("method", "path"), PROTECTED)
def test_staff_routes_refuse_without_the_right_credentials(hall_server: EmbeddedHall, method: str, path: str) -> None:
    for auth in (None, (STAFF_NAME, "a wrong password")):
        answer = requests.request(method, hall_server.url + path, auth=auth, timeout=10)
        assert answer.status_code == 401
        assert answer.headers["WWW-Authenticate"] == CHALLENGE
        expected = {"error": {"code": "hall.staff.unauthorized", "message": "staff credentials are required"}}
        assert answer.json() == expected


@pytest.mark.parametrize(
    "header",
    ["Bearer abc", "Basic", "Basic !!!notbase64", "Basic " + "bm9jb2xvbg==", "Basic " + "/w==:x"],
    ids=["bearer", "empty", "not-base64", "no-colon", "not-utf8"],
)
def test_malformed_credentials_are_refused(hall_server: EmbeddedHall, header: str) -> None:
    answer = requests.get(f"{hall_server.url}/staff", headers={"Authorization": header}, timeout=10)
    assert answer.status_code == 401
    assert answer.headers["WWW-Authenticate"] == CHALLENGE


def test_ten_failures_lock_the_name_in_every_hall_worker(hall_server: EmbeddedHall, tmp_path: Path) -> None:
    url = f"{hall_server.url}/v1/applications"
    for _ in range(10):
        wrong = requests.get(url, auth=(STAFF_NAME, "a wrong guess"), timeout=10)
        assert wrong.status_code == 401
        assert "a wrong guess" not in wrong.text
    locked = requests.get(url, auth=STAFF_AUTH, timeout=10)  # the right password does not help now
    assert locked.status_code == 429
    error = locked.json()["error"]
    assert error["code"] == "hall.staff.locked"
    assert 890 <= error["retry_after"] <= 900
    assert locked.headers["Retry-After"] == str(error["retry_after"])
    # Per name: another one is only refused for its own wrong password.
    assert requests.get(url, auth=("someone-else", "a wrong guess"), timeout=10).status_code == 401
    db_url = f"sqlite:///{tmp_path / 'hall.db'}"
    with EmbeddedHall(db_url, tmp_path / "documents", staff_users=STAFF_USERS) as other_worker:
        assert requests.get(f"{other_worker.url}/staff", auth=STAFF_AUTH, timeout=10).status_code == 429
        age_failures(db_url, 15 * 60)  # the window has passed
        assert requests.get(f"{other_worker.url}/staff", auth=STAFF_AUTH, timeout=10).status_code == 200
    assert requests.get(url, auth=STAFF_AUTH, timeout=10).status_code == 200


def test_unusable_accounts_are_refused_at_start(tmp_path: Path) -> None:
    for users in ({"short": "too short"}, {"a:b": "long enough password"}, {"": "long enough password"}):
        with pytest.raises(ValueError) as caught:
            EmbeddedHall(f"sqlite:///{tmp_path / 'hall.db'}", tmp_path / "documents", staff_users=users).start()
        assert "too short" not in str(caught.value)
        assert "long enough password" not in str(caught.value)


def test_non_ascii_passwords_work(tmp_path: Path) -> None:
    users = {"王 窗口": "密码是十二个字的中文口令呢"}
    with EmbeddedHall(f"sqlite:///{tmp_path / 'hall.db'}", tmp_path / "documents", staff_users=users) as hall_:
        name, password = next(iter(users.items()))
        token = base64.b64encode(f"{name}:{password}".encode()).decode()
        answer = requests.get(f"{hall_.url}/staff", headers={"Authorization": f"Basic {token}"}, timeout=10)
        assert answer.status_code == 200


# -- the list ---------------------------------------------------------------------------------


def test_the_list_shows_committed_applications_newest_first_and_filters(hall_server: EmbeddedHall) -> None:
    for n in (1, 2, 3):
        put(hall_server, receipt(n))
    open_only(hall_server, receipt(9))
    assert move(hall_server, receipt(2), "reviewing").status_code == 201

    page = staff_get(hall_server.url, "/staff")
    assert page.status_code == 200
    assert listed(page.text) == [receipt(3), receipt(2), receipt(1)]  # the open one is not there
    row = page.text[page.text.index(receipt(2)) :].split("</tr>")[0]
    assert "户口迁移" in row
    assert TERMINAL in row
    assert '<span class="state state-reviewing">审核中</span>' in row
    assert '<time datetime="2026-11-24T09:30:00+08:00">2026-11-24 09:30</time>' in row
    assert row.endswith("<td>2</td>")  # pages; the PDF is not one
    assert "张三丰" not in page.text  # the list holds no applicant data

    assert listed(staff_get(hall_server.url, "/staff", params={"state": "reviewing"}).text) == [receipt(2)]
    assert listed(staff_get(hall_server.url, "/staff", params={"state": "received"}).text) == [receipt(3), receipt(1)]
    assert listed(staff_get(hall_server.url, "/staff", params={"receipt": receipt(1).lower()}).text) == [receipt(1)]
    prefix = receipt(1)[:-2]  # …-00011 and …-00021 and …-00031 share it up to the last two
    assert listed(staff_get(hall_server.url, "/staff", params={"receipt": prefix}).text) == [
        receipt(3),
        receipt(2),
        receipt(1),
    ]
    assert listed(staff_get(hall_server.url, "/staff", params={"receipt": "R0"}).text) == []
    for bad in ({"state": "<b>"}, {"receipt": "%_"}, {"page": "0"}, {"page": "x"}):
        refused = staff_get(hall_server.url, "/staff", params=bad)
        assert refused.status_code == 400
        assert "<b>" not in refused.text

    api = staff_get(hall_server.url, "/v1/applications", params={"state": "reviewing"}).json()
    assert [item["receipt_no"] for item in api["items"]] == [receipt(2)]
    api = staff_get(hall_server.url, "/v1/applications", params={"receipt_prefix": receipt(3)}).json()
    assert [item["receipt_no"] for item in api["items"]] == [receipt(3)]


def test_the_list_pages_by_fifty(hall_server: EmbeddedHall) -> None:
    for n in range(1, 53):
        put(hall_server, receipt(n))
    first = staff_get(hall_server.url, "/staff", params={"state": "received"})
    assert listed(first.text) == [receipt(n) for n in range(52, 2, -1)]
    assert "共 52 条，第 1 / 2 页" in first.text
    assert '<a href="?state=received&amp;page=2">下一页</a>' in first.text
    assert "上一页" not in first.text
    second = staff_get(hall_server.url, "/staff", params={"state": "received", "page": "2"})
    assert listed(second.text) == [receipt(2), receipt(1)]
    assert '<a href="?state=received&amp;page=1">上一页</a>' in second.text
    assert "下一页" not in second.text
    assert listed(staff_get(hall_server.url, "/staff", params={"page": "3"}).text) == []


# -- one application --------------------------------------------------------------------------


def test_the_application_page_links_byte_identical_documents(hall_server: EmbeddedHall) -> None:
    put(hall_server, receipt(1))
    page = staff_get(hall_server.url, f"/staff/applications/{receipt(1)}")
    assert page.status_code == 200
    assert page.headers["Cache-Control"] == "no-store"
    assert "script-src" not in page.headers["Content-Security-Policy"]
    assert page.headers["Content-Security-Policy"].startswith("default-src 'none'; img-src 'self';")
    for shown in ("户口迁移", "张三丰", ID_NUMBER, "13800000000", "工作调动", "居民身份证", "自助终端提交"):
        assert shown in page.text
    base = f"/staff/applications/{receipt(1)}/documents/id_card"
    for page_no in (1, 2):
        assert f'<a href="{base}/{page_no}"><img src="{base}/{page_no}" alt="第 {page_no} 页"' in page.text
    assert f'<a href="{base}/0">整份材料 PDF</a>' in page.text

    links = set(re.findall(r'href="(/staff/applications/[^"]+/documents/[^"]+)"', page.text))
    assert links == {f"{base}/1", f"{base}/2", f"{base}/0"}
    for material_id, page_no, data in PAGES:
        digest = hashlib.sha256(data).hexdigest()
        assert digest in page.text
        assert f"{len(data):,} 字节" in page.text
        got = staff_get(hall_server.url, f"/staff/applications/{receipt(1)}/documents/{material_id}/{page_no}")
        assert got.status_code == 200
        assert hashlib.sha256(got.content).hexdigest() == digest
        assert got.headers["Content-Type"] == ("application/pdf" if page_no == 0 else "image/jpeg")
        assert got.headers["Cache-Control"] == "no-store"
        assert got.headers["X-Content-Type-Options"] == "nosniff"
        api = staff_get(hall_server.url, f"/v1/applications/{receipt(1)}/documents/{material_id}/{page_no}")
        assert api.content == got.content

    for missing in (f"/staff/applications/{NOBODY}", f"{base}/3", f"/staff/applications/{NOBODY}/documents/id_card/1"):
        assert staff_get(hall_server.url, missing).status_code == 404


def test_an_open_application_has_no_page(hall_server: EmbeddedHall) -> None:
    open_only(hall_server, receipt(1))
    assert staff_get(hall_server.url, f"/staff/applications/{receipt(1)}").status_code == 404
    assert move(hall_server, receipt(1), "reviewing").status_code == 404


def test_hostile_values_are_escaped(hall_server: EmbeddedHall) -> None:
    put(
        hall_server,
        receipt(1),
        item_name=HOSTILE,
        form={HOSTILE: HOSTILE},
        applicant={"name": HOSTILE, "id_number": ID_NUMBER, "extra": {"nested": HOSTILE}},
    )
    assert move(hall_server, receipt(1), "reviewing", note=HOSTILE).status_code == 201
    for path in ("/staff", f"/staff/applications/{receipt(1)}"):
        text = staff_get(hall_server.url, path).text
        assert "<script>" not in text
        assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in text
    text = staff_get(hall_server.url, f"/staff/applications/{receipt(1)}").text
    assert unescape(text).count(HOSTILE) >= 5  # item, form key and value, name, note (and the nested value)


# -- state changes ----------------------------------------------------------------------------


def citizen_sees(hall: EmbeddedHall, receipt_no: str) -> str:
    answer = requests.post(f"{hall.url}/progress/{receipt_no}", data={"id_tail": ID_NUMBER[-6:]}, timeout=10)
    assert answer.status_code == 200
    return answer.text


def test_state_changes_follow_the_allowed_transitions(hall_server: EmbeddedHall) -> None:
    put(hall_server, receipt(1))
    put(hall_server, receipt(2))
    refused = move(hall_server, receipt(1), "approved")  # not straight from received
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "hall.state.transition"

    made = move(hall_server, receipt(1), "reviewing", note="  窗口审核中 ")
    assert made.status_code == 201
    body = made.json()
    assert {k: body[k] for k in ("receipt_no", "state", "note", "staff")} == {
        "receipt_no": receipt(1),
        "state": "reviewing",
        "note": "窗口审核中",
        "staff": STAFF_NAME,
    }
    assert move(hall_server, receipt(1), "reviewing").status_code == 409  # not twice
    assert move(hall_server, receipt(1), "mailed").status_code == 409
    assert move(hall_server, receipt(1), "approved").status_code == 201
    assert move(hall_server, receipt(1), "rejected").status_code == 409  # decided already
    assert move(hall_server, receipt(1), "mailed", note="EMS 1234567890").status_code == 201
    assert move(hall_server, receipt(1), "reviewing").status_code == 409
    assert move(hall_server, receipt(2), "reviewing").status_code == 201
    assert move(hall_server, receipt(2), "rejected", note="材料不全").status_code == 201
    assert move(hall_server, receipt(2), "mailed").status_code == 409
    assert move(hall_server, NOBODY, "reviewing").status_code == 404

    for bad in (
        {"state": "received"},
        {"state": "open"},
        {"state": "reviewing", "note": "x" * 201},
        {"state": "reviewing", "note": "two\nlines"},
        {"state": "reviewing", "extra": 1},
    ):
        answer = requests.post(
            f"{hall_server.url}/v1/applications/{receipt(2)}/events", json=bad, auth=STAFF_AUTH, timeout=10
        )
        assert answer.status_code == 400
        assert answer.json()["error"]["code"] == "hall.invalid"

    record = application(hall_server.url, receipt(1))
    assert record["state"] == "mailed"
    assert [(e["state"], e["note"], e["staff"]) for e in record["timeline"]] == [
        ("received", "自助终端提交", None),
        ("reviewing", "窗口审核中", STAFF_NAME),
        ("approved", "", STAFF_NAME),
        ("mailed", "EMS 1234567890", STAFF_NAME),
    ]
    seen = citizen_sees(hall_server, receipt(1))
    assert '<span class="state state-mailed">已寄出</span>' in seen
    for shown in ("审核中", "窗口审核中", "已办结", "EMS 1234567890"):
        assert shown in seen
    assert STAFF_NAME not in seen  # who decided is not the citizen's to see
    assert '<span class="state state-rejected">未通过</span>' in citizen_sees(hall_server, receipt(2))


def test_the_page_form_changes_the_state(hall_server: EmbeddedHall) -> None:
    put(hall_server, receipt(1))
    page = staff_get(hall_server.url, f"/staff/applications/{receipt(1)}").text
    assert '<form method="post"' in page
    assert '<option value="reviewing">审核中</option>' in page

    done = form_post(hall_server, receipt(1), {"state": "reviewing", "note": "已收到材料"})
    assert done.status_code == 303
    assert done.headers["Location"] == f"/staff/applications/{receipt(1)}"
    page = staff_get(hall_server.url, f"/staff/applications/{receipt(1)}").text
    assert '<span class="state state-reviewing">审核中</span>' in page
    assert f"<td>已收到材料</td><td>{STAFF_NAME}</td>" in page
    assert '<option value="approved">已办结</option><option value="rejected">未通过</option>' in page

    # From the page's own address (a browser without Origin sends the Referer this page allows).
    referred = form_post(
        hall_server, receipt(1), {"state": "approved"}, Origin=None, Referer=f"{hall_server.url}/staff/applications/x"
    )
    assert referred.status_code == 303
    again = form_post(hall_server, receipt(1), {"state": "rejected"})
    assert again.status_code == 409
    assert "当前状态下不能变更为“未通过”" in again.text
    assert form_post(hall_server, receipt(1), {"state": "mailed", "note": "x" * 201}).status_code == 400
    assert form_post(hall_server, receipt(1), {"state": "mailed", "other": "1"}).status_code == 400
    assert form_post(hall_server, NOBODY, {"state": "reviewing"}).status_code == 404
    finished = form_post(hall_server, receipt(1), {"state": "mailed"})
    assert finished.status_code == 303
    assert "当前状态无可办理的变更" in staff_get(hall_server.url, f"/staff/applications/{receipt(1)}").text


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "http://evil.example"},
        {"Origin": "null"},
        {"Origin": None, "Referer": "http://evil.example/staff"},
        {"Origin": None},  # neither: refused rather than guessed
    ],
    ids=["other-origin", "opaque-origin", "other-referer", "no-origin"],
)
def test_a_cross_origin_post_is_refused(hall_server: EmbeddedHall, headers: dict[str, str | None]) -> None:
    put(hall_server, receipt(1))
    refused = form_post(hall_server, receipt(1), {"state": "reviewing"}, **headers)
    assert refused.status_code == 403
    assert application(hall_server.url, receipt(1))["state"] == "received"


# -- ratings ----------------------------------------------------------------------------------


def test_the_ratings_page(hall_server: EmbeddedHall) -> None:
    put(hall_server, receipt(1))
    for n, (level, reasons, comment) in enumerate(((5, ["办理快"], "很好"), (1, ["等太久", "<b>"], HOSTILE))):
        rating = {
            "receipt_no": receipt(1) if n == 0 else None,
            "item_id": "hukou.transfer",
            "terminal_id": TERMINAL,
            "session_id": f"R-{n}",
            "level": level,
            "reasons": reasons,
            "comment": comment,
        }
        sent = signed(
            hall_server.url,
            "POST",
            "/v1/ratings",
            KEY,
            TERMINAL,
            json.dumps(rating).encode(),
            {"Content-Type": "application/json"},
        )
        assert sent.status_code == 201, sent.text
    page = staff_get(hall_server.url, "/staff/ratings")
    assert page.status_code == 200
    rows = page.text[page.text.index("<tbody>") :].split("</tr>")
    assert "非常不满意" in rows[0]  # newest first
    assert "等太久、&lt;b&gt;" in rows[0]
    assert "&lt;script&gt;" in rows[0]
    assert "<script>" not in page.text
    assert "非常满意" in rows[1]
    assert "办理快" in rows[1]
    assert f'<a href="/staff/applications/{receipt(1)}">{receipt(1)}</a>' in rows[1]
    assert "共 2 条，第 1 / 1 页" in page.text
    assert staff_get(hall_server.url, "/staff/ratings", params={"page": "-1"}).status_code == 400


def test_the_staff_pages_in_headless_chromium(hall_server: EmbeddedHall, tmp_path: Path) -> None:
    require_chromium()
    # Real JPEGs this time, a pure colour each, so the screenshot shows whether the thumbnails loaded.
    pages = [("id_card", n, solid_jpeg(colour)) for n, colour in ((1, (200, 30, 30)), (2, (30, 160, 60)))]
    put_application(hall_server.url, make_application(receipt(1)), [*pages, PAGES[2]], KEY)
    host = hall_server.url.removeprefix("http://")
    login = f"http://{quote(STAFF_NAME, safe='')}:{quote(STAFF_USERS[STAFF_NAME], safe='')}@{host}"
    shot = OUTPUT / f"hall-staff-application-{hall_server.db_url.split(':')[0]}.png"
    OUTPUT.mkdir(exist_ok=True)
    shot.unlink(missing_ok=True)
    target = f"{login}/staff/applications/{receipt(1)}"
    budget = "--virtual-time-budget=5000"
    dom = chromium(tmp_path / "profile-dom", "--dump-dom", budget, target).stdout
    assert receipt(1) in dom and "张三丰" in dom and "整份材料 PDF" in dom
    assert 'value="reviewing"' in dom  # the state form is there
    chromium(tmp_path / "profile-shot", f"--screenshot={shot}", "--window-size=1200,1400", budget, target)
    with Image.open(shot) as image:
        rgb = image.convert("RGB")
    assert rgb.getpixel((4, 4)) == (31, 58, 95)  # the staff header's colour: the inline style applied
    colours = rgb.getcolors(maxcolors=1 << 20)
    assert colours is not None and len(colours) > 200  # text was drawn
    # The thumbnails came through the staff login too (the browser sends the credentials with them).
    for red, green, blue in ((200, 30, 30), (30, 160, 60)):
        drawn = sum(n for n, (r, g, b) in colours if abs(r - red) + abs(g - green) + abs(b - blue) < 30)
        assert drawn > 5000, (red, green, blue)
    listing = chromium(tmp_path / "profile-list", "--dump-dom", budget, f"{login}/staff").stdout
    assert receipt(1) in listing
    refused = chromium(tmp_path / "profile-none", "--dump-dom", budget, f"{hall_server.url}/staff").stdout
    assert receipt(1) not in refused


def solid_jpeg(colour: tuple[int, int, int]) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (420, 594), colour).save(out, "JPEG", quality=90)
    return out.getvalue()
