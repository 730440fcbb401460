"""The hall's HTTP API: one APIRouter per resource (docs/submission-protocol.md), each route validating
its input (hall.schemas) and handing off to the store (hall.store). hall.app includes them in order.

    health        GET /v1/health
    applications  the terminal's submission: PUT /v1/applications/{receipt_no}, POST …/commit
    blobs         its parts: PUT and HEAD /v1/blobs/{sha256}
    staff         the staff's view of the applications: lists, records, documents, state changes
    progress      GET /v1/progress
    ratings       POST and GET /v1/ratings
    appointments  POST /v1/appointments, GET /v1/appointments/{code}
    catalogue     GET /v1/catalogue
    terminals     POST /v1/terminals/{terminal_id}/heartbeat, GET /v1/terminals
"""
