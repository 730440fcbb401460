"""What a code read from the camera is: our receipt, an appointment, an e-licence link, an ID number…

Only what matches a kind exactly, check characters included, is acted on; anything else is
shown as text and left alone. Links are matched on their parsed parts, never on a prefix or a
substring, so "https://gov.cn.evil.com" or "https://gov.cn@evil.com" are not the hall's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING
from urllib.parse import SplitResult, urlsplit

from kiosk.core import receipt_number
from kiosk.core.devices import CodeRead
from kiosk.core.errors import ConfigError
from kiosk.core.identity import id_number_problem
from kiosk.core.signing import TOKEN_PATTERN

if TYPE_CHECKING:
    from kiosk.core.config import KioskConfig

_HOST = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$")
_UNSAFE = re.compile(r"[\s\\\x00-\x1f\x7f]")  # browsers read "\" as "/" and drop tabs: never a link of ours


class CodeKind(StrEnum):
    RECEIPT = "receipt"  # a receipt this kiosk printed: its progress link, or the bare number
    APPOINTMENT = "appointment"
    PREREVIEW = "prereview"  # 预审 code from the online pre-review
    ELICENCE = "elicence"  # an e-licence link on an allowed host
    ID_NUMBER = "id_number"
    OTHER = "other"  # shown, never acted on


@dataclass(frozen=True)
class CodeRules:
    """What the hall's codes look like; the kiosk config's [codes] section fills it."""

    progress_url: str  # the receipt QR's prefix, e.g. "http://127.0.0.1:8765/progress/"
    appointment_pattern: str = r"^YY\d{14}$"
    prereview_pattern: str = r"^YS\d{14}$"
    elicence_hosts: tuple[str, ...] = ()  # each allows itself and its subdomains, https only

    def __post_init__(self) -> None:
        for name in ("appointment_pattern", "prereview_pattern"):
            try:
                re.compile(getattr(self, name))
            except re.error as exc:
                raise ConfigError(f"codes.{name}: not a regular expression: {exc}") from None
        if not _url(self.progress_url):
            raise ConfigError(f"codes.progress_url: not an http(s) URL: {self.progress_url!r}")
        for host in self.elicence_hosts:
            if not _HOST.match(host.lower()):
                raise ConfigError(f"codes.elicence_hosts: not a host name: {host!r}")

    @classmethod
    def from_config(cls, config: KioskConfig) -> CodeRules:
        """The rules of a kiosk config: its [codes] section, and the hall's progress page."""
        return cls(
            progress_url=f"{str(config.hall.url).rstrip('/')}/progress/",
            appointment_pattern=config.codes.appointment_pattern,
            prereview_pattern=config.codes.prereview_pattern,
            elicence_hosts=tuple(config.codes.elicence_hosts),
        )


@dataclass(frozen=True)
class Classified:
    kind: CodeKind
    value: str  # the receipt number, appointment or pre-review code, URL or ID number; "" for OTHER
    text: str  # the code's text, trimmed
    token: str = ""  # a receipt link's token (kiosk.core.signing.receipt_token)

    def __repr__(self) -> str:  # the text may hold an ID number
        return f"Classified({self.kind.value})"


def _url(text: str) -> SplitResult | None:
    """The parts of an absolute http(s) URL with a plain host (no user info), else None."""
    if _UNSAFE.search(text):
        return None
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 -- raises on a port that is not a number
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or "@" in parts.netloc or not parts.hostname:
        return None
    return parts


def _receipt(text: str, rules: CodeRules) -> tuple[str, str] | None:
    """The receipt number and token in our progress link (scheme and host in any case; `?k=<token>`
    or no query at all), or a bare number with no token."""
    if receipt_number.PATTERN.match(text.upper()):
        return (text.upper(), "") if receipt_number.is_valid(text) else None
    link, ours = _url(text), _url(rules.progress_url)
    if link is None or ours is None or link.fragment:
        return None
    if (link.scheme.lower(), link.netloc.lower()) != (ours.scheme.lower(), ours.netloc.lower()):
        return None
    if not link.path.startswith(ours.path):
        return None
    token = link.query.removeprefix("k=") if link.query else ""
    if link.query and not re.fullmatch(TOKEN_PATTERN, token):
        return None
    number = link.path[len(ours.path) :]
    return (number.upper(), token) if receipt_number.is_valid(number) else None


def _elicence(text: str, rules: CodeRules) -> bool:
    link = _url(text)
    if link is None or link.scheme.lower() != "https" or link.port not in (None, 443):
        return False
    host = link.hostname or ""  # urlsplit lower-cases it
    allowed = (h.lower() for h in rules.elicence_hosts)
    return bool(_HOST.match(host)) and any(host == h or host.endswith("." + h) for h in allowed)


def classify(read: CodeRead, rules: CodeRules) -> Classified:
    """The kind of a read code, and the value to act on."""
    text = read.text.strip()
    if receipt := _receipt(text, rules):
        return Classified(CodeKind.RECEIPT, receipt[0], text, token=receipt[1])
    if re.fullmatch(rules.appointment_pattern, text):
        return Classified(CodeKind.APPOINTMENT, text, text)
    if re.fullmatch(rules.prereview_pattern, text):
        return Classified(CodeKind.PREREVIEW, text, text)
    if _elicence(text, rules):
        return Classified(CodeKind.ELICENCE, text, text)
    if len(text) == 18 and id_number_problem(text) is None:
        return Classified(CodeKind.ID_NUMBER, text.upper(), text)
    return Classified(CodeKind.OTHER, "", text)
