"""The current session id on every log line.

One terminal serves one citizen at a time, so the current session is process-wide state: the
journey sets it when a session starts and every log record, from any thread, carries it.
"""

from __future__ import annotations

import logging

_current = "-"


def set_session(session_id: str) -> None:
    global _current
    _current = session_id or "-"


def current_session() -> str:
    return _current


class SessionFilter(logging.Filter):
    """Adds `record.session` for the format string: `[%(session)s]`."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.session = _current
        return True


LOG_FORMAT = "%(asctime)s %(levelname)s [%(session)s] %(name)s: %(message)s"


def configure_logging(level: int = logging.INFO) -> None:
    handler = logging.StreamHandler()
    handler.addFilter(SessionFilter())
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
