"""Encryption at rest: AES-256-GCM messages and the key file."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from kiosk.core.errors import KioskError
from kiosk.core.sealing import KEY_BYTES, NONCE_BYTES, TAG_BYTES, VERSION, Sealer, load_or_create_key

SECRET = "欧阳建国 11010519491231002X".encode()


@pytest.fixture
def sealer() -> Sealer:
    return Sealer(os.urandom(KEY_BYTES))


def test_round_trip_with_fresh_nonce_each_time(sealer: Sealer) -> None:
    first, second = sealer.seal(SECRET, b"part:a"), sealer.seal(SECRET, b"part:a")
    assert first != second  # a new random nonce per message
    assert first[0] == VERSION and len(first) == 1 + NONCE_BYTES + len(SECRET) + TAG_BYTES
    assert SECRET not in first
    assert sealer.open(first, b"part:a") == sealer.open(second, b"part:a") == SECRET


@pytest.mark.parametrize("position", [0, 1, NONCE_BYTES + 1, -1])
def test_any_changed_byte_is_refused(sealer: Sealer, position: int) -> None:
    blob = bytearray(sealer.seal(SECRET, b"aad"))
    blob[position] ^= 0x01
    with pytest.raises(KioskError) as caught:
        sealer.open(bytes(blob), b"aad")
    assert caught.value.code == "storage.corrupt"


@pytest.mark.parametrize("blob", [b"", bytes([VERSION]), bytes([VERSION]) + bytes(NONCE_BYTES + TAG_BYTES - 1)])
def test_truncated_is_refused(sealer: Sealer, blob: bytes) -> None:
    with pytest.raises(KioskError) as caught:
        sealer.open(blob, b"aad")
    assert caught.value.code == "storage.corrupt"


def test_other_associated_data_is_refused(sealer: Sealer) -> None:
    """A file swapped in for another (other receipt number or part) does not open."""
    blob = sealer.seal(SECRET, b"application:DEMO0001-20261124-00017")
    with pytest.raises(KioskError) as caught:
        sealer.open(blob, b"application:DEMO0001-20261124-00025")
    assert caught.value.code == "storage.corrupt"


def test_wrong_key_is_refused(sealer: Sealer) -> None:
    with pytest.raises(KioskError) as caught:
        Sealer(os.urandom(KEY_BYTES)).open(sealer.seal(SECRET, b"aad"), b"aad")
    assert caught.value.code == "storage.corrupt"


def test_digest_is_keyed(sealer: Sealer) -> None:
    assert sealer.digest(SECRET) == sealer.digest(SECRET)
    assert sealer.digest(SECRET) != Sealer(os.urandom(KEY_BYTES)).digest(SECRET)


def test_key_file_created_private_whatever_the_umask(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "outbox.key"
    old = os.umask(0)
    try:
        key = load_or_create_key(path)
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(key) == KEY_BYTES and path.read_text().strip() == key.hex()
    assert load_or_create_key(path) == key  # read back, not made again
    assert [p.name for p in path.parent.iterdir()] == ["outbox.key"]  # no temporary file left


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604])
def test_key_file_open_to_others_is_refused(tmp_path: Path, mode: int) -> None:
    path = tmp_path / "outbox.key"
    load_or_create_key(path)
    path.chmod(mode)
    with pytest.raises(KioskError) as caught:
        load_or_create_key(path)
    assert caught.value.code == "storage.key_unsafe"


def test_key_file_symlink_is_refused(tmp_path: Path) -> None:
    real = tmp_path / "real.key"
    load_or_create_key(real)
    (tmp_path / "outbox.key").symlink_to(real)
    with pytest.raises(KioskError) as caught:
        load_or_create_key(tmp_path / "outbox.key")
    assert caught.value.code == "storage.key_unsafe"


@pytest.mark.parametrize("text", ["", "not hex at all", "ab" * 31, "ab" * 33, "zz" * 32])
def test_malformed_key_file_is_refused(tmp_path: Path, text: str) -> None:
    path = tmp_path / "outbox.key"
    path.write_text(text)
    path.chmod(0o600)
    with pytest.raises(KioskError) as caught:
        load_or_create_key(path)
    assert caught.value.code == "storage.key_bad"
    assert path.read_text() == text  # never replaced: a new key would orphan everything sealed


def test_sealer_refuses_short_key() -> None:
    with pytest.raises(KioskError) as caught:
        Sealer(b"short")
    assert caught.value.code == "storage.key_bad"
