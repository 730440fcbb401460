"""The wire contract between terminal and hall (docs/submission-protocol.md): the bodies a terminal
sends and the hall reads, and the error codes the hall answers with.

One definition for both sides. The kiosk builds what it sends through these models (the journey's
application and rating, the manifest's parts, the heartbeat, demo-submit) and puts `wire(model)` on
the wire; the hall validates the same bodies against them (hall.api) and states them in its OpenAPI
document, so their names, field order, constraints and docstrings are the document's: change one and
the document changes with it. What the hall answers, and what only staff send, is hall.schemas'.

Pydantic only: no Kivy, no driver, nothing of the hall.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Annotated, Any, ClassVar

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

from kiosk.core.devices import DeviceState, FixedBy, Level

# The shape of a receipt number the hall accepts (the terminal's format, kiosk.core.receipt_number,
# loosely). Application and Rating check it; hall.web.progress the progress page's URL.
RECEIPT_PATTERN = r"^[A-Z0-9-]{7,39}[A-Z0-9*]$"  # the check character may be "*" (ISO 7064 MOD 37-2)
SHA256_PATTERN = r"^[0-9a-f]{64}$"
MAX_BLOB_BYTES = 20 * 1024 * 1024  # one page image or PDF
PDF_NAME = "document.pdf"  # a material's PDF, beside its pages: <material_id>/document.pdf
MAX_SKEW_REPORT_S = 10 * 365 * 86_400  # past any real clock error; keeps the number inside the column


class HallErrorCode(StrEnum):
    """Every `code` the hall answers in an error body {"error": {"code", "message", …}}."""

    INVALID = "hall.invalid"  # 400: the request does not validate
    NOT_FOUND = "hall.not_found"  # 404
    METHOD_NOT_ALLOWED = "hall.method_not_allowed"  # 405
    INTERNAL = "hall.internal"  # 500
    FORBIDDEN = "hall.forbidden"  # 403: a terminal asks for what is not its own
    TOO_LARGE = "hall.too_large"  # 413: the body is over the route's limit
    CONFLICT = "hall.conflict"  # 409: the receipt number (session, code) holds something different
    INCOMPLETE = "hall.incomplete"  # 409: a commit before every part arrived; with `missing`
    BLOB_OFFSET = "hall.blob.offset"  # 409: a chunk not at the hall's offset; with `received`
    BLOB_HASH = "hall.blob.hash"  # 422: the whole blob does not hash to its name (discarded)
    BLOB_TOO_LARGE = "hall.blob.too_large"  # 413
    STATE_TRANSITION = "hall.state.transition"  # 409: a state change the current state does not allow
    PROGRESS_LOCKED = "hall.progress.locked"  # 429: too many failed lookups; with `retry_after`
    SIGNATURE_MISSING = "hall.signature.missing"  # 401 …
    SIGNATURE_UNKNOWN_TERMINAL = "hall.signature.unknown_terminal"
    SIGNATURE_BAD = "hall.signature.bad"
    SIGNATURE_STALE = "hall.signature.stale"  # with the hall's `server_time`
    SIGNATURE_REPLAY = "hall.signature.replay"
    STAFF_UNAUTHORIZED = "hall.staff.unauthorized"  # 401
    STAFF_LOCKED = "hall.staff.locked"  # 429, with `retry_after`


def _no_nul(value: str) -> str:
    """PostgreSQL text cannot hold NUL (SQLite would store it): refused here, not a 500 there."""
    if "\x00" in value:
        raise ValueError("NUL characters are not allowed")
    return value


def iso_datetime(value: str) -> str:
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
Sha256 = Annotated[str, Field(pattern=SHA256_PATTERN)]
DeviceName = Annotated[Text, Field(min_length=1, max_length=64)]


def wire(body: BaseModel) -> dict[str, Any]:
    """A body as the terminal sends it (json.dumps of this is what it signs): the fields it set, as
    JSON values, in the model's order, or in the order of the model's SENT_ORDER where it has one."""
    fields = body.model_dump(mode="json", exclude_unset=True)
    order: tuple[str, ...] = getattr(body, "SENT_ORDER", ())
    return {**{key: fields[key] for key in order if key in fields}, **fields}


def refusal(exc: ValidationError) -> str:
    """Where a body breaks the contract and how, without the value (it may be personal data)."""
    first = exc.errors()[0]
    return f"{'.'.join(str(part) for part in first['loc'])}: {first['msg']}"


# -- submissions (PUT /v1/applications/{receipt_no}) ----------------------------------------------


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
        return iso_datetime(value)

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


def manifest(application: dict[str, Any], parts: list[tuple[str, str, int]]) -> dict[str, Any]:
    """A Manifest as the terminal sends it: the application as it was queued (checked against
    Application when it was built, sealed in the outbox since) and its parts, (name, sha256, size)
    each. ValidationError for a part the hall would refuse."""
    return {
        "application": application,
        "parts": [wire(Part(name=name, sha256=sha256, size=size)) for name, sha256, size in parts],
    }


# -- POST /v1/ratings -------------------------------------------------------------------------------


class Rating(BaseModel):
    model_config = ConfigDict(extra="forbid")

    receipt_no: ReceiptNo | None = None  # None: a session that ended without an application
    item_id: Ident
    terminal_id: TerminalId
    session_id: Ident
    level: StrictInt = Field(ge=1, le=5)  # 5 非常满意 … 1 非常不满意
    reasons: list[Annotated[Text, Field(max_length=100)]] = Field(default_factory=list, max_length=20)
    comment: Text = Field(default="", max_length=500)


# -- POST /v1/terminals/{terminal_id}/heartbeat ---------------------------------------------------------


class DeviceReport(BaseModel):
    model_config = ConfigDict(extra="forbid")

    state: DeviceState
    code: Annotated[Text, Field(max_length=64)] | None = None  # the device's message code, e.g. printer.paper_out
    fixed_by: FixedBy | None = None
    consumables: dict[DeviceName, Level] = Field(default_factory=dict, max_length=16)


class OutboxReport(BaseModel):
    model_config = ConfigDict(extra="forbid")

    depth: StrictInt = Field(ge=0)  # applications waiting to be delivered
    stuck: StrictInt = Field(ge=0)  # parked for a technician
    oldest_age_s: float | None = Field(default=None, ge=0)  # None: the outbox is empty


class Heartbeat(BaseModel):
    """The body of POST /v1/terminals/{terminal_id}/heartbeat."""

    model_config = ConfigDict(extra="forbid")
    # The order terminals send the keys in (`wire`); the fields' order below is the OpenAPI document's.
    SENT_ORDER: ClassVar[tuple[str, ...]] = (
        "version",
        "sent_at",
        "interval_s",
        "catalogue_version",
        "clock_skew_s",
        "devices",
        "outbox",
    )

    version: Text = Field(min_length=1, max_length=40)  # the terminal's software version
    sent_at: Moment = Field(json_schema_extra={"format": "date-time"})
    interval_s: StrictInt = Field(ge=10, le=3600)  # when the next one is due
    devices: dict[DeviceName, DeviceReport] = Field(max_length=16)
    outbox: OutboxReport
    catalogue_version: Annotated[Text, Field(max_length=64)] | None = None
    # seconds the terminal's clock is behind the hall's (negative: ahead), as it last learnt them
    clock_skew_s: StrictInt | None = Field(default=None, ge=-MAX_SKEW_REPORT_S, le=MAX_SKEW_REPORT_S)

    @field_validator("sent_at")
    @classmethod
    def _iso_datetime(cls, value: str) -> str:
        return iso_datetime(value)
