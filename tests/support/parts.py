"""The parts `scripts/setup.sh test` installs (Chromium, PostgreSQL, pcscd, vpcd, faketime, Xvfb, …).

A test that needs a missing part fails under CI=true: CI ran the set-up, so a missing part is a
set-up defect, and a skip would hide it. It skips, saying why, only where the set-up said it cannot
install the part on this system (KIOSK_UNAVAILABLE_PARTS, `name=reason;name=reason`, exported by
scripts/setup.sh: Ubuntu ships Chromium only as a snap), or outside CI, where pytest may run
without the set-up.
"""

from __future__ import annotations

import os

import pytest


def unavailable_parts() -> dict[str, str]:
    """What the set-up could not install here: part → why."""
    entries = os.environ.get("KIOSK_UNAVAILABLE_PARTS", "").split(";")
    return dict(entry.split("=", 1) for entry in entries if "=" in entry)


def require(part: str, present: bool, missing: str) -> None:
    """Go on if `present`; otherwise skip or fail the test, as above. `missing` says what is absent."""
    if present:
        return
    why = unavailable_parts().get(part)
    if why:
        pytest.skip(f"{part}: the set-up cannot install it here: {why}")
    message = f"{part} is missing ({missing}): scripts/setup.sh test installs it"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{message}, yet CI ran it")
    pytest.skip(message)
