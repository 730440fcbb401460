"""A SAM module of ours on a pty: the reader under test opens `emulator.port` like a real serial port.

It speaks the frame protocol byte for byte, plays any Identity in any of the four text layouts,
and takes scripted faults (no answer, a bad SW3, corrupted checksums, slow answers, unplugging).
Answers are paced at the line's speed (10 bits a byte at `baudrate`), so timings measured through
it mean something: a 1295-byte text+photo answer takes ~112 ms at 115200 baud, as on the wire.

The card text is built here independently of kiosk/peripherals/cards/sam/layouts.py (offsets written
out again from CARDS.md), so that a parser bug is not mirrored by the emulator and missed.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import select
import shutil
import tempfile
import threading
import time
import tty
from dataclasses import dataclass

from kiosk.core.ethnicity import ETHNICITIES
from kiosk.core.identity import Identity
from kiosk.peripherals.cards.sam.errors import FrameError
from kiosk.peripherals.cards.sam.frames import (
    FIND_CARD,
    READ_APPENDED_ADDRESS,
    READ_TEXT_PHOTO,
    RESET,
    SAM_ID,
    SELECT_CARD,
    STATUS,
    Command,
    FrameReader,
    Request,
    encode_answer,
)

ETHNICITY_CODES = {name: code for code, name in ETHNICITIES.items()}
SEX_CODES = {"男": "1", "女": "2", "": "0"}
SPACE = " ".encode("utf-16-le")
DEFAULT_PHOTO = bytes((i * 7 + 3) % 256 for i in range(1024))  # stands in for WLT: never decoded


def _put(text: bytearray, start: int, end: int, value: str) -> None:
    raw = value.encode("utf-16-le")
    if len(raw) > end - start:
        raise ValueError(f"a value of {len(value)} characters does not fit bytes {start}–{end}")
    text[start:end] = raw + SPACE * ((end - start - len(raw)) // 2)


def _ymd(value: dt.date | None) -> str:
    return value.strftime("%Y%m%d") if value else ""


def build_text(identity: Identity, layout: str = " ") -> bytes:
    """The 256-byte UCS-2LE text a card of this layout (' ', 'J', 'I', 'Y') holds for `identity`."""
    text = bytearray(SPACE * 128)
    sex = SEX_CODES[identity.sex]
    valid_to = _ymd(identity.valid_to) if identity.valid_to else "长期"
    if layout in (" ", "J"):
        _put(text, 0, 30, identity.name)
        _put(text, 30, 32, sex)
        if layout == " ":
            _put(text, 32, 36, ETHNICITY_CODES[identity.ethnicity])
        _put(text, 36, 52, _ymd(identity.birth_date))
        _put(text, 52, 122, identity.address)
        _put(text, 122, 158, identity.id_number)
        _put(text, 158, 188, identity.issuer)
        _put(text, 188, 204, _ymd(identity.valid_from))
        _put(text, 204, 220, valid_to)
        if layout == "J":
            _put(text, 220, 238, identity.document_number)
            _put(text, 238, 242, identity.issue_count)
    elif layout == "I":
        _put(text, 0, 120, identity.english_name)
        _put(text, 120, 122, sex)
        _put(text, 122, 152, identity.id_number)
        _put(text, 152, 158, identity.nationality)
        _put(text, 158, 188, identity.name)
        _put(text, 188, 204, _ymd(identity.valid_from))
        _put(text, 204, 220, valid_to)
        _put(text, 220, 236, _ymd(identity.birth_date))
        _put(text, 236, 240, "01")  # card version
        _put(text, 240, 248, "1100")  # accepting authority code
    elif layout == "Y":
        _put(text, 0, 30, identity.name)
        _put(text, 30, 32, sex)
        _put(text, 32, 36, identity.issue_count)  # renewal count
        _put(text, 36, 52, _ymd(identity.birth_date))
        _put(text, 52, 122, identity.english_name[:35])
        _put(text, 122, 158, identity.id_number)
        _put(text, 188, 204, _ymd(identity.valid_from))
        _put(text, 204, 220, valid_to)
        _put(text, 220, 242, identity.english_name[35:])
        _put(text, 242, 248, identity.nationality)
    else:
        raise ValueError(f"no such layout {layout!r}")
    _put(text, 248, 250, layout)
    return bytes(text)


@dataclass
class _Card:
    text: bytes
    photo: bytes
    appended_address: str = ""


class SamEmulator:
    """Serve the SAM protocol on a pty until close(). Thread-safe scripting from the test."""

    def __init__(self, baudrate: int = 115200, *, wire_time: bool = True, think_s: float = 0.0) -> None:
        self.baudrate = baudrate
        self.wire_time = wire_time  # pace bytes as the line would
        self.think_s = think_s  # the module's own time before each answer (RF read, SAM crypto)
        self.received: list[Command] = []
        self.answered = 0
        self._lock = threading.Lock()
        self._card: _Card | None = None
        self._selected = False
        self._corrupt = 0
        self._corrupt_command: Command | None = None
        self._fail: list[tuple[int, Command | None]] = []
        self._delay = 0.0
        self._mute = 0  # commands left unanswered; -1: all until unmute()
        self._dir = tempfile.mkdtemp(prefix="sam-emulator-")
        self.port = os.path.join(self._dir, "ttySAM0")  # a link to the pty: unplug/replug keep the path
        self._fds: tuple[int, int] | None = None
        self._frames = FrameReader(min_length=3)
        self._stop = threading.Event()
        self.plug()
        self._thread = threading.Thread(target=self._serve, name="sam-emulator", daemon=True)
        self._thread.start()

    # -- the card -------------------------------------------------------------------------
    def place(
        self, identity: Identity, layout: str = " ", photo: bytes = DEFAULT_PHOTO, appended_address: str = ""
    ) -> None:
        self.place_text(build_text(identity, layout), photo, appended_address)

    def place_text(self, text: bytes, photo: bytes = DEFAULT_PHOTO, appended_address: str = "") -> None:
        assert len(text) == 256 and len(photo) == 1024
        with self._lock:
            self._card = _Card(text, photo, appended_address)
            self._selected = False

    def remove(self) -> None:
        with self._lock:
            self._card = None
            self._selected = False

    # -- scripted faults ------------------------------------------------------------------
    def corrupt_answers(self, count: int, command: Command | None = None) -> None:
        """The next `count` answers (to `command`, or to anything) go out with a wrong checksum byte."""
        with self._lock:
            self._corrupt, self._corrupt_command = count, command

    def fail_next(self, sw3: int, command: Command | None = None) -> None:
        """The next command (or the next `command`) is answered with this SW3 and no data."""
        with self._lock:
            self._fail.append((sw3, command))

    def delay_next(self, seconds: float) -> None:
        with self._lock:
            self._delay = seconds

    def mute(self, count: int = -1) -> None:
        """Answer nothing: to the next `count` commands, or (-1) until unmute()."""
        with self._lock:
            self._mute = count

    def unmute(self) -> None:
        with self._lock:
            self._mute = 0

    def unplug(self) -> None:
        """As if the USB serial adapter were pulled: the port's path goes, the reader's fd fails."""
        with self._lock:
            fds, self._fds = self._fds, None
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.port)
        if fds is not None:
            for fd in fds:
                os.close(fd)

    def plug(self) -> None:
        master, slave = os.openpty()
        tty.setraw(slave)  # no echo, no line discipline, before the reader's own settings
        os.set_blocking(master, False)
        with self._lock:
            self._fds = (master, slave)  # slave kept open: the master never sees a hang-up between readers
            self._frames.clear()
        os.symlink(os.ttyname(slave), self.port)

    def count(self, command: Command) -> int:
        with self._lock:
            return self.received.count(command)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.unplug()
        shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> SamEmulator:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # -- serving --------------------------------------------------------------------------
    @property
    def byte_time(self) -> float:
        return 10 / self.baudrate if self.wire_time else 0.0

    def _serve(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                fds = self._fds
            if fds is None:
                time.sleep(0.01)
                continue
            try:
                ready, _, _ = select.select([fds[0]], [], [], 0.02)
                chunk = os.read(fds[0], 4096) if ready else b""
            except (OSError, ValueError):  # unplugged meanwhile
                continue
            self._frames.feed(chunk)
            while True:
                try:
                    body = self._frames.next_frame()
                except FrameError:  # a corrupt command: a real module answers 10 (checksum error)
                    self._send(fds[0], encode_answer(0, 0, 0x10))
                    continue
                if body is None:
                    break
                request = Request.from_body(body)
                time.sleep(self.byte_time * (len(body) + 8))  # the command's own time on the wire
                answer = self._answer(request)
                if answer is not None:
                    self._send(fds[0], answer)

    def _answer(self, request: Request) -> bytes | None:
        command = request.command
        with self._lock:
            self.received.append(command)
            if self._mute:
                if self._mute > 0:
                    self._mute -= 1
                return None
            delay, self._delay = self._delay, 0.0
            forced = next((f for f in self._fail if f[1] in (None, command)), None)
            if forced is not None:
                self._fail.remove(forced)
                answer = encode_answer(0, 0, forced[0])
            else:
                answer = self._normal_answer(command)
            if self._corrupt > 0 and self._corrupt_command in (None, command):
                self._corrupt -= 1
                answer = answer[:-1] + bytes([answer[-1] ^ 0x5A])
        time.sleep(self.think_s + delay)
        return answer

    def _normal_answer(self, command: Command) -> bytes:
        card = self._card
        if command in (RESET, STATUS):
            if command == RESET:
                self._selected = False
            return encode_answer(0, 0, 0x90)
        if command == SAM_ID:
            return encode_answer(0, 0, 0x90, bytes(range(16)))
        if command == FIND_CARD:
            return encode_answer(0, 0, 0x9F, bytes(4)) if card else encode_answer(0, 0, 0x80)
        if command == SELECT_CARD:
            self._selected = card is not None
            return encode_answer(0, 0, 0x90, bytes(8)) if card else encode_answer(0, 0, 0x81)
        if command == READ_TEXT_PHOTO:
            if card is None or not self._selected:
                return encode_answer(0, 0, 0x41)
            data = (256).to_bytes(2, "big") + (1024).to_bytes(2, "big") + card.text + card.photo
            return encode_answer(0, 0, 0x90, data)
        if command == READ_APPENDED_ADDRESS:
            if card is None or not self._selected:
                return encode_answer(0, 0, 0x41)
            if not card.appended_address:
                return encode_answer(0, 0, 0x91)
            raw = card.appended_address.encode("utf-16-le")
            return encode_answer(0, 0, 0x90, raw + SPACE * ((70 - len(raw)) // 2))
        return encode_answer(0, 0, 0x21)  # 30 10 (fingerprint) and anything else: not for us

    def _send(self, fd: int, answer: bytes) -> None:
        """Write at the line's pace: each 32-byte chunk leaves when its last bit would have."""
        started = time.monotonic()
        for offset in range(0, len(answer), 32):
            chunk = answer[offset : offset + 32]
            due = started + (offset + len(chunk)) * self.byte_time
            pause = due - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            while chunk:
                try:
                    written = os.write(fd, chunk)
                except BlockingIOError:
                    if self._stop.wait(0.005):
                        return
                    continue
                except OSError:
                    return  # unplugged mid-answer
                chunk = chunk[written:]
        with self._lock:
            self.answered += 1
