"""`kiosk read-card --json`: wait for one card on any configured reader, print its identity.

Exit 0 with the identity, or non-zero with {"error": {"code", "message"}} on timeout, an
unknown card or a reader fault. Personal data goes to stdout only, which the technician asked
for; it is never logged.
"""

from __future__ import annotations

import json
import queue
import time
from typing import Any

from kiosk.core.devices import DeviceEvent, DeviceEventKind, FixedBy
from kiosk.core.errors import DeviceError, KioskError
from kiosk.core.identity import Identity
from kiosk.core.messages import Messages
from kiosk.peripherals.base import BaseDevice

FAULT_GRACE_S = 1.5  # pcscd may list a just-plugged reader a moment late
FAULT_POLL_S = 0.1
TECHNICIAN_FIXES = frozenset({FixedBy.TECHNICIAN, FixedBy.CONFIGURATION})


def identity_json(identity: Identity) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "card_type": identity.card_type.value,
        "name": identity.name,
        "id_number": identity.id_number,
        "sex": identity.sex,
        "birth_date": identity.birth_date.isoformat() if identity.birth_date else None,
        "ethnicity": identity.ethnicity,
        "address": identity.address,
        "issuer": identity.issuer,
        "valid_from": identity.valid_from.isoformat() if identity.valid_from else None,
        "valid_to": identity.valid_to.isoformat() if identity.valid_to else ("长期" if identity.valid_from else None),
        "english_name": identity.english_name,
        "nationality": identity.nationality,
        "document_number": identity.document_number,
        "photo_bytes": len(identity.photo) if identity.photo else 0,
    }
    return {key: value for key, value in fields.items() if value not in ("", None) or key in ("name", "id_number")}


def _standing_fault(readers: list[BaseDevice], now: float) -> DeviceError | None:
    """A fault that only a technician can clear, on every reader for FAULT_GRACE_S: no card can come."""
    faults = [reader.fault() for reader in readers]
    statuses = [reader.status() for reader in readers]
    if all(
        fault is not None and status.fixed_by in TECHNICIAN_FIXES and now - status.since >= FAULT_GRACE_S
        for fault, status in zip(faults, statuses, strict=True)
    ):
        return faults[0]
    return None


def wait_for_card(readers: list[BaseDevice], timeout: float) -> tuple[Identity, float]:
    """The first identity any reader produces, and ms from the card's arrival to it.

    A reader that cannot work (none matches the pattern, pcscd is down) is reported as what it
    is, as soon as it has stood for FAULT_GRACE_S on every reader, or at the timeout: never as
    "no card".
    """
    events: queue.Queue[DeviceEvent] = queue.Queue()
    unsubscribe = [reader.subscribe(events.put) for reader in readers]
    started = time.monotonic()
    inserted_at = started
    try:
        for reader in readers:
            reader.open()
        deadline = started + timeout
        while True:
            try:
                event = events.get(timeout=max(0.0, min(deadline - time.monotonic(), FAULT_POLL_S)))
            except queue.Empty:
                fault = _standing_fault(readers, time.time())
                if fault is not None:
                    raise fault from None
                if time.monotonic() < deadline:
                    continue
                raise next(
                    (f for f in (reader.fault() for reader in readers) if f is not None),
                    DeviceError("no card within the timeout", code="card.none"),
                ) from None
            if event.kind is DeviceEventKind.CARD_INSERTED:
                inserted_at = time.monotonic()
            elif event.kind is DeviceEventKind.IDENTITY:
                return event.payload, (time.monotonic() - inserted_at) * 1000
            elif event.kind is DeviceEventKind.READ_FAILED:
                raise event.payload
    finally:
        for stop in unsubscribe:
            stop()
        for reader in readers:
            reader.close()


def technician_message(messages: Messages, error: KioskError) -> str:
    """The technician's wording where the catalogue has one (`technician.<code>`), else the citizen's."""
    code = f"technician.{error.code}"
    if not messages.has(code):
        return messages.error(error)
    params = {key: "、".join(value) if isinstance(value, list) else value for key, value in error.params.items()}
    if params.get("readers") == "":
        params["readers"] = messages.t("technician.card.no_readers")
    return messages.t(code, **params)


def run(readers: list[BaseDevice], timeout: float) -> tuple[int, str]:
    """Exit code and the JSON line to print."""
    try:
        identity, elapsed_ms = wait_for_card(readers, timeout)
    except KioskError as exc:
        message = technician_message(Messages("zh-CN"), exc)
        return 1, json.dumps({"error": {"code": exc.code, "message": message}}, ensure_ascii=False)
    return 0, json.dumps({**identity_json(identity), "elapsed_ms": round(elapsed_ms, 1)}, ensure_ascii=False)
