"""A private PostgreSQL server for the test session: Debian's binaries, a temporary cluster, loopback only.

Nothing of the machine's own PostgreSQL is used or needed (no system service, no /var/run/postgresql):
`initdb` makes a cluster in a temporary folder, `pg_ctl` starts it on 127.0.0.1 and a free port with
its socket in that folder, trusting local connections, and stops it again. Durability is switched
off (fsync, synchronous_commit, full_page_writes): a test database never has to survive a crash.

PostgreSQL refuses to run as root, so as root the server runs as the `postgres` user that Debian's
package creates (`runuser`), owning the temporary folder.
"""

from __future__ import annotations

import contextlib
import glob
import itertools
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

from tests.support.net import free_port

SERVER_USER = "postgres"  # created by Debian's postgresql-common
SETTINGS = {
    "listen_addresses": "'127.0.0.1'",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "300",  # every hall in a test keeps a pool; some tests start two
    "shared_buffers": "32MB",
    "log_min_messages": "warning",
    "log_min_error_statement": "panic",  # expected errors (a refused value) need not fill the log
}


class PostgresUnavailable(Exception):
    """No PostgreSQL server binaries on this machine (Debian package `postgresql`)."""


def find_bindir() -> Path:
    """The newest /usr/lib/postgresql/<version>/bin with initdb and pg_ctl, or $PG_BINDIR."""
    candidates = [os.environ["PG_BINDIR"]] if os.environ.get("PG_BINDIR") else []
    found = glob.glob("/usr/lib/postgresql/*/bin")
    candidates += sorted(found, key=lambda p: int(Path(p).parent.name) if Path(p).parent.name.isdigit() else 0)[::-1]
    for candidate in candidates:
        if (Path(candidate) / "initdb").is_file() and (Path(candidate) / "pg_ctl").is_file():
            return Path(candidate)
    raise PostgresUnavailable("no PostgreSQL server binaries (install Debian's `postgresql`: scripts/setup.sh test)")


class PostgresServer:
    """One throwaway cluster. `start()`, then `url` (database `hall`) or `create_database()`; `stop()`."""

    def __init__(self, bindir: Path | None = None) -> None:
        self.bindir = bindir or find_bindir()
        self.root: Path | None = None
        self.port = 0
        self._counter = itertools.count(1)
        self._as_root = os.geteuid() == 0

    @property
    def data_dir(self) -> Path:
        assert self.root is not None
        return self.root / "data"

    def url(self, database: str = "hall") -> str:
        return f"postgresql+psycopg://{SERVER_USER}@127.0.0.1:{self.port}/{database}"

    def _run(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        command = [str(a) for a in args]
        if self._as_root:
            command = ["runuser", "-u", SERVER_USER, "--", *command]
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=self.root, check=False)
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed ({result.returncode}):\n{result.stdout}{result.stderr}")
        return result

    def start(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="hall-pg-"))
        if self._as_root:
            try:
                user = pwd.getpwnam(SERVER_USER)
            except KeyError:
                raise PostgresUnavailable(f"running as root and there is no {SERVER_USER!r} user to run as") from None
            os.chown(self.root, user.pw_uid, user.pw_gid)
        try:
            self._run(
                self.bindir / "initdb",
                "-D",
                self.data_dir,
                "-U",
                SERVER_USER,
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--no-locale",  # the same on every machine; hall.store does not rely on the locale
                "--no-sync",
            )
            with (self.data_dir / "postgresql.conf").open("a") as conf:
                conf.write("\n# tests/support/postgres.py\n")
                conf.write(f"unix_socket_directories = '{self.root}'\n")
                for name, value in SETTINGS.items():
                    conf.write(f"{name} = {value}\n")
            for attempt in range(3):  # a port free a moment ago may be taken by the time the server binds
                self.port = free_port()
                try:
                    self._run(
                        self.bindir / "pg_ctl",
                        "-D",
                        self.data_dir,
                        "-l",
                        self.root / "server.log",
                        "-o",
                        f"-p {self.port}",
                        "-w",
                        "-t",
                        "60",
                        "start",
                        timeout=90,
                    )
                    break
                except RuntimeError:
                    if attempt == 2:
                        raise RuntimeError(f"PostgreSQL did not start:\n{self.log()}") from None
            self.execute("CREATE DATABASE hall")
        except BaseException:
            self.stop()
            raise

    def log(self) -> str:
        assert self.root is not None
        try:
            return (self.root / "server.log").read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    def execute(self, sql: str, database: str = "postgres") -> None:
        """One statement outside a transaction (CREATE/DROP DATABASE need that)."""
        import psycopg

        with psycopg.connect(host="127.0.0.1", port=self.port, user=SERVER_USER, dbname=database, autocommit=True) as c:
            c.execute(sql)

    def create_database(self) -> str:
        """A new, empty database; its SQLAlchemy URL. Slow-ish (~0.1-0.3 s): copies template1."""
        name = f"t_{next(self._counter)}"
        self.execute(f"CREATE DATABASE {name}")
        return self.url(name)

    def create_schema(self) -> str:
        """A new, empty schema in database `hall` (a few ms), and a URL whose connections use only it.

        To the hall it is an empty database of its own: tables are created and found in the first
        schema of the search path.
        """
        name = f"t_{next(self._counter)}"
        self.execute(f"CREATE SCHEMA {name}", database="hall")
        return f"{self.url('hall')}?options=-csearch_path%3D{name}"

    def drop(self, url: str) -> None:
        """Drop a database or schema made by create_database/create_schema (best effort, bounded wait)."""
        database, _, query = url.rsplit("/", 1)[1].partition("?")
        try:
            if query:
                schema = query.rsplit("%3D", 1)[1]
                self.execute(f"SET lock_timeout = '5s'; DROP SCHEMA IF EXISTS {schema} CASCADE", database=database)
            else:
                self.execute(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
        except Exception as exc:  # a connection a test leaked holds a lock: the server goes at the end anyway
            print(f"postgres: could not drop {url}: {exc}")

    def stop(self) -> None:
        """Stop the server (fast: open connections are ended) and remove its folder. Safe to call twice."""
        if self.root is None:
            return
        if (self.data_dir / "postmaster.pid").exists():
            with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
                self._run(self.bindir / "pg_ctl", "-D", self.data_dir, "-m", "fast", "-w", "stop", timeout=60)
        shutil.rmtree(self.root, ignore_errors=True)
        self.root = None


@contextlib.contextmanager
def postgres_server() -> Iterator[PostgresServer]:
    """A started PostgresServer for the duration of the block (raises PostgresUnavailable without binaries)."""
    server = PostgresServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()
