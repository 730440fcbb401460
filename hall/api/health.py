"""GET /v1/health: whether the hall and its database answer."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from hall import __version__
from hall.deps import StoreDep
from hall.openapi import answers
from hall.schemas import Health

router = APIRouter()


@router.get("/v1/health", responses=answers(200, 503, model=Health))
def health(store: StoreDep) -> JSONResponse:
    if not store.ping():
        return JSONResponse({"status": "error", "version": __version__}, status_code=503)
    return JSONResponse({"status": "ok", "version": __version__})
