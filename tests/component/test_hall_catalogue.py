"""GET /v1/catalogue: the service items the hall serves to terminals, from a directory of TOML files."""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from hall.app import create_app
from hall.server import EmbeddedHall
from kiosk.core.catalogue import Catalogue, load_catalogue
from kiosk.core.errors import CatalogueError
from kiosk.core.paths import SERVICES_DIR
from tests.support.hall_put import signed
from tests.support.halls import start_hall
from tests.support.terminal_keys import TERMINAL_KEYS

TERMINAL = "TEST0001"
KEY = TERMINAL_KEYS[TERMINAL]


@pytest.fixture
def hall(tmp_path: Path, services: Path) -> Iterator[EmbeddedHall]:
    server = start_hall(tmp_path, catalogue_dir=services)
    yield server
    server.stop()


def fetch(hall: EmbeddedHall, if_none_match: str | None = None) -> requests.Response:
    headers = {"If-None-Match": if_none_match} if if_none_match else {}
    return signed(hall.url, "GET", "/v1/catalogue", KEY, TERMINAL, headers=headers)


def version_of(directory: Path) -> str:
    items = [item.model_dump(mode="json") for item in load_catalogue(directory).items]
    canonical = json.dumps(items, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]


def served_version(hall: EmbeddedHall, changed_from: str, timeout: float = 5.0) -> str:
    """The version served once it is no longer `changed_from` (the hall looks at most once a second)."""
    deadline = time.monotonic() + timeout
    while True:
        version = str(fetch(hall).json()["version"])
        if version != changed_from or time.monotonic() > deadline:
            return version
        time.sleep(0.2)


def test_every_service_item_is_served_with_its_version_as_etag(hall: EmbeddedHall, services: Path) -> None:
    answer = fetch(hall)
    assert answer.status_code == 200
    assert answer.headers["Content-Type"] == "application/json"
    body = answer.json()
    assert body["version"] == version_of(services)
    assert answer.headers["ETag"] == f'"{body["version"]}"'
    shipped = load_catalogue(services)
    assert body["items"] == [item.model_dump(mode="json") for item in shipped.items]
    assert Catalogue.from_json(body["items"]).items == shipped.items  # what a terminal rebuilds from it


def test_the_current_etag_answers_304_without_a_body(hall: EmbeddedHall) -> None:
    etag = fetch(hall).headers["ETag"]
    for if_none_match in (etag, f"W/{etag}", f'"0000000000000000", {etag}', "*"):
        same = fetch(hall, if_none_match)
        assert (same.status_code, same.content) == (304, b""), if_none_match
        assert same.headers["ETag"] == etag
    other = fetch(hall, '"0000000000000000"')
    assert other.status_code == 200
    assert other.json()["version"] == etag.strip('"')


def test_the_catalogue_must_be_signed(hall: EmbeddedHall) -> None:
    unsigned = requests.get(hall.url + "/v1/catalogue", timeout=5)
    assert unsigned.status_code == 401
    assert unsigned.json()["error"]["code"] == "hall.signature.missing"
    wrong_key = signed(hall.url, "GET", "/v1/catalogue", bytes(32), TERMINAL)
    assert wrong_key.json()["error"]["code"] == "hall.signature.bad"


def test_a_changed_file_is_served_as_a_new_version(hall: EmbeddedHall, services: Path) -> None:
    before = fetch(hall).json()["version"]
    path = services / "senior-card.toml"
    path.write_text(path.read_text(encoding="utf-8").replace("order = 40", "order = 45"), encoding="utf-8")
    after = served_version(hall, before)
    assert after == version_of(services) != before
    items = {item["id"]: item for item in fetch(hall).json()["items"]}
    assert items["senior-card"]["order"] == 45
    assert fetch(hall, f'"{before}"').status_code == 200  # the terminal's old version is not current


def test_a_new_file_and_a_removed_file_are_noticed(hall: EmbeddedHall, services: Path) -> None:
    before = fetch(hall).json()["version"]
    (services / "senior-card.toml").unlink()
    after = served_version(hall, before)
    assert "senior-card" not in {item["id"] for item in fetch(hall).json()["items"]}
    shutil.copy(SERVICES_DIR / "senior-card.toml", services / "senior-card.toml")
    assert served_version(hall, after) == before  # the same items: the same version


@pytest.mark.parametrize(
    ("change", "kind"),
    [
        (lambda text: text.replace("order = 40", 'order = "forty"'), "order: int_parsing"),
        (lambda text: text + "\n[[[ not toml\n", "TOMLDecodeError"),
        (lambda text: text.replace('id = "senior-card"', 'id = "other-card"'), "CatalogueError"),  # not its file's
    ],
    ids=["bad-value", "bad-toml", "id-not-file-name"],
)
def test_a_broken_file_keeps_the_last_good_catalogue(
    hall: EmbeddedHall, services: Path, caplog: pytest.LogCaptureFixture, change: object, kind: str
) -> None:
    good = fetch(hall).json()
    path = services / "senior-card.toml"
    original = path.read_text(encoding="utf-8")
    caplog.set_level(logging.INFO, logger="hall.catalogue")
    path.write_text(change(original), encoding="utf-8")  # type: ignore[operator]
    deadline = time.monotonic() + 5
    while not any(r.levelno == logging.ERROR for r in caplog.records) and time.monotonic() < deadline:
        assert fetch(hall).json() == good  # the last good one, while and after the hall notices
        time.sleep(0.2)
    (error,) = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert (
        error.getMessage()
        == f"catalogue: senior-card.toml does not load ({kind}); still serving version {good['version']}"
    )
    assert fetch(hall).json() == good

    path.write_text(original.replace("order = 40", "order = 41"), encoding="utf-8")  # fixed: published
    assert served_version(hall, good["version"]) == version_of(services)


def test_a_hall_does_not_start_on_a_catalogue_that_does_not_load(tmp_path: Path, services: Path) -> None:
    path = services / "pension-enrol.toml"
    path.write_text("unknown_key = 1\n" + path.read_text(encoding="utf-8"), encoding="utf-8")
    with pytest.raises(CatalogueError) as caught:
        create_app(f"sqlite:///{tmp_path}/hall.db", tmp_path / "documents", catalogue_dir=services)
    assert str(caught.value) == "pension-enrol.toml: unknown_key: extra_forbidden"
    with pytest.raises(CatalogueError):
        create_app(f"sqlite:///{tmp_path}/hall.db", tmp_path / "documents", catalogue_dir=tmp_path / "empty")
