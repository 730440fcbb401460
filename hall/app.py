"""The hall's web app, built from its parts (the map of them is hall/__init__.py's): the store, the
routers of hall.api and hall.web, the error answers (hall.errors), the access log and the OpenAPI
document's additions (hall.openapi). Nothing else happens here.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request, Response

from hall import __version__, errors
from hall.api import applications, appointments, blobs, catalogue, health, progress, ratings, staff, terminals
from hall.catalogue import CatalogueFiles
from hall.openapi import complete_document
from hall.signing import Verifier
from hall.staff_auth import hash_accounts
from hall.store import Store
from hall.web import progress as progress_page
from hall.web import staff as staff_pages
from hall.web import terminals as terminals_page
from kiosk.core.paths import SERVICES_DIR
from kiosk.core.protocol import Heartbeat, Manifest, Rating

access_log = logging.getLogger("hall.access")

# In this order: the OpenAPI document lists the paths so.
ROUTERS = (
    health.router,
    applications.router,
    blobs.router,
    staff.router,
    progress.router,
    ratings.router,
    appointments.router,
    progress_page.router,  # the citizen's progress page, /progress/<receipt_no>
    staff_pages.router,  # the staff's pages, /staff
    catalogue.router,
    terminals.router,
    terminals_page.router,  # /staff/terminals
)
# The request bodies signed routes parse themselves, after the signature check (hall.openapi).
SIGNED_BODIES = (Manifest, Rating, Heartbeat)


def create_app(
    db_url: str,
    documents_dir: Path,
    terminal_keys: dict[str, bytes] | None = None,
    catalogue_dir: Path | None = None,
    staff_users: dict[str, str] | None = None,
) -> FastAPI:
    """The hall API on a database URL (sqlite:///… or postgresql+psycopg://…) and a page directory.

    `terminal_keys` (terminal id → 32-byte key) are stored in the database, so they outlive a restart.
    `catalogue_dir` holds the service files served to terminals (default: the terminals' own,
    config/services); raises CatalogueError if they do not load.
    `staff_users` (name → password) are stored hashed (hall.staff_auth); raises ValueError for an
    unusable name or a short password.
    """
    served = CatalogueFiles(SERVICES_DIR if catalogue_dir is None else Path(catalogue_dir))
    accounts = hash_accounts(staff_users or {})  # before the store: a bad account leaves nothing open
    store = Store(db_url, Path(documents_dir))
    store.set_terminal_keys(terminal_keys or {})
    store.set_staff(accounts)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        store.dispose()

    app = FastAPI(title="Hall service", version=__version__, lifespan=lifespan)
    app.state.store = store  # what hall.deps hands the routes
    app.state.verifier = Verifier(store)
    app.state.catalogue = served
    errors.install(app)
    app.middleware("http")(_access_log)
    for router in ROUTERS:
        app.include_router(router)
    complete_document(app, SIGNED_BODIES)
    return app


async def _access_log(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
    # Our own access log instead of uvicorn's: the query string of /v1/progress holds part of an
    # ID number, so only the path is logged.
    start = time.monotonic()
    response = await call_next(request)
    access_log.info(
        "%s %s %d %.0fms terminal=%s session=%s",
        request.method,
        request.url.path,
        response.status_code,
        (time.monotonic() - start) * 1000,
        request.headers.get("x-terminal-id", "-"),
        request.headers.get("x-session-id", "-"),
    )
    return response
