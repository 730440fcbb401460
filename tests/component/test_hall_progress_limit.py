"""Guessing ID tails: failed progress lookups are counted per receipt number and per caller, in the
database, and past a limit the lookup is refused (429) for a while, even with the right tail.

Both ways to ask count: GET /v1/progress (a terminal) and the citizen's page POST /progress/<no>.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlencode

import pytest
import requests
import sqlalchemy as sa

from hall.server import EmbeddedHall
from hall.store import CALLER_LIMIT, RECEIPT_LIMIT, make_engine, progress_failures
from hall.web.progress import LOCKED, NOT_FOUND
from kiosk.core.signing import receipt_token
from tests.component.test_hall import ID_NUMBER, make_application, make_pages
from tests.support.hall_put import put_application, signed
from tests.support.terminal_keys import TERMINAL_KEYS

TERMINAL = "TEST0001"
OTHER_TERMINAL = "E2E00001"
RECEIPT = "TEST0001-20261124-0001K"
SECOND = "TEST0001-20261124-0002K"
TAIL = ID_NUMBER[-6:]
WRONG = "123456"


@pytest.fixture
def hall(hall_server: EmbeddedHall) -> EmbeddedHall:
    """The test hall with two applications of TEST0001's, both with the tail TAIL."""
    for n, receipt_no in enumerate((RECEIPT, SECOND)):
        application = make_application(receipt_no, terminal_id=TERMINAL)
        put_application(hall_server.url, application, make_pages(seed=str(n)), TERMINAL_KEYS[TERMINAL])
    return hall_server


def api(hall: EmbeddedHall, receipt_no: str, tail: str, terminal: str = TERMINAL) -> requests.Response:
    target = "/v1/progress?" + urlencode({"receipt_no": receipt_no, "id_tail": tail})
    return signed(hall.url, "GET", target, TERMINAL_KEYS[terminal], terminal)


def page(hall: EmbeddedHall, receipt_no: str, tail: str) -> requests.Response:
    return requests.post(f"{hall.url}/progress/{receipt_no}", data={"id_tail": tail}, timeout=5)


def unknown(n: int) -> str:
    return f"TEST0001-20261124-{9000 + n:04d}K"


def age_failures(tmp_path: Path, seconds: float) -> None:
    """Move every counted failure `seconds` into the past (the test's own database, PostgreSQL too)."""
    engine = make_engine(f"sqlite:///{tmp_path / 'hall.db'}")
    try:
        with engine.begin() as conn:
            conn.execute(progress_failures.update().values(at=progress_failures.c.at - seconds))
    finally:
        engine.dispose()


def failure_rows(tmp_path: Path) -> int:
    engine = make_engine(f"sqlite:///{tmp_path / 'hall.db'}")
    try:
        with engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(progress_failures)).scalar_one())
    finally:
        engine.dispose()


def assert_locked(response: requests.Response, window_s: int) -> None:
    assert response.status_code == 429, response.text
    error = response.json()["error"]
    assert error["code"] == "hall.progress.locked"
    assert 0 < error["retry_after"] <= window_s
    assert window_s - error["retry_after"] < 60  # the failures are seconds old
    assert response.headers["Retry-After"] == str(error["retry_after"])
    assert TAIL not in response.text


# -- per receipt number -----------------------------------------------------------------------


def test_the_sixth_try_after_five_failures_is_refused_even_with_the_right_tail(hall: EmbeddedHall) -> None:
    assert RECEIPT_LIMIT.failures == 5
    for _ in range(5):
        assert api(hall, RECEIPT, WRONG).status_code == 404  # the fifth failure still answers 404
    assert_locked(api(hall, RECEIPT, TAIL), RECEIPT_LIMIT.window_s)
    assert_locked(api(hall, RECEIPT, WRONG), RECEIPT_LIMIT.window_s)
    assert api(hall, SECOND, TAIL).status_code == 200  # other numbers are unaffected
    assert api(hall, RECEIPT, TAIL, terminal=OTHER_TERMINAL).status_code == 429  # whoever asks


def test_an_unknown_number_locks_alike(hall: EmbeddedHall) -> None:
    answers = [api(hall, unknown(0), TAIL) for _ in range(6)]
    assert [a.status_code for a in answers] == [404] * 5 + [429]  # a lock tells nothing about existence


def test_a_right_tail_between_wrong_ones_resets_nothing(hall: EmbeddedHall) -> None:
    for _ in range(4):
        assert api(hall, RECEIPT, WRONG).status_code == 404
    assert api(hall, RECEIPT, TAIL).status_code == 200  # not counted, and not forgiving either
    assert api(hall, RECEIPT, WRONG).status_code == 404
    assert_locked(api(hall, RECEIPT, TAIL), RECEIPT_LIMIT.window_s)


def test_the_lock_ends_when_the_failures_age_out_of_the_window(hall: EmbeddedHall, tmp_path: Path) -> None:
    for _ in range(5):
        api(hall, RECEIPT, WRONG)
    assert api(hall, RECEIPT, TAIL).status_code == 429
    age_failures(tmp_path, RECEIPT_LIMIT.window_s - 60)
    assert api(hall, RECEIPT, TAIL).status_code == 429  # a minute to go
    age_failures(tmp_path, 61)
    assert api(hall, RECEIPT, TAIL).status_code == 200


