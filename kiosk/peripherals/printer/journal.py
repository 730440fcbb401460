"""Which jobs the printer has finished, kept on disk: a job id is printed once, across restarts.

One JSON line per finished job, appended and fsynced before the caller hears "printed". Job ids
are receipt numbers and the like, never personal data. A torn last line (power cut during the
append) is skipped when read back: that job was not confirmed, so it may print again, once.

Each line says how the job was counted printed (`confirmation`, see status.Confirmation);
`confirmed` is true only when the printer itself said so (process ID). Lines written before
`confirmation` existed have only `confirmed`.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from pathlib import Path
from typing import cast, get_args

from kiosk.peripherals.printer.status import Confirmation

log = logging.getLogger(__name__)


class JobJournal:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._done: dict[str, dict[str, object]] = {}
        self._load()

    def _load(self) -> None:
        if not self.path.exists():
            return
        for number, line in enumerate(self.path.read_text(encoding="utf-8").splitlines(), 1):
            try:
                entry = json.loads(line)
                self._done[str(entry["job"])] = entry
            except (ValueError, KeyError, TypeError):
                log.warning("%s line %d is not a job record: skipped", self.path, number)

    def get(self, job_id: str) -> dict[str, object] | None:
        with self._lock:
            return self._done.get(job_id)

    def _ends_with_newline(self) -> bool:
        with open(self.path, "rb") as fh:
            fh.seek(-1, os.SEEK_END)
            return fh.read(1) == b"\n"

    @staticmethod
    def confirmation(entry: dict[str, object]) -> Confirmation:
        """How the job of `entry` was counted printed; before it was recorded, only process IDs confirmed."""
        value = entry.get("confirmation")
        if value in get_args(Confirmation):
            return cast(Confirmation, value)
        return "process_id" if entry.get("confirmed") is True else "none"

    def record(self, job_id: str, byte_count: int, confirmation: Confirmation) -> dict[str, object]:
        """`confirmation`: the printer said it printed (process_id), or took the bytes and its status
        after the cut was fine (status: delivered without confirmation), or nothing could be read."""
        entry: dict[str, object] = {
            "job": job_id,
            "bytes": byte_count,
            "confirmed": confirmation == "process_id",
            "confirmation": confirmation,
            "at": time.time(),
        }
        line = json.dumps(entry, ensure_ascii=False) + "\n"
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "ab") as fh:
                if fh.tell() and not self._ends_with_newline():  # after a torn line: start a new one
                    line = "\n" + line
                fh.write(line.encode("utf-8"))
                fh.flush()
                os.fsync(fh.fileno())
            self._done[job_id] = entry
        return entry
