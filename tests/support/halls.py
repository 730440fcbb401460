"""A real hall on loopback for a test of its own: SQLite in the test's folder, the test terminals'
keys and the test staff account. (The `hall_server` fixture in tests/conftest.py is the one that runs
on both databases.)"""

from __future__ import annotations

from pathlib import Path

from hall.server import EmbeddedHall
from tests.support.staff import STAFF_USERS
from tests.support.terminal_keys import TERMINAL_KEYS


def start_hall(
    root: Path, *, port: int = 0, keys: dict[str, bytes] = TERMINAL_KEYS, catalogue_dir: Path | None = None
) -> EmbeddedHall:
    """Started; the caller stops it."""
    hall = EmbeddedHall(
        f"sqlite:///{root / 'hall.db'}",
        root / "hall-documents",
        port=port,
        terminal_keys=keys,
        catalogue_dir=catalogue_dir,
        staff_users=STAFF_USERS,
    )
    hall.start()
    return hall
