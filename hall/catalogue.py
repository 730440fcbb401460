"""The service catalogue the hall serves to terminals (GET /v1/catalogue: hall.api.catalogue).

The hall reads the same TOML files the terminals ship with (config/services/, or `kiosk hall
--catalogue DIR`) and validates them with the terminal's own loader (kiosk.core.catalogue), so what
it serves is what a terminal can load. Staff publish a new catalogue by changing the files: at most
once a second a request looks at the files' names, sizes and modification times, and reloads when
they changed. A directory that no longer validates keeps the last good catalogue in service and
logs an error naming the file and the kind of error (its message may quote the file's content).
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from kiosk.core.catalogue import Catalogue, load_item
from kiosk.core.errors import CatalogueError

log = logging.getLogger("hall.catalogue")

CHECK_EVERY_S = 1.0  # how stale a published change may be before the hall notices it


@dataclass(frozen=True)
class Published:
    """One catalogue as served: its version and the answer's body, encoded once."""

    version: str  # the first 16 hex digits of SHA-256 over the items' canonical JSON
    body: bytes

    @property
    def etag(self) -> str:
        return f'"{self.version}"'


class CatalogueFiles:
    """The catalogue of a directory of service files, reloaded when the files change. Thread-safe."""

    def __init__(self, directory: Path) -> None:
        """Raises CatalogueError (naming the file and the kind of error) when the directory does not
        validate: there is no last good catalogue yet."""
        self.directory = Path(directory)
        self._lock = threading.Lock()
        self._stamp = self._files_stamp()
        self._published = _publish(_load(self.directory))
        self._checked_at = time.monotonic()

    def current(self) -> Published:
        """The catalogue in service, after looking for a new one if the last look is over CHECK_EVERY_S old."""
        with self._lock:
            now = time.monotonic()
            if now - self._checked_at >= CHECK_EVERY_S:
                self._checked_at = now
                self._reload_if_changed()
            return self._published

    def _reload_if_changed(self) -> None:
        stamp = self._files_stamp()
        if stamp == self._stamp:
            return
        self._stamp = stamp  # a broken directory is logged once per change, not once a second
        try:
            published = _publish(_load(self.directory))
        except _Invalid as exc:
            log.error(
                "catalogue: %s does not load (%s); still serving version %s",
                exc.file,
                exc.kind,
                self._published.version,
            )
            return
        if published.version != self._published.version:
            log.info("catalogue: now serving version %s", published.version)
        self._published = published

    def _files_stamp(self) -> tuple[tuple[str, int, int], ...]:
        stamp = []
        for path in sorted(self.directory.glob("*.toml")):
            try:
                stat = path.stat()
            except FileNotFoundError:  # removed while we looked: the next look sees the new state
                continue
            stamp.append((path.name, stat.st_mtime_ns, stat.st_size))
        return tuple(stamp)


class _Invalid(CatalogueError):
    def __init__(self, file: str, kind: str) -> None:
        super().__init__(f"{file}: {kind}")
        self.file = file
        self.kind = kind


def _load(directory: Path) -> Catalogue:
    """As kiosk.core.catalogue.load_catalogue, but a failure names the file and the error's kind apart."""
    files = sorted(directory.glob("*.toml"))
    if not files:
        raise _Invalid(str(directory), "no service files")
    items = []
    for path in files:
        try:
            items.append(load_item(path))
        except (CatalogueError, OSError) as exc:
            raise _Invalid(path.name, _kind(exc)) from None
    return Catalogue(items)


def _kind(exc: Exception) -> str:
    """What went wrong, without the error's message: it may quote the file's content."""
    cause = exc.__context__  # load_item raises CatalogueError `from None` over the parser's error
    if isinstance(cause, ValidationError):
        first = cause.errors()[0]
        return f"{'.'.join(str(p) for p in first['loc'])}: {first['type']}"
    return type(cause or exc).__name__


def _publish(catalogue: Catalogue) -> Published:
    items = [item.model_dump(mode="json") for item in catalogue.items]
    canonical = json.dumps(items, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    version = hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]
    body = json.dumps({"version": version, "items": items}, ensure_ascii=False, separators=(",", ":"))
    return Published(version, body.encode("utf-8"))
