"""Devices from configuration: the driver named in kiosk.toml for each role.

Real drivers are imported only when configured: a terminal without PC/SC readers needs no
pyscard, and the demo needs no serial port.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from kiosk.core.config import Peripherals
from kiosk.core.devices import Level
from kiosk.peripherals.base import BaseDevice, Unconfigured
from kiosk.peripherals.camera.simulated import simulated_camera
from kiosk.peripherals.cards.simulated import SimulatedCardReader
from kiosk.peripherals.printer.profile import load_profile
from kiosk.peripherals.printer.simulated import SimulatedPrinter
from kiosk.vision.quality import Gates


def _pcsc(config: Peripherals) -> BaseDevice:
    from kiosk.peripherals.cards.pcsc.reader import PcscCardReader

    return PcscCardReader("card_reader", config.card_reader.reader, config.card_reader.contactless_reader)


def _sam(config: Peripherals) -> BaseDevice:
    from kiosk.peripherals.cards.sam.reader import SamIdReader

    return SamIdReader("id_reader", config.id_reader.port, config.id_reader.baud)


def _camera_options(config: Peripherals) -> dict[str, Any]:
    return {"gates": Gates(sharpness_floor=config.camera.sharpness_floor), "code_decoder": config.camera.code_decoder}


def _opencv_camera(config: Peripherals) -> BaseDevice:
    from kiosk.peripherals.camera.opencv import opencv_camera

    camera = config.camera
    return opencv_camera("camera", camera.device, camera.width, camera.height, camera.fps, **_camera_options(config))


def _escpos_printer(config: Peripherals, data_dir: Path) -> BaseDevice:
    from kiosk.peripherals.printer.driver import EscPosPrinter

    printer = config.printer
    profile = load_profile(printer.profile)
    return EscPosPrinter(
        "printer", printer.connection, profile, data_dir / "printer-jobs.jsonl", printer.status_timeout_s
    )


def build_devices(config: Peripherals, data_dir: Path) -> dict[str, BaseDevice]:
    printer = config.printer
    makers: dict[str, dict[str, Callable[[], BaseDevice]]] = {
        "card_reader": {"simulated": lambda: SimulatedCardReader("card_reader"), "pcsc": lambda: _pcsc(config)},
        "id_reader": {"simulated": lambda: SimulatedCardReader("id_reader"), "sam": lambda: _sam(config)},
        "camera": {
            "simulated": lambda: simulated_camera(
                "camera",
                config.camera.width,
                config.camera.height,
                config.camera.fps,
                config.camera.playlist,
                **_camera_options(config),
            ),
            "opencv": lambda: _opencv_camera(config),
        },
        "printer": {
            "simulated": lambda: SimulatedPrinter(
                "printer", data_dir / "printed", load_profile(printer.profile), Level(printer.paper)
            ),
            "escpos": lambda: _escpos_printer(config, data_dir),
        },
    }
    drivers = {
        "card_reader": config.card_reader.driver,
        "id_reader": config.id_reader.driver,
        "camera": config.camera.driver,
        "printer": printer.driver,
    }
    return {role: makers[role].get(drivers[role], lambda r=role: Unconfigured(r))() for role in makers}
