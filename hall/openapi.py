"""The hall's OpenAPI document (/openapi.json): what the routes declare beyond their signatures.

Signed routes read their body themselves, after the signature check (hall.deps), so FastAPI sees
neither the signature headers nor the body: `signed` and `json_body` state them, and
`complete_document` adds the body models to the document. `answers` declares a route's statuses,
its errors with ErrorBody.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel

from hall.schemas import CONTENT_RANGE_PATTERN, ErrorBody

ERRORS = {
    400: "invalid request (hall.invalid)",
    401: "the terminal's signature or the staff credentials are missing or do not hold "
    "(hall.signature.*, hall.staff.unauthorized)",
    403: "a terminal asks for what is not its own (hall.forbidden)",
    404: "not found (hall.not_found)",
    409: "conflicts with what the hall holds (hall.conflict, hall.incomplete, hall.blob.offset)",
    413: "the body is too large (hall.too_large, hall.blob.too_large)",
    422: "the blob does not hash to its name (hall.blob.hash)",
    429: "too many failed lookups or staff logins: wait Retry-After seconds (hall.progress.locked, hall.staff.locked)",
}


def answers(*ok: int, model: type[BaseModel] | None = None, errors: tuple[int, ...] = ()) -> dict[int | str, Any]:
    """`responses=` for a route: its success statuses with `model`, and its errors with ErrorBody."""
    declared: dict[int | str, Any] = {status: {"model": model} if model else {} for status in ok}
    declared.update({status: {"model": ErrorBody, "description": ERRORS[status]} for status in errors})
    return declared


SIGNATURE_HEADERS = [
    {"name": name, "in": "header", "required": True, "schema": {"type": "string", "pattern": pattern}}
    for name, pattern in (
        ("X-Terminal-Id", "^.{1,64}$"),
        ("X-Timestamp", "^[0-9]{1,12}$"),
        ("X-Nonce", "^[0-9a-f]{32}$"),
        ("X-Signature", "^[0-9a-f]{64}$"),
    )
]


def signed(body: dict[str, Any] | None = None, *headers: dict[str, Any]) -> dict[str, Any]:
    """`openapi_extra=` for a signed route, which reads its body itself (docs/submission-protocol.md)."""
    extra: dict[str, Any] = {"parameters": [*SIGNATURE_HEADERS, *headers]}
    if body is not None:
        extra["requestBody"] = {"required": True, "content": body}
    return extra


BLOB = {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}
CONTENT_RANGE_HEADER = {
    "name": "Content-Range",
    "in": "header",
    "required": True,
    "schema": {"type": "string", "pattern": CONTENT_RANGE_PATTERN},
}
PAGE_TYPES = ("image/*", "application/pdf")  # the image type the terminal sent, or a material's PDF


def json_body(model: type[BaseModel]) -> dict[str, Any]:
    """The request body of a signed route that parses `model` by hand (list it for complete_document)."""
    return {"application/json": {"schema": {"$ref": f"#/components/schemas/{model.__name__}"}}}


def complete_document(app: FastAPI, body_models: tuple[type[BaseModel], ...]) -> None:
    """Make app.openapi() state what the routes do beyond what FastAPI sees in their signatures.

    `body_models`: the request bodies signed routes parse by hand after the signature check, which
    FastAPI therefore does not know.
    """
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        document = generate()
        components = document.setdefault("components", {}).setdefault("schemas", {})
        for model in body_models:
            schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
            components.update(schema.pop("$defs", {}), **{model.__name__: schema})
        # FastAPI adds a 422 with its own body to every route with parameters; the hall answers a
        # RequestValidationError with 400 and ErrorBody instead (hall.errors).
        for operation in (op for path in document["paths"].values() for op in path.values()):
            schema = operation["responses"].get("422", {}).get("content", {}).get("application/json", {})
            if schema.get("schema", {}).get("$ref", "").endswith("/HTTPValidationError"):
                del operation["responses"]["422"]
        components.pop("HTTPValidationError", None)
        components.pop("ValidationError", None)
        return document

    app.openapi = openapi  # type: ignore[method-assign]


IF_NONE_MATCH = {"name": "If-None-Match", "in": "header", "required": False, "schema": {"type": "string"}}
