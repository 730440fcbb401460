"""Devices from configuration: the driver named in kiosk.toml for each role."""

from __future__ import annotations

from pathlib import Path

from kiosk.core.config import Peripherals
from kiosk.core.devices import Level
from kiosk.peripherals.base import BaseDevice, Unconfigured
from kiosk.peripherals.sim_camera import SimulatedCamera
from kiosk.peripherals.sim_card import SimulatedCardReader
from kiosk.peripherals.sim_printer import SimulatedPrinter


def build_devices(config: Peripherals, data_dir: Path) -> dict[str, BaseDevice]:
    devices: dict[str, BaseDevice] = {}
    reader = config.card_reader
    devices["card_reader"] = (
        SimulatedCardReader("card_reader") if reader.driver == "simulated" else Unconfigured("card_reader")
    )
    camera = config.camera
    devices["camera"] = (
        SimulatedCamera("camera", camera.width, camera.height)
        if camera.driver == "simulated"
        else Unconfigured("camera")
    )
    printer = config.printer
    devices["printer"] = (
        SimulatedPrinter("printer", data_dir / "printed", printer.paper_width_mm, Level(printer.paper))
        if printer.driver == "simulated"
        else Unconfigured("printer")
    )
    return devices
