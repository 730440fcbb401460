"""Appointment codes: POST /v1/appointments from the hall's booking system (a staff or service
account), GET /v1/appointments/{code} from a terminal (signed) when a citizen shows one."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from hall.deps import STAFF_ONLY, Signed, StoreDep
from hall.errors import HallError, not_found
from hall.openapi import answers, signed
from hall.schemas import Appointment
from hall.store import ConflictError
from kiosk.core.protocol import HallErrorCode, Text

router = APIRouter()


@router.post(
    "/v1/appointments",
    status_code=201,
    responses=answers(200, 201, model=Appointment, errors=(400, 401, 409, 429)),
    dependencies=STAFF_ONLY,
)
def add_appointment(appointment: Appointment, store: StoreDep) -> JSONResponse:
    """From the hall's booking / pre-review system (a staff or service account): a code a citizen may show."""
    try:
        outcome = store.add_appointment(appointment.model_dump())
    except ConflictError:
        raise HallError(409, HallErrorCode.CONFLICT, "this code is taken by a different appointment") from None
    return JSONResponse(appointment.model_dump(), status_code=201 if outcome == "created" else 200)


@router.get(
    "/v1/appointments/{code}",
    response_model=None,
    responses=answers(200, model=Appointment, errors=(400, 401, 404, 413)),
    openapi_extra=signed(),
)
async def get_appointment(code: Text, terminal: Signed, store: StoreDep) -> dict[str, Any]:
    await terminal.body()
    found = await run_in_threadpool(store.appointment, code)
    if found is None:
        raise not_found("no such appointment")
    return found
