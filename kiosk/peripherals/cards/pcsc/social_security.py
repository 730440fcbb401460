"""The social security card (社会保障卡) profile: SSSE application, EF05 and EF06 (CARDS.md).

Reads only the public files. EF07/EF08 (fingerprint, photo) need authentication and are never
tried; VERIFY is never sent. A record the card refuses (6982/6985, some 3rd-generation cards)
is reported as "not permitted", never guessed.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from kiosk.core.errors import DeviceError
from kiosk.core.ethnicity import ethnicity_name
from kiosk.core.identity import CardType, Identity, id_number_problem
from kiosk.peripherals.cards.pcsc.apdu import NOT_FOUND, NOT_PERMITTED, CardRefused, RawTransmit, expect_ok, transmit

SSSE_AID = bytes.fromhex("7378312E73682EC9E7BBE1B1A3D5CF")  # "sx1.sh." + 社会保障 in GBK


class UnknownCard(DeviceError):
    code = "card.unknown"


class NotPermitted(DeviceError):
    code = "card.not_permitted"


class BadCardData(DeviceError):
    """The card answered, but what it holds does not check out: never fill a form with it."""

    code = "card.bad_data"


@dataclass(frozen=True)
class Item:
    tag: int
    length: int
    optional: bool = False


EF05 = (
    0xEF05,
    [Item(0x01, 16), Item(0x02, 1), Item(0x03, 4), Item(0x04, 12), Item(0x05, 4), Item(0x06, 4), Item(0x07, 9)],
)
EF06 = (
    0xEF06,
    [
        Item(0x08, 18),
        Item(0x09, 30),
        Item(0x4E, 20, optional=True),
        Item(0x0A, 1),
        Item(0x0B, 1),
        Item(0x0C, 3),
        Item(0x0D, 4),
    ],
)


def _select_application(raw: RawTransmit) -> None:
    response = transmit(raw, bytes([0x00, 0xA4, 0x04, 0x00, len(SSSE_AID)]) + SSSE_AID)
    if response.sw in NOT_FOUND or response.sw >> 8 in (0x6D, 0x6E):
        raise UnknownCard("no social security application on this card")
    if not response.ok:
        raise CardRefused(response.sw, b"\x00\xa4\x04\x00")


def _read_file(raw: RawTransmit, file_id: int, items: list[Item]) -> dict[int, bytes]:
    expect_ok(raw, bytes([0x00, 0xA4, 0x02, 0x00, 0x02]) + file_id.to_bytes(2, "big"))
    values: dict[int, bytes] = {}
    for item in items:
        # READ RECORD by record identifier (P2 = 00): in EF06 the tag is not the record number.
        response = transmit(raw, bytes([0x00, 0xB2, item.tag, 0x00, item.length + 2]))
        if response.sw in NOT_PERMITTED:
            raise NotPermitted(f"record {item.tag:02X} needs authentication")
        if response.sw in NOT_FOUND and item.optional:
            continue
        if not response.ok:
            raise CardRefused(response.sw, bytes([0x00, 0xB2, item.tag, 0x00]))
        values[item.tag] = _tlv_value(response.data, item.tag)
    return values


def _tlv_value(data: bytes, tag: int) -> bytes:
    if len(data) < 2 or data[0] != tag or len(data) < 2 + data[1]:
        raise BadCardData(f"record {tag:02X} is not a well-formed TLV")
    return data[2 : 2 + data[1]]


def _bcd(value: bytes) -> str:
    digits = value.hex().upper().rstrip("F")
    if not digits.isdigit():
        raise BadCardData("BCD field holds non-digits")
    return digits


def _date(value: bytes) -> dt.date | None:
    digits = _bcd(value)
    if not digits.strip("0"):
        return None  # unset
    try:
        return dt.date(int(digits[:4]), int(digits[4:6]), int(digits[6:8]))
    except ValueError:
        raise BadCardData("a date on the card is not a real date") from None


def _text(value: bytes, encoding: str = "gb18030") -> str:
    try:
        return value.rstrip(b"\x00\xff ").decode(encoding).strip()
    except UnicodeDecodeError:
        raise BadCardData("a text field is not valid GBK") from None


def read_social_security(raw: RawTransmit) -> Identity:
    """Read the holder's identity from a social security card through `raw`."""
    _select_application(raw)
    card = _read_file(raw, *EF05)
    holder = _read_file(raw, *EF06)
    id_number = _text(holder[0x08], "ascii").upper()
    if id_number_problem(id_number):
        raise BadCardData("the social security number fails its check digit")
    sex = {"1": "男", "2": "女"}.get(_text(holder[0x0A], "ascii"), "")
    ethnicity = ethnicity_name(f"{holder[0x0B][0]:02X}") or ""
    return Identity(
        card_type=CardType.SOCIAL_SECURITY,
        name=_text(holder[0x09]) + _text(holder.get(0x4E, b"")),
        id_number=id_number,
        sex=sex,
        ethnicity=ethnicity,
        birth_date=_date(holder[0x0D]),
        valid_from=_date(card[0x05]),
        valid_to=_date(card[0x06]),
        document_number=_text(card[0x07], "ascii"),
        issuer=_bcd(card[0x01][:3]),  # region code of the issuing area
    )
