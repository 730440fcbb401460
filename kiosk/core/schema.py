"""Shared pieces for the TOML-backed models: strict pydantic and one-line error messages."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

M = TypeVar("M", bound=BaseModel)


class Strict(BaseModel):
    """Unknown keys are errors: a typo in a config file must not be silently ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def describe_validation_error(source: str, err: ValidationError) -> str:
    """First problem as one line: `source: key = value: what is allowed`."""
    first = err.errors()[0]
    key = ".".join(str(p) for p in first["loc"])
    if first["type"] == "extra_forbidden":
        return f"{source}: {key}: unknown key"
    if first["type"] == "missing":
        return f"{source}: {key}: required key is missing"
    value = first.get("input")
    if isinstance(value, dict | list):  # a whole table or list failed a check: its repr would be half the file
        return f"{source}: {key}: {first['msg']}"
    return f"{source}: {key} = {value!r}: {first['msg']}"


def load_toml(path: Path) -> dict[str, Any]:
    with open(path, "rb") as fh:
        return tomllib.load(fh)


def parse(model: type[M], data: dict[str, Any], source: str, error: type[Exception]) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise error(describe_validation_error(source, exc)) from None
