"""The identity record every card profile produces, and ID number rules (GB 11643)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from enum import StrEnum

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"


class CardType(StrEnum):
    SOCIAL_SECURITY = "social_security"
    RESIDENT_ID = "resident_id"
    HK_MACAO_TAIWAN_PERMIT = "hk_macao_taiwan_permit"
    FOREIGN_PERMANENT_RESIDENT = "foreign_permanent_resident"
    PASSPORT = "passport"


def id_check_char(first17: str) -> str:
    """ISO 7064 MOD 11-2 check character over the first 17 digits."""
    total = sum(int(d) * w for d, w in zip(first17, _WEIGHTS, strict=True))
    return _CHECK[total % 11]


def id_number_problem(value: str) -> str | None:
    """None if `value` is a valid 18-character ID number, else the message code of the problem."""
    value = value.strip().upper()
    if len(value) != 18:
        return "validation.id_number.length"
    # isascii: str.isdigit() also says yes to full-width digits and to "²", which int() refuses
    if not value.isascii() or not value[:17].isdigit() or not (value[17].isdigit() or value[17] == "X"):
        return "validation.id_number.chars"
    try:
        dt.date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        return "validation.id_number.birth_date"
    if id_check_char(value[:17]) != value[17]:
        return "validation.id_number.check_digit"
    return None


def mask_id_number(value: str) -> str:
    """1101**********1234: what may appear on paper and screen."""
    if len(value) <= 8:
        return "*" * len(value)
    return value[:4] + "*" * (len(value) - 8) + value[-4:]


def mask_name(value: str) -> str:
    """张*明 / 李*: keeps the surname and, for longer names, the last character."""
    if len(value) <= 1:
        return value
    if len(value) == 2:
        return value[0] + "*"
    return value[0] + "*" * (len(value) - 2) + value[-1]


@dataclass(frozen=True, repr=False)
class Identity:
    """One citizen's identity as read from a card. Lives only in the session's memory."""

    card_type: CardType
    name: str
    id_number: str
    sex: str = ""  # "男" / "女"
    ethnicity: str = ""  # name, e.g. "汉"
    birth_date: dt.date | None = None
    address: str = ""
    issuer: str = ""
    valid_from: dt.date | None = None
    valid_to: dt.date | None = None  # None with valid_from set means 长期
    photo: bytes | None = field(default=None)  # as the card holds it (ID card: WLT, vendor-compressed)
    english_name: str = ""  # foreigner permanent residence cards
    nationality: str = ""  # ISO 3166 alpha-3, foreigner cards
    document_number: str = ""  # pass number ('J' permits), card number (social security)
    issue_count: str = ""  # 签发次数 ('J' permits)

    def __repr__(self) -> str:  # never let personal data reach a log through repr()
        return f"Identity({self.card_type.value}, {mask_id_number(self.id_number)})"

    __str__ = __repr__

    def field_values(self) -> dict[str, str]:
        """Values a form can be prefilled from, keyed as `card.<name>` in service files."""
        return {
            "card.name": self.name,
            "card.id_number": self.id_number,
            "card.sex": self.sex,
            "card.ethnicity": self.ethnicity,
            "card.birth_date": self.birth_date.isoformat() if self.birth_date else "",
            "card.address": self.address,
        }
