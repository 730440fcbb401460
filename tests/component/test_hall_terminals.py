"""Terminals' heartbeats (POST /v1/terminals/{id}/heartbeat) and the staff's list (GET /v1/terminals)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
import requests

from hall.server import EmbeddedHall
from hall.store import heartbeats, make_engine
from tests.support.hall_put import signed
from tests.support.staff import STAFF_AUTH, staff_get
from tests.support.terminal_keys import TERMINAL_KEYS

TERMINAL = "TEST0001"
SILENT = "E2E00001"  # has a key, never sends a heartbeat


def beat(**changes: Any) -> dict[str, Any]:
    report = {
        "version": "0.4.2",
        "sent_at": "2026-11-24T09:30:00+08:00",
        "interval_s": 60,
        "devices": {
            "card_reader": {"state": "ready", "code": "device.ready", "fixed_by": None, "consumables": {}},
            "printer": {
                "state": "user_error",
                "code": "printer.paper_out",
                "fixed_by": "staff",
                "consumables": {"paper": "out"},
            },
        },
        "outbox": {"depth": 3, "stuck": 2, "oldest_age_s": 125.5},
        "catalogue_version": None,
    }
    report.update(changes)
    return report


def send(
    hall: EmbeddedHall, report: dict[str, Any], path_terminal: str = TERMINAL, signer: str = TERMINAL
) -> requests.Response:
    body = json.dumps(report, ensure_ascii=False).encode("utf-8")
    target = f"/v1/terminals/{path_terminal}/heartbeat"
    return signed(hall.url, "POST", target, TERMINAL_KEYS[signer], signer, body, {"Content-Type": "application/json"})


def listed(hall: EmbeddedHall) -> dict[str, Any]:
    answer = staff_get(hall.url, "/v1/terminals")
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def by_id(listing: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {item["terminal_id"]: item for item in listing["items"]}


def catalogue_version(hall: EmbeddedHall) -> str:
    return str(signed(hall.url, "GET", "/v1/catalogue", TERMINAL_KEYS[TERMINAL], TERMINAL).json()["version"])


def age_heartbeat(tmp_path: Path, seconds: float) -> None:
    """Make the stored heartbeat look `seconds` old (the hall's clock keeps running; the row moves back)."""
    at = (dt.datetime.now(dt.UTC) - dt.timedelta(seconds=seconds)).isoformat(timespec="milliseconds")
    engine = make_engine(f"sqlite:///{tmp_path / 'hall.db'}")  # the test's own database (PostgreSQL too)
    try:
        with engine.begin() as conn:
            conn.execute(heartbeats.update().where(heartbeats.c.terminal_id == TERMINAL).values(received_at=at))
    finally:
        engine.dispose()


def test_a_heartbeat_is_stored_and_listed_with_what_needs_attention(hall_server: EmbeddedHall) -> None:
    version = catalogue_version(hall_server)
    answer = send(hall_server, beat())
    assert answer.status_code == 200, answer.text
    assert set(answer.json()) == {"received_at", "catalogue_version"}
    assert answer.json()["catalogue_version"] == version  # the terminal runs none yet: it should fetch

    listing = listed(hall_server)
    assert listing["catalogue_version"] == version
    assert [item["terminal_id"] for item in listing["items"]] == sorted(TERMINAL_KEYS)  # every known terminal
    terminal = by_id(listing)[TERMINAL]
    assert terminal == {
        "terminal_id": TERMINAL,
        "last_seen": answer.json()["received_at"],
        "stale": False,
        "version": "0.4.2",
        "devices": beat()["devices"],
        "outbox": beat()["outbox"],
        "catalogue_version": None,
        "clock_skew_s": None,
        "attention": [
            "printer user_error (printer.paper_out)",
            "printer paper out",
            "outbox stuck 2",
            "catalogue out of date",
        ],
        "attention_zh": [
            "打印机：需处理 (printer.paper_out)",
            "打印机：打印纸用完",
            "2 件申请无法自动上传，待技术人员处理",
            "事项目录未更新",
        ],
    }
    silent = by_id(listing)[SILENT]
    assert (silent["last_seen"], silent["stale"], silent["attention"]) == (None, True, ["never seen"])


def test_the_latest_heartbeat_replaces_the_one_before(hall_server: EmbeddedHall) -> None:
    send(hall_server, beat())
    healthy = {"printer": {"state": "ready", "code": "device.ready", "consumables": {"paper": "ok"}}}
    version = catalogue_version(hall_server)
    later = send(
        hall_server,
        beat(version="0.4.3", devices=healthy, outbox={"depth": 0, "stuck": 0}, catalogue_version=version),
    )
    terminal = by_id(listed(hall_server))[TERMINAL]
    assert terminal["last_seen"] == later.json()["received_at"]
    assert terminal["version"] == "0.4.3"
    assert terminal["devices"] == {"printer": {**healthy["printer"], "fixed_by": None}}
    assert terminal["outbox"] == {"depth": 0, "stuck": 0, "oldest_age_s": None}
    assert terminal["attention"] == []


def test_low_consumables_and_a_late_outbox_need_attention(hall_server: EmbeddedHall) -> None:
    devices = {
        "printer": {"state": "busy", "consumables": {"paper": "low", "ribbon": "ok"}},
        "camera": {"state": "unknown"},
        "card_reader": {"state": "not_configured"},
    }
    send(hall_server, beat(devices=devices, outbox={"depth": 1, "stuck": 0, "oldest_age_s": 2 * 3600 + 59}))
    assert by_id(listed(hall_server))[TERMINAL]["attention"] == [
        "camera unknown",
        "printer paper low",
        "outbox waiting 120 min",
        "catalogue out of date",
    ]


def test_a_terminal_silent_for_three_intervals_is_stale(hall_server: EmbeddedHall, tmp_path: Path) -> None:
    send(hall_server, beat(interval_s=10, catalogue_version=catalogue_version(hall_server)))
    age_heartbeat(tmp_path, 25)  # two and a half intervals: still fine
    terminal = by_id(listed(hall_server))[TERMINAL]
    assert not terminal["stale"]
    assert "stale" not in terminal["attention"]
    age_heartbeat(tmp_path, 31)
    terminal = by_id(listed(hall_server))[TERMINAL]
    assert terminal["stale"]
    assert terminal["attention"][0] == "stale"
    send(hall_server, beat(interval_s=10))  # it speaks again
    assert not by_id(listed(hall_server))[TERMINAL]["stale"]


def test_a_heartbeat_must_be_signed_by_its_own_terminal(hall_server: EmbeddedHall) -> None:
    body = json.dumps(beat()).encode()
    unsigned = requests.post(f"{hall_server.url}/v1/terminals/{TERMINAL}/heartbeat", data=body, timeout=5)
    assert (unsigned.status_code, unsigned.json()["error"]["code"]) == (401, "hall.signature.missing")
    other = send(hall_server, beat(), path_terminal=TERMINAL, signer=SILENT)
    assert (other.status_code, other.json()["error"]["code"]) == (403, "hall.forbidden")
    unknown = send(hall_server, beat(), path_terminal="NOBODY01", signer=TERMINAL)
    assert unknown.status_code == 403
    assert by_id(listed(hall_server))[TERMINAL]["last_seen"] is None  # nothing was stored


@pytest.mark.parametrize(
    "changes",
    [
        {"interval_s": 9},
        {"interval_s": 3601},
        {"interval_s": "60"},
        {"version": "v" * 41},
        {"sent_at": "yesterday"},
        {"devices": {"printer": {"state": "on_fire"}}},
        {"devices": {"printer": {"state": "ready", "consumables": {"paper": "half"}}}},
        {"devices": {"printer": {"state": "ready", "fixed_by": "nobody"}}},
        {"devices": {f"device{n}": {"state": "ready"} for n in range(17)}},
        {"outbox": {"depth": -1, "stuck": 0}},
        {"outbox": {"depth": 0}},
        {"unexpected": 1},
        {"catalogue_version": "secret\x00"},
    ],
    ids=[
        "interval-short",
        "interval-long",
        "interval-text",
        "version-long",
        "sent-at",
        "device-state",
        "level",
        "fixed-by",
        "too-many-devices",
        "negative-depth",
        "no-stuck",
        "unknown-key",
        "nul",
    ],
)
def test_invalid_heartbeats_are_refused_without_echoing_them(
    hall_server: EmbeddedHall, changes: dict[str, Any]
) -> None:
    answer = send(hall_server, beat(**changes))
    assert (answer.status_code, answer.json()["error"]["code"]) == (400, "hall.invalid")
    for echoed in ("on_fire", "half", "nobody", "yesterday", "secret"):
        assert echoed not in answer.text


def test_the_list_is_for_staff_only(hall_server: EmbeddedHall) -> None:
    anonymous = requests.get(f"{hall_server.url}/v1/terminals", timeout=5)
    assert (anonymous.status_code, anonymous.json()["error"]["code"]) == (401, "hall.staff.unauthorized")
    wrong = requests.get(f"{hall_server.url}/v1/terminals", auth=(STAFF_AUTH[0], "wrong password!"), timeout=5)
    assert wrong.status_code == 401


def test_a_terminal_clock_far_off_needs_attention_and_the_staff_page_says_so_in_chinese(
    hall_server: EmbeddedHall,
) -> None:
    version = catalogue_version(hall_server)
    send(hall_server, beat(catalogue_version=version, clock_skew_s=-7200))
    terminal = by_id(listed(hall_server))[TERMINAL]
    assert terminal["clock_skew_s"] == -7200
    assert "clock off by -7200 s" in terminal["attention"]
    page = staff_get(hall_server.url, "/staff/terminals")
    assert page.status_code == 200 and "no-store" in page.headers["cache-control"]
    assert "时钟偏差 -7200 秒" in page.text and "打印纸用完" in page.text and "从未" in page.text
    assert requests.get(f"{hall_server.url}/staff/terminals", timeout=10).status_code == 401
