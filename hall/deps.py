"""What routes take from the request as FastAPI dependencies: the store, the catalogue, a terminal's
signed request, and the staff login.

A signed request's body is read by the route (`await terminal.body()`), not by the dependency: FastAPI
resolves dependencies before it validates a route's path and query parameters, and a request with
bad parameters is refused with 400 before its signature is looked at (or its nonce spent). The
headers are checked before the body is read, so an unsigned request is refused without reading it.
"""

from __future__ import annotations

import json
import mmap
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request, Security
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from hall.catalogue import CatalogueFiles
from hall.errors import HallError, describe, invalid
from hall.schemas import Model
from hall.signing import Claim, Verifier, path_and_query
from hall.staff_auth import require_staff
from hall.store import Store
from kiosk.core.protocol import HallErrorCode

MAX_JSON_BYTES = 1 << 20  # an application with its manifest is a few kilobytes


async def _store(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


async def _catalogue(request: Request) -> CatalogueFiles:
    catalogue: CatalogueFiles = request.app.state.catalogue
    return catalogue


@dataclass(frozen=True)
class SignedRequest:
    """A terminal's request whose signature is checked when it is read (docs/submission-protocol.md)."""

    request: Request
    verifier: Verifier

    async def claim(self) -> Claim:
        """The signature headers checked (present, terminal known, timestamp fresh), before any body is read."""
        return await run_in_threadpool(self.verifier.claim, self.request.headers)

    async def confirm(self, claim: Claim, body: bytes | mmap.mmap) -> None:
        """The signature checked over method, path and query, and `body`; the nonce spent."""
        target = path_and_query(self.request.scope)
        await run_in_threadpool(self.verifier.confirm, claim, self.request.method, target, body)

    async def body(self) -> tuple[str, bytes]:
        """The body, once the signature holds, and the terminal that signed it."""
        claim = await self.claim()
        body = await _read_body(self.request, MAX_JSON_BYTES)
        await self.confirm(claim, body)
        return claim.terminal_id, body

    async def json(self, model: type[Model]) -> tuple[str, Model]:
        """The body parsed as `model` (400 hall.invalid when it is not), and the terminal that signed it."""
        terminal_id, body = await self.body()
        return terminal_id, parse_json(body, model, "body")


def check_terminal(signer: str, body_terminal: str) -> None:
    """A terminal speaks only for itself: the terminal a body names is the one that signed it."""
    if signer != body_terminal:
        raise invalid("X-Terminal-Id does not match terminal_id")


async def _signed_request(request: Request) -> SignedRequest:
    return SignedRequest(request, request.app.state.verifier)


async def _read_body(request: Request, limit: int) -> bytes:
    body = b""
    async for data in request.stream():
        body += data
        if len(body) > limit:
            raise HallError(413, HallErrorCode.TOO_LARGE, f"the body is over {limit} bytes")
    return body


def parse_json(text: str | bytes, model: type[Model], what: str) -> Model:
    try:
        data = json.loads(text)
    except ValueError:
        raise invalid(f"{what}: not valid JSON") from None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise invalid(describe(exc, f"{what}.")) from None


StoreDep = Annotated[Store, Depends(_store)]
CatalogueDep = Annotated[CatalogueFiles, Depends(_catalogue)]
Signed = Annotated[SignedRequest, Depends(_signed_request)]
# The staff member's name (hall.staff_auth), for a route that records who acted; else STAFF_ONLY.
StaffName = Annotated[str, Security(require_staff)]
STAFF_ONLY = [Security(require_staff)]
