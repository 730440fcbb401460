"""Which jobs the printer has finished, kept on disk: a job id is printed once, across restarts.

One JSON line per finished job, appended and fsynced before the caller hears "printed". Job ids
are receipt numbers and the like, never personal data. A torn last line (power cut during the
append) is skipped when read back: that job was not confirmed, so it may print again, once.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from pathlib import Path

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

    def record(self, job_id: str, byte_count: int, confirmed: bool) -> dict[str, object]:
        """`confirmed`: the printer said it printed (process ID answer), not just took the bytes."""
        entry: dict[str, object] = {"job": job_id, "bytes": byte_count, "confirmed": confirmed, "at": time.time()}
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
