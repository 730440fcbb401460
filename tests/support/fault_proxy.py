"""A reverse proxy of ours on loopback, in front of the real hall, that can misbehave on demand.

It forwards requests unchanged (real HTTP both ways) and, when told, answers the next N
requests itself with an error status, as a hall behind a failing gateway would.
"""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TypeVar

import requests

T = TypeVar("T")
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "content-encoding", "host"}


class FaultProxy:
    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self._lock = threading.Lock()
        self._failures: list[tuple[str, int]] = []  # (path prefix, status)
        self._delays: list[tuple[str, float]] = []  # (path prefix, seconds)
        self.seen: list[tuple[str, str, int]] = []  # (method, path, status answered)
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def _forward(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                time.sleep(proxy._take(proxy._delays, self.path, 0.0))
                status = proxy._take(proxy._failures, self.path, 0)
                if status:
                    self._seen(status)  # before answering: the client may have given up by now
                    payload = b'{"error": {"code": "hall.internal", "message": "injected"}}'
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                else:
                    headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
                    answer = requests.request(
                        self.command, proxy.upstream + self.path, data=body, headers=headers, timeout=30
                    )
                    status = answer.status_code
                    self._seen(status)
                    self.send_response(status)
                    for key, value in answer.headers.items():
                        if key.lower() not in HOP_BY_HOP:
                            self.send_header(key, value)
                    self.send_header("Content-Length", str(len(answer.content)))
                    self.end_headers()
                    self.wfile.write(answer.content)

            def _seen(self, status: int) -> None:
                with proxy._lock:
                    proxy.seen.append((self.command, self.path.split("?")[0], status))

            do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = _forward

            def log_message(self, *_: object) -> None:  # keep test output quiet
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def fail_next(self, path_prefix: str, status: int = 500, times: int = 1) -> None:
        """Answer the next `times` requests under `path_prefix` with `status` instead of forwarding."""
        with self._lock:
            self._failures.extend([(path_prefix, status)] * times)

    def delay_next(self, path_prefix: str, seconds: float, times: int = 1) -> None:
        """Hold the next `times` requests under `path_prefix` for `seconds` before handling them."""
        with self._lock:
            self._delays.extend([(path_prefix, seconds)] * times)

    def _take(self, queue: list[tuple[str, T]], path: str, default: T) -> T:
        with self._lock:
            for index, (prefix, value) in enumerate(queue):
                if path.startswith(prefix):
                    del queue[index]
                    return value
        return default

    def start(self) -> FaultProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
