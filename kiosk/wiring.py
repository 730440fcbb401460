"""Builds the kiosk's parts from configuration. No Kivy here: the CLI and tests use it too."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import cast
from urllib.parse import urlsplit

import requests

from kiosk.core.catalogue import Catalogue, load_catalogue
from kiosk.core.code_kinds import CodeRules
from kiosk.core.config import KioskConfig
from kiosk.core.devices import DeviceState, Printer
from kiosk.core.hall_client import HallClient
from kiosk.core.journey import Journey, Terminal
from kiosk.core.messages import PRIMARY, Messages
from kiosk.core.receipt_number import ReceiptNumbers, format_number
from kiosk.core.session import IdleWatch
from kiosk.peripherals.base import BaseDevice
from kiosk.peripherals.factory import build_devices

log = logging.getLogger(__name__)
# The embedded (demo) hall knows this appointment, so the demo can show scanning one.
DEMO_APPOINTMENT = {"code": "YY20260101000001", "kind": "appointment", "item_id": "residence-permit", "slot": ""}


@dataclass
class Kiosk:
    config: KioskConfig
    messages: Messages
    catalogue: Catalogue
    devices: dict[str, BaseDevice]
    hall: HallClient
    journey: Journey
    embedded_hall: object | None = None

    def demo_code(self, kind: str) -> str:
        """What the demo's "show a code" controls hold up to the simulated camera."""
        if kind == "appointment":
            return DEMO_APPOINTMENT["code"]
        journey = self.journey
        last = journey.numbers.last()
        return journey.terminal.progress_url + (last or format_number(journey.terminal.id, dt.date.today(), 1))

    def close(self) -> None:
        for device in self.devices.values():
            device.close()
        if self.embedded_hall is not None:
            self.embedded_hall.stop()  # type: ignore[attr-defined]


def start_embedded_hall(config: KioskConfig) -> object:
    """The demo's hall server, inside the kiosk process, on the loopback address of hall.url."""
    from hall.server import EmbeddedHall  # the terminal proper never ships the hall

    url = urlsplit(str(config.hall.url))
    if url.hostname not in ("127.0.0.1", "localhost", "::1"):
        raise ValueError(f"hall.url = {config.hall.url}: an embedded hall listens on loopback only")
    hall_dir = config.data_dir / "hall"
    hall_dir.mkdir(parents=True, exist_ok=True)
    hall = EmbeddedHall(
        host=url.hostname or "127.0.0.1",
        port=url.port or 80,
        db_url=f"sqlite:///{hall_dir / 'hall.db'}",
        documents_dir=hall_dir / "documents",
    )
    hall.start()
    requests.post(f"{hall.url}/v1/appointments", json=DEMO_APPOINTMENT, timeout=10).raise_for_status()
    return hall


def build(config: KioskConfig, *, start_hall: bool = True, open_devices: bool = True) -> Kiosk:
    config.data_dir.mkdir(parents=True, exist_ok=True)
    messages = Messages(config.terminal.language)
    catalogue = load_catalogue()
    embedded = start_embedded_hall(config) if config.hall.embedded and start_hall else None
    hall_url = str(config.hall.url).rstrip("/")
    hall = HallClient(hall_url, config.hall.timeout_s, config.terminal.id)
    devices = build_devices(config.peripherals, config.data_dir)
    if open_devices:
        for device in devices.values():
            device.open()
    printer = devices["printer"]
    journey = Journey(
        catalogue=catalogue,
        hall=hall,
        printer=cast(Printer, printer) if printer.status().state is not DeviceState.NOT_CONFIGURED else None,
        numbers=ReceiptNumbers(config.terminal.id, config.data_dir / "receipt-sequence.json"),
        messages=Messages(PRIMARY),  # papers are official documents: always in Chinese
        terminal=Terminal(
            id=config.terminal.id,
            hall_name=config.terminal.hall_name,
            consult_phone=config.terminal.consult_phone,
            progress_url=f"{hall_url}/progress/",
        ),
        idle=IdleWatch(config.ui.idle_timeout_s, config.ui.idle_warning_s),
        code_rules=CodeRules.from_config(config),
    )
    return Kiosk(config, messages, catalogue, devices, hall, journey, embedded)
