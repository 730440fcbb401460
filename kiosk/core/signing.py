"""Request signatures between terminal and hall (docs/submission-protocol.md, "Signing").

One module for both sides, so the string that is signed cannot drift apart: the terminal's
HallClient signs with `signed_headers`, the hall checks with `signature`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time

TOKEN_PATTERN = r"^[a-z2-7]{16}$"  # a receipt link's token: 80 bits in lower-case base32
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


def receipt_token(key: bytes, receipt_no: str) -> str:
    """The token in a receipt's QR link (`…/progress/<receipt_no>?k=<token>`): who holds the paper
    may see the application's progress without typing the ID tail. The terminal makes it offline
    with its own key; the hall checks it with the same key. Domain-separated from request
    signatures, so neither can stand in for the other."""
    mac = hmac.new(key, b"receipt-link\n" + receipt_no.upper().encode("utf-8"), hashlib.sha256).digest()
    return base64.b32encode(mac[:10]).decode("ascii").lower()
