"""vpcd's wire protocol, and `CardSlot`: a virtual card inserted into a vpcd reader over TCP.

vpcd (vsmartcard's pcscd driver) listens on a TCP port per slot. The card is the TCP client:
connecting is inserting the card, closing is pulling it out. Every message both ways is a 2-byte
big-endian length and a payload. From the reader, a 1-byte payload is a control message
(00 power off, 01 power on, 02 reset, 04 get ATR: only 04 is answered, with the ATR) and a longer
one is a C-APDU, answered with the R-APDU. pcscd polls presence by asking the ATR every ~400 ms.

`FakeVpcdReader` plays vpcd's side on loopback, for tests of a card without pcscd.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tests.support.vpcd_card import VirtualCard

CTRL_POWER_OFF, CTRL_POWER_ON, CTRL_RESET, CTRL_ATR = 0x00, 0x01, 0x02, 0x04


def tune_socket(sock: socket.socket) -> None:
    """TCP_NODELAY, and TCP_QUICKACK so that vpcd's small writes are acknowledged at once.

    Without QUICKACK, each APDU stalls ~40-50 ms: vpcd writes the length and the body as
    separate segments, Nagle holds the second until the first is acked, and Linux delays the
    ack. Linux turns QUICKACK off again on its own, so `recv_exact` re-arms it after each recv.
    """
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)


def recv_exact(sock: socket.socket, size: int, quickack: bool = True) -> bytes | None:
    """Exactly `size` bytes, or None if the peer closed first."""
    chunks = bytearray()
    while len(chunks) < size:
        chunk = sock.recv(size - len(chunks))
        if quickack:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
        if not chunk:
            return None
        chunks += chunk
    return bytes(chunks)


def recv_frame(sock: socket.socket, quickack: bool = True) -> bytes | None:
    """One length-prefixed message, or None if the peer closed."""
    header = recv_exact(sock, 2, quickack)
    if header is None:
        return None
    size = int.from_bytes(header, "big")
    if size == 0:
        return b""
    return recv_exact(sock, size, quickack)


def send_frame(sock: socket.socket, payload: bytes) -> None:
    """One message; length and payload in a single write, so no Nagle stall on our side."""
    sock.sendall(len(payload).to_bytes(2, "big") + payload)


class CardSlot:
    """One vpcd slot on `host:port`: insert a VirtualCard, pull it, insert it again.

    The card's socket is served by one thread per insertion, joined on removal. A card can also
    leave by itself (a scripted pull, vpcd ejecting it after an empty answer, pcscd exiting):
    `inserted` turns False and `wait_out` returns. With `follow_restarts`, a card whose reader
    went away (pcscd killed or restarted) stays physically in the slot: the slot reconnects until
    the new pcscd accepts it, as a real card sitting in a reader would reappear.
    Use as a context manager or call `close()`; both are safe to repeat.
    """

    def __init__(
        self, port: int, host: str = "127.0.0.1", *, follow_restarts: bool = False, connect_timeout: float = 10.0
    ) -> None:
        self.port = port
        self.host = host
        self.follow_restarts = follow_restarts
        self.connect_timeout = connect_timeout
        self.card: VirtualCard | None = None
        self.apdu_count = 0  # C-APDUs answered (or not) since the last insertion
        self.error: BaseException | None = None  # what ended the socket loop, when not a normal close
        self._lock = threading.Lock()
        self._sock: socket.socket | None = None
        self._stop = threading.Event()
        self._out = threading.Event()
        self._out.set()
        self._thread: threading.Thread | None = None

    @property
    def inserted(self) -> bool:
        return not self._out.is_set()

    def insert(self, card: VirtualCard) -> None:
        """Connects to vpcd (retrying while the port is not listening yet): the card is in."""
        if self._thread is not None:
            self.remove()
        self.card = card
        self.apdu_count = 0
        self.error = None
        self._stop.clear()
        sock = self._connect(time.monotonic() + self.connect_timeout)
        if sock is None:
            raise ConnectionError(f"no vpcd listening on {self.host}:{self.port}")
        with self._lock:
            self._sock = sock
        self._out.clear()
        self._thread = threading.Thread(target=self._serve, name=f"vpcd-card-{self.port}", daemon=True)
        self._thread.start()

    def remove(self, timeout: float = 5.0) -> None:
        """Pulls the card out: closes the socket and joins the thread. Safe when already out."""
        self._stop.set()
        with self._lock:
            if self._sock is not None:
                with contextlib.suppress(OSError):  # already closed by the reader: nothing to wake
                    self._sock.shutdown(socket.SHUT_RDWR)  # wakes the thread's recv
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout)
            if thread.is_alive():
                raise RuntimeError(f"card thread on port {self.port} did not stop")
        self._out.set()

    def reinsert(self, card: VirtualCard | None = None) -> None:
        """Pulls the card (if in) and inserts `card`, or the same card again."""
        card = card if card is not None else self.card
        if card is None:
            raise ValueError("no card to insert")
        self.remove()
        self.insert(card)

    def wait_out(self, timeout: float) -> bool:
        """True once the card is out of the reader, however it left."""
        return self._out.wait(timeout)

    def close(self) -> None:
        self.remove()

    def __enter__(self) -> CardSlot:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _connect(self, deadline: float) -> socket.socket | None:
        while not self._stop.is_set():
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                tune_socket(sock)
                # Bounded even when following restarts: a full accept queue drops SYNs silently.
                sock.settimeout(min(2.0, max(0.05, deadline - time.monotonic())))
                sock.connect((self.host, self.port))
                sock.settimeout(None)
                return sock
            except OSError:
                sock.close()
                if time.monotonic() >= deadline:
                    return None
                self._stop.wait(0.05)
        return None

    def _serve(self) -> None:
        try:
            while True:
                with self._lock:
                    sock = self._sock
                reader_left = sock is not None and self._serve_socket(sock)
                with self._lock:
                    if self._sock is sock:
                        self._sock = None
                if sock is not None:
                    sock.close()
                if not (reader_left and self.follow_restarts) or self._stop.is_set():
                    return
                new = self._connect(float("inf"))
                with self._lock:
                    if self._stop.is_set():  # removed while we were reconnecting
                        if new is not None:
                            new.close()
                        return
                    self._sock = new
        except Exception as exc:  # kept for the test to inspect: a card bug must not vanish in a thread
            self.error = exc
        finally:
            self._out.set()

    def _serve_socket(self, sock: socket.socket) -> bool:
        """Serves one connection. True if the reader side closed it, False if the card left."""
        card = self.card
        assert card is not None
        try:
            while not self._stop.is_set():
                frame = recv_frame(sock)
                if frame is None:
                    return True
                if len(frame) == 1:
                    if frame[0] == CTRL_ATR:
                        send_frame(sock, card.atr)
                    elif frame[0] in (CTRL_POWER_OFF, CTRL_POWER_ON, CTRL_RESET):
                        card.reset()
                    continue
                if not self._answer_apdu(sock, card, frame):
                    return False
        except OSError:  # reset or broken pipe: the reader went away, unless we pulled the card
            return not self._stop.is_set()
        return False

    def _answer_apdu(self, sock: socket.socket, card: VirtualCard, apdu: bytes) -> bool:
        """Answers one APDU, playing the card's faults. False when the card leaves the reader."""
        faults = card.faults
        self.apdu_count += 1
        number = self.apdu_count
        card.commands.append(apdu)
        if faults.hang_at == number:
            faults.hang_at = None
            self._stop.wait()  # until remove(): never answers
            return False
        if faults.delay_s and self._stop.wait(faults.delay_s):
            return False
        if faults.empty_answer_at == number:
            # A dead card. vpcd 3.3 keeps reading after a zero length until the socket closes, so
            # the card dies right after its empty answer: SCardTransmit then returns success with
            # no bytes at all, and pcscd sees the slot empty.
            faults.empty_answer_at = None
            send_frame(sock, b"")
            return False
        send_frame(sock, card.process(apdu))
        if faults.pull_after == number:
            faults.pull_after = None
            return False
        return True


