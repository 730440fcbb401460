"""The hall's errors: every one answers {"error": {"code": "hall.…", "message": "…", …}}, its code one
of kiosk.core.protocol.HallErrorCode (the terminal compares against the same).

`HallError` is the one error a route (or hall.signing, hall.staff_auth) raises: an HTTP status, a
code, a message and what else the terminal needs to act on (missing parts, bytes received, the
hall's time). `install` makes the app answer it, and answer the framework's own errors (a request
that does not validate, an unknown path, anything unexpected) in the same shape.

Messages never echo submitted values, so no personal data reaches an error body or a log line.
(The citizen's progress page and the staff pages answer in HTML instead: hall.web.)
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from kiosk.core.protocol import HallErrorCode

log = logging.getLogger("hall")


class HallError(Exception):
    def __init__(
        self, status: int, code: HallErrorCode, message: str, *, headers: dict[str, str] | None = None, **extra: Any
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers
        self.extra = extra  # more for the terminal to act on (missing parts, bytes received…)


def not_found(message: str) -> HallError:
    return HallError(404, HallErrorCode.NOT_FOUND, message)


def invalid(message: str) -> HallError:
    return HallError(400, HallErrorCode.INVALID, message)


def describe(err: ValidationError | RequestValidationError, prefix: str = "") -> str:
    """First problem as `where: what`, without the offending value (it may be personal data)."""
    first = err.errors()[0]
    where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
    return f"{prefix}{where}: {first.get('msg', 'invalid')}"


def answer(exc: HallError) -> JSONResponse:
    body = {"error": {"code": exc.code, "message": exc.message, **exc.extra}}
    return JSONResponse(body, status_code=exc.status, headers=exc.headers)


def install(app: FastAPI) -> None:
    """Answer HallError, and the framework's errors as HallErrors: a RequestValidationError is 400
    hall.invalid (never FastAPI's 422), an HTTPException keeps its status, anything else is 500."""

    @app.exception_handler(HallError)
    async def _hall_error(_request: Request, exc: HallError) -> JSONResponse:
        return answer(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return answer(invalid(describe(exc)))

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: HallErrorCode.NOT_FOUND, 405: HallErrorCode.METHOD_NOT_ALLOWED}.get(
            exc.status_code, HallErrorCode.INVALID
        )
        return answer(HallError(exc.status_code, code, str(exc.detail)))

    @app.exception_handler(Exception)
    async def _internal_error(_request: Request, exc: Exception) -> JSONResponse:
        log.error("internal error: %s", type(exc).__name__)
        return answer(HallError(500, HallErrorCode.INTERNAL, "internal error"))
