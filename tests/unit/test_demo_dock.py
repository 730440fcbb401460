"""The demo dock over the devices the demo configuration builds, and the device contract's stand-ins.

The dock is the one set of controls the demo's buttons and the tests use on the simulated devices.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from kiosk.core.config import Peripherals, load_config
from kiosk.core.devices import DeviceEvent, DeviceEventKind, Devices, Level
from kiosk.core.errors import DeviceError
from kiosk.core.identity import CardType
from kiosk.demo.dock import DemoCode, DemoDock, DemoUnavailable
from kiosk.demo.seed import DEMO_APPOINTMENT
from kiosk.peripherals.cards.simulated import SimulatedCardReader
from kiosk.peripherals.factory import build_devices
from kiosk.peripherals.printer.simulated import SimulatedPrinter

RECEIPT_LINK = "http://127.0.0.1:8765/progress/DEMO0001-20240506-0001X"


@pytest.fixture
def devices(tmp_path: Path) -> Devices:
    """The demo configuration's devices, not opened: a simulated card reader, camera and printer."""
    return build_devices(load_config().peripherals, tmp_path)


@pytest.fixture
def dock(devices: Devices) -> DemoDock:
    reader = devices.card_reader
    assert isinstance(reader, SimulatedCardReader)
    printer = devices.printer
    assert isinstance(printer, SimulatedPrinter)
    return DemoDock(cards=[reader], printer=printer, last_receipt=lambda: RECEIPT_LINK)


def kinds(events: list[DeviceEvent]) -> list[DeviceEventKind]:
    return [event.kind for event in events if event.kind is not DeviceEventKind.STATE]


def test_a_placed_demo_card_is_read_and_taken_away(devices: Devices, dock: DemoDock) -> None:
    events: list[DeviceEvent] = []
    devices.card_reader.subscribe(events.append)
    citizen = dock.place_card(CardType.SOCIAL_SECURITY)
    assert citizen.card_type is CardType.SOCIAL_SECURITY
    assert kinds(events) == [DeviceEventKind.CARD_INSERTED, DeviceEventKind.IDENTITY]
    assert events[-1].payload == citizen and devices.card_reader.card_present()
    dock.take_cards()
    assert kinds(events)[-1] == "card_removed"  # a StrEnum: the kinds compare with their names too
    assert not devices.card_reader.card_present()


def test_a_scripted_read_fault(devices: Devices, dock: DemoDock) -> None:
    events: list[DeviceEvent] = []
    devices.card_reader.subscribe(events.append)
    dock.fail_next_read("card.removed")
    dock.place_card()
    assert kinds(events) == [DeviceEventKind.CARD_INSERTED, DeviceEventKind.READ_FAILED]
    assert isinstance(events[-1].payload, DeviceError) and events[-1].payload.code == "card.removed"


def test_the_codes_the_demo_phone_shows(dock: DemoDock) -> None:
    assert dock.code(DemoCode.APPOINTMENT) == DEMO_APPOINTMENT["code"]
    assert dock.code(DemoCode.RECEIPT) == RECEIPT_LINK


def test_the_simulated_printers_paper(devices: Devices, dock: DemoDock) -> None:
    printer = devices.printer
    assert isinstance(printer, SimulatedPrinter)
    dock.set_paper(Level.OUT)
    assert printer.machine.level is Level.OUT
    dock.load_paper()
    assert printer.machine.level is Level.OK
    assert dock.printouts("*.png") == []


def test_the_dock_over_the_demo_devices_finds_every_simulated_part(devices: Devices) -> None:
    dock = DemoDock.over(devices)
    dock.run_page_cycle(False)
    assert dock.place_page(slide=0) == 1
    dock.hold_up_code(DemoCode.APPOINTMENT)
    dock.set_paper(Level.LOW)
    dock.place_card()
    dock.take_cards()


def test_a_dock_without_simulated_parts_says_so() -> None:
    dock = DemoDock()
    for command in (dock.place_card, dock.place_page, dock.load_paper, lambda: dock.code(DemoCode.RECEIPT)):
        with pytest.raises(DemoUnavailable):
            command()
    dock.take_cards()  # no card on no reader: nothing to lift


def test_a_role_left_empty_holds_no_card_and_refuses_every_command(tmp_path: Path) -> None:
    none = Peripherals.model_validate({role: {"driver": "none"} for role in ("card_reader", "camera", "printer")})
    devices = build_devices(none, tmp_path)
    for device in devices.by_role().values():
        device.open()
        assert device.status().state == "not_configured"
    assert not any(reader.card_present() for reader in devices.card_readers())
    for command in (
        lambda: devices.id_reader.read_identity(1.0),
        lambda: devices.camera.claim("materials"),
        lambda: devices.camera.scan_code(1.0),
        lambda: devices.printer.print_document(None, "job-1", 1.0),  # type: ignore[arg-type]
    ):
        with pytest.raises(DeviceError) as caught:
            command()
        assert caught.value.code == "device.not_configured"