class FakeVpcdReader:
    """vpcd's side of the socket on 127.0.0.1, for testing cards and CardSlot without pcscd."""

    def __init__(self) -> None:
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._server.getsockname()[1]
        self._client: socket.socket | None = None

    def accept(self, timeout: float = 5.0) -> None:
        """Waits for a card to be inserted."""
        self._server.settimeout(timeout)
        client, _ = self._server.accept()
        client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.drop()
        self._client = client

    def transmit(self, payload: bytes, timeout: float = 5.0) -> bytes | None:
        """Sends one message and returns the card's answer (None if the card left)."""
        if self._client is None:
            raise RuntimeError("no card inserted")
        self._client.settimeout(timeout)
        send_frame(self._client, payload)
        return recv_frame(self._client, quickack=False)

    def control(self, code: int) -> None:
        """A power/reset message, which the card does not answer."""
        if self._client is None:
            raise RuntimeError("no card inserted")
        send_frame(self._client, bytes([code]))

    def get_atr(self) -> bytes | None:
        return self.transmit(bytes([CTRL_ATR]))

    def card_left(self, timeout: float = 5.0) -> bool:
        """True once the card closed its end."""
        if self._client is None:
            return True
        self._client.settimeout(timeout)
        try:
            return self._client.recv(1) == b""
        except TimeoutError:
            return False

    def drop(self) -> None:
        """Closes the connection, as vpcd does when it ejects a card."""
        if self._client is not None:
            self._client.close()
            self._client = None

    def close(self) -> None:
        self.drop()
        self._server.close()

    def __enter__(self) -> FakeVpcdReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
