"""The staff's view of the applications (hall.staff_auth): the full records with personal data, their
documents, and state changes. (The staff's pages, /staff, show the same: hall.web.staff.)
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, JSONResponse

from hall.deps import STAFF_ONLY, StaffName, StoreDep
from hall.downloads import document_file
from hall.errors import HallError, not_found
from hall.openapi import PAGE_TYPES, answers
from hall.schemas import (
    MAX_PAGE,
    PDF_PAGE,
    ApplicationPage,
    ApplicationRecord,
    PageLimit,
    PageOffset,
    StateChange,
    StateChanged,
)
from hall.store import TransitionError
from kiosk.core.protocol import HallErrorCode, Text

router = APIRouter()


@router.get(
    "/v1/applications",
    response_model=None,
    responses=answers(200, model=ApplicationPage, errors=(400, 401, 429)),
    dependencies=STAFF_ONLY,
)
def list_applications(
    store: StoreDep,
    limit: PageLimit = 50,
    offset: PageOffset = 0,
    state: Annotated[str | None, Query(pattern=r"^[a-z]{1,32}$")] = None,
    receipt_prefix: Annotated[str | None, Query(pattern=r"^[A-Z0-9*-]{1,40}$")] = None,
) -> dict[str, Any]:
    items, total = store.list_applications(limit, offset, state, receipt_prefix)
    return {"items": items, "total": total, "limit": limit, "offset": offset}


@router.get(
    "/v1/applications/{receipt_no}",
    response_model=None,
    responses=answers(200, model=ApplicationRecord, errors=(400, 401, 404, 429)),
    dependencies=STAFF_ONLY,
)
def get_application(receipt_no: Text, store: StoreDep) -> dict[str, Any]:
    record = store.application(receipt_no)
    if record is None:
        raise not_found("no such application")
    return record


@router.get(
    "/v1/applications/{receipt_no}/documents/{material_id}/{page}",
    response_class=FileResponse,
    responses={
        200: {"content": {t: {"schema": {"type": "string", "format": "binary"}} for t in PAGE_TYPES}},
        **answers(errors=(400, 401, 404, 429)),
    },
    dependencies=STAFF_ONLY,
)
def get_document(
    receipt_no: Text,
    material_id: Text,
    page: Annotated[int, PathParam(ge=PDF_PAGE, le=MAX_PAGE)],
    store: StoreDep,
) -> FileResponse:
    found = document_file(store, receipt_no, material_id, page)
    if found is None:
        raise not_found("no such document")
    return found


@router.post(
    "/v1/applications/{receipt_no}/events",
    status_code=201,
    response_model=None,
    responses=answers(201, model=StateChanged, errors=(400, 401, 404, 409, 429)),
)
def change_state(receipt_no: Text, change: StateChange, staff_name: StaffName, store: StoreDep) -> JSONResponse:
    """A staff decision: the application's next state and a note for the citizen's timeline."""
    try:
        changed = store.change_state(receipt_no, change.state, change.note, staff_name)
    except TransitionError:
        raise HallError(
            409, HallErrorCode.STATE_TRANSITION, "the application's current state does not lead there"
        ) from None
    if changed is None:
        raise not_found("no such application")
    return JSONResponse(changed, status_code=201)
