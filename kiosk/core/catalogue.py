"""The service catalogue: one TOML file per item (事项) in config/services/, never code.

A file holds the item's guide (办事指南), its materials and its form. See
config/services/README.md for the format; `load_catalogue` refuses a broken file with one line
naming the file, the key and the problem.
"""

from __future__ import annotations

import tomllib
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, field_validator, model_validator

from kiosk.core.errors import CatalogueError
from kiosk.core.paths import SERVICES_DIR
from kiosk.core.schema import Strict, load_toml, parse

Slug = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_-]{1,47}$")]


class MaterialForm(StrEnum):
    ORIGINAL = "original"  # 原件
    COPY = "copy"  # 复印件
    ORIGINAL_AND_COPY = "original_and_copy"  # 原件及复印件
    ELECTRONIC = "electronic"  # 电子证照


class FieldKind(StrEnum):
    TEXT = "text"
    ID_NUMBER = "id_number"
    MOBILE = "mobile"
    POSTCODE = "postcode"
    DATE = "date"
    DIGITS = "digits"
    CHOICE = "choice"


class Guide(Strict):
    legal_basis: list[str] = Field(min_length=1)
    eligibility: str
    fee: str
    statutory_limit: str
    promised_limit: str
    promised_days: int = Field(ge=0, le=365)
    steps: list[str] = Field(min_length=1)
    result: str  # 办理结果: what the citizen gets
    delivery: str  # how the result reaches them (窗口领取 / 免费寄递 / 电子送达)
    consult_phone: str
    complaint_phone: str = "12345"


class Material(Strict):
    id: Slug
    name: str
    form: MaterialForm
    copies: int = Field(default=0, ge=0, le=10)
    required: bool = True
    pages: int = Field(default=1, ge=1, le=20)  # pages expected when photographed
    max_pages: int = Field(default=10, ge=1, le=50)
    notes: str = ""
    common_mistakes: list[str] = []
    condition: str = ""  # when only some applicants need it ("委托代办时提供")
    # The page's size (width, height in mm, either orientation): photos are corrected to it.
    size_mm: tuple[Annotated[float, Field(ge=20, le=600)], Annotated[float, Field(ge=20, le=600)]] = (210.0, 297.0)
    black_white: bool = False  # text-only pages: black-and-white is smaller and reads better

    @model_validator(mode="after")
    def _pages_fit(self) -> Material:
        if self.max_pages < self.pages:
            raise ValueError(f"max_pages ({self.max_pages}) is less than pages ({self.pages})")
        return self


class FormField(Strict):
    id: Slug
    label: str
    kind: FieldKind
    required: bool = True
    prefill: str = ""  # "card.name", "card.id_number", … (kiosk.core.identity.Identity.field_values)
    choices: list[str] = []
    hint: str = ""
    min_length: int = Field(default=0, ge=0)
    max_length: int = Field(default=64, ge=1, le=200)
    default: str = ""

    @model_validator(mode="after")
    def _choices_for_choice(self) -> FormField:
        if self.kind is FieldKind.CHOICE and not self.choices:
            raise ValueError("a choice field needs choices")
        if self.kind is not FieldKind.CHOICE and self.choices:
            raise ValueError("only a choice field has choices")
        if self.kind is FieldKind.CHOICE and self.default and self.default not in self.choices:
            raise ValueError(f"default {self.default!r} is not one of the choices")
        return self


class ServiceItem(Strict):
    id: Slug
    name: str
    short_name: str = Field(max_length=16)  # the tile
    department: str
    category: str
    item_code: str = ""  # 事项编码 in the provincial catalogue
    order: int = 100
    needs_card: bool = True
    guide: Guide
    materials: list[Material] = Field(min_length=1)
    fields: list[FormField] = Field(min_length=1)

    @field_validator("materials", "fields")
    @classmethod
    def _unique_ids(cls, entries: list[Any]) -> list[Any]:
        # a field validator, not a model one, so that the error names the key (materials / fields)
        ids = [entry.id for entry in entries]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"duplicate id {duplicates[0]!r}")
        return entries

    def material(self, material_id: str) -> Material:
        for material in self.materials:
            if material.id == material_id:
                return material
        raise CatalogueError(material_id, code="catalogue.material_missing", material=material_id)


class Catalogue:
    def __init__(self, items: list[ServiceItem]) -> None:
        self.items = sorted(items, key=lambda item: (item.order, item.id))
        self._by_id = {item.id: item for item in self.items}

    @classmethod
    def from_json(cls, items: list[dict[str, Any]]) -> Catalogue:
        """The catalogue as the hall serves it (GET /v1/catalogue: each item's `model_dump(mode="json")`).
        CatalogueError unless it is a non-empty list of items this terminal can run, ids unique."""
        if not isinstance(items, list) or not items:
            raise CatalogueError("a catalogue is a non-empty list of items")
        parsed = [parse(ServiceItem, item, f"items[{n}]", CatalogueError) for n, item in enumerate(items)]
        if len({item.id for item in parsed}) != len(parsed):
            raise CatalogueError("two items share an id")
        return cls(parsed)

    def __len__(self) -> int:
        return len(self.items)

    def get(self, item_id: str) -> ServiceItem:
        try:
            return self._by_id[item_id]
        except KeyError:
            raise CatalogueError(item_id, code="catalogue.item_missing", item=item_id) from None


def load_item(path: Path) -> ServiceItem:
    try:
        data = load_toml(path)
    except tomllib.TOMLDecodeError as exc:
        raise CatalogueError(f"{path.name}: not valid TOML: {exc}") from None
    item = parse(ServiceItem, data, path.name, CatalogueError)
    if item.id != path.stem:
        raise CatalogueError(f"{path.name}: id = {item.id!r}: must equal the file name {path.stem!r}")
    return item


def load_catalogue(directory: Path = SERVICES_DIR) -> Catalogue:
    files = sorted(directory.glob("*.toml"))
    if not files:
        raise CatalogueError(f"{directory}: no service files (*.toml)")
    return Catalogue([load_item(path) for path in files])
