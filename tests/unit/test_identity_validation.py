"""ID numbers (GB 11643), masking, the Identity record, and form field validation."""

from __future__ import annotations

import datetime as dt
import logging

import pytest

from kiosk.core.catalogue import FieldKind, FormField
from kiosk.core.identity import CardType, Identity, id_check_char, id_number_problem, mask_id_number, mask_name
from kiosk.core.validation import normalise, validate

VALID_IDS = ("11010519491231002X", "440524188001010014")  # the examples GB 11643 itself gives
TODAY = dt.date(2024, 5, 6)


def make_field(kind: FieldKind, **overrides: object) -> FormField:
    """A form field as a service file would declare it (ids are slugs of 2+ characters)."""
    data: dict[str, object] = {"id": "field", "label": "字段", "kind": kind}
    if kind is FieldKind.CHOICE:
        data["choices"] = ["窗口领取", "免费寄递（EMS）"]
    data.update(overrides)
    return FormField.model_validate(data)


def with_check_char(first17: str) -> str:
    """A full ID number whose check character is right, so only the part under test is wrong."""
    return first17 + id_check_char(first17)


# -- GB 11643 ID numbers ------------------------------------------------------------------------


@pytest.mark.parametrize("number", VALID_IDS)
def test_standard_examples_are_valid(number: str) -> None:
    assert id_number_problem(number) is None
    assert id_check_char(number[:17]) == number[17]


def test_check_char_uses_the_mod_11_2_table() -> None:
    # Σ(digit × weight) mod 11 → "10X98765432": a body of zeros sums to 0 → "1".
    assert id_check_char("0" * 17) == "1"
    # 1 × weight 7 in the first place → 7 mod 11 → "5"
    assert id_check_char("1" + "0" * 16) == "5"


def test_lowercase_x_is_accepted_and_normalised_to_upper_case() -> None:
    lower = "11010519491231002x"
    assert id_number_problem(lower) is None
    field = make_field(FieldKind.ID_NUMBER, max_length=18)
    assert normalise(field, f"  {lower} ") == "11010519491231002X"
    assert validate(field, lower) is None


@pytest.mark.parametrize("number", VALID_IDS)
def test_every_wrong_check_character_is_caught(number: str) -> None:
    for wrong in "0123456789X":
        if wrong == number[17]:
            continue
        assert id_number_problem(number[:17] + wrong) == "validation.id_number.check_digit", wrong


@pytest.mark.parametrize(
    "number",
    ["", "1101051949123100", "11010519491231002", "11010519491231002X1", "110105194912310"],
    ids=["empty", "16", "17", "19", "15-old-style"],
)
def test_wrong_length(number: str) -> None:
    assert id_number_problem(number) == "validation.id_number.length"


@pytest.mark.parametrize(
    "number",
    [
        "1101051949123100A2",  # a letter among the digits
        "X1010519491231002X",  # X anywhere but last
        "11010519491231002Y",  # a letter other than X as check character
        "110105 9491231002X",  # a space inside
        "11010519491231-02X",  # punctuation
        "１１０１０５１９４９１２３１００２X",  # full-width digits: not what the hall systems take
        "11010519491231²02X",  # a superscript digit: str.isdigit() says yes, int() says no
    ],
)
def test_characters_other_than_digits_and_a_final_x(number: str) -> None:
    assert id_number_problem(number) == "validation.id_number.chars"


@pytest.mark.parametrize(
    "birth",
    ["19490230", "19491301", "19490000", "20230229", "19491232"],
    ids=["feb-30", "month-13", "zeros", "feb-29-non-leap", "dec-32"],
)
def test_impossible_birth_date(birth: str) -> None:
    number = with_check_char("110105" + birth + "002")
    assert id_number_problem(number) == "validation.id_number.birth_date"


def test_leap_day_birth_date_is_possible() -> None:
    assert id_number_problem(with_check_char("110105" + "20000229" + "002")) is None


# -- masking ------------------------------------------------------------------------------------


def test_mask_id_number_keeps_first_and_last_four() -> None:
    assert mask_id_number("11010519491231002X") == "1101**********002X"
    assert mask_id_number("440524188001010014") == "4405**********0014"
    assert mask_id_number("110105491231002") == "1101*******1002"  # 15-digit first-generation number


