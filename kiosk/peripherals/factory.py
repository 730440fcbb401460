"""Devices from configuration: the driver named in kiosk.toml for each role.

Real drivers are imported only when configured: a terminal without PC/SC readers needs no
pyscard, and the demo needs no serial port.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from kiosk.core.config import Peripherals
from kiosk.core.devices import Camera, CardReader, Device, Devices, Level, Printer
from kiosk.peripherals.base import Unconfigured
from kiosk.peripherals.camera.simulated import simulated_camera
from kiosk.peripherals.cards.simulated import SimulatedCardReader
from kiosk.peripherals.printer.profile import load_profile
from kiosk.peripherals.printer.simulated import SimulatedPrinter
from kiosk.vision.quality import Gates


def _pcsc(config: Peripherals) -> CardReader:
    from kiosk.peripherals.cards.pcsc.reader import PcscCardReader

    return PcscCardReader("card_reader", config.card_reader.reader, config.card_reader.contactless_reader)


def _sam(config: Peripherals) -> CardReader:
    from kiosk.peripherals.cards.sam.reader import SamIdReader

    return SamIdReader("id_reader", config.id_reader.port, config.id_reader.baud)


def _camera_options(config: Peripherals) -> dict[str, Any]:
    return {"gates": Gates(sharpness_floor=config.camera.sharpness_floor), "code_decoder": config.camera.code_decoder}


def _opencv_camera(config: Peripherals) -> Camera:
    from kiosk.peripherals.camera.opencv import opencv_camera

    camera = config.camera
    return opencv_camera("camera", camera.device, camera.width, camera.height, camera.fps, **_camera_options(config))


def _escpos_printer(config: Peripherals, data_dir: Path) -> Printer:
    from kiosk.peripherals.printer.driver import EscPosPrinter

    printer = config.printer
    profile = load_profile(printer.profile)
    return EscPosPrinter(
        "printer", printer.connection, profile, data_dir / "printer-jobs.jsonl", printer.status_timeout_s
    )


D = TypeVar("D", bound=Device)


def _chosen(role: str, driver: str, makers: Mapping[str, Callable[[], D]]) -> D | Unconfigured:
    """The device the configured driver makes for `role`; for "none", a stand-in that refuses every command."""
    make = makers.get(driver)
    return make() if make is not None else Unconfigured(role)


def build_devices(config: Peripherals, data_dir: Path) -> Devices:
    printer = config.printer
    camera = config.camera
    return Devices(
        card_reader=_chosen(
            "card_reader",
            config.card_reader.driver,
            {"simulated": lambda: SimulatedCardReader("card_reader"), "pcsc": lambda: _pcsc(config)},
        ),
        id_reader=_chosen(
            "id_reader",
            config.id_reader.driver,
            {"simulated": lambda: SimulatedCardReader("id_reader"), "sam": lambda: _sam(config)},
        ),
        camera=_chosen(
            "camera",
            camera.driver,
            {
                "simulated": lambda: simulated_camera(
                    "camera", camera.width, camera.height, camera.fps, camera.playlist, **_camera_options(config)
                ),
                "opencv": lambda: _opencv_camera(config),
            },
        ),
        printer=_chosen(
            "printer",
            printer.driver,
            {
                "simulated": lambda: SimulatedPrinter(
                    "printer", data_dir / "printed", load_profile(printer.profile), Level(printer.paper)
                ),
                "escpos": lambda: _escpos_printer(config, data_dir),
            },
        ),
    )
