"""The citizen's progress page (/progress/<receipt_no>), against a real hall on loopback.

The receipt's QR code opens it on a phone; these tests speak HTTP to it as a browser would, and
one renders it in real headless Chromium.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from PIL import Image

from hall.server import EmbeddedHall
from hall.store import applications, events, make_engine
from hall.web.progress import BAD_NUMBER, BAD_TAIL, NOT_FOUND
from tests.component.test_hall import ID_NUMBER, KEY, NAME, TERMINAL, make_application, make_pages
from tests.support.chromium import chromium, require_chromium
from tests.support.hall_put import put_application, signed

RECEIPT = "DEMO0001-20261123-0001D"
UNKNOWN = "DEMO0001-20261123-0002B"  # same length, so the two not-found pages compare byte for byte
TAIL = ID_NUMBER[-6:]  # "31002X"
WRONG_TAIL = "123456"
CSP = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'"
OUTPUT = Path(__file__).resolve().parents[2] / "test-output"


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/hall.db"


@pytest.fixture
def hall(db_url: str, tmp_path: Path) -> Iterator[EmbeddedHall]:
    server = EmbeddedHall(db_url, tmp_path / "documents", terminal_keys={TERMINAL: KEY})
    server.start()
    yield server
    server.stop()


def submit(hall: EmbeddedHall, receipt_no: str = RECEIPT, **changes: Any) -> None:
    put_application(hall.url, make_application(receipt_no, **changes), make_pages(), KEY)


def page(hall: EmbeddedHall, receipt_no: str = RECEIPT) -> requests.Response:
    return requests.get(f"{hall.url}/progress/{receipt_no}", timeout=5)


def ask(hall: EmbeddedHall, tail: str, receipt_no: str = RECEIPT) -> requests.Response:
    """What the page's form sends: a url-encoded POST to the page's own URL."""
    return requests.post(f"{hall.url}/progress/{receipt_no}", data={"id_tail": tail}, timeout=5)


def move_to(db_url: str, receipt_no: str, *steps: tuple[str, str, str]) -> None:
    """Staff actions (no API for them yet): add (state, at, note) events and set the last state."""
    engine = make_engine(db_url)
    try:
        with engine.begin() as conn:
            for state, at, note in steps:
                conn.execute(events.insert().values(receipt_no=receipt_no, state=state, at=at, note=note))
            conn.execute(
                applications.update().where(applications.c.receipt_no == receipt_no).values(state=steps[-1][0])
            )
    finally:
        engine.dispose()


def assert_page_headers(response: requests.Response) -> None:
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Content-Security-Policy"] == CSP


def assert_no_personal_data(text: str) -> None:
    for secret in (NAME, ID_NUMBER, TAIL, TAIL.lower(), "13800000000", "工作调动"):
        assert secret not in text


# -- the form ---------------------------------------------------------------------------------


def test_page_shows_the_number_and_asks_for_the_id_tail(hall: EmbeddedHall) -> None:
    submit(hall)
    response = page(hall)
    assert response.status_code == 200
    assert_page_headers(response)
    text = response.text
    assert "<title>办件进度查询</title>" in text
    assert RECEIPT in text
    assert "身份证号码后6位" in text
    assert '<form method="post"' in text
    assert 'name="id_tail"' in text
    assert "<script" not in text  # no script at all: the CSP would block it anyway
    assert "http" not in text.lower()  # no external asset
    assert "户口迁移" not in text  # the bare page looks nothing up
    assert_no_personal_data(text)


def test_bare_page_is_the_same_for_an_unknown_number(hall: EmbeddedHall) -> None:
    submit(hall)
    known, unknown = page(hall, RECEIPT), page(hall, UNKNOWN)
    assert unknown.status_code == known.status_code == 200
    assert unknown.text.replace(UNKNOWN, RECEIPT) == known.text


def test_number_in_lower_case_is_read_as_upper_case(hall: EmbeddedHall) -> None:
    submit(hall)
    response = page(hall, RECEIPT.lower())
    assert response.status_code == 200
    assert RECEIPT in response.text
    assert "户口迁移" in ask(hall, TAIL, RECEIPT.lower()).text


# -- the answer -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "tail", [TAIL, TAIL.lower(), " 31002X ", "３１００２Ｘ"], ids=["upper-x", "lower-x", "spaces", "full-width"]
)
def test_right_tail_shows_item_state_and_timeline(hall: EmbeddedHall, tail: str) -> None:
    submit(hall)
    response = ask(hall, tail)
    assert response.status_code == 200
    assert_page_headers(response)
    text = response.text
    assert "户口迁移" in text
    assert '<span class="state state-received">已受理</span>' in text
    assert "办理记录" in text
    assert "自助终端提交" in text
    assert NOT_FOUND not in text
    assert '<form method="post"' not in text  # answered: a link back to the form instead
    assert_no_personal_data(text)


def test_states_read_in_chinese_and_times_in_beijing_time(hall: EmbeddedHall, db_url: str) -> None:
    submit(hall)
    move_to(
        db_url,
        RECEIPT,
        ("reviewing", "2026-11-23T16:30:00.000+00:00", "窗口审核"),  # 00:30 the next day in Beijing
        ("approved", "2026-11-24T02:00:00.000+00:00", ""),
        ("mailed", "2026-11-24T03:15:00.000+00:00", "EMS寄出"),
    )
    text = ask(hall, TAIL).text
    assert '<span class="state state-mailed">已寄出</span>' in text
    timeline = text[text.index("<ol>") : text.index("</ol>")]
    shown = [line for line in timeline.splitlines() if line.startswith("<li>")]
    assert len(shown) == 4  # oldest first
    assert "<span>已受理</span>" in shown[0]
    assert shown[1] == (
        '<li><time datetime="2026-11-24T00:30:00+08:00">2026-11-24 00:30</time>'
        '<span>审核中</span><span class="event-note">窗口审核</span></li>'
    )
    assert shown[2] == '<li><time datetime="2026-11-24T10:00:00+08:00">2026-11-24 10:00</time><span>已办结</span></li>'
    assert "<span>已寄出</span>" in shown[3]

    move_to(db_url, RECEIPT, ("rejected", "2026-11-24T04:00:00.000+00:00", "材料不全"))
    assert '<span class="state state-rejected">未通过</span>' in ask(hall, TAIL).text


def test_unknown_state_is_shown_as_is_and_escaped(hall: EmbeddedHall, db_url: str) -> None:
    submit(hall)
    move_to(db_url, RECEIPT, ("<b>suspended</b>", "not a time", "<i>note</i>"))
    text = ask(hall, TAIL).text
    assert '<span class="state state-other">&lt;b&gt;suspended&lt;/b&gt;</span>' in text
    assert "<time>not a time</time>" in text
    assert "&lt;i&gt;note&lt;/i&gt;" in text
    assert "<b>" not in text
    assert "<i>" not in text


def test_hostile_item_name_is_escaped(hall: EmbeddedHall) -> None:
    hostile = "<script>alert('x')</script>\"><img src=x onerror=alert(1)>&amp;"
    submit(hall, item_name=hostile)
    text = ask(hall, TAIL).text
    assert "<script" not in text
    assert "<img" not in text
    escaped = "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;&quot;&gt;&lt;img src=x onerror=alert(1)&gt;&amp;amp;"
    assert f"<dd>{escaped}</dd>" in text


# -- no probing, no leaks ---------------------------------------------------------------------


def test_wrong_tail_and_unknown_number_answer_identically(hall: EmbeddedHall, caplog: pytest.LogCaptureFixture) -> None:
    submit(hall)
    caplog.set_level(logging.DEBUG)
    wrong_tail = ask(hall, WRONG_TAIL, RECEIPT)
    unknown_number = ask(hall, TAIL, UNKNOWN)
    for response in (wrong_tail, unknown_number):
        assert response.status_code == 404
        assert_page_headers(response)
        assert NOT_FOUND in response.text
        assert "户口迁移" not in response.text
        assert_no_personal_data(response.text)
        assert WRONG_TAIL not in response.text  # the form is shown again, empty
    assert unknown_number.text.replace(UNKNOWN, RECEIPT) == wrong_tail.text

    found = ask(hall, TAIL)
    assert found.status_code == 200
    # The tail travels in POST bodies only, and no log line carries it; the access log has the path.
    messages = [r.getMessage() for r in caplog.records]
    assert any(f"POST /progress/{RECEIPT} 200" in m for m in messages)
    assert any(f"POST /progress/{UNKNOWN} 404" in m for m in messages)
    for tail in (TAIL, TAIL.lower(), WRONG_TAIL):
        assert not any(tail in m for m in messages)


@pytest.mark.parametrize(
    "receipt_no",
    ["abc", "DEMO0001_20261123", "X" * 41, "%3Cscript%3Ealert(1)%3Cb%3E"],
    ids=["short", "underscore", "too-long", "markup"],
)
def test_malformed_number_says_so(hall: EmbeddedHall, receipt_no: str) -> None:
    for response in (page(hall, receipt_no), ask(hall, TAIL, receipt_no)):
        assert response.status_code == 400
        assert_page_headers(response)
        assert BAD_NUMBER in response.text
        assert "<form" not in response.text  # a tail cannot help: the number itself is wrong
        assert "<script" not in response.text
        assert "alert(1)" not in response.text  # the bad number is not echoed at all


@pytest.mark.parametrize(
    "data",
    [{"id_tail": "12345"}, {"id_tail": "1234567"}, {"id_tail": "12-45X"}, {"id_tail": ""}, {}, {"id_tail": "1" * 2000}],
    ids=["five", "seven", "dash", "empty", "missing", "oversized"],
)
def test_malformed_tail_asks_again(hall: EmbeddedHall, data: dict[str, str]) -> None:
    submit(hall)
    response = requests.post(f"{hall.url}/progress/{RECEIPT}", data=data, timeout=5)
    assert response.status_code == 400
    assert_page_headers(response)
    assert BAD_TAIL in response.text
    assert 'name="id_tail"' in response.text
    assert "户口迁移" not in response.text


def test_the_json_api_is_unchanged(hall: EmbeddedHall) -> None:
    submit(hall)
    response = signed(hall.url, "GET", f"/v1/progress?receipt_no={RECEIPT}&id_tail={TAIL}", KEY, TERMINAL)
    assert response.status_code == 200
    assert response.json()["item_name"] == "户口迁移"
    missing = requests.get(f"{hall.url}/progress/", timeout=5)
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "hall.not_found"


# -- in a real browser ------------------------------------------------------------------------


def poster(tmp_path: Path, action: str, tail: str) -> str:
    """A local page that posts the form as the citizen's browser would (the page itself has no script)."""
    path = tmp_path / "post.html"
    path.write_text(
        f'<!doctype html><form method="post" action="{action}"><input name="id_tail" value="{tail}"></form>'
        "<script>document.forms[0].submit()</script>",
        encoding="utf-8",
    )
    return path.as_uri()