def test_page_and_api_count_together_and_the_page_says_when_to_come_back(hall: EmbeddedHall) -> None:
    for _ in range(3):
        wrong = page(hall, RECEIPT, WRONG)
        assert wrong.status_code == 404
        assert NOT_FOUND in wrong.text
    for _ in range(2):
        assert api(hall, RECEIPT, WRONG).status_code == 404
    locked = page(hall, RECEIPT, TAIL)
    assert locked.status_code == 429
    assert LOCKED.format(minutes=15) in locked.text
    assert "查询次数过多，请于15分钟后再试。" in locked.text
    assert int(locked.headers["Retry-After"]) > 14 * 60
    assert "户口迁移" not in locked.text
    assert 'name="id_tail"' not in locked.text  # nothing to try until then
    assert_locked(api(hall, RECEIPT, TAIL), RECEIPT_LIMIT.window_s)


# -- per caller -------------------------------------------------------------------------------


def test_a_terminal_sweeping_many_numbers_is_locked_out(hall: EmbeddedHall) -> None:
    assert CALLER_LIMIT.failures == 30
    for n in range(30):  # each number fails once: no number is locked
        assert api(hall, unknown(n), TAIL).status_code == 404
    assert_locked(api(hall, RECEIPT, TAIL), CALLER_LIMIT.window_s)  # a fresh number, the right tail
    assert api(hall, RECEIPT, TAIL, terminal=OTHER_TERMINAL).status_code == 200  # other terminals are not
    assert page(hall, RECEIPT, TAIL).status_code == 200  # nor are citizens' phones


def test_an_address_sweeping_many_numbers_is_locked_out(hall: EmbeddedHall) -> None:
    for n in range(30):
        assert page(hall, unknown(n), TAIL).status_code == 404
    locked = page(hall, RECEIPT, TAIL)
    assert locked.status_code == 429
    assert "查询次数过多，请于60分钟后再试。" in locked.text
    assert api(hall, RECEIPT, TAIL).status_code == 200  # the terminal is another caller


def test_failures_older_than_every_window_are_pruned(hall: EmbeddedHall, tmp_path: Path) -> None:
    for n in range(3):
        api(hall, unknown(n), TAIL)
    assert failure_rows(tmp_path) == 6  # one for the number, one for the caller
    age_failures(tmp_path, CALLER_LIMIT.window_s + 1)
    api(hall, unknown(3), TAIL)
    assert failure_rows(tmp_path) == 2


# -- the receipt QR link's token: a proof instead of the ID tail -----------------------------


def token_api(hall: EmbeddedHall, receipt_no: str, token: str, terminal: str = TERMINAL) -> requests.Response:
    target = "/v1/progress?" + urlencode({"receipt_no": receipt_no, "token": token})
    return signed(hall.url, "GET", target, TERMINAL_KEYS[terminal], terminal)


def test_the_receipt_links_token_opens_its_progress_without_the_id_tail(hall: EmbeddedHall) -> None:
    token = receipt_token(TERMINAL_KEYS[TERMINAL], RECEIPT)
    answer = token_api(hall, RECEIPT, token)
    assert answer.status_code == 200 and answer.json()["receipt_no"] == RECEIPT
    shown = requests.get(f"{hall.url}/progress/{RECEIPT}", params={"k": token}, timeout=5)
    assert shown.status_code == 200 and "已受理" in shown.text and "身份证号码后6位" not in shown.text


def test_a_token_opens_only_its_own_number_and_wrong_tokens_count_as_failures(hall: EmbeddedHall) -> None:
    token = receipt_token(TERMINAL_KEYS[TERMINAL], RECEIPT)
    other_terminals = receipt_token(TERMINAL_KEYS[OTHER_TERMINAL], RECEIPT)  # signed with another key
    assert token_api(hall, SECOND, token).status_code == 404
    assert token_api(hall, RECEIPT, other_terminals).status_code == 404
    wrong = requests.get(f"{hall.url}/progress/{RECEIPT}", params={"k": "a" * 16}, timeout=5)
    assert wrong.status_code == 404 and NOT_FOUND in wrong.text
    for _ in range(RECEIPT_LIMIT.failures - 2):  # two so far on RECEIPT: another key's token, the page
        assert token_api(hall, RECEIPT, "b" * 16).status_code == 404
    assert_locked(token_api(hall, RECEIPT, token), RECEIPT_LIMIT.window_s)  # even the right one, now


@pytest.mark.parametrize("query", [{}, {"id_tail": TAIL, "token": "a" * 16}, {"token": "short"}])
def test_exactly_one_proof_well_formed(hall: EmbeddedHall, query: dict[str, str]) -> None:
    target = "/v1/progress?" + urlencode({"receipt_no": RECEIPT, **query})
    answer = signed(hall.url, "GET", target, TERMINAL_KEYS[TERMINAL], TERMINAL)
    assert answer.status_code == 400 and answer.json()["error"]["code"] == "hall.invalid"
