"""Card reads in a child process that a watchdog can kill.

A transmit to a card that never answers blocks forever, and the first PC/SC call after it
takes libpcsclite's process-wide lock: every other PC/SC call of the process then blocks too
(docs/pcsc-testing.md). Abandoning a thread is not enough; killing the process that made the
call is. So reads run here, one at a time, and the reader kills and replaces this process
when a read overruns its time.
"""

from __future__ import annotations

import multiprocessing
from multiprocessing.connection import Connection
from typing import Any

from kiosk.core.errors import DeviceError, DeviceTimeout
from kiosk.core.identity import Identity
from kiosk.peripherals.cards.pcsc.apdu import CardGone
from kiosk.peripherals.cards.pcsc.social_security import read_social_security


class ReaderFault(DeviceError):
    code = "card.read_failed"


def read_card(sc: Any, reader: str, counter: int, atr: bytes) -> Identity:
    """One logical read: own context, exclusive connection, then the swap check."""
    hresult, context = sc.SCardEstablishContext(sc.SCARD_SCOPE_USER)
    if hresult != sc.SCARD_S_SUCCESS:
        raise ReaderFault("no context for the read", code="card.pcscd_down")
    try:
        hresult, card, protocol = sc.SCardConnect(
            context, reader, sc.SCARD_SHARE_EXCLUSIVE, sc.SCARD_PROTOCOL_T0 | sc.SCARD_PROTOCOL_T1
        )
        if hresult in (sc.SCARD_E_NO_SMARTCARD, sc.SCARD_W_REMOVED_CARD, sc.SCARD_E_READER_UNAVAILABLE):
            raise CardGone("card left before connect")
        if hresult != sc.SCARD_S_SUCCESS:
            raise ReaderFault(sc.SCardGetErrorMessage(hresult))
        try:
            identity = read_social_security(lambda apdu: _transmit(sc, card, protocol, apdu))
        finally:
            sc.SCardDisconnect(card, sc.SCARD_LEAVE_CARD)
        _check_not_swapped(sc, context, reader, counter, atr)
        return identity
    finally:
        sc.SCardReleaseContext(context)


def _transmit(sc: Any, card: int, protocol: int, apdu: bytes) -> bytes:
    hresult, response = sc.SCardTransmit(card, protocol, list(apdu))
    gone = (sc.SCARD_W_REMOVED_CARD, sc.SCARD_E_NO_SMARTCARD, sc.SCARD_W_RESET_CARD, sc.SCARD_E_NOT_TRANSACTED)
    if hresult in gone:
        raise CardGone(sc.SCardGetErrorMessage(hresult))
    if hresult != sc.SCARD_S_SUCCESS:  # the response is garbage then: never read it
        raise ReaderFault(sc.SCardGetErrorMessage(hresult))
    return bytes(response)


def _check_not_swapped(sc: Any, context: int, reader: str, counter: int, atr: bytes) -> None:
    hresult, states = sc.SCardGetStatusChange(context, 0, [(reader, sc.SCARD_STATE_UNAWARE)])
    if hresult != sc.SCARD_S_SUCCESS:
        raise CardGone(sc.SCardGetErrorMessage(hresult))
    _, event_state, now_atr = states[0]
    if not event_state & sc.SCARD_STATE_PRESENT or event_state >> 16 != counter or bytes(now_atr) != atr:
        raise CardGone("the card was removed or swapped during the read")


def _serve(conn: Connection) -> None:
    """The child's loop: (reader, counter, atr) in; ("ok", identity) or ("error", code, detail) out."""
    from smartcard import scard

    while True:
        try:
            request = conn.recv()
        except EOFError:
            return
        if request is None:
            return
        try:
            conn.send(("ok", read_card(scard, *request)))
        except DeviceError as exc:
            conn.send(("error", exc.code, str(exc)))
        except Exception as exc:  # a bug must not kill the worker silently: report it as a failed read
            conn.send(("error", ReaderFault.code, repr(exc)))


class ReadWorker:
    """The parent's handle on the child. Not thread-safe: the reader serialises reads."""

    def __init__(self) -> None:
        # spawn, not fork: the parent may hold a GL context and PC/SC state that must not be copied.
        self._mp = multiprocessing.get_context("spawn")
        self._process: Any = None
        self._conn: Connection | None = None

    def start(self) -> None:
        parent, child = self._mp.Pipe()
        self._process = self._mp.Process(target=_serve, args=(child,), name="pcsc-read", daemon=True)
        self._process.start()
        child.close()
        self._conn = parent

    def read(self, reader: str, counter: int, atr: bytes, timeout: float) -> Identity:
        if self._process is None or not self._process.is_alive():
            self.start()
        assert self._conn is not None
        self._conn.send((reader, counter, atr))
        if not self._conn.poll(timeout):
            self.kill()  # frees the card and libpcsclite's lock; the next read starts a new child
            raise DeviceTimeout("the card did not answer", code="card.timeout")
        try:
            answer = self._conn.recv()
        except EOFError:
            self.kill()
            raise ReaderFault("the read process died") from None
        if answer[0] == "ok":
            return answer[1]
        raise DeviceError(answer[2], code=answer[1])

    def kill(self) -> None:
        if self._process is not None:
            self._process.kill()
            self._process.join(timeout=5)
            self._process.close()
            self._process = None
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def stop(self) -> None:
        if self._conn is not None and self._process is not None and self._process.is_alive():
            try:
                self._conn.send(None)
                self._process.join(timeout=2)
            except OSError:
                pass
        self.kill()
