"""The service catalogue and kiosk.toml: the real files load, broken ones fail with one clear line."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from kiosk.core.catalogue import Catalogue, FieldKind, load_catalogue
from kiosk.core.config import DEFAULT_CONFIG, KioskConfig, load_config
from kiosk.core.errors import CatalogueError, ConfigError
from kiosk.core.guide import guide_sections
from kiosk.core.identity import CardType, Identity
from kiosk.core.messages import Messages
from kiosk.core.paths import CONFIG_DIR, PROJECT_ROOT, SERVICES_DIR
from kiosk.core.validation import validate

REAL_ITEMS = {"pension-enrol", "flexible-employment", "insurance-certificate", "residence-permit", "senior-card"}
SAMPLE = "senior-card.toml"  # the file the broken copies are made from


def assert_one_line(message: str) -> None:
    assert "\n" not in message, message
    assert len(message) < 300, f"{len(message)} characters: {message[:300]}…"


# -- the real catalogue -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def catalogue() -> Catalogue:
    return load_catalogue()


def test_real_catalogue_loads_all_items_in_order(catalogue: Catalogue) -> None:
    assert len(catalogue) == 5
    assert {item.id for item in catalogue.items} == REAL_ITEMS
    orders = [(item.order, item.id) for item in catalogue.items]
    assert orders == sorted(orders)
    assert catalogue.items[0].id == "pension-enrol"  # order = 10


def test_every_service_file_is_named_after_its_id() -> None:
    assert {path.stem for path in SERVICES_DIR.glob("*.toml")} == REAL_ITEMS


def test_get_and_material_lookups(catalogue: Catalogue) -> None:
    item = catalogue.get("residence-permit")
    assert item.material("photo").required
    with pytest.raises(CatalogueError) as caught:
        catalogue.get("nope")
    assert (caught.value.code, caught.value.params) == ("catalogue.item_missing", {"item": "nope"})
    with pytest.raises(CatalogueError) as caught:
        item.material("nope")
    assert caught.value.code == "catalogue.material_missing"


def test_real_items_are_consistent(catalogue: Catalogue) -> None:
    """What pydantic cannot see: prefills name card values, defaults pass their own field's check."""
    card_keys = set(Identity(CardType.RESIDENT_ID, "x", "x").field_values())
    for item in catalogue.items:
        assert any(m.required for m in item.materials), item.id
        for field in item.fields:
            where = f"{item.id}.{field.id}"
            assert not field.prefill or field.prefill in card_keys, where
            if field.default:
                assert validate(field, field.default) is None, where
            if field.kind is FieldKind.CHOICE:
                assert len(field.choices) == len(set(field.choices)), where
        for material in item.materials:
            assert material.pages <= material.max_pages, f"{item.id}.{material.id}"


def test_items_whose_form_is_prefilled_from_the_card_need_the_card(catalogue: Catalogue) -> None:
    for item in catalogue.items:
        if any(f.prefill for f in item.fields):
            assert item.needs_card, item.id


@pytest.mark.parametrize("item_id", sorted(REAL_ITEMS))
def test_guide_sections_are_complete_and_translated(catalogue: Catalogue, item_id: str) -> None:
    item = catalogue.get(item_id)
    sections = guide_sections(item, Messages("zh-CN"))
    assert len(sections) == 12
    for heading, lines in sections:
        assert heading and not heading.startswith("guide."), heading
        assert lines and all(lines), heading
    materials = sections[2][1]  # 申请材料: one numbered line per material, its notes indented below
    numbered = [line for line in materials if not line.startswith("\t")]
    assert len(numbered) == len(item.materials)
    assert numbered[0].startswith("1. ")


# -- broken service files -----------------------------------------------------------------------


@pytest.fixture
def services(tmp_path: Path) -> Path:
    directory = tmp_path / "services"
    directory.mkdir()
    return directory


def write_broken(directory: Path, change: Callable[[str], str], name: str = SAMPLE) -> Path:
    """A copy of a real service file with one change; asserts the change really changed something."""
    text = (SERVICES_DIR / SAMPLE).read_text(encoding="utf-8")
    broken = change(text)
    assert broken != text
    path = directory / name
    path.write_text(broken, encoding="utf-8")
    return path


def replace_once(old: str, new: str) -> Callable[[str], str]:
    def change(text: str) -> str:
        assert text.count(old) == 1, old
        return text.replace(old, new)

    return change


def catalogue_error(directory: Path) -> str:
    with pytest.raises(CatalogueError) as caught:
        load_catalogue(directory)
    message = str(caught.value)
    assert_one_line(message)
    return message


def test_a_good_copy_loads(services: Path) -> None:
    (services / SAMPLE).write_text((SERVICES_DIR / SAMPLE).read_text(encoding="utf-8"), encoding="utf-8")
    assert [item.id for item in load_catalogue(services).items] == ["senior-card"]


