"""A TCP forwarder of ours on loopback that breaks the link on demand, below HTTP.

`reset_after(n)`: once `n` more bytes have gone from clients to the hall, the connection carrying
them is reset (RST), i.e. cut in the middle of a request body. `cut(s)`: for `s` seconds nothing
passes either way and new connections hang unanswered, as when a cable is pulled; afterwards every
connection open during the cut is reset.
"""

from __future__ import annotations

import socket
import struct
import threading
import time


class ResetProxy:
    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self._lock = threading.Lock()
        self._reset_budget: int | None = None
        self._cut_until = 0.0
        self.resets = 0
        self._thread = threading.Thread(target=self._accept, daemon=True)

    def start(self) -> ResetProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._listener.close()

    def reset_after(self, nbytes: int) -> None:
        with self._lock:
            self._reset_budget = nbytes

    def cut(self, seconds: float) -> None:
        with self._lock:
            self._cut_until = time.monotonic() + seconds

    def _cutting(self) -> bool:
        return time.monotonic() < self._cut_until

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:  # stopped
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        while self._cutting():  # a new connection during a cut gets no answer at all
            time.sleep(0.05)
        try:
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
        except OSError:
            _reset(client)
            return
        threading.Thread(target=self._pump, args=(upstream, client, False), daemon=True).start()
        self._pump(client, upstream, True)

    def _pump(self, source: socket.socket, sink: socket.socket, upload: bool) -> None:
        try:
            while data := source.recv(65536):
                if self._cutting():
                    while self._cutting():  # swallowed: the bytes never arrive
                        time.sleep(0.05)
                    break
                if upload and self._spend(len(data)):
                    with self._lock:
                        self.resets += 1
                    break
                sink.sendall(data)
        except OSError:
            pass
        _reset(source)
        _reset(sink)

    def _spend(self, nbytes: int) -> bool:
        """Count upload bytes against the armed budget: True when this chunk exhausts it."""
        with self._lock:
            if self._reset_budget is None:
                return False
            self._reset_budget -= nbytes
            if self._reset_budget > 0:
                return False
            self._reset_budget = None
            return True


def _reset(sock: socket.socket) -> None:
    """Close with RST rather than FIN, as a broken link or a crashed middlebox does."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()
    except OSError:
        pass