def test_page_in_headless_chromium(hall: EmbeddedHall, db_url: str, tmp_path: Path) -> None:
    require_chromium()
    submit(hall)
    move_to(db_url, RECEIPT, ("reviewing", "2026-11-24T01:20:00.000+00:00", "窗口审核"))
    url = f"{hall.url}/progress/{RECEIPT}"
    OUTPUT.mkdir(exist_ok=True)
    shots = {"form": OUTPUT / "hall-progress-page.png", "answer": OUTPUT / "hall-progress-answer.png"}
    for shot in shots.values():
        shot.unlink(missing_ok=True)

    chromium(tmp_path / "profile-form", f"--screenshot={shots['form']}", url)  # as the QR code opens it
    # --virtual-time-budget: wait for the posted form's answer before shooting.
    answer_page = poster(tmp_path, url, TAIL)
    budget = "--virtual-time-budget=5000"
    chromium(tmp_path / "profile-answer", f"--screenshot={shots['answer']}", budget, answer_page)
    dom = chromium(tmp_path / "profile-dom", "--dump-dom", budget, answer_page).stdout
    assert "户口迁移" in dom
    assert '<span class="state state-reviewing">审核中</span>' in dom
    assert "窗口审核" in dom

    for name, shot in shots.items():
        with Image.open(shot) as image:
            rgb = image.convert("RGB")
        assert rgb.size == (412, 900), name
        # The inline style applied (the CSP allows it): the red title bar and the grey page.
        red, green, blue = rgb.getpixel((4, 4))
        assert red > 150 > green and blue < 100, (name, (red, green, blue))
        assert rgb.getpixel((4, 880)) == (242, 244, 247), name
        colours = rgb.getcolors(maxcolors=1 << 16)
        assert colours is None or len(colours) > 50, name  # text was drawn, not an empty page
    with Image.open(shots["form"]) as form, Image.open(shots["answer"]) as answer:
        assert form.tobytes() != answer.tobytes()  # the answer came back and was rendered