def test_invalid_toml(services: Path) -> None:
    write_broken(services, replace_once("[guide]", "[guide"))
    message = catalogue_error(services)
    assert message.startswith(f"{SAMPLE}: not valid TOML: ")
    assert re.search(r"line \d+", message)


def test_missing_guide_fee(services: Path) -> None:
    write_broken(services, lambda text: re.sub(r"(?m)^fee = .*\n", "", text))
    assert catalogue_error(services) == f"{SAMPLE}: guide.fee: required key is missing"


def test_unknown_key(services: Path) -> None:
    write_broken(services, replace_once("[guide]\n", "[guide]\npromise_days = 3\n"))
    assert catalogue_error(services) == f"{SAMPLE}: guide.promise_days: unknown key"


def test_unknown_top_level_key(services: Path) -> None:
    write_broken(services, replace_once("needs_card = true\n", "needs_card = true\nneeds_cards = true\n"))
    assert catalogue_error(services) == f"{SAMPLE}: needs_cards: unknown key"


def test_wrong_field_kind(services: Path) -> None:
    write_broken(services, replace_once('kind = "mobile"', 'kind = "phone"'))
    message = catalogue_error(services)
    assert message.startswith(f"{SAMPLE}: fields.2.kind = 'phone': ")
    assert "'mobile'" in message  # says what is allowed


def test_wrong_type(services: Path) -> None:
    write_broken(services, lambda text: re.sub(r"(?m)^promised_days = \d+", 'promised_days = "ten"', text))
    message = catalogue_error(services)
    assert message.startswith(f"{SAMPLE}: guide.promised_days = 'ten': ")


def test_choice_field_without_choices(services: Path) -> None:
    write_broken(services, replace_once('kind = "mobile"', 'kind = "choice"'))
    assert catalogue_error(services) == f"{SAMPLE}: fields.2: Value error, a choice field needs choices"


def test_choices_on_a_field_that_is_not_a_choice(services: Path) -> None:
    write_broken(services, replace_once('kind = "mobile"\n', 'kind = "mobile"\nchoices = ["a"]\n'))
    assert catalogue_error(services) == f"{SAMPLE}: fields.2: Value error, only a choice field has choices"


def test_duplicate_material_ids(services: Path) -> None:
    write_broken(services, replace_once('id = "photo"', 'id = "id-card"'))
    assert catalogue_error(services) == f"{SAMPLE}: materials: Value error, duplicate id 'id-card'"


def test_duplicate_field_ids(services: Path) -> None:
    write_broken(services, replace_once('id = "mobile"', 'id = "name"'))
    assert catalogue_error(services) == f"{SAMPLE}: fields: Value error, duplicate id 'name'"


def test_id_not_matching_the_file_name(services: Path) -> None:
    (services / "senior.toml").write_text((SERVICES_DIR / SAMPLE).read_text(encoding="utf-8"), encoding="utf-8")
    message = catalogue_error(services)
    assert message == "senior.toml: id = 'senior-card': must equal the file name 'senior'"


def test_bad_slug(services: Path) -> None:
    write_broken(services, replace_once('id = "photo"', 'id = "Photo Card"'))
    message = catalogue_error(services)
    assert message.startswith(f"{SAMPLE}: materials.1.id = 'Photo Card': ")


def test_empty_directory(services: Path) -> None:
    message = catalogue_error(services)
    assert str(services) in message
    assert "no service files" in message


def test_one_broken_file_among_good_ones_is_named(services: Path) -> None:
    for path in SERVICES_DIR.glob("*.toml"):
        (services / path.name).write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    write_broken(services, lambda text: re.sub(r"(?m)^fee = .*\n", "", text))
    assert catalogue_error(services).startswith(f"{SAMPLE}: ")


def test_other_files_in_the_folder_are_ignored(services: Path) -> None:
    (services / SAMPLE).write_text((SERVICES_DIR / SAMPLE).read_text(encoding="utf-8"), encoding="utf-8")
    (services / "README.md").write_text("# not an item", encoding="utf-8")
    (services / "old.toml.bak").write_text("not = [toml", encoding="utf-8")
    assert len(load_catalogue(services)) == 1


# -- kiosk.toml ---------------------------------------------------------------------------------


def test_default_config_loads() -> None:
    config = load_config(DEFAULT_CONFIG)
    assert isinstance(config, KioskConfig)
    assert config.terminal.id == "DEMO0001"
    assert config.terminal.language == "zh-CN"
    assert config.peripherals.printer.driver == "simulated"
    assert config.peripherals.printer.profile == "generic-80"
    assert config.ui.idle_timeout_s == 60
    assert config.data_dir == PROJECT_ROOT / "data"


