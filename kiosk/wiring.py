"""Builds the kiosk's parts from configuration. No Kivy here: the CLI and tests use it too."""

from __future__ import annotations

import datetime as dt
import logging
import threading
from dataclasses import dataclass, field
from typing import cast
from urllib.parse import urlsplit

import requests

from kiosk.core.catalogue import Catalogue, load_catalogue
from kiosk.core.code_kinds import CodeRules
from kiosk.core.config import KioskConfig
from kiosk.core.devices import DeviceState, Printer
from kiosk.core.errors import ConfigError
from kiosk.core.hall_client import HallClient
from kiosk.core.hall_v2 import SignedHall
from kiosk.core.journey import Journey, Terminal
from kiosk.core.messages import PRIMARY, Messages
from kiosk.core.outbox import Outbox
from kiosk.core.receipt_number import ReceiptNumbers, format_number
from kiosk.core.sealing import Sealer, load_or_create_key, read_key
from kiosk.core.session import IdleWatch
from kiosk.core.uploader import Uploader
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
    outbox: Outbox
    uploader: Uploader
    embedded_hall: object | None = None
    _stop: threading.Event = field(default_factory=threading.Event)
    _worker: threading.Thread | None = None

    def start_uploader(self) -> None:
        """Drain the outbox in the background, from whatever an earlier run left in it on."""
        self._worker = threading.Thread(target=self.uploader.run, args=(self._stop,), name="uploader", daemon=True)
        self._worker.start()

    def demo_code(self, kind: str) -> str:
        """What the demo's "show a code" controls hold up to the simulated camera."""
        if kind == "appointment":
            return DEMO_APPOINTMENT["code"]
        journey = self.journey
        last = journey.numbers.last()
        return journey.terminal.progress_url + (last or format_number(journey.terminal.id, dt.date.today(), 1))

    def close(self) -> None:
        self._stop.set()
        if self._worker is not None:
            self._worker.join(timeout=10)
        for device in self.devices.values():
            device.close()
        self.outbox.close()
        if self.embedded_hall is not None:
            self.embedded_hall.stop()  # type: ignore[attr-defined]


def signing_key(config: KioskConfig) -> bytes:
    """The terminal's key for signing its requests to the hall. The demo makes its own (and gives
    it to the embedded hall); a real terminal's is provisioned with the hall, never made here."""
    path = config.data_dir / config.hall.key_file
    if config.hall.embedded:
        return load_or_create_key(path)
    try:
        return read_key(path)
    except FileNotFoundError:
        raise ConfigError(f"hall.key_file {path}: missing; provision the terminal's key with the hall") from None


def start_embedded_hall(config: KioskConfig, key: bytes) -> object:
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
        terminal_keys={config.terminal.id: key},
    )
    hall.start()
    requests.post(f"{hall.url}/v1/appointments", json=DEMO_APPOINTMENT, timeout=10).raise_for_status()
    return hall


def build_outbox(config: KioskConfig) -> Outbox:
    sealer = Sealer(load_or_create_key(config.data_dir / config.storage.key_file))
    return Outbox(config.data_dir / "outbox", sealer, config.storage.min_free_mb)


def build(config: KioskConfig, *, start_hall: bool = True, open_devices: bool = True) -> Kiosk:
    config.data_dir.mkdir(parents=True, exist_ok=True)
    messages = Messages(config.terminal.language)
    catalogue = load_catalogue()
    key = signing_key(config)
    embedded = start_embedded_hall(config, key) if config.hall.embedded and start_hall else None
    hall_url = str(config.hall.url).rstrip("/")
    hall = HallClient(hall_url, config.hall.timeout_s, config.terminal.id)
    outbox = build_outbox(config)
    # the worker's own client: a requests.Session is not shared between threads
    uploader = Uploader(outbox, SignedHall(hall_url, key, config.terminal.id, config.hall.timeout_s))
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
        outbox=outbox,
        uploader=uploader,
        code_rules=CodeRules.from_config(config),
        delivery_wait_s=config.hall.timeout_s,
    )
    kiosk = Kiosk(config, messages, catalogue, devices, hall, journey, outbox, uploader, embedded)
    kiosk.start_uploader()
    return kiosk
