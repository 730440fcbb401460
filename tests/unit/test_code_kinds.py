"""What a read code is: only exact matches, check characters included, are acted on."""

from __future__ import annotations

import datetime as dt

import pytest

from kiosk.core.code_kinds import Classified, CodeKind, CodeRules, classify
from kiosk.core.config import load_config
from kiosk.core.devices import CodeRead
from kiosk.core.errors import ConfigError
from kiosk.core.identity import id_check_char
from kiosk.core.receipt_number import format_number

RULES = CodeRules(progress_url="http://127.0.0.1:8765/progress/", elicence_hosts=("gov.cn", "zwfw.example.org"))
RECEIPT = "DEMO0001-20261124-0001L"
ID = "11010519491231002X"


def kind(text: str, rules: CodeRules = RULES) -> tuple[CodeKind, str]:
    found = classify(code_read(text), rules)
    return found.kind, found.value


def test_the_receipt_number_in_these_tests_is_one_the_kiosk_prints() -> None:
    assert format_number("DEMO0001", dt.date(2026, 11, 24), 1) == RECEIPT


@pytest.mark.parametrize(
    "text",
    [
        f"http://127.0.0.1:8765/progress/{RECEIPT}",
        f"HTTP://127.0.0.1:8765/progress/{RECEIPT}",  # scheme and host in any case
        f"http://127.0.0.1:8765/progress/{RECEIPT.lower()}",
        f"  http://127.0.0.1:8765/progress/{RECEIPT}\n",  # whitespace trimmed
        RECEIPT,
        RECEIPT.lower(),
    ],
)
def test_our_receipt(text: str) -> None:
    assert kind(text) == (CodeKind.RECEIPT, RECEIPT)


def test_our_receipt_link_carries_its_token() -> None:
    found = classify(code_read(f"http://127.0.0.1:8765/progress/{RECEIPT}?k=abcdefghijk23456"), RULES)
    assert (found.kind, found.value, found.token) == (CodeKind.RECEIPT, RECEIPT, "abcdefghijk23456")
    assert classify(code_read(f"http://127.0.0.1:8765/progress/{RECEIPT}"), RULES).token == ""


def code_read(text: str) -> CodeRead:
    return CodeRead(text.encode(), text, "QRCode", "utf-8")


def test_a_hall_url_with_a_host_name_in_capitals() -> None:
    rules = CodeRules(progress_url="https://hall.example.gov.cn/progress/")
    assert kind(f"https://HALL.Example.gov.cn/progress/{RECEIPT}", rules) == (CodeKind.RECEIPT, RECEIPT)


@pytest.mark.parametrize(
    "text",
    [
        f"http://127.0.0.1:8765/progress/{RECEIPT[:-1]}X",  # wrong check character
        "DEMO0001-20261124-0001X",
        f"http://127.0.0.1:8766/progress/{RECEIPT}",  # another port
        f"https://127.0.0.1:8765/progress/{RECEIPT}",  # another scheme
        f"http://127.0.0.1:8765.evil.com/progress/{RECEIPT}",
        f"http://evil.com/?http://127.0.0.1:8765/progress/{RECEIPT}",
        f"http://user@127.0.0.1:8765/progress/{RECEIPT}",
        f"http://127.0.0.1:8765/progress/{RECEIPT}?next=http://evil.com",
        f"http://127.0.0.1:8765/progress/{RECEIPT}#x",
        f"http://127.0.0.1:8765/progress/{RECEIPT}?k=abcdefghijklmnop&x=1",  # only the token
        f"http://127.0.0.1:8765/progress/{RECEIPT}?k=ABCDEFGHIJKLMNOP",  # base32, lower case
        f"http://127.0.0.1:8765/progress/{RECEIPT}?k=abcdefghijklmno",  # too short
        f"http://127.0.0.1:8765/progress/x/{RECEIPT}",
        f"http://127.0.0.1:8765/Progress/{RECEIPT}",  # paths are case-sensitive
        f"http://127.0.0.1:8765/progress/{RECEIPT}/",
        f"http://127.0.0.1:8765/progress/../admin/{RECEIPT}",
        f"http://127.0.0.1:8765\\@evil.com/progress/{RECEIPT}",
    ],
)
def test_not_our_receipt(text: str) -> None:
    assert kind(text)[0] is CodeKind.OTHER


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("YY20261124000123", CodeKind.APPOINTMENT),
        ("YS20261124000123", CodeKind.PREREVIEW),
        (" YS20261124000123 ", CodeKind.PREREVIEW),
        ("YY2026112400012", CodeKind.OTHER),  # 13 digits
        ("YY202611240001234", CodeKind.OTHER),
        ("yy20261124000123", CodeKind.OTHER),
        ("YY20261124000123\nX", CodeKind.OTHER),
        ("XYY20261124000123", CodeKind.OTHER),
    ],
)
def test_appointment_and_prereview_codes(text: str, expected: CodeKind) -> None:
    assert kind(text) == (expected, text.strip() if expected is not CodeKind.OTHER else "")