@pytest.mark.parametrize("value", ["", "1", "12345678"])
def test_mask_id_number_hides_short_values_entirely(value: str) -> None:
    assert mask_id_number(value) == "*" * len(value)


@pytest.mark.parametrize(
    ("name", "masked"),
    [("", ""), ("王", "王"), ("李四", "李*"), ("王秀英", "王*英"), ("欧阳建国", "欧**国"), ("Zhang", "Z***g")],
)
def test_mask_name(name: str, masked: str) -> None:
    assert mask_name(name) == masked


# -- the Identity record ------------------------------------------------------------------------

CITIZEN = Identity(
    card_type=CardType.RESIDENT_ID,
    name="王秀英",
    id_number="11010519491231002X",
    sex="女",
    ethnicity="汉",
    birth_date=dt.date(1949, 12, 31),
    address="北京市朝阳区示范街道幸福里1号楼",
)


def test_identity_repr_and_str_hold_no_personal_data() -> None:
    for text in (repr(CITIZEN), str(CITIZEN), f"{CITIZEN}", repr([CITIZEN]), repr({"who": CITIZEN})):
        assert "王秀英" not in text
        assert "11010519491231002X" not in text
        assert "幸福里" not in text
        assert "1101**********002X" in text


def test_identity_in_a_log_line_is_masked(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO):
        logging.getLogger("test").info("read %s / %r", CITIZEN, CITIZEN)
    assert "11010519491231002X" not in caplog.text
    assert "王秀英" not in caplog.text


def test_identity_field_values_feed_prefill() -> None:
    assert CITIZEN.field_values() == {
        "card.name": "王秀英",
        "card.id_number": "11010519491231002X",
        "card.sex": "女",
        "card.ethnicity": "汉",
        "card.birth_date": "1949-12-31",
        "card.address": "北京市朝阳区示范街道幸福里1号楼",
    }
    bare = Identity(CardType.SOCIAL_SECURITY, "陈建国", "440524188001010014")
    assert bare.field_values()["card.birth_date"] == ""


# -- validation: required, optional, lengths ----------------------------------------------------


@pytest.mark.parametrize("kind", list(FieldKind))
@pytest.mark.parametrize("empty", ["", "   ", "\t\n"])
def test_required_empty_is_required_optional_empty_is_fine(kind: FieldKind, empty: str) -> None:
    assert validate(make_field(kind), empty, TODAY) == "validation.required"
    assert validate(make_field(kind, required=False), empty, TODAY) is None


@pytest.mark.parametrize("kind", [FieldKind.MOBILE, FieldKind.POSTCODE, FieldKind.DIGITS, FieldKind.CHOICE])
def test_optional_field_with_a_value_is_still_checked(kind: FieldKind) -> None:
    assert validate(make_field(kind, required=False), "abc", TODAY) is not None


def test_max_and_min_length() -> None:
    field = make_field(FieldKind.TEXT, min_length=2, max_length=5)
    assert validate(field, "ab") is None
    assert validate(field, "abcde") is None
    assert validate(field, "a") == "validation.too_short"
    assert validate(field, "abcdef") == "validation.too_long"
    assert validate(field, "  abcde  ") is None  # length is counted after trimming


def test_length_limits_count_characters_not_bytes() -> None:
    field = make_field(FieldKind.TEXT, max_length=4)
    assert validate(field, "欧阳建国") is None
    assert validate(field, "欧阳建国人") == "validation.too_long"


def test_length_is_checked_before_the_kind() -> None:
    # an ID field declared max_length = 18 reports a 19-character entry as too long
    field = make_field(FieldKind.ID_NUMBER, max_length=18)
    assert validate(field, "11010519491231002X1") == "validation.too_long"
    assert validate(field, "1101051949123100") == "validation.id_number.length"


def test_text_takes_anything_within_its_length() -> None:
    assert validate(make_field(FieldKind.TEXT), "北京市朝阳区 1-2-301 室（东门）") is None


# -- validation: each kind ----------------------------------------------------------------------


