"""`kiosk read-card --json`: the technician's command, through real pcscd and the SAM emulator."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time

import pytest

from tests.conftest import ROOT
from tests.support.sam_cards import MAINLAND
from tests.support.sam_emulator import SamEmulator
from tests.support.ssse_records import SocialSecurityIdentity
from tests.support.vpcd_card import SocialSecurityCard, UnknownCard

pytestmark = pytest.mark.timeout(120, method="thread")
HOLDER = SocialSecurityIdentity(name="陈建国", id_number="440524188001010014", sex="1", birth_date="18800101")


def read_card(*args: str, insert=None, timeout: float = 60) -> tuple[int, dict]:
    """Run the command; `insert` is called once it has started, as a citizen placing a card."""
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "main.py"), "read-card", "--json", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ),  # carries PCSCLITE_CSOCK_NAME to the private pcscd
    )
    if insert is not None:
        threading.Timer(1.5, insert).start()
    out, err = proc.communicate(timeout=timeout)
    lines = out.strip().splitlines()
    assert len(lines) == 1, (out, err[-2000:])
    return proc.returncode, json.loads(lines[0])


@pytest.mark.parametrize(
    "pattern",
    # pcscd calls the reader "Kiosk Citizen Slot 00 00"; a name without wildcards matches the
    # reader containing it, in any case: the technician types what the device says
    ["kiosk citizen slot 00 00", "KIOSK citizen SLOT"],
)
def test_social_security_card_through_pcscd(pcscd_server, citizen_slot, pattern) -> None:
    code, card = read_card(
        "--reader",
        pattern,
        "--timeout",
        "20",
        insert=lambda: citizen_slot.insert(SocialSecurityCard(HOLDER)),
    )
    assert code == 0, card
    assert card["card_type"] == "social_security"
    assert (card["name"], card["id_number"], card["sex"]) == ("陈建国", "440524188001010014", "男")
    assert (card["birth_date"], card["ethnicity"]) == ("1880-01-01", "汉")
    assert 0 < card["elapsed_ms"] < 1000


def test_a_pattern_no_reader_matches_names_it_and_the_readers_pcscd_has(pcscd_server) -> None:
    started = time.monotonic()
    code, answer = read_card("--reader", "Virtual PCD", "--timeout", "20")
    assert code != 0
    assert answer["error"]["code"] == "card.reader_missing", answer
    message = answer["error"]["message"]
    assert "“Virtual PCD”" in message and "Kiosk Citizen Slot 00 00" in message, message
    assert "未检测到卡片" not in message
    assert time.monotonic() - started < 15, "it waited for a card that cannot come"


def test_no_card_times_out_with_a_clear_error(pcscd_server) -> None:
    code, answer = read_card("--reader", "kiosk citizen*", "--timeout", "1")
    assert code != 0
    assert answer == {"error": {"code": "card.none", "message": "未检测到卡片"}}


def test_unknown_card_is_named(pcscd_server, citizen_slot) -> None:
    code, answer = read_card(
        "--reader", "kiosk citizen*", "--timeout", "20", insert=lambda: citizen_slot.insert(UnknownCard())
    )
    assert code != 0
    assert answer["error"]["code"] == "card.unknown"
    assert "无法识别此卡" in answer["error"]["message"]


def test_resident_id_card_through_the_sam_module() -> None:
    with SamEmulator(115200) as module:
        code, card = read_card(
            "--no-pcsc", "--sam", module.port, "--timeout", "20", insert=lambda: module.place(MAINLAND)
        )
    assert code == 0, card
    assert card["card_type"] == "resident_id"
    assert (card["name"], card["id_number"], card["sex"], card["ethnicity"]) == (
        "王秀英",
        "11010519491231002X",
        "女",
        "汉",
    )
    assert card["address"] == MAINLAND.address
    assert card["birth_date"] == "1949-12-31"
    assert card["valid_to"] == "长期"
    assert card["photo_bytes"] == 1024