def test_patterns_come_from_the_rules() -> None:
    rules = CodeRules(progress_url=RULES.progress_url, appointment_pattern=r"A-\d{4}", prereview_pattern=r"P-\d{4}")
    assert kind("A-1234", rules) == (CodeKind.APPOINTMENT, "A-1234")
    assert kind("P-1234", rules) == (CodeKind.PREREVIEW, "P-1234")
    assert kind("YY20261124000123", rules)[0] is CodeKind.OTHER
    assert kind("A-12345", rules)[0] is CodeKind.OTHER  # the whole text must match


@pytest.mark.parametrize(
    "text",
    [
        "https://gov.cn/licence/123",
        "https://www.gov.cn/zhengce/elicence?id=1",
        "https://a.b.gov.cn:443/x",
        "HTTPS://WWW.GOV.CN/x",
        "https://zwfw.example.org/e/AbCd",
        "https://gov.cn",
    ],
)
def test_elicence_links_on_allowed_hosts(text: str) -> None:
    assert kind(text) == (CodeKind.ELICENCE, text)


@pytest.mark.parametrize(
    "text",
    [
        "http://www.gov.cn/licence/123",  # not https
        "https://gov.cn.evil.com/licence",
        "https://evil.com/?gov.cn",
        "https://evil.com/gov.cn",
        "https://evil.com#.gov.cn",
        "https://gov.cn@evil.com/",
        "https://user:pw@gov.cn/",
        "https://evilgov.cn/",
        "https://example.org/",  # zwfw.example.org is allowed, its parent is not
        "https://gov.cn:8443/",
        "https://gov.cn:99999/",
        "https://gov.cn./",
        "https://www.gov。cn/",  # a full-width dot a browser would fold
        "https://evil.com\\.gov.cn/",
        "https://evil.com\\@gov.cn/",
        "https://gov.cn /x",
        "https://gov.cn\t.evil.com/",
        "javascript://gov.cn/%0aalert(1)",
        "//gov.cn/x",
        "gov.cn",
    ],
)
def test_no_elicence_tricks(text: str) -> None:
    assert kind(text)[0] is CodeKind.OTHER


def test_no_elicence_hosts_no_elicence() -> None:
    assert kind("https://www.gov.cn/x", CodeRules(progress_url=RULES.progress_url))[0] is CodeKind.OTHER


@pytest.mark.parametrize("text", [ID, ID.lower(), "110105194912310021"[:17] + id_check_char("11010519491231002")])
def test_id_numbers_with_their_check_digit(text: str) -> None:
    assert kind(text) == (CodeKind.ID_NUMBER, text.upper())


@pytest.mark.parametrize(
    "text",
    [
        ID[:17],  # 17 digits
        ID[:17] + "1",  # wrong check digit
        "11010519491331002" + id_check_char("11010519491331002"),  # month 13
        ID + "0",
        "１１０１０５１９４９１２３１００２Ｘ",  # full-width digits
        f"ID:{ID}",
    ],
)
def test_not_id_numbers(text: str) -> None:
    assert kind(text)[0] is CodeKind.OTHER


@pytest.mark.parametrize("text", ["", "   ", "hello", "办理进度查询", "https://evil.com/", "12345"])
def test_anything_else_is_other(text: str) -> None:
    found = classify(CodeRead(text.encode(), text, "QRCode", "utf-8"), RULES)
    assert found == Classified(CodeKind.OTHER, "", text.strip())


def test_an_undecodable_code_is_other() -> None:
    assert classify(CodeRead(b"\xff\xfe", "", "QRCode", ""), RULES).kind is CodeKind.OTHER


def test_a_code_whose_text_was_refused_is_other_with_no_text() -> None:
    """ﾃﾞｻﾞｲﾝ or 棉晦草: code_text gives no text, so nothing is acted on (the camera says why)."""
    read = CodeRead("ﾃﾞｻﾞｲﾝ".encode("cp932"), "", "QRCode", "ambiguous:gb18030|cp932")
    assert classify(read, RULES) == Classified(CodeKind.OTHER, "", "")


def test_the_repr_holds_no_personal_data() -> None:
    found = classify(CodeRead(ID.encode(), ID, "Code128", "utf-8"), RULES)
    assert ID not in repr(found) and ID[:6] not in repr(found)


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"appointment_pattern": "YY(\\d"}, "appointment_pattern"),
        ({"prereview_pattern": "["}, "prereview_pattern"),
        ({"progress_url": "ftp://hall/progress/"}, "progress_url"),
        ({"progress_url": "hall/progress/"}, "progress_url"),
        ({"elicence_hosts": ("https://gov.cn",)}, "elicence_hosts"),
        ({"elicence_hosts": ("gov.cn/x",)}, "elicence_hosts"),
        ({"elicence_hosts": ("",)}, "elicence_hosts"),
    ],
)
def test_bad_rules_are_a_config_error(fields: dict, problem: str) -> None:
    with pytest.raises(ConfigError, match=problem):
        CodeRules(**{"progress_url": RULES.progress_url, **fields})


def test_rules_from_the_demo_config() -> None:
    config = load_config()
    rules = CodeRules.from_config(config)
    assert rules.progress_url == f"{str(config.hall.url).rstrip('/')}/progress/"
    assert rules.elicence_hosts == tuple(config.codes.elicence_hosts)
    assert rules.appointment_pattern == config.codes.appointment_pattern
