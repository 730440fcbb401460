"""A printer model's profile: what its firmware can do, in a TOML file a technician can edit.

The built-in profiles are config/printers/<name>.toml; `[peripherals.printer] profile` names
one of them or gives the path of a technician's own.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from kiosk.core.errors import ConfigError
from kiosk.core.paths import CONFIG_DIR
from kiosk.core.schema import Strict, load_toml, parse

PROFILES_DIR = CONFIG_DIR / "printers"


class PrinterProfile(Strict):
    name: str
    description: str = ""
    paper_width_mm: Literal[58, 80] = 80
    # gb18030 reaches every character; gbk for old firmware, whose missing characters print as 〓
    encoding: Literal["gb18030", "gbk"] = "gb18030"
    image_method: Literal["bitImageRaster", "graphics", "bitImageColumn"] = "bitImageRaster"
    fragment_height: int = Field(default=960, ge=24, le=2400)  # taller images go out in slices
    native_qr: bool = True  # GS ( k; False: QR codes are sent as raster images
    cutter: Literal["full", "partial", "none"] = "full"
    # What the driver may ask; what it uses is what the printer answers when a connection opens
    # (driver.py: the probe). status: DLE EOT / GS r / GS I may be asked; False: nothing is, the
    # paper level stays unknown and jobs count printed once sent.
    status: bool = True
    # GS ( H may be asked: where answered, a job is confirmed printed by it; where not (or False),
    # by the status after the cut
    process_id: bool = True


def profile_path(name_or_path: str) -> Path:
    path = Path(name_or_path)
    if path.suffix == ".toml" or len(path.parts) > 1:
        return path
    return PROFILES_DIR / f"{name_or_path}.toml"


def load_profile(name_or_path: str) -> PrinterProfile:
    """The profile named (config/printers/NAME.toml) or at a path; ConfigError if missing or bad."""
    path = profile_path(name_or_path)
    try:
        data = load_toml(path)
    except (OSError, ValueError) as exc:  # ValueError: tomllib's decode error
        raise ConfigError(f"printer profile {path}: {exc}", code="printer.bad_profile") from None
    return parse(PrinterProfile, data, str(path), ConfigError)
