"""GET /v1/progress: the citizen's progress query at a terminal (办件查询), signed by the terminal.

By receipt number and either the ID number's last 6 characters or the receipt link's token; limited
against guessing (hall.store.progress). The citizen's page for the same is hall.web.progress.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from starlette.concurrency import run_in_threadpool

from hall.deps import Signed, StoreDep
from hall.errors import HallError, invalid, not_found
from hall.openapi import answers, signed
from hall.schemas import Progress
from hall.store import Locked, Proof
from kiosk.core.protocol import HallErrorCode, Text
from kiosk.core.signing import TOKEN_PATTERN

router = APIRouter()


@router.get(
    "/v1/progress",
    response_model=None,
    responses=answers(200, model=Progress, errors=(400, 401, 404, 413, 429)),
    openapi_extra=signed(),
)
async def progress(
    terminal: Signed,
    store: StoreDep,
    receipt_no: Annotated[Text, Query(min_length=1, max_length=40)],
    id_tail: Annotated[str | None, Query(pattern=r"^[0-9A-Za-z]{6}$")] = None,
    token: Annotated[str | None, Query(pattern=TOKEN_PATTERN, description="the receipt QR link's `k`")] = None,
) -> dict[str, Any]:
    """By receipt number and either the ID number's last 6 characters or the receipt link's token."""
    terminal_id, _body = await terminal.body()
    if (id_tail is None) == (token is None):
        raise invalid("give exactly one of id_tail and token")
    proof = Proof(id_tail=id_tail, token=token)
    found = await run_in_threadpool(store.lookup_progress, receipt_no, proof, f"terminal:{terminal_id}")
    if isinstance(found, Locked):
        raise HallError(
            429,
            HallErrorCode.PROGRESS_LOCKED,
            "too many failed lookups for this receipt number or from this caller; try again later",
            headers={"Retry-After": str(found.retry_after)},
            retry_after=found.retry_after,
        )
    if found is None:
        # One answer for an unknown number and a wrong tail, so the query cannot probe either.
        raise not_found("no application matches this number and ID tail or token")
    return found
