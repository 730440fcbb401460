"""Encryption at rest for the outbox: AES-256-GCM under a key kept in a file of its own.

A sealed message is `VERSION (1 byte) + nonce (12 bytes) + ciphertext + tag (16 bytes)`. The
associated data names what the message is (e.g. "part:<sha256>"), so a file copied over another
one fails to open instead of passing as it.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import hmac
import os
import secrets
import stat
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from kiosk.core.errors import KioskError

VERSION = 1
KEY_BYTES = 32
NONCE_BYTES = 12
TAG_BYTES = 16
_HEADER = bytes([VERSION])


def load_or_create_key(path: Path) -> bytes:
    """The key in `path` (64 hex characters), made from 32 random bytes when the file is missing.

    Refused with storage.key_unsafe when group or others may read it (or it is not a regular
    file), with storage.key_bad when it does not hold exactly one 32-byte hex key.
    """
    path = Path(path)
    try:
        return read_key(path)
    except FileNotFoundError:
        pass
    _create_key_file(path)
    return read_key(path)


def _create_key_file(path: Path) -> None:
    """Write the key to a private temporary file and link it into place: the key file appears
    whole or not at all, and a second process racing us keeps whichever key was linked first."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        os.fchmod(fd, 0o600)  # the umask may only take bits away, but make the mode explicit anyway
        os.write(fd, (secrets.token_bytes(KEY_BYTES).hex() + "\n").encode("ascii"))
        os.fsync(fd)
        os.close(fd)
        with contextlib.suppress(FileExistsError):  # someone else's key won the race: use theirs
            os.link(tmp, path)
        fsync_directory(path.parent)
    finally:
        tmp.unlink(missing_ok=True)


def read_key(path: Path) -> bytes:
    """The key in `path`; FileNotFoundError when there is none, KioskError when it is unsafe or bad."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError as exc:
        if exc.errno != errno.ELOOP:
            raise
        # A symbolic link could point anywhere, readable by anyone: refuse it like an open file.
        raise KioskError("key file is a symbolic link", code="storage.key_unsafe") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_mode & 0o077:
            raise KioskError("key file open to group or others", code="storage.key_unsafe")
        text = os.read(fd, 4 * KEY_BYTES).decode("ascii", "replace").strip()
    finally:
        os.close(fd)
    try:
        key = bytes.fromhex(text)
    except ValueError:
        raise KioskError("key file is not hex", code="storage.key_bad") from None
    if len(key) != KEY_BYTES:
        raise KioskError("key file does not hold a 32-byte key", code="storage.key_bad")
    return key


def fsync_directory(directory: Path) -> None:
    """Make a rename or a new name in `directory` survive a power cut."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Sealer:
    """Seals and opens messages under one key. Thread-safe (AESGCM keeps no per-call state)."""

    def __init__(self, key: bytes) -> None:
        if len(key) != KEY_BYTES:
            raise KioskError("key is not 32 bytes", code="storage.key_bad")
        self._aead = AESGCM(key)
        # A separate key for digests, so a digest says nothing about the encryption key.
        self._digest_key = hmac.new(key, b"kiosk.sealing.digest", hashlib.sha256).digest()

    def seal(self, data: bytes, aad: bytes) -> bytes:
        nonce = secrets.token_bytes(NONCE_BYTES)
        return _HEADER + nonce + self._aead.encrypt(nonce, data, _HEADER + aad)

    def open(self, blob: bytes, aad: bytes) -> bytes:
        """The plaintext; storage.corrupt for a wrong key, other associated data or any changed byte."""
        if len(blob) < 1 + NONCE_BYTES + TAG_BYTES or blob[:1] != _HEADER:
            raise KioskError("sealed data is truncated or of an unknown version", code="storage.corrupt")
        nonce = blob[1 : 1 + NONCE_BYTES]
        try:
            return self._aead.decrypt(nonce, blob[1 + NONCE_BYTES :], _HEADER + aad)
        except InvalidTag:
            raise KioskError("sealed data does not open with this key", code="storage.corrupt") from None

    def digest(self, data: bytes) -> str:
        """A keyed fingerprint (HMAC-SHA256, hex): compares contents without keeping a plain hash
        of personal data, which could be confirmed by hashing a guess."""
        return hmac.new(self._digest_key, data, hashlib.sha256).hexdigest()
