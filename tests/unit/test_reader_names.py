"""Reader name patterns in [peripherals.card_reader]: globs, or plain names meaning "contains"."""

from __future__ import annotations

import pytest

from kiosk.peripherals.cards.pcsc.reader import name_matches

PCSCD_NAME = "Virtual PCD 00 00"


@pytest.mark.parametrize(
    "pattern",
    ["Virtual PCD", "virtual pcd", "PCD 00", "Virtual PCD 00 00", "*PCD*", "virtual*", "*pcd 00 0?", "*[Pp]CD*"],
)
def test_matches(pattern: str) -> None:
    assert name_matches(pattern, PCSCD_NAME)


@pytest.mark.parametrize("pattern", ["ACR39U", "*ACR39U*", "Virtual PCD 01", "pcd*", "Virtual  PCD"])
def test_does_not_match(pattern: str) -> None:
    assert not name_matches(pattern, PCSCD_NAME)  # a glob must match the whole name
