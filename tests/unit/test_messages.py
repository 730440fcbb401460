"""Every message code the code or the kv files use exists in both catalogues."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from kiosk.core.messages import LANGUAGES, Messages, load_catalogue

ROOT = Path(__file__).resolve().parents[2]
CODE = re.compile(r"""(?:\bt\(|code=)\s*["']([a-z_]+(?:\.[a-z0-9_]+)+)["']\s*[,)]""")


def used_codes() -> set[str]:
    found: set[str] = set()
    for path in [*ROOT.glob("kiosk/**/*.py"), *ROOT.glob("kiosk/**/*.kv")]:
        found |= set(CODE.findall(path.read_text(encoding="utf-8")))
    return found


def test_catalogues_have_the_same_codes() -> None:
    zh, en = (set(load_catalogue(lang)) for lang in LANGUAGES)
    assert zh - en == set() and en - zh == set()


def test_every_code_used_is_defined() -> None:
    defined = set(load_catalogue("zh-CN"))
    codes = used_codes()
    assert len(codes) > 50  # the scan itself works
    assert codes - defined == set()


@pytest.mark.parametrize("language", LANGUAGES)
def test_placeholders_fill(language: str) -> None:
    messages = Messages(language)
    assert "12" in messages.t("idle.countdown", seconds=12)
    assert messages.t("no.such.code") == "no.such.code"  # a gap shows the key, never crashes
