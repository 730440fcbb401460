"""The card's 256-byte text (UCS-2LE, fields padded with spaces) into an Identity, by card type.

Byte offsets from /work/shared/CARDS.md. The card type is the character at byte 248: ' '
mainland resident ID, 'J' HK/Macao/Taiwan residence permit, 'I' foreigner permanent residence
card (2017), 'Y' foreigner permanent residence card (2023, one source only).

Every value is checked before it becomes an Identity: a misread (bad ID number, date or code)
raises CardDataError and never reaches a form. The photo stays the raw WLT bytes: decoding it
needs the vendor's library.
"""

from __future__ import annotations

import datetime as dt
import re
from enum import StrEnum

from kiosk.core.ethnicity import ethnicity_name
from kiosk.core.identity import CardType, Identity, id_number_problem
from kiosk.peripherals.cards.sam.errors import CardDataError, UnknownCardType
from kiosk.peripherals.cards.sam.frames import TEXT_LENGTH

TYPE_OFFSET = 248
LONG_TERM = "长期"  # valid_to of a resident ID that does not expire
SEXES = {"1": "男", "2": "女", "0": "", "9": ""}  # GB/T 2261.1: 0 unknown, 9 not stated

Span = tuple[int, int]  # [start, end) in bytes


class Layout(StrEnum):
    MAINLAND = " "
    PERMIT = "J"
    FOREIGN_2017 = "I"
    FOREIGN_2023 = "Y"


MAINLAND: dict[str, Span] = {
    "name": (0, 30),
    "sex": (30, 32),
    "ethnicity": (32, 36),
    "birth": (36, 52),
    "address": (52, 122),
    "id_number": (122, 158),
    "issuer": (158, 188),
    "valid_from": (188, 204),
    "valid_to": (204, 220),
}
PERMIT: dict[str, Span] = {
    **{key: span for key, span in MAINLAND.items() if key != "ethnicity"},  # 32–35 reserved
    "pass_number": (220, 238),
    "issue_count": (238, 242),
}
FOREIGN_2017: dict[str, Span] = {
    "english_name": (0, 120),
    "sex": (120, 122),
    "card_number": (122, 152),
    "nationality": (152, 158),
    "name": (158, 188),
    "valid_from": (188, 204),
    "valid_to": (204, 220),
    "birth": (220, 236),
    "card_version": (236, 240),  # not kept: no Identity field, no use on a form
    "authority": (240, 248),  # a code, not the issuer's name: not kept either
}
FOREIGN_2023: dict[str, Span] = {
    "name": (0, 30),
    "sex": (30, 32),
    "renewal_count": (32, 36),
    "birth": (36, 52),
    "english_name": (52, 122),  # the first 35 characters
    "card_number": (122, 158),
    "valid_from": (188, 204),
    "valid_to": (204, 220),
    "english_name_rest": (220, 242),  # characters 36–46
    "nationality": (242, 248),
}

# 15-character foreigner card number (2017): 3-letter nationality + 12 digits. Only the format
# is checked: the check-character algorithm is not in any source we have, and guessing one
# would refuse genuine cards.
FOREIGN_2017_NUMBER = re.compile(r"[A-Z]{3}[0-9]{12}")


def card_layout(text: bytes) -> Layout:
    """The layout from the type character at byte 248; UnknownCardType for any other."""
    if len(text) != TEXT_LENGTH:
        raise CardDataError(f"card text of {len(text)} bytes")
    letter = text[TYPE_OFFSET : TYPE_OFFSET + 2]
    if letter == b"\x00\x00":
        return Layout.MAINLAND  # a reserved area left as zeros instead of spaces: still mainland
    try:
        return Layout(letter.decode("utf-16-le"))
    except (UnicodeDecodeError, ValueError):
        raise UnknownCardType(f"card type bytes {letter.hex()}") from None


def parse_text(text: bytes, photo: bytes | None = None) -> Identity:
    """The Identity the card's text holds; CardDataError for anything that does not hold up."""
    layout = card_layout(text)
    if layout is Layout.MAINLAND:
        return _mainland(text, photo)
    if layout is Layout.PERMIT:
        return _permit(text, photo)
    if layout is Layout.FOREIGN_2017:
        return _foreign_2017(text, photo)
    return _foreign_2023(text, photo)


