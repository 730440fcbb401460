"""The hall service: the back office the terminals submit to (intake, progress, ratings, catalogue,
terminal health, the staff pages).

It runs on a server and the kiosk only talks HTTP to it. It shares a few definitions with the
kiosk's core (the wire models terminals send and the hall's error codes in kiosk.core.protocol, the
service-item model it validates its catalogue with, device state names, request signing), never the
kiosk's screens or drivers: the hall imports only kiosk.core.

    app.py              builds the app: the store, the routers, the error answers, the access log
    api/<resource>.py   one APIRouter per resource (docs/submission-protocol.md), routes handing off to the store
    web/                the HTML pages on one page template (page.py): progress.py (citizens), staff.py, terminals.py
    schemas.py          the hall's answers and the staff's bodies (pydantic), the shapes of paths and queries
    errors.py           HallError (a status, a code, a message) and how every error is answered
    deps.py             FastAPI dependencies: the store, the catalogue, a terminal's signed request, the staff login
    openapi.py          what the OpenAPI document states beyond the routes' signatures
    store/              the storage, one module per concern (tables.py, engine.py, applications.py, blobs.py …)
    signing.py          the check of a terminal's request signature
    staff_auth.py       staff accounts: password hashes, HTTP Basic, the lockout
    catalogue.py        the service catalogue served to terminals, reloaded when its files change
    terminal_status.py  what the terminals' heartbeats say needs attention
    downloads.py        a stored page or PDF as a download
    server.py           running the hall: in the foreground (`kiosk hall`) or on a thread (demo, tests)
"""

__version__ = "0.1.0"
