"""The terminal's standing link with the hall: is it there, what catalogue does it publish, and
how is this terminal doing.

- LinkStatus: online or offline, from every exchange any of the terminal's HallClients has (their
  `on_answer`). The screens show an offline indicator from it. Unknown until the first exchange.
- CatalogueCache: the last service catalogue the hall published, kept in the data folder, so a
  terminal that restarts while the hall is away keeps offering what the hall last said, not what
  it shipped with.
- HallLink: a worker that sends a heartbeat (device states, paper, outbox depth, software and
  catalogue version, clock skew) every `interval_s`, and fetches the catalogue when the hall's
  answer names a version this terminal does not have (with If-None-Match, so it costs a 304 when
  nothing changed). A catalogue that does not validate here is refused and the old one kept.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from pydantic import ValidationError

from kiosk import __version__
from kiosk.core.catalogue import Catalogue
from kiosk.core.errors import CatalogueError, HallError
from kiosk.core.hall_client import HallClock
from kiosk.core.protocol import Heartbeat, refusal, wire
from kiosk.core.sealing import fsync_directory

log = logging.getLogger(__name__)


class LinkStatus:
    """Online / offline, as the last exchange with the hall went. Listeners hear changes only."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._online: bool | None = None
        self._since = clock()
        self._listeners: list[Callable[[bool], None]] = []

    @property
    def online(self) -> bool | None:
        return self._online

    @property
    def since(self) -> float:
        return self._since

    def subscribe(self, listener: Callable[[bool], None]) -> None:
        """`listener(online)` on every change, from whichever thread saw it."""
        self._listeners.append(listener)

    def heard(self, reachable: bool) -> None:
        with self._lock:
            if self._online is reachable:
                return
            self._online, self._since = reachable, self._clock()
        log.info("hall link: %s", "online" if reachable else "offline")
        for listener in list(self._listeners):
            listener(reachable)


class CatalogueCache:
    """`<data>/catalogue.json`: {"version", "items"} as the hall last published them."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def load(self) -> tuple[Catalogue, str] | None:
        """The kept catalogue and its version; None if there is none or it no longer validates."""
        try:
            kept = json.loads(self.path.read_text(encoding="utf-8"))
            return Catalogue.from_json(kept["items"]), str(kept["version"])
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError, CatalogueError) as exc:
            log.error("catalogue copy %s unusable (%s): using the shipped one", self.path.name, type(exc).__name__)
            return None

    def store(self, version: str, items: list[dict[str, Any]]) -> None:
        """Atomically: a power cut leaves the old copy or the new one, never half of one."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{secrets.token_hex(4)}.tmp")
        try:
            with open(tmp, "w", encoding="utf-8") as fh:
                json.dump({"version": version, "items": items}, fh, ensure_ascii=False)
                fh.flush()
                os.fsync(fh.fileno())
            tmp.replace(self.path)
        finally:
            tmp.unlink(missing_ok=True)
        fsync_directory(self.path.parent)


class Hall(Protocol):
    clock: HallClock

    def heartbeat(self, report: dict[str, Any]) -> dict[str, Any]: ...
    def catalogue(self, etag: str | None) -> dict[str, Any] | None: ...


class HallLink:
    def __init__(
        self,
        hall: Hall,
        cache: CatalogueCache,
        version: str | None,
        report: Callable[[], dict[str, Any]],
        on_catalogue: Callable[[Catalogue, str], None],
        interval_s: float = 60.0,
    ) -> None:
        """`version`: the catalogue version in use (None: the shipped one); `report()`: the
        terminal's devices and outbox, for the heartbeat; `on_catalogue(catalogue, version)`: a
        new catalogue validated and kept."""
        self._hall = hall
        self._cache = cache
        self.version = version
        self._report = report
        self._on_catalogue = on_catalogue
        self.interval_s = interval_s
        self._wake = threading.Event()

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                self.beat()
            except Exception as exc:  # the worker must outlive a bad round; the type says enough
                log.error("hall link: round failed (%s)", type(exc).__name__)
            self._wake.wait(self.interval_s)
            self._wake.clear()

    def wake(self) -> None:
        self._wake.set()

    def beat(self) -> None:
        """One heartbeat, then a catalogue fetch if the hall has moved on. Hall errors are logged:
        the next round tries again."""
        try:
            answer = self._hall.heartbeat(self.heartbeat_body())
        except HallError as exc:
            log.warning("hall link: heartbeat not taken (%s)", exc.params.get("server_code") or exc.code)
            if exc.code == "hall.rejected":  # the hall is there but will not take this report: ask anyway
                self.sync()
            return
        published = answer.get("catalogue_version")
        if isinstance(published, str) and published != self.version:
            self.sync()

    def heartbeat_body(self) -> dict[str, Any]:
        """The Heartbeat as the hall receives it; hall.rejected for one it would refuse (a report too
        large, say), which `beat` answers as it answers the hall's own refusal."""
        try:
            beat = Heartbeat(
                version=__version__,
                sent_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self._hall.clock.now())),
                interval_s=round(self.interval_s),
                catalogue_version=self.version,
                clock_skew_s=round(self._hall.clock.skew_s),
                **self._report(),
            )
        except ValidationError as exc:
            raise HallError(f"heartbeat: {refusal(exc)}", code="hall.rejected") from None
        return wire(beat)

    def sync(self) -> bool:
        """Fetch the hall's catalogue if it differs from ours; True when a new one was taken."""
        try:
            published = self._hall.catalogue(self.version)
        except HallError as exc:
            log.warning("hall link: catalogue not fetched (%s)", exc.params.get("server_code") or exc.code)
            return False
        if published is None:
            return False
        try:
            version, items = str(published["version"]), published["items"]
            catalogue = Catalogue.from_json(items)
        except (KeyError, TypeError, CatalogueError) as exc:
            log.error("hall link: the hall's catalogue does not validate here (%s): keeping ours", type(exc).__name__)
            return False
        self._cache.store(version, items)
        self.version = version
        log.info("hall link: catalogue %s taken (%d items)", version, len(catalogue))
        self._on_catalogue(catalogue, version)
        return True
