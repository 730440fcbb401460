"""Shared fixtures: a real hall server on loopback, a private Xvfb display."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TEST_OUTPUT = ROOT / "test-output"


@pytest.fixture
def hall_server(tmp_path: Path) -> Iterator[object]:
    """The real hall service on 127.0.0.1, a free port, SQLite in tmp_path."""
    from hall.server import EmbeddedHall

    server = EmbeddedHall(db_url=f"sqlite:///{tmp_path / 'hall.db'}", documents_dir=tmp_path / "documents")
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def xvfb_display() -> Iterator[str]:
    """A private Xvfb server, so the end-to-end tests run the same on a desktop and in CI.

    `-displayfd` lets the server pick a free display itself: probing /tmp for lock files misses
    a server in another mount namespace that shares the network's abstract X sockets.
    """
    if shutil.which("Xvfb") is None:
        pytest.fail("Xvfb is not installed: run the README's test command, which installs it")
    read_end, write_end = os.pipe()
    proc = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write_end), "-screen", "0", "1280x1280x24", "-nolisten", "tcp"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        pass_fds=(write_end,),
    )
    os.close(write_end)
    with os.fdopen(read_end) as pipe:
        number = pipe.readline().strip()  # written once the server is ready
    if not number or proc.poll() is not None:
        pytest.fail("Xvfb did not start")
    yield f":{number}"
    proc.terminate()
    proc.wait(10)


@pytest.fixture
def test_output(request: pytest.FixtureRequest) -> Path:
    """A folder under test-output/ kept after the run (screenshots, printed receipts)."""
    path = TEST_OUTPUT / request.node.name
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


def env_with_display(display: str) -> dict[str, str]:
    env = dict(os.environ)
    env["DISPLAY"] = display
    env.pop("SDL_VIDEODRIVER", None)
    return env


from tests.support.pcsc_fixtures import *  # noqa: E402, F403 - real pcscd + vpcd fixtures