def test_kiosk_config_environment_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "other.toml"
    path.write_text(DEFAULT_CONFIG.read_text(encoding="utf-8").replace('"DEMO0001"', '"HALL0042"'), encoding="utf-8")
    monkeypatch.setenv("KIOSK_CONFIG", str(path))
    assert load_config().terminal.id == "HALL0042"


def broken_config(tmp_path: Path, old: str, new: str) -> Path:
    text = DEFAULT_CONFIG.read_text(encoding="utf-8")
    assert text.count(old) == 1, old
    path = tmp_path / "kiosk.toml"
    path.write_text(text.replace(old, new), encoding="utf-8")
    return path


def config_error(path: Path) -> str:
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    message = str(caught.value)
    assert_one_line(message)
    return message


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "idle_timeout_s = 60",
            "idle_timeout_s = -5",
            "kiosk.toml: ui.idle_timeout_s = -5: Input should be greater than or equal to 1",
        ),
        (
            'id = "DEMO0001"',
            'id = "bad id"',
            "kiosk.toml: terminal.id = 'bad id': String should match pattern '^[A-Z0-9]{6,12}$'",
        ),
        (
            'driver = "simulated"                 # the printer emulator',
            'driver = "foo"                 # the printer emulator',
            "kiosk.toml: peripherals.printer.driver = 'foo': Input should be 'simulated', 'escpos' or 'none'",
        ),
        (
            'language = "zh-CN"',
            'language = "fr"',
            "kiosk.toml: terminal.language = 'fr': Input should be 'zh-CN' or 'en'",
        ),
        ("large_text = false", "large_text = false\nlarge_txt = true", "kiosk.toml: ui.large_txt: unknown key"),
        ("timeout_s = 10", "timeout_s = 0", "kiosk.toml: hall.timeout_s = 0: Input should be greater than 0"),
    ],
    ids=["negative-timeout", "terminal-id", "printer-driver", "language", "unknown-key", "hall-timeout"],
)
def test_bad_config_value(tmp_path: Path, old: str, new: str, expected: str) -> None:
    assert config_error(broken_config(tmp_path, old, new)) == expected


def test_bad_hall_url(tmp_path: Path) -> None:
    message = config_error(broken_config(tmp_path, 'url = "http://127.0.0.1:8765"', 'url = "not a url"'))
    assert message.startswith("kiosk.toml: hall.url = 'not a url': ")


def test_missing_table(tmp_path: Path) -> None:
    text = DEFAULT_CONFIG.read_text(encoding="utf-8")
    path = tmp_path / "kiosk.toml"
    path.write_text(text[text.index("[hall]") :], encoding="utf-8")
    assert config_error(path) == "kiosk.toml: terminal: required key is missing"


def test_invalid_toml_config(tmp_path: Path) -> None:
    message = config_error(broken_config(tmp_path, "[ui]", "[ui"))
    assert message.startswith("kiosk.toml: not valid TOML: ")


def test_missing_config_file(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.toml"
    assert config_error(missing) == f"{missing}: file not found"


# -- the command line ---------------------------------------------------------------------------


def run_main(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "KIOSK_CONFIG"}
    return subprocess.run(
        [sys.executable, "main.py", *args],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("problem", ["bad-value", "missing-file"])
def test_selftest_with_a_bad_config_exits_2_with_one_line(tmp_path: Path, problem: str) -> None:
    if problem == "bad-value":
        path = broken_config(tmp_path, "idle_timeout_s = 60", "idle_timeout_s = -5")
    else:
        path = tmp_path / "missing.toml"
    result = run_main("--config", str(path), "selftest")
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("kiosk: config error: ")
    assert ("idle_timeout_s" if problem == "bad-value" else "file not found") in lines[0]


def test_selftest_json_with_the_default_config() -> None:
    result = run_main("selftest", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["ok"] is True
    devices = report["devices"]
    assert set(devices) == {"card_reader", "id_reader", "camera", "printer"}
    assert devices["id_reader"]["state"] == "not_configured"  # the demo has one simulated reader for both
    assert devices["id_reader"]["fixed_by"] == "configuration"
    for role in ("card_reader", "camera", "printer"):
        assert devices[role]["state"] == "ready", (role, devices[role])
        assert devices[role]["driver"] == "simulated"
    assert devices["printer"]["consumables"] == {"paper": "ok"}


@pytest.mark.parametrize("path", sorted((CONFIG_DIR / "examples").glob("*.toml")), ids=lambda p: p.name)
def test_example_configurations_are_valid(path: Path) -> None:
    config = load_config(path)
    assert config.ui.demo_controls is False  # examples are for real terminals
    assert config.hall.embedded is False
