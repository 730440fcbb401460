"""The bodies the hall reads and answers (pydantic), and the shapes of what it reads from paths,
queries and headers.

The request bodies are what the hall validates (docs/submission-protocol.md); the response bodies are
for the OpenAPI document: the routes build their answers as plain dicts from the store.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any, Literal, TypeVar

from fastapi import Query
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    field_validator,
    model_validator,
)

from hall.store import MAX_BLOB_BYTES, RECEIPT_PATTERN
from kiosk.core.devices import DeviceState, FixedBy, Level

SHA256_PATTERN = r"^[0-9a-f]{64}$"
CONTENT_RANGE_PATTERN = r"^bytes (?P<start>[0-9]{1,12})-(?P<end>[0-9]{1,12})/(?P<total>[0-9]{1,12})$"
PDF_PAGE = 0  # a material's pages as one PDF are stored as page 0; images from page 1
MAX_PAGE = 9999  # four digits in a page's name
# Past every row; a larger offset overflows the databases' integers (a 500 instead of an empty page).
MAX_OFFSET = 2**31 - 1
MAX_NOTE_CHARS = 200
MAX_SKEW_REPORT_S = 10 * 365 * 86_400  # past any real clock error; keeps the number inside the column
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


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
Model = TypeVar("Model", bound=BaseModel)
DeviceName = Annotated[Text, Field(min_length=1, max_length=64)]
# a page of a staff list: GET /v1/applications, GET /v1/ratings
PageLimit = Annotated[int, Query(ge=1, le=200)]
PageOffset = Annotated[int, Query(ge=0, le=MAX_OFFSET)]


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
        return iso_datetime(value) if value else value


class StateChange(BaseModel):
    """A staff state change: the body of POST /v1/applications/{receipt_no}/events, and the page's form."""

    model_config = ConfigDict(extra="forbid")

    state: Literal["reviewing", "approved", "rejected", "mailed"]  # the targets in hall.store.TRANSITIONS
    note: str = Field(default="", max_length=MAX_NOTE_CHARS)  # shown to the citizen: no personal data

    @field_validator("note")
    @classmethod
    def _one_line(cls, value: str) -> str:
        # One line on the citizen's page; control characters (NUL too, which PostgreSQL cannot store) refused.
        if _CONTROL.search(value):
            raise ValueError("control characters are not allowed")
        return value.strip()


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


class HeartbeatReceived(BaseModel):
    received_at: str
    catalogue_version: str  # the hall's: a terminal running another fetches GET /v1/catalogue


class TerminalStatus(BaseModel):
    terminal_id: str
    last_seen: str | None  # when its latest heartbeat arrived (hall clock); None: never
    stale: bool  # no heartbeat for STALE_AFTER_BEATS intervals, or never
    version: str | None
    devices: dict[str, Any]
    outbox: dict[str, Any] | None
    catalogue_version: str | None
    clock_skew_s: int | None
    attention: list[str]  # short reasons for a dashboard, e.g. "printer paper out", "outbox stuck 2"
    attention_zh: list[str]  # the same in Chinese, for the staff page


class TerminalList(BaseModel):
    catalogue_version: str  # the hall's, to compare each terminal's with
    items: list[TerminalStatus]


class CatalogueAnswer(BaseModel):
    version: str = Field(pattern=r"^[0-9a-f]{16}$")
    items: list[dict[str, Any]]  # each a kiosk.core.catalogue.ServiceItem as JSON (Catalogue.from_json)
