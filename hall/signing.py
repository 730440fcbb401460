"""The hall's check of a terminal's request signature (docs/submission-protocol.md, "Signing").

The signed string is kiosk.core.signing's, the same module the terminal signs with. The check is
in two steps so that a request can be refused on its headers before its body is read:
`claim` (headers present, terminal known, timestamp fresh) and `confirm` (signature over method,
path and body; nonce not seen before). Refusals raise SignatureRejected, a HallError with 401.
"""

from __future__ import annotations

import mmap
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, cast

from hall.errors import HallError
from hall.store import Store
from kiosk.core.protocol import HallErrorCode
from kiosk.core.signing import MAX_SKEW_S, NONCE_TTL_S, matches, signature

HEADERS = ("x-terminal-id", "x-timestamp", "x-nonce", "x-signature")
PRUNE_EVERY_S = 60  # how often a hall worker deletes nonces older than NONCE_TTL_S

_TIMESTAMP = re.compile(r"^[0-9]{1,12}$")
_NONCE = re.compile(r"^[0-9a-f]{32}$")
_SIGNATURE = re.compile(r"^[0-9a-f]{64}$")


class SignatureRejected(HallError):
    def __init__(self, code: HallErrorCode, message: str, **extra: Any) -> None:
        super().__init__(401, code, message, **extra)


@dataclass(frozen=True)
class Claim:
    """A request's signature headers, its terminal known and its timestamp fresh, not yet verified."""

    terminal_id: str
    key: bytes
    timestamp: str
    nonce: str
    signature: str


def path_and_query(scope: Mapping[str, Any]) -> str:
    """The request target exactly as the terminal sent it: Starlette's `url` is decoded and rebuilt."""
    path = scope.get("raw_path") or scope["path"].encode("utf-8")
    query = scope.get("query_string", b"")
    target = path + b"?" + query if query else path
    return target.decode("latin-1")


class Verifier:
    """Checks signed requests against the `terminals` table; remembers nonces in `nonces`."""

    def __init__(self, store: Store, clock: Callable[[], float] = time.time) -> None:
        self._store = store
        self._clock = clock
        self._keys: dict[str, bytes] = {}  # cache: keys change only when a hall (re)starts
        self._lock = threading.Lock()
        self._pruned_at = 0.0

    def claim(self, headers: Mapping[str, str]) -> Claim:
        """Headers present, terminal known, timestamp within MAX_SKEW_S. Reads the database on a cache miss."""
        values = [headers.get(name) for name in HEADERS]
        if not all(values):
            raise SignatureRejected(
                HallErrorCode.SIGNATURE_MISSING, "X-Terminal-Id, X-Timestamp, X-Nonce and X-Signature"
            )
        terminal_id, timestamp, nonce, given = (str(v) for v in values)
        key = self._key(terminal_id)
        if key is None:
            raise SignatureRejected(HallErrorCode.SIGNATURE_UNKNOWN_TERMINAL, "no key for this terminal")
        if not (_TIMESTAMP.match(timestamp) and _NONCE.match(nonce) and _SIGNATURE.match(given)):
            raise SignatureRejected(HallErrorCode.SIGNATURE_BAD, "malformed signature header")
        now = self._clock()
        if abs(now - int(timestamp)) > MAX_SKEW_S:
            raise SignatureRejected(
                HallErrorCode.SIGNATURE_STALE, "the timestamp is too far from the hall's clock", server_time=int(now)
            )
        return Claim(terminal_id, key, timestamp, nonce, given)

    def confirm(self, claim: Claim, method: str, target: str, body: bytes | mmap.mmap) -> None:
        """The signature matches the request, and its nonce is new. Writes the database: call off the event loop.

        `body` may be a memory map of a body spooled to disk: hashing reads it without loading it.
        """
        # hashlib reads any buffer, a memory map too; kiosk.core.signing names only the terminal's bytes.
        expected = signature(claim.key, method, target, cast(bytes, body), claim.timestamp, claim.nonce)
        if not matches(expected, claim.signature):
            raise SignatureRejected(HallErrorCode.SIGNATURE_BAD, "signature does not match the request")
        now = self._clock()
        if not self._store.remember_nonce(claim.terminal_id, claim.nonce, now, NONCE_TTL_S):
            raise SignatureRejected(HallErrorCode.SIGNATURE_REPLAY, "this nonce was used before")
        with self._lock:
            prune = now - self._pruned_at > PRUNE_EVERY_S
            if prune:
                self._pruned_at = now
        if prune:
            self._store.forget_nonces(now - NONCE_TTL_S)

    def _key(self, terminal_id: str) -> bytes | None:
        key = self._keys.get(terminal_id)
        if key is None:
            key = self._store.terminal_key(terminal_id)
            if key is not None:
                self._keys[terminal_id] = key
        return key


def parse_terminal_key(text: str) -> tuple[str, bytes]:
    """`ID=HEXKEY` (as `kiosk hall --terminal-key` takes it) → (terminal id, 32-byte key)."""
    terminal_id, sep, key_hex = text.partition("=")
    if not sep or not 1 <= len(terminal_id) <= 64:
        raise ValueError("expected ID=HEXKEY with an ID of 1 to 64 characters")
    try:
        key = bytes.fromhex(key_hex)
    except ValueError:
        raise ValueError("the key must be hexadecimal") from None
    if len(key) != 32:
        raise ValueError("the key must be 32 bytes (64 hex characters)")
    return terminal_id, key
