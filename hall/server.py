"""Running the hall: in the foreground (`kiosk hall`), or embedded in a thread (demo kiosk, tests)."""

from __future__ import annotations

import logging
import socket
import threading
import time
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Self

import uvicorn

from hall.app import create_app

log = logging.getLogger("hall")


class EmbeddedHall:
    """The hall server on a daemon thread. Port 0 picks a free port; `url` tells which after start()."""

    def __init__(
        self,
        db_url: str,
        documents_dir: Path,
        host: str = "127.0.0.1",
        port: int = 0,
        terminal_keys: dict[str, bytes] | None = None,
        catalogue_dir: Path | None = None,
        staff_users: dict[str, str] | None = None,
    ) -> None:
        self.db_url = db_url
        self.catalogue_dir = catalogue_dir
        self.staff_users = staff_users
        self.documents_dir = Path(documents_dir)
        self.terminal_keys = terminal_keys
        self.host = host
        self.port = port
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._sock: socket.socket | None = None
        self._url: str | None = None

    @property
    def url(self) -> str:
        if self._url is None:
            raise RuntimeError("EmbeddedHall is not started")
        return self._url

    def start(self, timeout: float = 10.0) -> None:
        """Start serving and return once /v1/health answers."""
        if self._thread is not None:
            raise RuntimeError("EmbeddedHall is already started")
        app = create_app(
            self.db_url,
            self.documents_dir,
            self.terminal_keys,
            catalogue_dir=self.catalogue_dir,
            staff_users=self.staff_users,
        )
        # We bind the socket ourselves so that port 0 resolves before uvicorn starts and a taken
        # port fails here, in the caller's thread, not silently in the server thread.
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            # Accepted sockets inherit it. Without it, a kept-alive connection's every answer waited ~40 ms
            # (Nagle against the client's delayed ACK): uvicorn sets it on sockets it binds, not on ours.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.bind((self.host, self.port))
        except OSError:
            sock.close()
            raise
        self._sock = sock
        port = sock.getsockname()[1]
        host = f"[{self.host}]" if family == socket.AF_INET6 else self.host
        self._url = f"http://{host}:{port}"
        config = uvicorn.Config(app, log_level="warning", access_log=False, timeout_graceful_shutdown=5)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, name="embedded-hall", daemon=True
        )
        self._thread.start()
        self._wait_healthy(timeout)
        log.info("embedded hall at %s", self._url)

    def _wait_healthy(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            assert self._thread is not None
            if not self._thread.is_alive():
                self._reset()
                raise RuntimeError("embedded hall stopped while starting (see log)")
            try:
                with urllib.request.urlopen(f"{self._url}/v1/health", timeout=1) as response:
                    if response.status == 200:
                        return
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError(f"embedded hall did not answer within {timeout:.0f} s")
            time.sleep(0.05)

    def stop(self, timeout: float = 10.0) -> None:
        """Shut down (finishing requests in flight) and wait for the thread. Safe to call twice."""
        if self._server is None or self._thread is None:
            return
        self._server.should_exit = True
        self._thread.join(timeout)
        if self._thread.is_alive():  # a request that will not finish: drop the connections
            self._server.force_exit = True
            self._thread.join(timeout)
        self._reset()

    def _reset(self) -> None:
        if self._sock is not None:
            self._sock.close()  # uvicorn closes it on a normal shutdown; this covers a failed start
        self._sock = None
        self._server = None
        self._thread = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def serve(
    host: str,
    port: int,
    db_url: str,
    documents_dir: Path,
    terminal_keys: dict[str, bytes] | None = None,
    catalogue_dir: Path | None = None,
    staff_users: dict[str, str] | None = None,
) -> None:
    """Run the hall in the foreground until interrupted (Ctrl-C / SIGTERM).

    `catalogue_dir`: the service files served to terminals (default config/services).
    `staff_users`: staff accounts, name → password (stored hashed; hall.staff_auth)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app = create_app(db_url, Path(documents_dir), terminal_keys, catalogue_dir=catalogue_dir, staff_users=staff_users)
    # access_log off: hall.app logs requests itself, without query strings (they can hold ID tails).
    uvicorn.run(app, host=host, port=port, log_level="info", access_log=False)
