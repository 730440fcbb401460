"""The catalogue as JSON (what the hall serves on GET /v1/catalogue) rebuilds the very same items."""

from __future__ import annotations

import json

import pytest

from kiosk.core.catalogue import Catalogue, ServiceItem, load_catalogue
from kiosk.core.errors import CatalogueError

SHIPPED = load_catalogue().items


@pytest.mark.parametrize("item", SHIPPED, ids=[item.id for item in SHIPPED])
def test_every_shipped_item_round_trips_through_json(item: ServiceItem) -> None:
    wire = json.loads(json.dumps(item.model_dump(mode="json")))  # as it travels: tuples become lists
    assert ServiceItem.model_validate(wire) == item


def test_a_catalogue_rebuilds_from_its_json() -> None:
    catalogue = Catalogue.from_json([item.model_dump(mode="json") for item in reversed(SHIPPED)])
    assert catalogue.items == SHIPPED  # in the terminal's order, whatever the order received


def test_an_item_that_does_not_validate_names_where() -> None:
    broken = SHIPPED[0].model_dump(mode="json") | {"order": "first"}
    with pytest.raises(CatalogueError) as caught:
        Catalogue.from_json([SHIPPED[1].model_dump(mode="json"), broken])
    assert str(caught.value).startswith("items[1]: order = 'first':")
