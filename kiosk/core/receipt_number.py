"""Receipt numbers made on the terminal: terminal id + date + sequence + check character.

Unique across a fleet without asking anyone (the terminal id is unique), so a receipt can be
printed while the hall is unreachable. The check character (ISO 7064 MOD 37-2) catches a
mistyped number in the progress query.
"""

from __future__ import annotations

import datetime as dt
import errno
import json
import os
import re
import threading
from pathlib import Path

from kiosk.core.errors import KioskError

_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ*"
KEEP_DAYS = 31  # days of sequence state kept besides today's
PATTERN = re.compile(r"^([A-Z0-9]{6,12})-(\d{8})-(\d{4,6})([0-9A-Z*])$")


def check_char(body: str) -> str:
    """ISO 7064 MOD 37-2 over the alphanumeric characters of `body`."""
    total = 0
    for ch in body:
        if ch == "-":
            continue
        total = ((total + _ALPHABET.index(ch)) * 2) % 37
    return _ALPHABET[(38 - total) % 37]


def is_valid(receipt_no: str) -> bool:
    receipt_no = receipt_no.strip().upper()
    match = PATTERN.match(receipt_no)
    return bool(match) and check_char(receipt_no[:-1]) == receipt_no[-1]


def format_number(terminal_id: str, day: dt.date, sequence: int) -> str:
    body = f"{terminal_id}-{day:%Y%m%d}-{sequence:04d}"
    return body + check_char(body)


class ReceiptNumbers:
    """Issues numbers; the daily sequence survives restarts (written and fsynced before use)."""

    def __init__(self, terminal_id: str, state_file: Path) -> None:
        self.terminal_id = terminal_id
        self._file = state_file
        self._lock = threading.Lock()

    def _read(self) -> dict[str, int]:
        try:
            return json.loads(self._file.read_text())
        except (FileNotFoundError, ValueError):
            return {}

    def last(self, today: dt.date | None = None) -> str | None:
        """The number handed out most recently today, if any."""
        day = today or dt.date.today()
        with self._lock:
            sequence = self._read().get(day.isoformat(), 0)
        return format_number(self.terminal_id, day, sequence) if sequence else None

    def next(self, today: dt.date | None = None) -> str:
        day = today or dt.date.today()
        with self._lock:
            key = day.isoformat()
            state = self._read()
            sequence = state.get(key, 0) + 1
            # Recent days are kept too: a clock set back across midnight (NTP) must not restart a
            # day's count and hand out its numbers again. ISO dates compare as strings.
            oldest = (day - dt.timedelta(days=KEEP_DAYS)).isoformat()
            state = {k: v for k, v in state.items() if k >= oldest}
            state[key] = sequence
            self._file.parent.mkdir(parents=True, exist_ok=True)
            tmp = self._file.with_suffix(".tmp")
            try:
                with open(tmp, "w") as fh:
                    json.dump(state, fh)
                    fh.flush()
                    os.fsync(fh.fileno())
            except OSError as exc:
                tmp.unlink(missing_ok=True)
                if exc.errno in (errno.ENOSPC, errno.EDQUOT):  # the number is not taken: the count stays
                    raise KioskError("no room to keep the receipt sequence", code="storage.full") from None
                raise
            os.replace(tmp, self._file)
            return format_number(self.terminal_id, day, sequence)
