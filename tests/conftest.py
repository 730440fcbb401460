"""Shared fixtures: a real hall server on loopback (on SQLite and on PostgreSQL), a private Xvfb display."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kiosk.core.paths import SERVICES_DIR
from tests.support.parts import require

ROOT = Path(__file__).resolve().parents[1]
TEST_OUTPUT = ROOT / "test-output"


# -- the hall's database: SQLite and PostgreSQL -----------------------------------------------------

HALL_BACKENDS = ("sqlite", "postgresql")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Run the hall's component tests (tests/component/test_hall*.py) and every other test using
    `hall_server` on both databases, except the end-to-end ones: a real window each, twice would double
    the suite's slowest part, and the hall's own tests already cover PostgreSQL."""
    if "hall_backend" not in metafunc.fixturenames:
        return
    path = Path(str(metafunc.module.__file__))
    if "e2e" in path.parts or path.name == "test_hall_postgres.py":
        return
    component_hall = path.parent.name == "component" and path.name.startswith("test_hall")
    if component_hall or "hall_server" in metafunc.fixturenames:
        metafunc.parametrize("hall_backend", HALL_BACKENDS, indirect=True)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[Any]:
    """A private PostgreSQL server for the session (tests/support/postgres.py), started on first use.

    Without Debian's PostgreSQL binaries the PostgreSQL variants fail in CI and skip elsewhere
    (tests/support/parts.py).
    """
    from tests.support.postgres import PostgresServer, PostgresUnavailable

    try:
        server = PostgresServer()
    except PostgresUnavailable as exc:
        require("postgresql", False, str(exc))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def postgres_url(postgres_server: Any) -> str:
    """The URL of the session server's database `hall` (shared by every test that asks for it)."""
    return str(postgres_server.url())


@pytest.fixture(autouse=True)
def hall_backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The database the hall runs on in this test: "sqlite" unless parametrized (see pytest_generate_tests).

    For "postgresql" every hall the test opens on `sqlite:///<file>` runs on an empty PostgreSQL schema
    of its own instead (a fresh database to the hall, and much faster to make than one), the same one
    for the same file: a restart on that file finds its data again, two files are two databases.
    It is done at hall.store.make_engine, so the tests' own fixtures (which write SQLite URLs) run
    unchanged on both.
    """
    backend = getattr(request, "param", "sqlite")
    if backend == "sqlite":
        yield backend
        return
    import sqlalchemy as sa

    import hall.store

    server = request.getfixturevalue("postgres_server")
    original = hall.store.make_engine
    databases: dict[str, str] = {}

    def make_engine(db_url: str) -> Any:
        url = sa.make_url(db_url)
        if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
            key = str(Path(url.database).resolve())
            if key not in databases:
                databases[key] = server.create_schema()
            db_url = databases[key]
        return original(db_url)

    monkeypatch.setattr(hall.store, "make_engine", make_engine)
    if getattr(request.module, "make_engine", None) is original:  # `from hall.store import make_engine`
        monkeypatch.setattr(request.module, "make_engine", make_engine)
    yield backend
    for url in databases.values():
        server.drop(url)


@pytest.fixture
def hall_server(tmp_path: Path, hall_backend: str) -> Iterator[object]:
    """The real hall service on 127.0.0.1, a free port, on SQLite in tmp_path or (`hall_backend`)
    a fresh PostgreSQL database, with the test terminals' keys and staff account. Outside tests/e2e
    each test using it runs on both."""
    from hall.server import EmbeddedHall
    from tests.support.staff import STAFF_USERS
    from tests.support.terminal_keys import TERMINAL_KEYS

    server = EmbeddedHall(
        db_url=f"sqlite:///{tmp_path / 'hall.db'}",
        documents_dir=tmp_path / "documents",
        terminal_keys=TERMINAL_KEYS,
        staff_users=STAFF_USERS,
    )
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def xvfb_display() -> Iterator[str]:
    """A private Xvfb server, so the end-to-end tests run the same on a desktop and in CI.

    `-displayfd` lets the server pick a free display itself: probing /tmp for lock files misses
    a server in another mount namespace that shares the network's abstract X sockets.
    """
    require("xvfb", shutil.which("Xvfb") is not None, "no Xvfb on PATH")
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


@pytest.fixture
def services(tmp_path: Path) -> Path:
    """A copy of the shipped service files, for a hall to serve and a test to publish changes in."""
    directory = tmp_path / "services"
    shutil.copytree(SERVICES_DIR, directory)
    return directory
