"""The hall's HTTP API (FastAPI): validation and HTTP shapes. Storage is hall.store.

Every error answers {"error": {"code": "hall.…", "message": "…"}}. Messages never echo submitted
values, so no personal data reaches an error body or a log line. (The citizen's progress page,
hall.pages, answers in HTML instead.)

Terminals submit in steps (docs/submission-protocol.md): PUT /v1/applications/{receipt_no} with the
manifest, PUT /v1/blobs/{sha256} for each part (resumable), POST …/commit. Every request a terminal
makes is signed (hall.signing): those, progress queries, ratings, appointment look-ups, and the
catalogue (hall.catalogue) and heartbeats (hall.terminals).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import mmap
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import sqlalchemy as sa
from fastapi import FastAPI, Query, Request, Response, Security
from fastapi import Path as PathParam  # pathlib.Path is Path here
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    ValidationError,
    field_validator,
    model_validator,
)
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from hall import __version__
from hall.pages import router as pages_router
from hall.signing import SignatureRejected, Verifier, path_and_query
from hall.staff_auth import StaffRefused, hash_accounts, require_staff
from hall.staff_pages import StateChange, document_file
from hall.staff_pages import router as staff_router
from hall.store import (
    MAX_BLOB_BYTES,
    RECEIPT_PATTERN,
    BlobHashError,
    BlobOffsetError,
    BlobState,
    ConflictError,
    Document,
    IncompleteError,
    Locked,
    Proof,
    Store,
    TransitionError,
)
from kiosk.core.paths import SERVICES_DIR
from kiosk.core.signing import TOKEN_PATTERN

log = logging.getLogger("hall")
access_log = logging.getLogger("hall.access")

# `<material_id>/<page>.jpg`, pages counted from 1, and optionally `<material_id>/document.pdf`:
# all of a material's pages as one PDF, stored as page 0.
_PAGE_NAME = re.compile(r"^(?P<material>[^/]{1,128})/(?:(?P<page>[1-9][0-9]{0,3})\.jpg|(?P<pdf>document\.pdf))$")
PDF_PAGE = 0
MAX_PAGE = 9999  # four digits in a page's name
# Past every row; a larger offset overflows the databases' integers (a 500 instead of an empty page).
MAX_OFFSET = 2**31 - 1
_CONTENT_RANGE = re.compile(r"^bytes (?P<start>[0-9]{1,12})-(?P<end>[0-9]{1,12})/(?P<total>[0-9]{1,12})$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
MAX_JSON_BYTES = 1 << 20  # an application with its manifest is a few kilobytes


def _no_nul(value: str) -> str:
    """PostgreSQL text cannot hold NUL (SQLite would store it): refused here, not a 500 there."""
    if "\x00" in value:
        raise ValueError("NUL characters are not allowed")
    return value


def _iso(value: str) -> str:
    """An ISO-8601 date and time; the error says so without the value (fromisoformat's message quotes it)."""
    try:
        dt.datetime.fromisoformat(value)
    except ValueError:
        raise ValueError("not an ISO-8601 date and time") from None
    return value


# every text the hall stores or looks up goes through this: one check for both databases
Text = Annotated[str, AfterValidator(_no_nul)]
ReceiptNo = Annotated[str, Field(pattern=RECEIPT_PATTERN)]
Ident = Annotated[Text, Field(min_length=1, max_length=128)]
TerminalId = Annotated[Text, Field(min_length=1, max_length=64)]
Moment = Annotated[Text, Field(max_length=40)]  # ISO-8601: the column is VARCHAR(40)
AppointmentCode = Annotated[str, Field(pattern=r"^[A-Z0-9]{4,32}$")]
Sha256 = Annotated[str, Field(pattern=_SHA256.pattern)]
Model = TypeVar("Model", bound=BaseModel)


# -- request bodies ---------------------------------------------------------------------------


class Applicant(BaseModel):
    model_config = ConfigDict(extra="allow")  # the item decides what else it needs (address, phone…)

    name: Text = Field(min_length=1, max_length=100)
    id_number: Text = Field(min_length=6, max_length=64)  # at least the 6 the progress query checks


class Material(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: Ident
    name: Text = Field(max_length=200)
    pages: StrictInt = Field(ge=0, le=200)  # 0: declared but supplied otherwise (e.g. an e-licence)


class Application(BaseModel):
    # Unknown keys are errors: a key the hall drops silently would be data lost without anyone noticing.
    model_config = ConfigDict(extra="forbid")

    receipt_no: ReceiptNo
    terminal_id: TerminalId
    session_id: Ident
    item_id: Ident
    item_name: Text = Field(min_length=1, max_length=200)
    submitted_at: Moment = Field(json_schema_extra={"format": "date-time"})  # checked below
    applicant: Applicant
    form: dict[Text, Text]
    materials: list[Material]
    appointment: AppointmentCode | None = None  # the code the citizen showed, if they came by appointment

    @field_validator("submitted_at")
    @classmethod
    def _iso_datetime(cls, value: str) -> str:
        return _iso(value)

    @model_validator(mode="after")
    def _unique_materials(self) -> Application:
        ids = [m.id for m in self.materials]
        if len(ids) != len(set(ids)):
            raise ValueError("material ids must be unique")
        return self


class Part(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(max_length=300)  # `<material_id>/<page>.jpg` or `<material_id>/document.pdf`
    sha256: Sha256
    size: StrictInt = Field(ge=1, le=MAX_BLOB_BYTES)


class Manifest(BaseModel):
    """The body of PUT /v1/applications/{receipt_no}."""

    model_config = ConfigDict(extra="forbid")

    application: Application
    parts: list[Part] = Field(max_length=2000)


class Rating(BaseModel):
    model_config = ConfigDict(extra="forbid")

    receipt_no: ReceiptNo | None = None  # None: a session that ended without an application
    item_id: Ident
    terminal_id: TerminalId
    session_id: Ident
    level: StrictInt = Field(ge=1, le=5)  # 5 非常满意 … 1 非常不满意
    reasons: list[Annotated[Text, Field(max_length=100)]] = Field(default_factory=list, max_length=20)
    comment: Text = Field(default="", max_length=500)


class Appointment(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: AppointmentCode
    kind: Literal["appointment", "prereview"]
    item_id: Ident
    slot: Moment = ""

    @field_validator("slot")
    @classmethod
    def _iso_slot(cls, value: str) -> str:
        return _iso(value) if value else value


# -- response bodies (for the OpenAPI document; the routes build their answers as plain dicts) ---------


class Health(BaseModel):
    status: Literal["ok", "error"]
    version: str


class StillMissing(BaseModel):
    """PUT /v1/applications/{receipt_no}: what the terminal still has to send."""

    receipt_no: str
    state: Literal["open", "committed"]
    missing: list[str]  # SHA-256 of parts not complete yet
    received: dict[str, int]  # SHA-256 → bytes the hall has


class CommittedPart(BaseModel):
    name: str
    sha256: str
    size: int


class Committed(BaseModel):
    receipt_no: str
    state: Literal["committed"]
    documents: list[CommittedPart]


class BlobReceived(BaseModel):
    sha256: str
    received: int
    complete: bool


class DocumentSummary(BaseModel):
    material_id: str
    page: int
    sha256: str
    size: int


class DocumentRecord(DocumentSummary):
    content_type: str


class Event(BaseModel):
    state: str
    at: str
    note: str


class StaffEvent(Event):
    staff: str | None  # the staff account that made the change; None for the terminal's


class StateChanged(StaffEvent):
    """POST /v1/applications/{receipt_no}/events: the new timeline entry."""

    receipt_no: str


class ApplicationSummary(BaseModel):
    receipt_no: str
    item_id: str
    item_name: str
    terminal_id: str
    state: str
    submitted_at: str
    received_at: str
    documents: list[DocumentSummary]


class ApplicationPage(BaseModel):
    items: list[ApplicationSummary]
    total: int
    limit: int
    offset: int


class ApplicationRecord(BaseModel):
    """The staff view of one application."""

    receipt_no: str
    item_id: str
    item_name: str
    terminal_id: str
    session_id: str
    state: str
    submitted_at: str
    received_at: str
    form: dict[str, str]
    applicant: dict[str, Any]
    materials: list[dict[str, Any]]
    appointment: str | None
    documents: list[DocumentRecord]
    timeline: list[StaffEvent]


class Progress(BaseModel):
    """The citizen's view: nothing about the applicant."""

    receipt_no: str
    item_name: str
    state: str
    timeline: list[Event]


class RatingStored(BaseModel):
    id: int
    received_at: str


class RatingRecord(BaseModel):
    id: int
    receipt_no: str | None
    item_id: str
    terminal_id: str
    session_id: str
    level: int
    reasons: list[str]
    comment: str
    received_at: str


class RatingPage(BaseModel):
    items: list[RatingRecord]
    total: int
    limit: int
    offset: int


class ErrorDetail(BaseModel):
    model_config = ConfigDict(extra="allow")  # more for the terminal to act on: missing, received, server_time

    code: str
    message: str


class ErrorBody(BaseModel):
    error: ErrorDetail


_ERRORS = {
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


def _answers(*ok: int, model: type[BaseModel] | None = None, errors: tuple[int, ...] = ()) -> dict[int | str, Any]:
    """`responses=` for a route: its success statuses with `model`, and its errors with ErrorBody."""
    answers: dict[int | str, Any] = {status: {"model": model} if model else {} for status in ok}
    answers.update({status: {"model": ErrorBody, "description": _ERRORS[status]} for status in errors})
    return answers


_SIGNATURE_HEADERS = [
    {"name": name, "in": "header", "required": True, "schema": {"type": "string", "pattern": pattern}}
    for name, pattern in (
        ("X-Terminal-Id", "^.{1,64}$"),
        ("X-Timestamp", "^[0-9]{1,12}$"),
        ("X-Nonce", "^[0-9a-f]{32}$"),
        ("X-Signature", "^[0-9a-f]{64}$"),
    )
]


def _signed(body: dict[str, Any] | None = None, *headers: dict[str, Any]) -> dict[str, Any]:
    """`openapi_extra=` for a signed route, which reads its body itself (docs/submission-protocol.md)."""
    extra: dict[str, Any] = {"parameters": [*_SIGNATURE_HEADERS, *headers]}
    if body is not None:
        extra["requestBody"] = {"required": True, "content": body}
    return extra


_BLOB = {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}
_CONTENT_RANGE_HEADER = {
    "name": "Content-Range",
    "in": "header",
    "required": True,
    "schema": {"type": "string", "pattern": _CONTENT_RANGE.pattern},
}
_PAGE_TYPES = ("image/*", "application/pdf")  # the image type the terminal sent, or a material's PDF


def _json_body(model: type[BaseModel]) -> dict[str, Any]:
    """The request body of a signed route that parses `model` by hand (list it for _complete_document)."""
    return {"application/json": {"schema": {"$ref": f"#/components/schemas/{model.__name__}"}}}


def _complete_document(app: FastAPI, body_models: tuple[type[BaseModel], ...]) -> None:
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
        # RequestValidationError with 400 and ErrorBody instead (see _validation_error).
        for operation in (op for path in document["paths"].values() for op in path.values()):
            schema = operation["responses"].get("422", {}).get("content", {}).get("application/json", {})
            if schema.get("schema", {}).get("$ref", "").endswith("/HTTPValidationError"):
                del operation["responses"]["422"]
        components.pop("HTTPValidationError", None)
        components.pop("ValidationError", None)
        return document

    app.openapi = openapi  # type: ignore[method-assign]


# -- errors -----------------------------------------------------------------------------------


class ApiError(Exception):
    def __init__(
        self, status: int, code: str, message: str, *, headers: dict[str, str] | None = None, **extra: Any
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers
        self.extra = extra  # more for the terminal to act on (missing parts, bytes received…)


def _error(
    status: int, code: str, message: str, *, headers: dict[str, str] | None = None, **extra: Any
) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message, **extra}}, status_code=status, headers=headers)


def _locked_error(locked: Locked) -> ApiError:
    """429 for a progress lookup refused by the rate limit (Store.lookup_progress)."""
    return ApiError(
        429,
        "hall.progress.locked",
        "too many failed lookups for this receipt number or from this caller; try again later",
        headers={"Retry-After": str(locked.retry_after)},
        retry_after=locked.retry_after,
    )


def _describe(err: ValidationError | RequestValidationError, prefix: str = "") -> str:
    """First problem as `where: what`, without the offending value (it may be personal data)."""
    first = err.errors()[0]
    where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
    return f"{prefix}{where}: {first.get('msg', 'invalid')}"


def _check_terminal(signer: str, body_terminal: str) -> None:
    # A terminal speaks only for itself.
    if signer != body_terminal:
        raise ApiError(400, "hall.invalid", "X-Terminal-Id does not match terminal_id")


async def signed_body(request: Request) -> tuple[str, bytes]:
    """The body of a terminal's request whose signature holds, and the terminal that signed it."""
    verifier: Verifier = request.app.state.verifier
    claim = await run_in_threadpool(verifier.claim, request.headers)  # before reading any body
    body = await _read_body(request, MAX_JSON_BYTES)
    await run_in_threadpool(verifier.confirm, claim, request.method, path_and_query(request.scope), body)
    return claim.terminal_id, body


# -- the app ----------------------------------------------------------------------------------


def create_app(
    db_url: str,
    documents_dir: Path,
    terminal_keys: dict[str, bytes] | None = None,
    catalogue_dir: Path | None = None,
    staff_users: dict[str, str] | None = None,
) -> FastAPI:
    """The hall API on a database URL (sqlite:///… or postgresql+psycopg://…) and a page directory.

    `terminal_keys` (terminal id → 32-byte key) are stored in the database, so they outlive a restart.
    `catalogue_dir` holds the service files served to terminals (default: the terminals' own,
    config/services); raises CatalogueError if they do not load.
    `staff_users` (name → password) are stored hashed (hall.staff_auth); raises ValueError for an
    unusable name or a short password.
    """
    # Imported here: they build on this module's errors and helpers.
    from hall import catalogue, terminals

    served = catalogue.CatalogueFiles(SERVICES_DIR if catalogue_dir is None else Path(catalogue_dir))
    staff = hash_accounts(staff_users or {})  # before the store: a bad account leaves nothing open
    store = Store(db_url, Path(documents_dir))
    store.set_terminal_keys(terminal_keys or {})
    store.set_staff(staff)
    verifier = Verifier(store)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        store.dispose()

    app = FastAPI(title="Hall service", version=__version__, lifespan=lifespan)
    app.state.store = store
    app.state.verifier = verifier
    app.state.catalogue = served

    @app.exception_handler(ApiError)
    async def _api_error(_request: Request, exc: ApiError) -> JSONResponse:
        return _error(exc.status, exc.code, exc.message, headers=exc.headers, **exc.extra)

    @app.exception_handler(StaffRefused)
    async def _staff_refused(_request: Request, exc: StaffRefused) -> JSONResponse:
        return _error(exc.status, exc.code, exc.message, headers=exc.headers, **exc.extra)

    @app.exception_handler(SignatureRejected)
    async def _signature_rejected(_request: Request, exc: SignatureRejected) -> JSONResponse:
        return _error(401, exc.code, exc.message, **exc.extra)

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

    @app.get("/v1/health", responses=_answers(200, 503, model=Health))
    def health() -> JSONResponse:
        try:
            with store.engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
        except sa.exc.SQLAlchemyError:
            return JSONResponse({"status": "error", "version": __version__}, status_code=503)
        return JSONResponse({"status": "ok", "version": __version__})

    @app.put(
        "/v1/applications/{receipt_no}",
        responses=_answers(200, 201, model=StillMissing, errors=(400, 401, 409, 413)),
        openapi_extra=_signed(_json_body(Manifest)),
    )
    async def open_application(receipt_no: str, request: Request) -> JSONResponse:
        terminal_id, body = await signed_body(request)
        manifest = _parse_json(body, Manifest, "body")
        application = manifest.application
        if application.receipt_no != receipt_no:
            raise ApiError(400, "hall.invalid", "the receipt number in the path is not the application's")
        _check_terminal(terminal_id, application.terminal_id)
        keys = _match_pages(application, [part.name for part in manifest.parts])
        docs = [
            Document(material_id, page, _content_type(page), part.sha256, part.size)
            for (material_id, page), part in zip(keys, manifest.parts, strict=True)
        ]
        try:
            outcome = await run_in_threadpool(store.open_application, application.model_dump(mode="json"), docs)
        except ConflictError:
            raise ApiError(409, "hall.conflict", _CONFLICT) from None
        answer = await run_in_threadpool(_what_is_missing, store, receipt_no)
        return JSONResponse(answer, status_code=201 if outcome == "created" else 200)

    @app.post(
        "/v1/applications/{receipt_no}/commit",
        response_model=None,
        responses=_answers(200, model=Committed, errors=(400, 401, 404, 409, 413)),
        openapi_extra=_signed(),
    )
    async def commit_application(receipt_no: Text, request: Request) -> dict[str, Any]:
        terminal_id, _body = await signed_body(request)
        submission = await run_in_threadpool(store.submission, receipt_no)
        if submission is None:
            raise ApiError(404, "hall.not_found", "no such application")
        _check_terminal(terminal_id, submission.terminal_id)
        try:
            await run_in_threadpool(store.commit_application, submission)
        except IncompleteError as exc:
            raise ApiError(409, "hall.incomplete", "parts are missing", missing=exc.missing) from None
        except ConflictError:
            raise ApiError(409, "hall.conflict", "a part's declared size is not its content's") from None
        return {
            "receipt_no": receipt_no,
            "state": "committed",
            "documents": [{"name": _part_name(d), "sha256": d.sha256, "size": d.size} for d in submission.documents],
        }

    @app.put(
        "/v1/blobs/{sha256}",
        responses=_answers(200, model=BlobReceived, errors=(400, 401, 409, 413, 422)),
        openapi_extra=_signed(_BLOB, _CONTENT_RANGE_HEADER),
    )
    async def put_blob(sha256: str, request: Request) -> Response:
        claim = await run_in_threadpool(verifier.claim, request.headers)
        _check_sha256(sha256)
        start, end, total = _content_range(request.headers.get("content-range"))
        # The chunk goes to disk first: the signature covers it, so nothing is appended before it holds.
        out, chunk = store.files.temp_file()
        try:
            with out:
                await _spool(request, out, end - start + 1)
                with mmap.mmap(out.fileno(), 0, access=mmap.ACCESS_READ) as body:
                    await run_in_threadpool(verifier.confirm, claim, "PUT", path_and_query(request.scope), body)
            state = await run_in_threadpool(store.files.append, sha256, start, total, chunk)
        except BlobOffsetError as exc:
            raise ApiError(409, "hall.blob.offset", "resume from the hall's offset", received=exc.received) from None
        except BlobHashError:
            raise ApiError(422, "hall.blob.hash", "the blob does not hash to its name; it was discarded") from None
        finally:
            chunk.unlink(missing_ok=True)
        return _blob_response(state, {"sha256": sha256, "received": state.received, "complete": state.complete})

    @app.head(
        "/v1/blobs/{sha256}",
        response_class=Response,  # the answer is in Upload-Offset and Upload-Complete, with no body or type
        responses=_answers(200, errors=(400, 401, 404, 413)),
        openapi_extra=_signed(),
    )
    async def head_blob(sha256: str, request: Request) -> Response:
        await signed_body(request)
        _check_sha256(sha256)
        state = await run_in_threadpool(store.files.blob_state, sha256)
        if state is None:
            raise ApiError(404, "hall.not_found", "no such blob")
        return _blob_response(state, None)

    # -- staff (hall.staff_auth): the full records, with personal data ------------------------

    staff_only = [Security(require_staff)]

    @app.get(
        "/v1/applications",
        response_model=None,
        responses=_answers(200, model=ApplicationPage, errors=(400, 401, 429)),
        dependencies=staff_only,
    )
    def list_applications(
        limit: Annotated[int, Query(ge=1, le=200)] = 50,
        offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
        state: Annotated[str | None, Query(pattern=r"^[a-z]{1,32}$")] = None,
        receipt_prefix: Annotated[str | None, Query(pattern=r"^[A-Z0-9*-]{1,40}$")] = None,
    ) -> dict[str, Any]:
        items, total = store.list_applications(limit, offset, state, receipt_prefix)
        return {"items": items, "total": total, "limit": limit, "offset": offset}

    @app.get(
        "/v1/applications/{receipt_no}",
        response_model=None,
        responses=_answers(200, model=ApplicationRecord, errors=(400, 401, 404, 429)),
        dependencies=staff_only,
    )
    def get_application(receipt_no: Text) -> dict[str, Any]:
        record = store.application(receipt_no)
        if record is None:
            raise ApiError(404, "hall.not_found", "no such application")
        return record

    @app.get(
        "/v1/applications/{receipt_no}/documents/{material_id}/{page}",
        response_class=FileResponse,
        responses={
            200: {"content": {t: {"schema": {"type": "string", "format": "binary"}} for t in _PAGE_TYPES}},
            **_answers(errors=(400, 401, 404, 429)),
        },
        dependencies=staff_only,
    )
    def get_document(
        receipt_no: Text, material_id: Text, page: Annotated[int, PathParam(ge=PDF_PAGE, le=MAX_PAGE)]
    ) -> FileResponse:
        found = document_file(store, receipt_no, material_id, page)
        if found is None:
            raise ApiError(404, "hall.not_found", "no such document")
        return found

    @app.post(
        "/v1/applications/{receipt_no}/events",
        status_code=201,
        response_model=None,
        responses=_answers(201, model=StateChanged, errors=(400, 401, 404, 409, 429)),
    )
    def change_state(
        receipt_no: Text, change: StateChange, staff_name: Annotated[str, Security(require_staff)]
    ) -> JSONResponse:
        """A staff decision: the application's next state and a note for the citizen's timeline."""
        try:
            changed = store.change_state(receipt_no, change.state, change.note, staff_name)
        except TransitionError:
            raise ApiError(
                409, "hall.state.transition", "the application's current state does not lead there"
            ) from None
        if changed is None:
            raise ApiError(404, "hall.not_found", "no such application")
        return JSONResponse(changed, status_code=201)

    @app.get(
        "/v1/progress",
        response_model=None,
        responses=_answers(200, model=Progress, errors=(400, 401, 404, 413, 429)),
        openapi_extra=_signed(),
    )
    async def progress(
        request: Request,
        receipt_no: Annotated[Text, Query(min_length=1, max_length=40)],
        id_tail: Annotated[str | None, Query(pattern=r"^[0-9A-Za-z]{6}$")] = None,
        token: Annotated[str | None, Query(pattern=TOKEN_PATTERN, description="the receipt QR link's `k`")] = None,
    ) -> dict[str, Any]:
        """By receipt number and either the ID number's last 6 characters or the receipt link's token."""
        terminal_id, _body = await signed_body(request)
        if (id_tail is None) == (token is None):
            raise ApiError(400, "hall.invalid", "give exactly one of id_tail and token")
        proof = Proof(id_tail=id_tail, token=token)
        found = await run_in_threadpool(store.lookup_progress, receipt_no, proof, f"terminal:{terminal_id}")
        if isinstance(found, Locked):
            raise _locked_error(found)
        if found is None:
            # One answer for an unknown number and a wrong tail, so the query cannot probe either.
            raise ApiError(404, "hall.not_found", "no application matches this number and ID tail or token")
        return found

    @app.post(
        "/v1/ratings",
        status_code=201,
        responses=_answers(200, 201, model=RatingStored, errors=(400, 401, 409, 413)),
        openapi_extra=_signed(_json_body(Rating)),
    )
    async def add_rating(request: Request) -> JSONResponse:
        terminal_id, body = await signed_body(request)
        rating = _parse_json(body, Rating, "body")
        _check_terminal(terminal_id, rating.terminal_id)
        try:
            outcome, record = await run_in_threadpool(store.add_rating, rating.model_dump())
        except ConflictError:
            raise ApiError(409, "hall.conflict", "this session already rated differently") from None
        return JSONResponse(record, status_code=201 if outcome == "created" else 200)

    @app.get(
        "/v1/ratings",
        response_model=None,
        responses=_answers(200, model=RatingPage, errors=(400, 401, 429)),
        dependencies=staff_only,
    )
    def list_ratings(
        receipt_no: Text | None = None,
        limit: Annotated[int, Query(ge=1, le=200)] = 50,
        offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
    ) -> dict[str, Any]:
        items, total = store.ratings(receipt_no, limit, offset)
        return {"items": items, "total": total, "limit": limit, "offset": offset}

    @app.post(
        "/v1/appointments",
        status_code=201,
        responses=_answers(200, 201, model=Appointment, errors=(400, 401, 409, 429)),
        dependencies=staff_only,
    )
    def add_appointment(appointment: Appointment) -> JSONResponse:
        """From the hall's booking / pre-review system (a staff or service account): a code a citizen may show."""
        try:
            outcome = store.add_appointment(appointment.model_dump())
        except ConflictError:
            raise ApiError(409, "hall.conflict", "this code is taken by a different appointment") from None
        return JSONResponse(appointment.model_dump(), status_code=201 if outcome == "created" else 200)

    @app.get(
        "/v1/appointments/{code}",
        response_model=None,
        responses=_answers(200, model=Appointment, errors=(400, 401, 404, 413)),
        openapi_extra=_signed(),
    )
    async def get_appointment(code: Text, request: Request) -> dict[str, Any]:
        await signed_body(request)
        found = await run_in_threadpool(store.appointment, code)
        if found is None:
            raise ApiError(404, "hall.not_found", "no such appointment")
        return found

    app.include_router(pages_router)  # the citizen's progress page, /progress/<receipt_no>
    app.include_router(staff_router)  # the staff's pages, /staff
    app.include_router(catalogue.router)
    app.include_router(terminals.router)
    app.include_router(terminals.staff_page)
    _complete_document(app, (Manifest, Rating, terminals.Heartbeat))
    return app


_CONFLICT = "this receipt number is already stored with different content"


def _parse_json(text: str | bytes, model: type[Model], what: str) -> Model:
    try:
        data = json.loads(text)
    except ValueError:
        raise ApiError(400, "hall.invalid", f"{what}: not valid JSON") from None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ApiError(400, "hall.invalid", _describe(exc, f"{what}.")) from None


async def _read_body(request: Request, limit: int) -> bytes:
    body = b""
    async for data in request.stream():
        body += data
        if len(body) > limit:
            raise ApiError(413, "hall.too_large", f"the body is over {limit} bytes")
    return body


async def _spool(request: Request, out: Any, length: int) -> None:
    """Write exactly `length` body bytes to `out` (a file), off the event loop."""
    size = 0
    async for data in request.stream():
        size += len(data)
        if size > length:
            raise ApiError(400, "hall.invalid", "the body is longer than its Content-Range")
        await run_in_threadpool(out.write, data)
    if size != length:
        raise ApiError(400, "hall.invalid", "the body is shorter than its Content-Range")
    out.flush()


def _check_sha256(sha256: str) -> None:
    if not _SHA256.match(sha256):
        raise ApiError(400, "hall.invalid", "a blob is named by its SHA-256 in lower-case hex")


def _content_range(header: str | None) -> tuple[int, int, int]:
    """(start, end, total) of `Content-Range: bytes START-END/TOTAL`, END inclusive."""
    match = _CONTENT_RANGE.match(header or "")
    if match is None:
        raise ApiError(400, "hall.invalid", "Content-Range: bytes START-END/TOTAL is required")
    start, end, total = int(match["start"]), int(match["end"]), int(match["total"])
    if total > MAX_BLOB_BYTES:
        raise ApiError(413, "hall.blob.too_large", f"a blob is at most {MAX_BLOB_BYTES} bytes")
    if not start <= end < total:
        raise ApiError(400, "hall.invalid", "Content-Range: need START <= END < TOTAL")
    return start, end, total


def _blob_response(state: BlobState, body: dict[str, Any] | None) -> Response:
    headers = {"Upload-Offset": str(state.received), "Upload-Complete": "1" if state.complete else "0"}
    if body is None:
        return Response(status_code=200, headers=headers)
    return JSONResponse(body, headers=headers)


def _what_is_missing(store: Store, receipt_no: str) -> dict[str, Any]:
    """The answer to PUT /v1/applications/{receipt_no}: what the terminal still has to send."""
    submission = store.submission(receipt_no)
    if submission is None:  # removed right after being opened: nothing in the hall does that
        raise ApiError(500, "hall.internal", "application vanished")
    received = {}
    for d in submission.documents:
        state = store.files.blob_state(d.sha256)
        received[d.sha256] = 0 if state is None else state.received
    return {
        "receipt_no": receipt_no,
        "state": "committed" if submission.committed else "open",
        "missing": store.missing(submission),
        "received": received,
    }


def _part_name(doc: Document) -> str:
    return f"{doc.material_id}/document.pdf" if doc.page == PDF_PAGE else f"{doc.material_id}/{doc.page}.jpg"


def _content_type(page: int) -> str:
    """What a part is served as: a PDF for page 0, else a JPEG (docs/submission-protocol.md names them so)."""
    return "application/pdf" if page == PDF_PAGE else "image/jpeg"


def _match_pages(application: Application, names: list[str]) -> list[tuple[str, int]]:
    """(material id, page) for each name, in order: every declared page exactly once, and nothing else."""
    declared = {(m.id, p) for m in application.materials for p in range(1, m.pages + 1)}
    keyed: list[tuple[str, int]] = []
    for name in names:
        match = _PAGE_NAME.match(name)
        if match is None:
            raise ApiError(
                400, "hall.invalid", "file names must be <material_id>/<page>.jpg or <material_id>/document.pdf"
            )
        key = (match["material"], PDF_PAGE if match["pdf"] else int(match["page"]))
        if key in keyed:
            raise ApiError(400, "hall.invalid", f"page {key[0]}/{key[1]} sent twice")
        # A PDF is optional; when sent, it is for a material with pages.
        if key not in declared and not (key[1] == PDF_PAGE and (key[0], 1) in declared):
            raise ApiError(400, "hall.invalid", f"page {key[0]}/{key[1]} is not declared in materials")
        keyed.append(key)
    missing = sorted(declared - set(keyed))
    if missing:
        listed = ", ".join(f"{m}/{p}" for m, p in missing[:10])
        raise ApiError(400, "hall.invalid", f"missing page(s): {listed}")
    return keyed
