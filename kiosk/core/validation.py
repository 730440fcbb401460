"""Form field validation. Each check answers None (fine) or a message code the UI translates."""

from __future__ import annotations

import datetime as dt
import re

from kiosk.core.catalogue import FieldKind, FormField
from kiosk.core.identity import id_number_problem

# re.ASCII: without it \d also takes full-width and other Unicode digits, which the hall cannot use
_MOBILE = re.compile(r"^1[3-9]\d{9}$", re.ASCII)
_POSTCODE = re.compile(r"^\d{6}$", re.ASCII)
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$", re.ASCII)
EARLIEST_DATE = dt.date(1900, 1, 1)


def _ascii_digits(value: str) -> bool:
    """0-9 only: str.isdigit() alone also says yes to "１２" and "²"."""
    return value.isascii() and value.isdigit()


def _mobile(value: str) -> str | None:
    if not _ascii_digits(value):
        return "validation.mobile.chars"
    if len(value) != 11:
        return "validation.mobile.length"
    return None if _MOBILE.match(value) else "validation.mobile.prefix"


def _postcode(value: str) -> str | None:
    return None if _POSTCODE.match(value) else "validation.postcode"


def _date(value: str, today: dt.date) -> str | None:
    if not _DATE.match(value):
        return "validation.date.format"
    try:
        day = dt.date.fromisoformat(value)
    except ValueError:
        return "validation.date.invalid"
    try:
        latest = today.replace(year=today.year + 5)
    except ValueError:  # today is 29 February; five years on there is none
        latest = today.replace(year=today.year + 5, day=28)
    if not EARLIEST_DATE <= day <= latest:
        return "validation.date.range"
    return None


def _digits(value: str) -> str | None:
    return None if _ascii_digits(value) else "validation.digits"


def validate(field: FormField, value: str, today: dt.date | None = None) -> str | None:
    """The problem with `value` for `field`, as a message code, or None."""
    value = value.strip()
    if not value:
        return "validation.required" if field.required else None
    if len(value) > field.max_length:
        return "validation.too_long"
    if len(value) < field.min_length:
        return "validation.too_short"
    match field.kind:
        case FieldKind.ID_NUMBER:
            return id_number_problem(value)
        case FieldKind.MOBILE:
            return _mobile(value)
        case FieldKind.POSTCODE:
            return _postcode(value)
        case FieldKind.DATE:
            return _date(value, today or dt.date.today())
        case FieldKind.DIGITS:
            return _digits(value)
        case FieldKind.CHOICE:
            return None if value in field.choices else "validation.choice"
        case FieldKind.TEXT:
            return None


def normalise(field: FormField, value: str) -> str:
    """What is stored: trimmed, ID numbers with an upper-case X."""
    value = value.strip()
    return value.upper() if field.kind is FieldKind.ID_NUMBER else value
