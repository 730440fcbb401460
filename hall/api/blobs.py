"""The parts of an application: PUT /v1/blobs/{sha256} in resumable chunks, HEAD for how far it got
(docs/submission-protocol.md, step 2). Content-addressed, shared between applications.
"""

from __future__ import annotations

import mmap
import re
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from hall.deps import Signed, StoreDep
from hall.errors import HallError, invalid, not_found
from hall.openapi import BLOB, CONTENT_RANGE_HEADER, answers, signed
from hall.schemas import CONTENT_RANGE_PATTERN, BlobReceived
from hall.store import BlobHashError, BlobOffsetError, BlobState
from kiosk.core.protocol import MAX_BLOB_BYTES, SHA256_PATTERN, HallErrorCode

router = APIRouter()

_CONTENT_RANGE = re.compile(CONTENT_RANGE_PATTERN)
_SHA256 = re.compile(SHA256_PATTERN)


@router.put(
    "/v1/blobs/{sha256}",
    responses=answers(200, model=BlobReceived, errors=(400, 401, 409, 413, 422)),
    openapi_extra=signed(BLOB, CONTENT_RANGE_HEADER),
)
async def put_blob(sha256: str, terminal: Signed, store: StoreDep) -> Response:
    claim = await terminal.claim()
    _check_sha256(sha256)
    start, end, total = _content_range(terminal.request.headers.get("content-range"))
    # The chunk goes to disk first: the signature covers it, so nothing is appended before it holds.
    out, chunk = store.files.temp_file()
    try:
        with out:
            await _spool(terminal.request, out, end - start + 1)
            with mmap.mmap(out.fileno(), 0, access=mmap.ACCESS_READ) as body:
                await terminal.confirm(claim, body)
        state = await run_in_threadpool(store.files.append, sha256, start, total, chunk)
    except BlobOffsetError as exc:
        raise HallError(
            409, HallErrorCode.BLOB_OFFSET, "resume from the hall's offset", received=exc.received
        ) from None
    except BlobHashError:
        raise HallError(422, HallErrorCode.BLOB_HASH, "the blob does not hash to its name; it was discarded") from None
    finally:
        chunk.unlink(missing_ok=True)
    return _blob_response(state, {"sha256": sha256, "received": state.received, "complete": state.complete})


@router.head(
    "/v1/blobs/{sha256}",
    response_class=Response,  # the answer is in Upload-Offset and Upload-Complete, with no body or type
    responses=answers(200, errors=(400, 401, 404, 413)),
    openapi_extra=signed(),
)
async def head_blob(sha256: str, terminal: Signed, store: StoreDep) -> Response:
    await terminal.body()
    _check_sha256(sha256)
    state = await run_in_threadpool(store.files.blob_state, sha256)
    if state is None:
        raise not_found("no such blob")
    return _blob_response(state, None)


async def _spool(request: Request, out: Any, length: int) -> None:
    """Write exactly `length` body bytes to `out` (a file), off the event loop."""
    size = 0
    async for data in request.stream():
        size += len(data)
        if size > length:
            raise invalid("the body is longer than its Content-Range")
        await run_in_threadpool(out.write, data)
    if size != length:
        raise invalid("the body is shorter than its Content-Range")
    out.flush()


def _check_sha256(sha256: str) -> None:
    if not _SHA256.match(sha256):
        raise invalid("a blob is named by its SHA-256 in lower-case hex")


def _content_range(header: str | None) -> tuple[int, int, int]:
    """(start, end, total) of `Content-Range: bytes START-END/TOTAL`, END inclusive."""
    match = _CONTENT_RANGE.match(header or "")
    if match is None:
        raise invalid("Content-Range: bytes START-END/TOTAL is required")
    start, end, total = int(match["start"]), int(match["end"]), int(match["total"])
    if total > MAX_BLOB_BYTES:
        raise HallError(413, HallErrorCode.BLOB_TOO_LARGE, f"a blob is at most {MAX_BLOB_BYTES} bytes")
    if not start <= end < total:
        raise invalid("Content-Range: need START <= END < TOTAL")
    return start, end, total


def _blob_response(state: BlobState, body: dict[str, Any] | None) -> Response:
    headers = {"Upload-Offset": str(state.received), "Upload-Complete": "1" if state.complete else "0"}
    if body is None:
        return Response(status_code=200, headers=headers)
    return JSONResponse(body, headers=headers)
