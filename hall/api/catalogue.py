"""GET /v1/catalogue (signed): the service items the hall serves (hall.catalogue), with an ETag.

304 with no body when If-None-Match names the current version.
"""

from __future__ import annotations

from fastapi import APIRouter, Response
from starlette.concurrency import run_in_threadpool

from hall.deps import CatalogueDep, Signed
from hall.openapi import IF_NONE_MATCH, answers, signed
from hall.schemas import CatalogueAnswer

router = APIRouter()


@router.get(
    "/v1/catalogue",
    response_class=Response,  # the body is encoded once per version, not per request
    responses={
        **answers(200, model=CatalogueAnswer, errors=(400, 401, 413)),
        304: {"description": "If-None-Match names the current version: no body"},
    },
    openapi_extra=signed(None, IF_NONE_MATCH),
)
async def get_catalogue(terminal: Signed, catalogue: CatalogueDep) -> Response:
    await terminal.body()
    published = await run_in_threadpool(catalogue.current)  # stats files now and then
    headers = {"ETag": published.etag, "Cache-Control": "no-cache"}
    if _matches(terminal.request.headers.get("if-none-match"), published.etag):
        return Response(status_code=304, headers=headers)
    return Response(published.body, media_type="application/json", headers=headers)


def _matches(if_none_match: str | None, etag: str) -> bool:
    """Whether If-None-Match (a list of entity tags, weak or not, or "*") names `etag` (RFC 9110 13.1.2)."""
    if not if_none_match:
        return False
    tags = [tag.strip().removeprefix("W/") for tag in if_none_match.split(",")]
    return "*" in tags or etag in tags
