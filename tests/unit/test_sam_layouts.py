"""Card text layouts into Identity (all four card types), misreads refused, and the SW3 table."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from kiosk.core.devices import DeviceState, FixedBy
from kiosk.core.identity import CardType
from kiosk.core.messages import load_catalogue
from kiosk.peripherals.cards.sam import errors
from kiosk.peripherals.cards.sam.errors import CardDataError, SamStatusError, UnknownCardType
from kiosk.peripherals.cards.sam.layouts import Layout, card_layout, parse_text
from kiosk.peripherals.cards.sam.status import SW3_TABLE, describe, status_error
from tests.support import sam_cards
from tests.support.sam_emulator import DEFAULT_PHOTO, build_text


def ucs2(text: bytes, start: int, end: int) -> str:
    return text[start:end].decode("utf-16-le").rstrip(" ")


def with_field(text: bytes, start: int, end: int, value: str) -> bytes:
    raw = value.encode("utf-16-le")
    raw += " ".encode("utf-16-le") * ((end - start - len(raw)) // 2)
    return text[:start] + raw + text[end:]


# -- the emulator's texts sit where CARDS.md says (so the parser is checked against the spec) --


def test_built_mainland_text_has_the_documented_offsets() -> None:
    text = build_text(sam_cards.MAINLAND, " ")
    assert len(text) == 256
    assert ucs2(text, 0, 30) == "王秀英"
    assert ucs2(text, 30, 32) == "2"
    assert ucs2(text, 32, 36) == "01"
    assert ucs2(text, 36, 52) == "19491231"
    assert ucs2(text, 122, 158) == "11010519491231002X"
    assert ucs2(text, 204, 220) == "长期"
    assert text[248:250] == b" \x00"


def test_built_foreign_2017_text_has_the_documented_offsets() -> None:
    text = build_text(sam_cards.FOREIGN_2017, "I")
    assert ucs2(text, 0, 120) == "SMITH, JOHN WILLIAM"
    assert ucs2(text, 122, 152) == "USA110080010101"
    assert ucs2(text, 152, 158) == "USA"
    assert ucs2(text, 158, 188) == "史密斯"
    assert ucs2(text, 220, 236) == "19800101"
    assert text[248:250] == b"I\x00"


# -- each layout, field by field ----------------------------------------------------------------


def test_mainland_with_long_term_validity() -> None:
    identity = parse_text(build_text(sam_cards.MAINLAND, " "), DEFAULT_PHOTO)
    assert identity.card_type is CardType.RESIDENT_ID
    assert identity.name == "王秀英"
    assert identity.sex == "女"
    assert identity.ethnicity == "汉"
    assert identity.birth_date == dt.date(1949, 12, 31)
    assert identity.address == "北京市朝阳区示范街道幸福里1号楼2单元301室"
    assert identity.id_number == "11010519491231002X"
    assert identity.issuer == "北京市公安局朝阳分局"
    assert identity.valid_from == dt.date(2015, 3, 1)
    assert identity.valid_to is None  # 长期
    assert identity.photo == DEFAULT_PHOTO  # the raw WLT bytes, never decoded
    assert (identity.english_name, identity.nationality, identity.document_number, identity.issue_count) == (
        "",
        "",
        "",
        "",
    )


def test_mainland_with_an_end_date_and_a_two_byte_ethnicity_name() -> None:
    identity = parse_text(build_text(sam_cards.MAINLAND_DATED, " "), DEFAULT_PHOTO)
    assert identity == dataclasses.replace(sam_cards.MAINLAND_DATED, photo=DEFAULT_PHOTO)
    assert identity.valid_to == dt.date(2036, 7, 20)
    assert identity.ethnicity == "维吾尔"
    assert identity.sex == "男"


def test_hk_macao_taiwan_permit_with_pass_number_and_issue_count() -> None:
    identity = parse_text(build_text(sam_cards.PERMIT, "J"), DEFAULT_PHOTO)
    assert identity.card_type is CardType.HK_MACAO_TAIWAN_PERMIT
    assert identity.name == "陈大文"
    assert identity.id_number == "810000199001011230"
    assert identity.document_number == "H12345678"
    assert identity.issue_count == "01"
    assert identity.ethnicity == ""  # bytes 32–35 are reserved on a permit
    assert identity.valid_to == dt.date(2024, 1, 1)
    assert identity == dataclasses.replace(sam_cards.PERMIT, photo=DEFAULT_PHOTO)


def test_foreigner_2017_with_english_name_and_nationality() -> None:
    identity = parse_text(build_text(sam_cards.FOREIGN_2017, "I"), DEFAULT_PHOTO)
    assert identity.card_type is CardType.FOREIGN_PERMANENT_RESIDENT
    assert identity.name == "史密斯"
    assert identity.english_name == "SMITH, JOHN WILLIAM"
    assert identity.nationality == "USA"
    assert identity.id_number == "USA110080010101"
    assert identity.birth_date == dt.date(1980, 1, 1)
    assert identity.valid_from == dt.date(2017, 6, 1)
    assert identity.valid_to == dt.date(2027, 6, 1)
    assert identity.ethnicity == "" and identity.address == ""
    assert identity == dataclasses.replace(sam_cards.FOREIGN_2017, photo=DEFAULT_PHOTO)


def test_foreigner_2017_without_chinese_name_falls_back_to_the_english_name() -> None:
    card = dataclasses.replace(sam_cards.FOREIGN_2017, name="")
    identity = parse_text(build_text(card, "I"), DEFAULT_PHOTO)
    assert identity.name == "SMITH, JOHN WILLIAM"
    assert identity.english_name == "SMITH, JOHN WILLIAM"


def test_foreigner_2023_joins_the_english_name_across_its_two_fields() -> None:
    text = build_text(sam_cards.FOREIGN_2023, "Y")
    assert ucs2(text, 52, 122) == "GARCIA-LOPEZ MARIA DEL CARMEN ALVAR"  # first 35 characters
    identity = parse_text(text, DEFAULT_PHOTO)
    assert identity.card_type is CardType.FOREIGN_PERMANENT_RESIDENT
    assert identity.name == "玛丽亚"
    assert identity.english_name == "GARCIA-LOPEZ MARIA DEL CARMEN ALVAR ROSA"  # the seam's space kept
    assert identity.id_number == "931840198001010017"
    assert identity.nationality == "ESP"
    assert identity.issue_count == "00"  # renewal count
    assert identity == dataclasses.replace(sam_cards.FOREIGN_2023, photo=DEFAULT_PHOTO)


def test_foreigner_2023_with_a_short_english_name() -> None:
    card = dataclasses.replace(sam_cards.FOREIGN_2023, english_name="LI MARIA")
    assert parse_text(build_text(card, "Y")).english_name == "LI MARIA"


@pytest.mark.parametrize(
    ("letter", "layout"),
    [(" ", Layout.MAINLAND), ("J", Layout.PERMIT), ("I", Layout.FOREIGN_2017), ("Y", Layout.FOREIGN_2023)],
)
def test_layout_letter(letter: str, layout: Layout) -> None:
    assert card_layout(build_text(sam_cards.BY_LAYOUT[letter], letter)) is layout


def test_a_zeroed_type_byte_is_read_as_mainland() -> None:
    text = build_text(sam_cards.MAINLAND, " ")
    assert parse_text(text[:248] + b"\x00\x00" + text[250:]).name == "王秀英"


@pytest.mark.parametrize("letter", ["Z", "j", "1", "\u4e00"])
def test_unknown_card_type_is_refused(letter: str) -> None:
    text = with_field(build_text(sam_cards.MAINLAND, " "), 248, 250, letter)
    with pytest.raises(UnknownCardType) as caught:
        parse_text(text)
    assert caught.value.code == "card.unknown"
    assert caught.value.fixed_by is FixedBy.CITIZEN


# -- misreads never reach a form ------------------------------------------------------------------


@pytest.mark.parametrize(("letter", "start", "end"), [(" ", 122, 158), ("J", 122, 158), ("Y", 122, 158)])
def test_a_wrong_check_character_is_refused(letter: str, start: int, end: int) -> None:
    card = sam_cards.BY_LAYOUT[letter]
    wrong = card.id_number[:17] + ("1" if card.id_number[17] != "1" else "2")
    with pytest.raises(CardDataError) as caught:
        parse_text(with_field(build_text(card, letter), start, end, wrong))
    assert caught.value.code == "sam.misread"
    assert caught.value.fixed_by is FixedBy.CITIZEN
    assert caught.value.params["problem"] == "validation.id_number.check_digit"
    assert wrong not in str(caught.value)  # the number itself never goes into an error


@pytest.mark.parametrize("number", ["US1110080010101", "USA11008001010", "USA1100800101011", "USA11008001010X"])
def test_foreigner_2017_number_format_is_checked(number: str) -> None:
    text = with_field(build_text(sam_cards.FOREIGN_2017, "I"), 122, 152, number)
    with pytest.raises(CardDataError):
        parse_text(text)


def test_a_lower_case_x_is_read_as_upper_case() -> None:
    text = with_field(build_text(sam_cards.MAINLAND, " "), 122, 158, "11010519491231002x")
    assert parse_text(text).id_number == "11010519491231002X"


@pytest.mark.parametrize(
    ("start", "end", "value", "field"),
    [
        (36, 52, "19491331", "birth"),  # no 13th month
        (188, 204, "2015031", "valid_from"),  # too short
        (204, 220, "永久", "valid_to"),  # only 长期 means no end
        (32, 36, "99", "ethnicity"),  # not in GB/T 3304
        (30, 32, "5", "sex"),  # not in GB/T 2261.1
        (0, 30, "", "name"),
    ],
)
def test_implausible_fields_are_misreads(start: int, end: int, value: str, field: str) -> None:
    with pytest.raises(CardDataError) as caught:
        parse_text(with_field(build_text(sam_cards.MAINLAND, " "), start, end, value))
    assert caught.value.params["field"] == field


def test_text_that_is_not_ucs2_is_a_misread() -> None:
    text = build_text(sam_cards.MAINLAND, " ")
    with pytest.raises(CardDataError):
        parse_text(text[:52] + b"\x00\xd8" + text[54:])  # a lone surrogate in the address


def test_a_text_of_the_wrong_size_is_a_misread() -> None:
    with pytest.raises(CardDataError):
        parse_text(bytes(255))


def test_identity_repr_from_a_card_holds_no_personal_data() -> None:
    identity = parse_text(build_text(sam_cards.MAINLAND, " "))
    assert "王" not in repr(identity) and "19491231" not in repr(identity)


# -- SW3 → typed error ----------------------------------------------------------------------------

EXPECTED_SW3 = {
    0x80: ("card.none", FixedBy.CITIZEN, False),
    0x81: ("sam.select_failed", FixedBy.CITIZEN, False),
    0x41: ("card.removed", FixedBy.CITIZEN, False),
    0x91: ("sam.field_empty", FixedBy.RETRY, False),
    0x10: ("sam.link_error", FixedBy.RETRY, True),
    0x11: ("sam.link_error", FixedBy.RETRY, True),
    0x21: ("sam.fault", FixedBy.TECHNICIAN, True),
    0x23: ("sam.fault", FixedBy.TECHNICIAN, False),
    0x24: ("sam.unknown_error", FixedBy.RETRY, True),
    0x31: ("sam.card_check_failed", FixedBy.CITIZEN, False),
    0x32: ("sam.fault", FixedBy.TECHNICIAN, False),
    0x33: ("sam.card_check_failed", FixedBy.CITIZEN, False),
    0x40: ("card.unknown", FixedBy.CITIZEN, False),
    0x60: ("sam.self_test_failed", FixedBy.TECHNICIAN, True),
    0x55: ("sam.fault", FixedBy.TECHNICIAN, True),  # not in any table: a technician looks
}


@pytest.mark.parametrize(("sw3", "expected"), EXPECTED_SW3.items())
def test_every_sw3_maps_to_its_error(sw3: int, expected: tuple[str, FixedBy, bool]) -> None:
    error = status_error(sw3)
    assert isinstance(error, SamStatusError)
    assert (error.code, error.fixed_by, error.reset_module) == expected
    assert error.sw3 == sw3 and error.params["sw3"] == f"{sw3:02X}"


def test_success_codes_are_in_the_table() -> None:
    assert describe(0x90).fixed_by is None and describe(0x9F).fixed_by is None
    assert set(SW3_TABLE) == {0x90, 0x9F} | (set(EXPECTED_SW3) - {0x55})


def test_states_follow_who_fixes() -> None:
    assert describe(0x41).state is DeviceState.USER_ERROR
    assert describe(0x60).state is DeviceState.HARDWARE_ERROR
    assert describe(0x10).state is DeviceState.READY


def test_every_sam_message_code_is_in_both_catalogues() -> None:
    codes = {entry.code for entry in SW3_TABLE.values()}
    codes |= {cls.code for cls in vars(errors).values() if isinstance(cls, type) and hasattr(cls, "fixed_by")}
    codes |= {"card.place", "card.reading", "card.present"}
    for language in ("zh-CN", "en"):
        assert codes - set(load_catalogue(language)) == set(), language
