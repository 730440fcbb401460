"""The hall's HTTP API (FastAPI): validation and HTTP shapes. Storage is hall.store.

Every error answers {"error": {"code": "hall.…", "message": "…"}}. Messages never echo submitted
values, so no personal data reaches an error body or a log line. (The citizen's progress page,
hall.pages, answers in HTML instead.)
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any, Literal

import sqlalchemy as sa
from fastapi import FastAPI, Header, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    ValidationError,
    field_validator,
    model_validator,
)
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException

from hall import __version__
from hall.pages import router as pages_router
from hall.store import RECEIPT_PATTERN, ConflictError, PageUpload, StagedFile, Store

log = logging.getLogger("hall")
access_log = logging.getLogger("hall.access")

# `<material_id>/<page>.jpg`, pages counted from 1, and optionally `<material_id>/document.pdf`:
# all of a material's pages as one PDF, stored as page 0.
_PAGE_NAME = re.compile(r"^(?P<material>[^/]{1,128})/(?:(?P<page>[1-9][0-9]{0,3})\.jpg|(?P<pdf>document\.pdf))$")
PDF_PAGE = 0

ReceiptNo = Annotated[str, Field(pattern=RECEIPT_PATTERN)]
Ident = Annotated[str, Field(min_length=1, max_length=128)]
TerminalId = Annotated[str, Field(min_length=1, max_length=64)]
AppointmentCode = Annotated[str, Field(pattern=r"^[A-Z0-9]{4,32}$")]


# -- request bodies ---------------------------------------------------------------------------


class Applicant(BaseModel):
    model_config = ConfigDict(extra="allow")  # the item decides what else it needs (address, phone…)

    name: str = Field(min_length=1, max_length=100)
    id_number: str = Field(min_length=6, max_length=64)  # at least the 6 the progress query checks


class Material(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: Ident
    name: str = Field(max_length=200)
    pages: StrictInt = Field(ge=0, le=200)  # 0: declared but supplied otherwise (e.g. an e-licence)


class Application(BaseModel):
    # Unknown keys are errors: a key the hall drops silently would be data lost without anyone noticing.
    model_config = ConfigDict(extra="forbid")

    receipt_no: ReceiptNo
    terminal_id: TerminalId
    session_id: Ident
    item_id: Ident
    item_name: str = Field(min_length=1, max_length=200)
    submitted_at: str
    applicant: Applicant
    form: dict[str, str]
    materials: list[Material]
    appointment: AppointmentCode | None = None  # the code the citizen showed, if they came by appointment

    @field_validator("submitted_at")
    @classmethod
    def _iso_datetime(cls, value: str) -> str:
        dt.datetime.fromisoformat(value)  # ValueError becomes a validation error
        return value

    @model_validator(mode="after")
    def _unique_materials(self) -> Application:
        ids = [m.id for m in self.materials]
        if len(ids) != len(set(ids)):
            raise ValueError("material ids must be unique")
        return self


class Rating(BaseModel):
    model_config = ConfigDict(extra="forbid")

    receipt_no: ReceiptNo | None = None  # None: a session that ended without an application
    item_id: Ident
    terminal_id: TerminalId
    session_id: Ident
    level: StrictInt = Field(ge=1, le=5)  # 5 非常满意 … 1 非常不满意
    reasons: list[Annotated[str, Field(max_length=100)]] = Field(default_factory=list, max_length=20)
    comment: str = Field(default="", max_length=500)


class Appointment(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: AppointmentCode
    kind: Literal["appointment", "prereview"]
    item_id: Ident
    slot: str = ""

    @field_validator("slot")
    @classmethod
    def _iso_slot(cls, value: str) -> str:
        if value:
            dt.datetime.fromisoformat(value)
        return value


# -- errors -----------------------------------------------------------------------------------


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


def _describe(err: ValidationError | RequestValidationError, prefix: str = "") -> str:
    """First problem as `where: what`, without the offending value (it may be personal data)."""
    first = err.errors()[0]
    where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
    return f"{prefix}{where}: {first.get('msg', 'invalid')}"


def _check_terminal(header: str | None, body_terminal: str) -> None:
    # A terminal speaks only for itself; signed requests (later) will make this binding strong.
    if header is not None and header != body_terminal:
        raise ApiError(400, "hall.invalid", "X-Terminal-Id does not match terminal_id")


# -- the app ----------------------------------------------------------------------------------


def create_app(db_url: str, documents_dir: Path) -> FastAPI:
    """The hall API on a database URL (sqlite:///… or postgresql+psycopg://…) and a page directory."""
    store = Store(db_url, Path(documents_dir))

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        store.dispose()

    app = FastAPI(title="Hall service", version=__version__, lifespan=lifespan)
    app.state.store = store

    @app.exception_handler(ApiError)
    async def _api_error(_request: Request, exc: ApiError) -> JSONResponse:
        return _error(exc.status, exc.code, exc.message)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return _error(400, "hall.invalid", _describe(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "hall.not_found", 405: "hall.method_not_allowed"}.get(exc.status_code, "hall.invalid")
        return _error(exc.status_code, code, str(exc.detail))

    @app.exception_handler(Exception)
    async def _internal_error(_request: Request, exc: Exception) -> JSONResponse:
        log.error("internal error: %s", type(exc).__name__)
        return _error(500, "hall.internal", "internal error")

    @app.middleware("http")
    async def _access_log(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        # Our own access log instead of uvicorn's: the query string of /v1/progress holds part of an
        # ID number, so only the path is logged.
        start = time.monotonic()
        response = await call_next(request)
        access_log.info(
            "%s %s %d %.0fms terminal=%s session=%s",
            request.method,
            request.url.path,
            response.status_code,
            (time.monotonic() - start) * 1000,
            request.headers.get("x-terminal-id", "-"),
            request.headers.get("x-session-id", "-"),
        )
        return response

    @app.get("/v1/health")
    def health() -> JSONResponse:
        try:
            with store.engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
        except sa.exc.SQLAlchemyError:
            return JSONResponse({"status": "error", "version": __version__}, status_code=503)
        return JSONResponse({"status": "ok", "version": __version__})

    @app.post("/v1/applications", status_code=201)
    async def submit_application(request: Request) -> JSONResponse:
        # The form is read by hand (not with Form()/File() parameters) to check exactly which
        # fields came and to see every page's filename.
        async with request.form() as form:
            texts = form.getlist("application")
            uploads = form.getlist("pages")
            unknown = sorted(set(form.keys()) - {"application", "pages"})
            if unknown:
                raise ApiError(400, "hall.invalid", f"unknown form field(s): {', '.join(unknown)}")
            if len(texts) != 1 or not isinstance(texts[0], str):
                raise ApiError(400, "hall.invalid", "exactly one text field 'application' is required")
            files = [u for u in uploads if isinstance(u, UploadFile)]
            if len(files) != len(uploads):
                raise ApiError(400, "hall.invalid", "'pages' must be files")
            application = _parse_application(texts[0])
            _check_terminal(request.headers.get("x-terminal-id"), application.terminal_id)
            keyed = _match_pages(application, files)
            # Hashing and writing files, and the database, block: keep them off the event loop.
            outcome, record = await run_in_threadpool(_store_application, store, application, keyed)
        return JSONResponse(record, status_code=201 if outcome == "created" else 200)

    @app.get("/v1/applications")
    def list_applications(
        limit: Annotated[int, Query(ge=1, le=200)] = 50,
        offset: Annotated[int, Query(ge=0)] = 0,
    ) -> dict[str, Any]:
        items, total = store.list_applications(limit, offset)
        return {"items": items, "total": total, "limit": limit, "offset": offset}

    @app.get("/v1/applications/{receipt_no}")
    def get_application(receipt_no: str) -> dict[str, Any]:
        record = store.application(receipt_no)
        if record is None:
            raise ApiError(404, "hall.not_found", "no such application")
        return record

    @app.get("/v1/applications/{receipt_no}/documents/{material_id}/{page}")
    def get_document(receipt_no: str, material_id: str, page: int) -> FileResponse:
        found = store.document(receipt_no, material_id, page)
        if found is None:
            raise ApiError(404, "hall.not_found", "no such document")
        path, content_type = found
        if not path.is_file():
            raise ApiError(500, "hall.internal", "document file missing")
        return FileResponse(path, media_type=content_type, headers={"ETag": f'"{path.name}"'})

    @app.get("/v1/progress")
    def progress(
        receipt_no: Annotated[str, Query(min_length=1, max_length=40)],
        id_tail: Annotated[str, Query(pattern=r"^[0-9A-Za-z]{6}$")],
    ) -> dict[str, Any]:
        found = store.progress(receipt_no, id_tail)
        if found is None:
            # One answer for an unknown number and a wrong tail, so the query cannot probe either.
            raise ApiError(404, "hall.not_found", "no application matches this number and ID tail")
        return found

    @app.post("/v1/ratings", status_code=201)
    def add_rating(rating: Rating, x_terminal_id: Annotated[str | None, Header()] = None) -> JSONResponse:
        _check_terminal(x_terminal_id, rating.terminal_id)
        try:
            outcome, record = store.add_rating(rating.model_dump())
        except ConflictError:
            raise ApiError(409, "hall.conflict", "this session already rated differently") from None
        return JSONResponse(record, status_code=201 if outcome == "created" else 200)

    @app.get("/v1/ratings")
    def list_ratings(
        receipt_no: str | None = None,
        limit: Annotated[int, Query(ge=1, le=200)] = 50,
        offset: Annotated[int, Query(ge=0)] = 0,
    ) -> dict[str, Any]:
        items, total = store.ratings(receipt_no, limit, offset)
        return {"items": items, "total": total, "limit": limit, "offset": offset}

    @app.post("/v1/appointments", status_code=201)
    def add_appointment(appointment: Appointment) -> JSONResponse:
        """From the hall's booking / pre-review system: a code a citizen may show at a terminal."""
        try:
            outcome = store.add_appointment(appointment.model_dump())
        except ConflictError:
            raise ApiError(409, "hall.conflict", "this code is taken by a different appointment") from None
        return JSONResponse(appointment.model_dump(), status_code=201 if outcome == "created" else 200)

    @app.get("/v1/appointments/{code}")
    def get_appointment(code: str) -> dict[str, Any]:
        found = store.appointment(code)
        if found is None:
            raise ApiError(404, "hall.not_found", "no such appointment")
        return found

    app.include_router(pages_router)  # the citizen's progress page, /progress/<receipt_no>
    return app


def _parse_application(text: str) -> Application:
    try:
        data = json.loads(text)
    except ValueError:
        raise ApiError(400, "hall.invalid", "application: not valid JSON") from None
    try:
        return Application.model_validate(data)
    except ValidationError as exc:
        raise ApiError(400, "hall.invalid", _describe(exc, "application.")) from None


def _match_pages(application: Application, uploads: list[UploadFile]) -> dict[tuple[str, int], UploadFile]:
    """Every declared page exactly once, and nothing else."""
    declared = {(m.id, p) for m in application.materials for p in range(1, m.pages + 1)}
    keyed: dict[tuple[str, int], UploadFile] = {}
    for upload in uploads:
        match = _PAGE_NAME.match(upload.filename or "")
        if match is None:
            raise ApiError(
                400, "hall.invalid", "file names must be <material_id>/<page>.jpg or <material_id>/document.pdf"
            )
        key = (match["material"], PDF_PAGE if match["pdf"] else int(match["page"]))
        if key in keyed:
            raise ApiError(400, "hall.invalid", f"page {key[0]}/{key[1]} sent twice")
        if key[1] == PDF_PAGE and (key[0], 1) in declared:
            keyed[key] = upload  # a PDF is optional; when sent, it is for a material with pages
            continue
        if key not in declared:
            raise ApiError(400, "hall.invalid", f"page {key[0]}/{key[1]} is not declared in materials")
        keyed[key] = upload
    missing = sorted(declared - keyed.keys())
    if missing:
        listed = ", ".join(f"{m}/{p}" for m, p in missing[:10])
        raise ApiError(400, "hall.invalid", f"missing page(s): {listed}")
    return keyed


def _store_application(
    store: Store, application: Application, keyed: dict[tuple[str, int], UploadFile]
) -> tuple[str, dict[str, Any]]:
    staged: list[StagedFile] = []
    pages: list[PageUpload] = []
    try:
        for (material_id, page), upload in sorted(keyed.items()):
            upload.file.seek(0)
            file = store.files.stage(upload.file)
            staged.append(file)
            if file.size == 0:
                raise ApiError(400, "hall.invalid", f"page {material_id}/{page} is empty")
            sent = upload.content_type or ""
            image_type = sent if sent.startswith("image/") else "image/jpeg"
            content_type = "application/pdf" if page == PDF_PAGE else image_type
            pages.append(PageUpload(material_id, page, content_type, file))
    except BaseException:
        for file in staged:
            store.files.discard(file)
        raise
    try:
        return store.submit_application(application.model_dump(mode="json"), pages)
    except ConflictError:
        raise ApiError(409, "hall.conflict", "this receipt number is already stored with different content") from None
