"""The test terminals' signing keys, known to every test hall, and how a test kiosk gets its own."""

from __future__ import annotations

import os
from pathlib import Path

TERMINAL_KEYS: dict[str, bytes] = {
    "TEST0001": bytes.fromhex("11" * 32),  # tests/unit/test_journey.py
    "E2E00001": bytes.fromhex("22" * 32),  # tests/e2e
}


def write_key_file(path: Path, terminal_id: str) -> Path:
    """The terminal's key where its config expects it (`[hall] key_file`), readable by its owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(TERMINAL_KEYS[terminal_id].hex() + "\n")
    return path
