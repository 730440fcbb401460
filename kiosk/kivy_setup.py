"""Kivy settings that must be made before Kivy creates its window."""

from __future__ import annotations

import os
from pathlib import Path


def configure_kivy(data_dir: Path, *, fullscreen: bool, width: int, height: int) -> None:
    (data_dir / "kivy").mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("KIVY_NO_ARGS", "1")  # our CLI owns the command line
    os.environ.setdefault("KIVY_HOME", str(data_dir / "kivy"))
    os.environ.setdefault("KIVY_LOG_MODE", "PYTHON")
    from kivy.config import Config

    Config.set("graphics", "fullscreen", "auto" if fullscreen else "0")
    if not fullscreen:
        Config.set("graphics", "width", str(width))
        Config.set("graphics", "height", str(height))
    Config.set("graphics", "resizable", "0")
    Config.set("input", "mouse", "mouse,disable_multitouch")  # no red multitouch dots on right click
    Config.set("kivy", "exit_on_escape", "0")  # a citizen must not close the kiosk
