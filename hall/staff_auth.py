"""Staff accounts: scrypt password hashes, HTTP Basic authentication, and a lockout against guessing.

Staff routes (the full records of applications, their documents, ratings, state changes and the
/staff pages) depend on `require_staff`, which answers with the staff member's name. Accounts come
from the hall's configuration (`kiosk hall --staff-user NAME:PASSWORD`), hashed and stored at start.

Guessing: after LOCK.failures failed logins for one name within LOCK.window_s, that name is
refused with 429 (right password or not) until enough failures have aged out of the window. The
failures are in the database (hashed names, beside the progress lookups' failures), so the count
holds across hall workers and restarts. Check and count are not one transaction: concurrent guesses
may overshoot the limit by the few in flight.

Nothing submitted is logged or echoed: a name typed into the wrong field may be a password.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import logging
import re
import secrets
import time
from typing import Any

from fastapi import Request
from fastapi.openapi.models import HTTPBase
from fastapi.security.base import SecurityBase

from hall.errors import HallError
from hall.store import Limit, Store
from kiosk.core.protocol import HallErrorCode

log = logging.getLogger("hall.staff")

LOCK = Limit(10, 15 * 60)  # failed logins for one name within the window lock it until they age out
MIN_PASSWORD_CHARS = 12
WWW_AUTHENTICATE = 'Basic realm="hall staff", charset="UTF-8"'

# scrypt's cost: 16 MiB and some 50 ms a check (it runs on every staff request: Basic auth has no session)
_SCRYPT = {"n": 2**14, "r": 8, "p": 1}
_MAXMEM = 64 * 1024 * 1024
# RFC 7617 forbids ":" in the user-id; control characters have no business in a name either.
_NAME = re.compile(r"^[^\x00-\x1f\x7f:]{1,64}$")


class StaffRefused(HallError):
    """Missing or wrong credentials (401), or a locked name (429)."""

    def __init__(self, status: int, code: HallErrorCode, message: str, headers: dict[str, str], **extra: Any) -> None:
        super().__init__(status, code, message, headers=headers, **extra)


def _unauthorized() -> StaffRefused:
    return StaffRefused(
        401,
        HallErrorCode.STAFF_UNAUTHORIZED,
        "staff credentials are required",
        {"WWW-Authenticate": WWW_AUTHENTICATE},
    )


def hash_password(password: str) -> str:
    """`scrypt$n$r$p$salt$hash` (hex) with a fresh random salt."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, maxmem=_MAXMEM, dklen=32, **_SCRYPT)
    return "$".join(["scrypt", *(str(_SCRYPT[k]) for k in ("n", "r", "p")), salt.hex(), digest.hex()])


def verify_password(password: str, stored: str) -> bool:
    """Whether `password` hashes to `stored` (constant-time compare); False for a malformed `stored`."""
    try:
        kind, n, r, p, salt, expected = stored.split("$")
        if kind != "scrypt":
            return False
        digest = hashlib.scrypt(
            password.encode("utf-8"), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p), maxmem=_MAXMEM, dklen=32
        )
        return hmac.compare_digest(digest, bytes.fromhex(expected))
    except ValueError:
        return False


@functools.cache
def _decoy_hash() -> str:
    """Checked against for an unknown name, so that it costs as long as a known one's wrong password."""
    return hash_password(secrets.token_hex(16))


def check_account(name: str, password: str) -> None:
    """Raise ValueError when a configured account is unusable (its message names neither value)."""
    if not _NAME.match(name):
        raise ValueError("a staff name is 1 to 64 characters, without ':' or control characters")
    if len(password) < MIN_PASSWORD_CHARS:
        raise ValueError(f"a staff password has at least {MIN_PASSWORD_CHARS} characters")


def parse_staff_user(text: str) -> tuple[str, str]:
    """`NAME:PASSWORD` (the command line's --staff-user) as (name, password)."""
    name, separator, password = text.partition(":")
    if not separator:
        raise ValueError("expected NAME:PASSWORD")
    check_account(name, password)
    return name, password


def hash_accounts(users: dict[str, str]) -> dict[str, str]:
    """name → password hash, each account checked first."""
    for name, password in users.items():
        check_account(name, password)
    return {name: hash_password(password) for name, password in users.items()}


def _credentials(header: str | None) -> tuple[str, str] | None:
    """(name, password) from `Authorization: Basic …`, UTF-8 as the challenge asks; None if absent or malformed."""
    scheme, _, token = (header or "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(token.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    name, separator, password = decoded.partition(":")
    if not separator or not _NAME.match(name):  # not a name any account can have: nothing to count
        return None
    return name, password


class StaffAuth(SecurityBase):
    """The dependency: the staff member's name, or StaffRefused.

    A SecurityBase, so FastAPI declares the HTTP basic scheme in the OpenAPI document and `security`
    on each operation that depends on it. Synchronous (database and scrypt): FastAPI runs it in a thread.
    """

    def __init__(self) -> None:
        self.model = HTTPBase(scheme="basic", description="a hall staff account (kiosk hall --staff-user)")
        self.scheme_name = "staff"

    def __call__(self, request: Request) -> str:
        credentials = _credentials(request.headers.get("authorization"))
        if credentials is None:
            raise _unauthorized()
        name, password = credentials
        store: Store = request.app.state.store
        now = time.time()
        key = f"staff:{name}"
        # Before the password is checked: while locked, not even the right one gets in.
        retry_after = store.failure_wait(key, LOCK, now)
        if retry_after:
            raise StaffRefused(
                429,
                HallErrorCode.STAFF_LOCKED,
                "too many failed logins for this name; try again later",
                {"Retry-After": str(retry_after), "WWW-Authenticate": WWW_AUTHENTICATE},
                retry_after=retry_after,
            )
        stored = store.staff_password_hash(name)
        if not verify_password(password, stored or _decoy_hash()) or stored is None:
            store.record_failure(key, LOCK, now)
            log.warning("failed staff login")  # without the name: it may be a password typed in the wrong field
            raise _unauthorized()
        return name


require_staff = StaffAuth()
