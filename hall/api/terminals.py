"""Terminals' heartbeats (POST /v1/terminals/{terminal_id}/heartbeat, signed, for itself only) and the
staff's list of terminals (GET /v1/terminals, a dashboard's data; hall.terminal_status).

The hall keeps the latest heartbeat per terminal and answers with its own catalogue version, so the
terminal knows when to fetch a new one (GET /v1/catalogue).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool

from hall.deps import STAFF_ONLY, CatalogueDep, Signed, StoreDep, parse_json
from hall.errors import HallError
from hall.openapi import answers, json_body, signed
from hall.schemas import HeartbeatReceived, TerminalList
from hall.terminal_status import terminal_statuses
from kiosk.core.protocol import HallErrorCode, Heartbeat

router = APIRouter()


@router.post(
    "/v1/terminals/{terminal_id}/heartbeat",
    response_model=None,
    responses=answers(200, model=HeartbeatReceived, errors=(400, 401, 403, 413)),
    openapi_extra=signed(json_body(Heartbeat)),
)
async def heartbeat(terminal_id: str, terminal: Signed, store: StoreDep, catalogue: CatalogueDep) -> dict[str, Any]:
    signer, body = await terminal.body()
    if signer != terminal_id:
        raise HallError(403, HallErrorCode.FORBIDDEN, "a terminal reports only for itself")
    beat = parse_json(body, Heartbeat, "body")
    received_at = await run_in_threadpool(store.record_heartbeat, terminal_id, beat.model_dump(mode="json"))
    published = await run_in_threadpool(catalogue.current)
    return {"received_at": received_at, "catalogue_version": published.version}


@router.get(
    "/v1/terminals",
    response_model=None,
    responses=answers(200, model=TerminalList, errors=(401, 429)),
    dependencies=STAFF_ONLY,
)
def list_terminals(store: StoreDep, catalogue: CatalogueDep) -> dict[str, Any]:
    version = catalogue.current().version
    items = terminal_statuses(store, version, dt.datetime.now(dt.UTC))
    return {"catalogue_version": version, "items": items}
