"""One SAM module on one serial port: send a command, wait for its answer, within a time budget.

The protocol has no sequence numbers, so an answer that arrives after its command timed out
would be taken for the next command's answer. Two defences: input is flushed before every
command, and a success answer that cannot belong to the command in flight (9F to anything but
find card, 90 to find card, a text+photo answer of the wrong size) is skipped as stale.

Not thread-safe: the reader's poll thread is the only owner.
"""

from __future__ import annotations

import contextlib
import logging
import termios
import threading
import time

import serial

from kiosk.peripherals.cards.sam.errors import SamDisconnected, SamNoAnswer
from kiosk.peripherals.cards.sam.frames import (
    FIND_CARD,
    READ_DATA_LENGTH,
    READ_TEXT_PHOTO,
    RESET,
    SAM_ID,
    STATUS,
    Answer,
    Command,
    FrameReader,
    encode_command,
    wire_seconds,
)
from kiosk.peripherals.cards.sam.status import CARD_STATUSES, SW3_FOUND, SW3_OK

log = logging.getLogger(__name__)

POLL_READ_S = 0.02  # the longest a serial read blocks: bounds how late a stop is noticed
WRITE_TIMEOUT_S = 1.0  # a write never blocks the poll thread for longer
ANSWER_HEADER = 7 + 3 + 1  # preamble + LEN + SW1..SW3 + CHK
# What a port that went away raises: pyserial's own error, the OS's, and termios.error from the
# input flush (tcflush on an unplugged tty), which is not an OSError.
PORT_ERRORS = (serial.SerialException, OSError, termios.error)


class Stopped(Exception):
    """The owner asked the link to stop while a command was in flight (not a device error)."""


class SamLink:
    def __init__(self, port: str, baudrate: int = 115200, *, answer_timeout: float, read_timeout: float) -> None:
        self.port = port
        self.baudrate = baudrate
        self.answer_timeout = answer_timeout  # module's thinking time, any command but 30 01
        self.read_timeout = read_timeout  # module's thinking time for 30 01 (it reads the card by radio)
        self.stale_answers = 0
        self._serial: serial.SerialBase | None = None
        self._frames = FrameReader()

    @property
    def is_open(self) -> bool:
        return self._serial is not None

    def open(self) -> None:
        if self._serial is not None:
            return
        try:
            # serial_for_url: a device path, a pty's path in tests, or any URL pyserial knows
            self._serial = serial.serial_for_url(
                self.port, self.baudrate, timeout=POLL_READ_S, write_timeout=WRITE_TIMEOUT_S
            )
        except (*PORT_ERRORS, ValueError) as exc:
            raise SamDisconnected(f"cannot open the serial port: {exc.__class__.__name__}") from None
        self._frames.clear()

    def close(self) -> None:
        port, self._serial = self._serial, None
        if port is not None:
            # an unplugged port may fail to close; its descriptor is released all the same
            with contextlib.suppress(*PORT_ERRORS):
                port.close()

    def exchange(self, command: Command, data: bytes = b"", stop: threading.Event | None = None) -> Answer:
        """Send one command, return its answer. FrameError, SamNoAnswer, SamDisconnected, Stopped."""
        port = self._serial
        if port is None:
            raise SamDisconnected("the serial port is closed")
        frame = encode_command(command.cmd, command.para, data)
        expected = ANSWER_HEADER + (READ_DATA_LENGTH if command == READ_TEXT_PHOTO else 8)
        thinking = self.read_timeout if command == READ_TEXT_PHOTO else self.answer_timeout
        budget = thinking + wire_seconds(len(frame) + expected, self.baudrate)
        self._frames.clear()
        try:
            port.reset_input_buffer()
            port.write(frame)
        except PORT_ERRORS as exc:
            self.close()
            raise SamDisconnected(f"write failed: {exc.__class__.__name__}") from None
        deadline = time.monotonic() + budget
        while True:
            body = self._frames.next_frame()  # FrameError: the caller resets the module
            if body is not None:
                answer = Answer.from_body(body)
                if _is_stale(command, answer):
                    self.stale_answers += 1
                    log.info("SAM: skipped a stale answer (SW3 %02X) to %02X %02X", answer.sw3, *command)
                    continue
                return answer
            if time.monotonic() >= deadline:
                raise SamNoAnswer(f"no answer to {command.cmd:02X} {command.para:02X} in {budget:.2f} s")
            if stop is not None and stop.is_set():
                raise Stopped
            try:
                chunk = port.read(port.in_waiting or 1)
            except PORT_ERRORS as exc:
                self.close()
                raise SamDisconnected(f"read failed: {exc.__class__.__name__}") from None
            self._frames.feed(chunk)


def _is_stale(command: Command, answer: Answer) -> bool:
    """An answer that cannot be this command's: a late answer to an earlier one."""
    if command in (RESET, STATUS, SAM_ID):
        return answer.sw3 in CARD_STATUSES  # the module's own commands never answer about a card
    if answer.sw3 == SW3_FOUND:
        return command != FIND_CARD
    if answer.sw3 == SW3_OK:
        if command == FIND_CARD:
            return True
        if command == READ_TEXT_PHOTO:
            return len(answer.data) != READ_DATA_LENGTH
    return False
