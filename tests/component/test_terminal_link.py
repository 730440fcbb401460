"""The terminal's standing link with the real hall on loopback: heartbeats, catalogue sync, offline.

The hall serves its catalogue from a folder of service files copied from config/services, so a test
can publish a new catalogue the way staff do: by changing a file.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hall.catalogue import CHECK_EVERY_S
from hall.server import EmbeddedHall
from kiosk.core.catalogue import Catalogue, load_catalogue
from kiosk.core.hall_client import HallClient
from kiosk.core.hall_link import CatalogueCache, HallLink, LinkStatus
from tests.support.halls import start_hall
from tests.support.net import free_port
from tests.support.staff import staff_get
from tests.support.terminal_keys import TERMINAL_KEYS

TERMINAL = "TEST0001"
REPORT = {
    "devices": {
        "printer": {
            "state": "user_error", "code": "printer.paper_out", "fixed_by": "staff", "consumables": {"paper": "out"}
        },
        "camera": {"state": "ready", "code": "device.ready", "fixed_by": None, "consumables": {}},
    },
    "outbox": {"depth": 2, "stuck": 1, "oldest_age_s": 42.0},
}  # fmt: skip


@pytest.fixture
def hall(tmp_path: Path, services: Path) -> Iterator[EmbeddedHall]:
    server = start_hall(tmp_path, catalogue_dir=services)
    yield server
    server.stop()


class Terminal:
    """A terminal's link: its status, its kept catalogue and what it was told to take."""

    def __init__(self, data_dir: Path, hall_url: str) -> None:
        self.status = LinkStatus()
        self.changes: list[bool] = []
        self.status.subscribe(self.changes.append)
        self.cache = CatalogueCache(data_dir / "catalogue.json")
        self.taken: list[tuple[Catalogue, str]] = []
        self.client = HallClient(hall_url, TERMINAL_KEYS[TERMINAL], TERMINAL, timeout=3, on_answer=self.status.heard)
        kept = self.cache.load()
        self.link = HallLink(
            self.client,
            self.cache,
            kept[1] if kept else None,
            report=lambda: REPORT,
            on_catalogue=lambda catalogue, version: self.taken.append((catalogue, version)),
            interval_s=30,
        )


def terminals(hall: EmbeddedHall) -> dict[str, dict[str, Any]]:
    response = staff_get(hall.url, "/v1/terminals")
    response.raise_for_status()
    return {t["terminal_id"]: t for t in response.json()["items"]}


def test_heartbeat_reaches_the_dashboard_and_the_catalogue_is_taken_once(tmp_path: Path, hall: EmbeddedHall) -> None:
    terminal = Terminal(tmp_path, hall.url)
    assert terminal.status.online is None  # unknown until the first exchange
    terminal.link.beat()
    assert terminal.status.online is True and terminal.changes == [True]

    seen = terminals(hall)[TERMINAL]
    assert seen["stale"] is False and seen["version"]
    assert seen["devices"]["printer"]["consumables"] == {"paper": "out"}
    assert seen["outbox"] == REPORT["outbox"]
    assert any("paper" in reason for reason in seen["attention"])

    (catalogue, version), = terminal.taken  # fmt: skip
    assert [item.id for item in catalogue.items] == [item.id for item in load_catalogue().items]
    assert terminal.cache.load() is not None and terminal.cache.load()[1] == version  # type: ignore[index]
    assert json.loads(terminal.cache.path.read_text(encoding="utf-8"))["version"] == version

    terminal.link.beat()  # nothing new: the heartbeat says so, and nothing is fetched
    assert len(terminal.taken) == 1
    assert terminal.link.sync() is False  # asked anyway: a 304
    assert terminals(hall)[TERMINAL]["catalogue_version"] == version


def test_a_catalogue_staff_publish_reaches_the_terminal_and_survives_a_restart_without_the_hall(
    tmp_path: Path, hall: EmbeddedHall, services: Path
) -> None:
    terminal = Terminal(tmp_path, hall.url)
    terminal.link.beat()
    first = terminal.taken[-1][1]
    item_file = sorted(services.glob("*.toml"))[0]
    text = item_file.read_text(encoding="utf-8")
    item_file.write_text(text.replace('name = "', 'name = "（新）', 1), encoding="utf-8")
    time.sleep(CHECK_EVERY_S + 0.1)  # the hall looks at its files at most this often

    terminal.link.beat()
    catalogue, version = terminal.taken[-1]
    assert version != first and len(terminal.taken) == 2
    assert catalogue.get(item_file.stem).name.startswith("（新）")

    # The hall goes away and the terminal restarts: it offers what the hall last published.
    hall.stop()
    restarted = Terminal(tmp_path, f"http://127.0.0.1:{free_port()}")
    restarted.link.beat()  # no exception: logged, tried again next round
    assert restarted.status.online is False and restarted.changes == [False]
    assert restarted.link.version == version
    kept = restarted.cache.load()
    assert kept is not None and kept[0].get(item_file.stem).name.startswith("（新）")


def test_a_damaged_catalogue_copy_falls_back_to_the_shipped_one(tmp_path: Path) -> None:
    cache = CatalogueCache(tmp_path / "catalogue.json")
    assert cache.load() is None
    cache.path.write_text('{"version": "x", "items": [{"id": "no-such-shape"}]}', encoding="utf-8")
    assert cache.load() is None
    cache.path.write_text("{", encoding="utf-8")
    assert cache.load() is None


def test_a_catalogue_the_terminal_cannot_run_is_refused_and_the_old_one_kept(tmp_path: Path) -> None:
    class Publishing:  # a hall answering with items this terminal's model refuses
        clock = HallClient("http://127.0.0.1:9", b"k" * 32, TERMINAL).clock

        def heartbeat(self, report: dict[str, Any]) -> dict[str, Any]:
            return {"received_at": "2026-11-24T00:00:00Z", "catalogue_version": "v2"}

        def catalogue(self, etag: str | None) -> dict[str, Any] | None:
            return {"version": "v2", "items": [{"id": "x", "name": "missing everything else"}]}

    cache = CatalogueCache(tmp_path / "catalogue.json")
    taken: list[str] = []
    link = HallLink(Publishing(), cache, "v1", report=lambda: REPORT, on_catalogue=lambda _c, v: taken.append(v))
    link.beat()
    assert taken == [] and link.version == "v1" and not cache.path.exists()
