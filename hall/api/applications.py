"""The terminal's submission (docs/submission-protocol.md): PUT /v1/applications/{receipt_no} with the
manifest, then each part (hall.api.blobs), then POST …/commit. Both steps idempotent, both signed.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from hall.deps import Signed, StoreDep, check_terminal
from hall.errors import HallError, invalid, not_found
from hall.openapi import answers, json_body, signed
from hall.schemas import PDF_PAGE, Committed, StillMissing
from hall.store import ConflictError, Document, IncompleteError, Store
from kiosk.core.protocol import PDF_NAME, Application, HallErrorCode, Manifest, Text

router = APIRouter()

# `<material_id>/<page>.jpg`, pages counted from 1, and optionally `<material_id>/document.pdf`:
# all of a material's pages as one PDF, stored as page 0.
_PAGE_NAME = re.compile(r"^(?P<material>[^/]{1,128})/(?:(?P<page>[1-9][0-9]{0,3})\.jpg|(?P<pdf>document\.pdf))$")
_CONFLICT = "this receipt number is already stored with different content"


@router.put(
    "/v1/applications/{receipt_no}",
    responses=answers(200, 201, model=StillMissing, errors=(400, 401, 409, 413)),
    openapi_extra=signed(json_body(Manifest)),
)
async def open_application(receipt_no: str, terminal: Signed, store: StoreDep) -> JSONResponse:
    terminal_id, manifest = await terminal.json(Manifest)
    application = manifest.application
    if application.receipt_no != receipt_no:
        raise invalid("the receipt number in the path is not the application's")
    check_terminal(terminal_id, application.terminal_id)
    keys = _match_pages(application, [part.name for part in manifest.parts])
    docs = [
        Document(material_id, page, _content_type(page), part.sha256, part.size)
        for (material_id, page), part in zip(keys, manifest.parts, strict=True)
    ]
    try:
        outcome = await run_in_threadpool(store.open_application, application.model_dump(mode="json"), docs)
    except ConflictError:
        raise HallError(409, HallErrorCode.CONFLICT, _CONFLICT) from None
    answer = await run_in_threadpool(_what_is_missing, store, receipt_no)
    return JSONResponse(answer, status_code=201 if outcome == "created" else 200)


@router.post(
    "/v1/applications/{receipt_no}/commit",
    response_model=None,
    responses=answers(200, model=Committed, errors=(400, 401, 404, 409, 413)),
    openapi_extra=signed(),
)
async def commit_application(receipt_no: Text, terminal: Signed, store: StoreDep) -> dict[str, Any]:
    terminal_id, _body = await terminal.body()
    submission = await run_in_threadpool(store.submission, receipt_no)
    if submission is None:
        raise not_found("no such application")
    check_terminal(terminal_id, submission.terminal_id)
    try:
        await run_in_threadpool(store.commit_application, submission)
    except IncompleteError as exc:
        raise HallError(409, HallErrorCode.INCOMPLETE, "parts are missing", missing=exc.missing) from None
    except ConflictError:
        raise HallError(409, HallErrorCode.CONFLICT, "a part's declared size is not its content's") from None
    return {
        "receipt_no": receipt_no,
        "state": "committed",
        "documents": [{"name": _part_name(d), "sha256": d.sha256, "size": d.size} for d in submission.documents],
    }


def _what_is_missing(store: Store, receipt_no: str) -> dict[str, Any]:
    """The answer to PUT /v1/applications/{receipt_no}: what the terminal still has to send."""
    submission = store.submission(receipt_no)
    if submission is None:  # removed right after being opened: nothing in the hall does that
        raise HallError(500, HallErrorCode.INTERNAL, "application vanished")
    return {
        "receipt_no": receipt_no,
        "state": "committed" if submission.committed else "open",
        "missing": store.missing(submission),
        "received": store.received(submission),
    }


def _part_name(doc: Document) -> str:
    return f"{doc.material_id}/{PDF_NAME}" if doc.page == PDF_PAGE else f"{doc.material_id}/{doc.page}.jpg"


def _content_type(page: int) -> str:
    """What a part is served as: a PDF for page 0, else a JPEG (docs/submission-protocol.md names them so)."""
    return "application/pdf" if page == PDF_PAGE else "image/jpeg"


def _match_pages(application: Application, names: list[str]) -> list[tuple[str, int]]:
    """(material id, page) for each name, in order: every declared page exactly once, and nothing else."""
    declared = {(m.id, p) for m in application.materials for p in range(1, m.pages + 1)}
    keyed: list[tuple[str, int]] = []
    for name in names:
        match = _PAGE_NAME.match(name)
        if match is None:
            raise invalid("file names must be <material_id>/<page>.jpg or <material_id>/document.pdf")
        key = (match["material"], PDF_PAGE if match["pdf"] else int(match["page"]))
        if key in keyed:
            raise invalid(f"page {key[0]}/{key[1]} sent twice")
        # A PDF is optional; when sent, it is for a material with pages.
        if key not in declared and not (key[1] == PDF_PAGE and (key[0], 1) in declared):
            raise invalid(f"page {key[0]}/{key[1]} is not declared in materials")
        keyed.append(key)
    missing = sorted(declared - set(keyed))
    if missing:
        listed = ", ".join(f"{m}/{p}" for m, p in missing[:10])
        raise invalid(f"missing page(s): {listed}")
    return keyed
