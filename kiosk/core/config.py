"""config/kiosk.toml, validated at start: a bad value stops the start with one line."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, HttpUrl

from kiosk.core.errors import ConfigError
from kiosk.core.paths import CONFIG_DIR, PROJECT_ROOT
from kiosk.core.schema import Strict, load_toml, parse

DEFAULT_CONFIG = CONFIG_DIR / "kiosk.toml"


class Terminal(Strict):
    id: Annotated[str, Field(pattern=r"^[A-Z0-9]{6,12}$")]  # goes into every receipt number
    hall_name: str
    consult_phone: str
    opening_hours: str
    staffed_hours: str = ""  # when staff are on site (the zone itself is open 7×24)
    language: Literal["zh-CN", "en"] = "zh-CN"


class Hall(Strict):
    """Where the hall service is. `embedded` starts it inside the kiosk on loopback (demo)."""

    url: HttpUrl
    embedded: bool = False
    timeout_s: float = Field(default=10.0, gt=0, le=120)
    # the terminal's signing key, shared with the hall (hex, readable only by the kiosk user);
    # relative to the data folder. The demo makes one and gives it to its embedded hall.
    key_file: Path = Path("keys/hall-signing.key")
    # how often the terminal reports its devices and outbox to the hall (and learns of a new catalogue)
    heartbeat_s: float = Field(default=60.0, ge=10, le=3600)


class CardReader(Strict):
    """PC/SC readers: social security cards (contact slot, and contactless on 3rd-generation cards).

    Readers are chosen by name pattern (fnmatch, case-insensitive), never by index: indexes
    change when a reader is replugged."""

    driver: Literal["simulated", "pcsc", "none"] = "simulated"
    reader: str = "*"  # the citizen's contact slot
    contactless_reader: str = ""  # "" = no contactless slot


class IdReader(Strict):
    """The resident ID card's certified SAM module on a serial line."""

    driver: Literal["simulated", "sam", "none"] = "none"
    port: str = "/dev/ttyUSB0"
    baud: Literal[115200, 57600, 38400, 19200, 9600] = 115200


class Camera(Strict):
    """The fixed document camera over the base plate; it also reads codes held up to it."""

    driver: Literal["simulated", "opencv", "none"] = "simulated"
    device: str = "0"  # opencv: an index, a path (/dev/video2) or part of the camera's name
    width: int = Field(default=1920, ge=320, le=7680)
    height: int = Field(default=1080, ge=240, le=4320)
    fps: int = Field(default=15, ge=1, le=60)
    playlist: list[str] = []  # simulated: video files or image sequences to play; [] = drawn demo pages
    sharpness_floor: float = Field(default=0.15, ge=0, le=1)  # below this a page is never sharp enough (per lens)
    code_decoder: Literal["zxing", "pyzbar"] = "zxing"  # pyzbar: the baseline, for comparison only


class Codes(Strict):
    """What the camera's code reader acts on. Anything else is shown and not acted on."""

    appointment_pattern: str = r"^YY\d{14}$"
    prereview_pattern: str = r"^YS\d{14}$"
    elicence_hosts: list[str] = []  # e-licence links are followed only to these hosts (and subdomains)


class Printer(Strict):
    """The receipt printer. `escpos` talks ESC/POS through python-escpos; `simulated` runs the
    project's printer emulator inside the kiosk and talks ESC/POS to it over loopback.

    `connection`: tcp://HOST[:PORT] (9100 by default), usb://VID:PID, serial:///dev/ttyS0?baud=9600,
    file:///dev/usb/lp0. `profile`: a model's profile in config/printers/ (by name) or a path."""

    driver: Literal["simulated", "escpos", "none"] = "simulated"
    connection: str = "tcp://127.0.0.1:9100"
    profile: str = "generic-80"
    paper: Literal["ok", "low", "out"] = "ok"  # simulated: the emulator's paper at start
    status_timeout_s: float = Field(default=0.5, gt=0, le=10)  # a printer silent this long has no status


class Peripherals(Strict):
    card_reader: CardReader = CardReader()
    id_reader: IdReader = IdReader()
    camera: Camera = Camera()
    printer: Printer = Printer()


class UI(Strict):
    fullscreen: bool = True
    width: int = Field(default=1080, ge=640, le=3840)  # windowed size
    height: int = Field(default=1920, ge=480, le=3840)
    large_text: bool = False
    idle_timeout_s: float = Field(default=60, ge=1, le=600)
    idle_warning_s: float = Field(default=20, ge=1, le=120)
    demo_controls: bool = False  # "insert demo card" and the like: only in the demo


class Storage(Strict):
    data_dir: Path = Path("data")
    key_file: Path = Path("keys/outbox.key")  # encrypts the outbox at rest; made at first start; relative to data_dir
    min_free_mb: int = Field(default=200, ge=10)  # under this, no new session starts: the queue keeps its room


class KioskConfig(Strict):
    terminal: Terminal
    hall: Hall
    peripherals: Peripherals = Peripherals()
    codes: Codes = Codes()
    ui: UI = UI()
    storage: Storage = Storage()

    @property
    def data_dir(self) -> Path:
        path = self.storage.data_dir
        return path if path.is_absolute() else PROJECT_ROOT / path


def load_config(path: Path | None = None) -> KioskConfig:
    """Load and validate; KIOSK_CONFIG names another file. Raises ConfigError with one line."""
    path = path or Path(os.environ.get("KIOSK_CONFIG", DEFAULT_CONFIG))
    try:
        data = load_toml(path)
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path.name}: not valid TOML: {exc}") from None
    return parse(KioskConfig, data, path.name, ConfigError)