def test_id_number_field_uses_gb_11643() -> None:
    field = make_field(FieldKind.ID_NUMBER)
    assert validate(field, "440524188001010014") is None
    assert validate(field, "440524188001010015") == "validation.id_number.check_digit"
    assert validate(field, "4405241880010100") == "validation.id_number.length"


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("13800138000", None),
        ("15912345678", None),
        ("19912345678", None),
        (" 13800138000 ", None),
        ("12345678901", "validation.mobile.prefix"),
        ("10012345678", "validation.mobile.prefix"),
        ("23800138000", "validation.mobile.prefix"),
        ("1380013800", "validation.mobile.length"),
        ("138001380001", "validation.mobile.length"),
        ("138-0013-8000", "validation.mobile.chars"),
        ("138 0013 8000", "validation.mobile.chars"),
        ("+8613800138000", "validation.mobile.chars"),
        ("1380013800a", "validation.mobile.chars"),
        ("１３８００１３８０００", "validation.mobile.chars"),  # full-width digits
    ],
)
def test_mobile(value: str, code: str | None) -> None:
    assert validate(make_field(FieldKind.MOBILE), value) == code


def test_every_mobile_prefix_from_13_to_19() -> None:
    field = make_field(FieldKind.MOBILE)
    for second in "0123456789":
        expected = None if second in "3456789" else "validation.mobile.prefix"
        assert validate(field, f"1{second}012345678") == expected, second


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("310000", True),
        ("100101", True),
        ("31000", False),
        ("3100000", False),
        ("31000a", False),
        ("３１００００", False),  # full-width digits
    ],
)
def test_postcode(value: str, ok: bool) -> None:
    assert validate(make_field(FieldKind.POSTCODE), value) == (None if ok else "validation.postcode")


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("2024-05-06", None),
        ("2024-02-29", None),  # leap year
        ("1900-01-01", None),  # earliest allowed
        ("2029-05-06", None),  # five years ahead: still allowed
        ("2023-02-29", "validation.date.invalid"),  # not a leap year
        ("2024-04-31", "validation.date.invalid"),
        ("2024-13-01", "validation.date.invalid"),
        ("2024-00-10", "validation.date.invalid"),
        ("1899-12-31", "validation.date.range"),
        ("2029-05-07", "validation.date.range"),
        ("2024-5-6", "validation.date.format"),
        ("2024/05/06", "validation.date.format"),
        ("20240506", "validation.date.format"),
        ("06-05-2024", "validation.date.format"),
        ("2024-05-06T10:00", "validation.date.format"),
        ("２０２４-０５-０６", "validation.date.format"),  # full-width digits
    ],
)
def test_date(value: str, code: str | None) -> None:
    assert validate(make_field(FieldKind.DATE), value, TODAY) == code


def test_date_range_on_a_leap_day_does_not_crash() -> None:
    # Five years after 29 February there is no 29 February: the upper bound must still work.
    leap_day = dt.date(2024, 2, 29)
    field = make_field(FieldKind.DATE)
    assert validate(field, "2024-03-01", leap_day) is None
    assert validate(field, "2029-02-28", leap_day) is None
    assert validate(field, "2029-03-02", leap_day) == "validation.date.range"


def test_date_without_today_uses_the_real_date() -> None:
    assert validate(make_field(FieldKind.DATE), dt.date.today().isoformat()) is None


@pytest.mark.parametrize(
    ("value", "ok"), [("0", True), ("0123", True), ("12a", False), ("-1", False), ("1.5", False), ("²", False)]
)
def test_digits(value: str, ok: bool) -> None:
    assert validate(make_field(FieldKind.DIGITS), value) == (None if ok else "validation.digits")


def test_choice_must_be_one_of_the_choices_exactly() -> None:
    field = make_field(FieldKind.CHOICE)
    assert validate(field, "窗口领取") is None
    assert validate(field, " 窗口领取 ") is None
    assert validate(field, "邮寄") == "validation.choice"
    assert validate(field, "窗口") == "validation.choice"


def test_normalise_trims_and_upper_cases_only_id_numbers() -> None:
    assert normalise(make_field(FieldKind.TEXT), "  abc x  ") == "abc x"
    assert normalise(make_field(FieldKind.ID_NUMBER), " 11010519491231002x\n") == "11010519491231002X"
