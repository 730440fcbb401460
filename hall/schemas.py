"""The hall's answers (pydantic), the bodies only staff send, and the shapes of what it reads from
paths, queries and headers.

The bodies terminals send (the manifest and its application, ratings, heartbeats) are
kiosk.core.protocol's: one definition for the terminal that builds them and the hall that validates
them (docs/submission-protocol.md). The response bodies are for the OpenAPI document: the routes
build their answers as plain dicts from the store.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal, TypeVar

from fastapi import Query
from pydantic import BaseModel, ConfigDict, Field, field_validator

from kiosk.core.protocol import AppointmentCode, Ident, Moment, iso_datetime

CONTENT_RANGE_PATTERN = r"^bytes (?P<start>[0-9]{1,12})-(?P<end>[0-9]{1,12})/(?P<total>[0-9]{1,12})$"
PDF_PAGE = 0  # a material's pages as one PDF are stored as page 0; images from page 1
MAX_PAGE = 9999  # four digits in a page's name
# Past every row; a larger offset overflows the databases' integers (a 500 instead of an empty page).
MAX_OFFSET = 2**31 - 1
MAX_NOTE_CHARS = 200
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
Model = TypeVar("Model", bound=BaseModel)
# a page of a staff list: GET /v1/applications, GET /v1/ratings
PageLimit = Annotated[int, Query(ge=1, le=200)]
PageOffset = Annotated[int, Query(ge=0, le=MAX_OFFSET)]


# -- request bodies only staff send (POST /v1/appointments is the booking system's) ----------------


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
