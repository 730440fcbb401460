"""Builds the kiosk's parts from configuration. No Kivy here: the CLI and tests use it too."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import requests

from kiosk.core.catalogue import load_catalogue
from kiosk.core.code_kinds import CodeRules
from kiosk.core.config import KioskConfig
from kiosk.core.devices import Devices, DeviceState
from kiosk.core.errors import ConfigError
from kiosk.core.hall_client import HallClient, HallClock
from kiosk.core.hall_link import CatalogueCache, HallLink, LinkStatus
from kiosk.core.journey import Journey, Terminal
from kiosk.core.messages import PRIMARY, Messages
from kiosk.core.outbox import Outbox
from kiosk.core.receipt_number import ReceiptNumbers
from kiosk.core.sealing import Sealer, load_or_create_key, read_key
from kiosk.core.session import IdleWatch
from kiosk.core.uploader import Uploader
from kiosk.demo.dock import DemoDock
from kiosk.demo.seed import DEMO_APPOINTMENT, DEMO_STAFF
from kiosk.peripherals.factory import build_devices

log = logging.getLogger(__name__)


@dataclass
class Kiosk:
    config: KioskConfig
    messages: Messages
    devices: Devices
    hall: HallClient
    journey: Journey
    outbox: Outbox
    uploader: Uploader
    link: LinkStatus
    hall_link: HallLink
    embedded_hall: object | None = None
    dock: DemoDock | None = None  # the demo's controls over the simulated devices; none on a real terminal
    _stop: threading.Event = field(default_factory=threading.Event)
    _workers: list[threading.Thread] = field(default_factory=list)

    def start_workers(self) -> None:
        """Drain the outbox (from whatever an earlier run left in it on) and keep the hall informed,
        in the background."""
        for name, target in (("uploader", self.uploader.run), ("hall-link", self.hall_link.run)):
            worker = threading.Thread(target=target, args=(self._stop,), name=name, daemon=True)
            worker.start()
            self._workers.append(worker)

    def report(self) -> dict[str, object]:
        """Devices and outbox, for the heartbeat."""
        stats = self.outbox.stats()
        status = {name: device.status().as_dict() for name, device in self.devices.by_role().items()}
        return {
            "devices": {
                name: {k: s[k] for k in ("state", "code", "fixed_by", "consumables")} for name, s in status.items()
            },
            "outbox": {"depth": stats["depth"], "stuck": stats["stuck"], "oldest_age_s": stats["oldest_queued_age_s"]},
        }

    def close(self) -> None:
        self._stop.set()
        self.hall_link.wake()
        for worker in self._workers:
            worker.join(timeout=10)
        for device in self.devices.by_role().values():
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
    # The demo's one staff account, for the staff page (/staff) and its booking system: the password
    # is made once, 64 hex characters in a 0600 file beside the hall's data.
    staff_file = hall_dir / "staff-password"
    staff = (DEMO_STAFF, load_or_create_key(staff_file).hex())
    hall = EmbeddedHall(
        host=url.hostname or "127.0.0.1",
        port=url.port or 80,
        db_url=f"sqlite:///{hall_dir / 'hall.db'}",
        documents_dir=hall_dir / "documents",
        terminal_keys={config.terminal.id: key},
        staff_users=dict([staff]),
    )
    hall.start()
    requests.post(f"{hall.url}/v1/appointments", json=DEMO_APPOINTMENT, auth=staff, timeout=10).raise_for_status()
    log.info(
        "demo hall: staff page %s/staff, user %s, password in %s", hall.url, DEMO_STAFF, hall_dir / "staff-password"
    )
    return hall


def build_outbox(config: KioskConfig) -> Outbox:
    sealer = Sealer(load_or_create_key(config.data_dir / config.storage.key_file))
    return Outbox(config.data_dir / "outbox", sealer, config.storage.min_free_mb)


def build(config: KioskConfig, *, start_hall: bool = True, open_devices: bool = True) -> Kiosk:
    config.data_dir.mkdir(parents=True, exist_ok=True)
    messages = Messages(config.terminal.language)
    cache = CatalogueCache(config.data_dir / "catalogue.json")
    kept = cache.load()  # what the hall last published beats what the terminal shipped with
    catalogue, catalogue_version = kept if kept else (load_catalogue(), None)
    key = signing_key(config)
    embedded = start_embedded_hall(config, key) if config.hall.embedded and start_hall else None
    link, clock = LinkStatus(), HallClock()

    def client() -> HallClient:  # one per thread: a requests.Session is not shared between threads
        return HallClient(config.hall.url, key, config.terminal.id, config.hall.timeout_s, clock, link.heard)

    hall = client()
    outbox = build_outbox(config)
    uploader = Uploader(outbox, client())
    devices = build_devices(config.peripherals, config.data_dir)
    if open_devices:
        for device in devices.by_role().values():
            device.open()
    printer = devices.printer
    hall_url = str(config.hall.url).rstrip("/")
    journey = Journey(
        catalogue=catalogue,
        hall=hall,
        printer=printer if printer.status().state is not DeviceState.NOT_CONFIGURED else None,
        numbers=ReceiptNumbers(config.terminal.id, config.data_dir / "receipt-sequence.json"),
        messages=Messages(PRIMARY),  # papers are official documents: always in Chinese
        terminal=Terminal(
            id=config.terminal.id,
            hall_name=config.terminal.hall_name,
            consult_phone=config.terminal.consult_phone,
            progress_url=f"{hall_url}/progress/",
            link_key=key,
        ),
        idle=IdleWatch(config.ui.idle_timeout_s, config.ui.idle_warning_s),
        outbox=outbox,
        uploader=uploader,
        code_rules=CodeRules.from_config(config),
        delivery_wait_s=config.hall.timeout_s,
    )
    kiosk: Kiosk
    hall_link = HallLink(
        client(),
        cache,
        catalogue_version,
        report=lambda: kiosk.report(),
        on_catalogue=lambda new, _version: journey.use_catalogue(new),
        interval_s=config.hall.heartbeat_s,
    )
    dock = DemoDock.over(devices, journey) if config.ui.demo_controls else None
    kiosk = Kiosk(config, messages, devices, hall, journey, outbox, uploader, link, hall_link, embedded, dock)
    kiosk.start_workers()
    return kiosk
