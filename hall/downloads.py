"""A stored page or PDF as the answer to a download (GET /v1/applications/…/documents/…, the staff pages).

Served inline: what the terminal sends (JPEG pages, PDFs) and other images a browser shows as such.
Anything else is a download, so no stored file can run as a page of the hall's origin (an SVG's script).
"""

from __future__ import annotations

from fastapi.responses import FileResponse

from hall.store import Store

_INLINE_TYPES = {"image/jpeg", "image/png", "image/gif", "image/webp", "application/pdf"}
DOCUMENT_HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}


def document_file(store: Store, receipt_no: str, material_id: str, page: int) -> FileResponse | None:
    """One stored page or PDF as the answer to a download; None when the application has no such part."""
    found = store.document(receipt_no, material_id, page)
    if found is None:
        return None
    path, content_type = found
    if not path.is_file():
        raise RuntimeError("document file missing")  # the app answers 500 hall.internal
    if content_type in _INLINE_TYPES:
        return FileResponse(path, media_type=content_type, headers=DOCUMENT_HEADERS)
    return FileResponse(
        path, media_type="application/octet-stream", headers=DOCUMENT_HEADERS, content_disposition_type="attachment"
    )
