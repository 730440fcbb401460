"""Ratings (好差评): POST /v1/ratings from the terminal (signed, one per session), GET for staff."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from hall.deps import STAFF_ONLY, Signed, StoreDep, check_terminal
from hall.errors import HallError
from hall.openapi import answers, json_body, signed
from hall.schemas import PageLimit, PageOffset, RatingPage, RatingStored
from hall.store import ConflictError
from kiosk.core.protocol import HallErrorCode, Rating, Text

router = APIRouter()


@router.post(
    "/v1/ratings",
    status_code=201,
    responses=answers(200, 201, model=RatingStored, errors=(400, 401, 409, 413)),
    openapi_extra=signed(json_body(Rating)),
)
async def add_rating(terminal: Signed, store: StoreDep) -> JSONResponse:
    terminal_id, rating = await terminal.json(Rating)
    check_terminal(terminal_id, rating.terminal_id)
    try:
        outcome, record = await run_in_threadpool(store.add_rating, rating.model_dump())
    except ConflictError:
        raise HallError(409, HallErrorCode.CONFLICT, "this session already rated differently") from None
    return JSONResponse(record, status_code=201 if outcome == "created" else 200)


@router.get(
    "/v1/ratings",
    response_model=None,
    responses=answers(200, model=RatingPage, errors=(400, 401, 429)),
    dependencies=STAFF_ONLY,
)
def list_ratings(
    store: StoreDep, receipt_no: Text | None = None, limit: PageLimit = 50, offset: PageOffset = 0
) -> dict[str, Any]:
    items, total = store.ratings(receipt_no, limit, offset)
    return {"items": items, "total": total, "limit": limit, "offset": offset}
