"""pytest fixtures for the real PC/SC stack: a private pcscd with vpcd readers, and card slots.

Import them into a conftest.py:  `from tests.support.pcsc_fixtures import *  # noqa: F403`

The fixtures point this process's PCSCLITE_CSOCK_NAME at the private pcscd, so pyscard (or a
kiosk driver) in the test process itself reaches it. libpcsclite reads that variable once per
process, so every test pcscd of the process serves the same socket path, one at a time: do not
use two of these fixtures in the same test (start a second PcscdServer with its own socket_dir
and talk to it from a subprocess instead).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.parts import require
from tests.support.pcscd import VPCD_DRIVER, PcscdServer, process_socket_dir
from tests.support.vpcd_slot import CardSlot

__all__ = ["CITIZEN_SLOT", "SECOND_SLOT", "citizen_slot", "pcscd_server", "pcscd_two_readers", "require_pcscd"]

CITIZEN_SLOT = "Kiosk Citizen Slot"
SECOND_SLOT = "Kiosk Staff Slot"


def require_pcscd() -> None:
    """pcscd and the vpcd driver (Debian's pcscd and vsmartcard-vpcd), or the test fails in CI."""
    require("pcscd", shutil.which("pcscd") is not None, "no pcscd on PATH")
    require("vpcd", VPCD_DRIVER.exists(), f"no {VPCD_DRIVER}")


def _serve(readers: list[str], folder: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[PcscdServer]:
    require_pcscd()
    server = PcscdServer(readers, folder, socket_dir=process_socket_dir())
    monkeypatch.setenv("PCSCLITE_CSOCK_NAME", str(server.socket_path))
    try:
        server.start()
        yield server
    finally:
        server.kill()  # also when start() or the test failed: never leave a pcscd behind


@pytest.fixture
def pcscd_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[PcscdServer]:
    """A private pcscd with one vpcd reader, CITIZEN_SLOT ("Kiosk Citizen Slot 00 00" in PC/SC)."""
    yield from _serve([CITIZEN_SLOT], tmp_path / "pcscd", monkeypatch)


@pytest.fixture
def pcscd_two_readers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[PcscdServer]:
    """A private pcscd with two vpcd readers, CITIZEN_SLOT and SECOND_SLOT."""
    yield from _serve([CITIZEN_SLOT, SECOND_SLOT], tmp_path / "pcscd", monkeypatch)


@pytest.fixture
def citizen_slot(pcscd_server: PcscdServer) -> Iterator[CardSlot]:
    """The card slot of pcscd_server's reader, empty at the start; whatever is in it is pulled at the end."""
    slot = CardSlot(pcscd_server.port(CITIZEN_SLOT))
    try:
        yield slot
    finally:
        slot.close()