def _mainland(text: bytes, photo: bytes | None) -> Identity:
    f = _Fields(text, MAINLAND)
    ethnicity = ethnicity_name(f["ethnicity"])
    if ethnicity is None:
        raise CardDataError("ethnicity code not in GB/T 3304", field="ethnicity")
    return Identity(
        card_type=CardType.RESIDENT_ID,
        name=f.required("name"),
        id_number=_resident_number(f["id_number"], "id_number"),
        sex=_sex(f["sex"]),
        ethnicity=ethnicity,
        birth_date=_date(f["birth"], "birth"),
        address=f["address"],
        issuer=f["issuer"],
        valid_from=_date(f["valid_from"], "valid_from"),
        valid_to=_valid_to(f["valid_to"]),
        photo=photo,
    )


def _permit(text: bytes, photo: bytes | None) -> Identity:
    f = _Fields(text, PERMIT)
    return Identity(
        card_type=CardType.HK_MACAO_TAIWAN_PERMIT,
        name=f.required("name"),
        id_number=_resident_number(f["id_number"], "id_number"),
        sex=_sex(f["sex"]),
        birth_date=_date(f["birth"], "birth"),
        address=f["address"],
        issuer=f["issuer"],
        valid_from=_date(f["valid_from"], "valid_from"),
        valid_to=_valid_to(f["valid_to"]),
        photo=photo,
        document_number=f.required("pass_number"),
        issue_count=f["issue_count"],
    )


def _foreign_2017(text: bytes, photo: bytes | None) -> Identity:
    f = _Fields(text, FOREIGN_2017)
    number = f["card_number"].upper()
    if not FOREIGN_2017_NUMBER.fullmatch(number):
        raise CardDataError("card number is not 3 letters and 12 digits", field="card_number")
    english_name = f["english_name"]
    name = f["name"] or english_name  # many holders have no Chinese name on the card
    if not name:
        raise CardDataError("no name on the card", field="name")
    return Identity(
        card_type=CardType.FOREIGN_PERMANENT_RESIDENT,
        name=name,
        id_number=number,
        sex=_sex(f["sex"]),
        birth_date=_date(f["birth"], "birth"),
        valid_from=_date(f["valid_from"], "valid_from"),
        valid_to=_valid_to(f["valid_to"]),
        photo=photo,
        english_name=english_name,
        nationality=f["nationality"],
    )


def _foreign_2023(text: bytes, photo: bytes | None) -> Identity:
    f = _Fields(text, FOREIGN_2023)
    # The English name runs over two fields; join them unstripped so a space at the seam stays.
    english_name = (f.raw("english_name") + f.raw("english_name_rest")).strip(" \x00")
    name = f["name"] or english_name
    if not name:
        raise CardDataError("no name on the card", field="name")
    return Identity(
        card_type=CardType.FOREIGN_PERMANENT_RESIDENT,
        name=name,
        # The 2023 number has the resident ID's 18-character form (birth date, MOD 11-2 check).
        id_number=_resident_number(f["card_number"], "card_number"),
        sex=_sex(f["sex"]),
        birth_date=_date(f["birth"], "birth"),
        valid_from=_date(f["valid_from"], "valid_from"),
        valid_to=_valid_to(f["valid_to"]),
        photo=photo,
        english_name=english_name,
        nationality=f["nationality"],
        issue_count=f["renewal_count"],  # 换证次数: the nearest field the Identity has
    )


class _Fields:
    """Named text fields of one layout, decoded on demand."""

    def __init__(self, text: bytes, layout: dict[str, Span]) -> None:
        self._text = text
        self._layout = layout

    def raw(self, name: str) -> str:
        start, end = self._layout[name]
        try:
            return self._text[start:end].decode("utf-16-le")
        except UnicodeDecodeError:
            raise CardDataError("not UCS-2 text", field=name) from None

    def __getitem__(self, name: str) -> str:
        return self.raw(name).strip(" \x00")

    def required(self, name: str) -> str:
        value = self[name]
        if not value:
            raise CardDataError("empty field", field=name)
        return value


def _resident_number(value: str, field: str) -> str:
    value = value.upper()
    problem = id_number_problem(value)
    if problem is not None:
        raise CardDataError(f"{field} fails {problem}", code="sam.misread", field=field, problem=problem)
    return value


def _sex(code: str) -> str:
    if code not in SEXES:
        raise CardDataError("sex code not in GB/T 2261.1", field="sex")
    return SEXES[code]


def _date(value: str, field: str) -> dt.date:
    if len(value) != 8 or not value.isascii() or not value.isdigit():
        raise CardDataError("date is not YYYYMMDD", field=field)
    try:
        return dt.date(int(value[:4]), int(value[4:6]), int(value[6:]))
    except ValueError:
        raise CardDataError("no such date", field=field) from None


def _valid_to(value: str) -> dt.date | None:
    return None if value == LONG_TERM else _date(value, "valid_to")
