"""Debian's headless Chromium, for tests of the hall's web pages."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.support.parts import require

CHROMIUM = Path("/usr/bin/chromium")


def require_chromium() -> None:
    require("chromium", CHROMIUM.exists(), f"{CHROMIUM}")


def chromium(profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """One headless run with its own profile folder; the closed network's background calls are off."""
    command = [
        str(CHROMIUM),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={profile}",
        "--window-size=412,900",
        *args,
    ]
    run = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert run.returncode == 0, run.stderr[-2000:]
    return run
