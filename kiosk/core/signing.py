"""Request signatures between terminal and hall (docs/submission-protocol.md, "Signing").

One module for both sides, so the string that is signed cannot drift apart: the terminal's
HallClient signs with `signed_headers`, the hall checks with `signature`.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time

MAX_SKEW_S = 300  # a timestamp further from the hall's clock than this is stale
NONCE_TTL_S = 600  # a nonce is remembered this long: a replay inside it is refused


def canonical(method: str, path_and_query: str, body: bytes, timestamp: str, nonce: str) -> bytes:
    body_hash = hashlib.sha256(body).hexdigest()
    return "\n".join([method.upper(), path_and_query, body_hash, timestamp, nonce]).encode("utf-8")


def signature(key: bytes, method: str, path_and_query: str, body: bytes, timestamp: str, nonce: str) -> str:
    return hmac.new(key, canonical(method, path_and_query, body, timestamp, nonce), hashlib.sha256).hexdigest()


def signed_headers(
    key: bytes, terminal_id: str, method: str, path_and_query: str, body: bytes, now: float | None = None
) -> dict[str, str]:
    """The four headers that make a request the terminal's own."""
    timestamp = str(int(time.time() if now is None else now))
    nonce = secrets.token_hex(16)
    return {
        "X-Terminal-Id": terminal_id,
        "X-Timestamp": timestamp,
        "X-Nonce": nonce,
        "X-Signature": signature(key, method, path_and_query, body, timestamp, nonce),
    }


def matches(expected: str, given: str) -> bool:
    return hmac.compare_digest(expected, given)
