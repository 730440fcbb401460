"""scripts/lib/apt.sh, which scripts/setup.sh uses to decide what to install, and the rule that
a part the set-up installs fails a CI run when it is missing (tests/support/parts.py).

The set-up once piped `apt-cache policy chromium` into `grep -q` under `set -o pipefail`: grep
exits at its first match, apt-cache then dies of SIGPIPE while still writing, the pipeline says
141, and Chromium was never installed. The stubs here write a long answer after the line that
matters, as apt-cache does on a machine with many sources, so that race is lost every time.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.support.parts import require, unavailable_parts

APT_SH = ROOT / "scripts" / "lib" / "apt.sh"
LONG_TAIL = "printf '     500 http://deb.example/debian bookworm/main amd64 Packages\\n%.0s' $(seq 1 20000)"


def stub(folder: Path, name: str, body: str) -> None:
    path = folder / name
    path.write_text(f"#!/usr/bin/env bash\n{body}\n", encoding="utf-8")
    path.chmod(0o755)


def bash(folder: Path, script: str) -> int:
    """Runs `script` in bash with pipefail, apt.sh sourced and the stubs first on PATH; its exit code."""
    run = subprocess.run(
        ["bash", "-c", f"set -euo pipefail; . {APT_SH}; {script}"],
        env={"PATH": f"{folder}:/usr/bin:/bin"},
        capture_output=True,
        timeout=30,
        check=False,
    )
    return run.returncode


@pytest.fixture
def apt_cache(tmp_path: Path) -> Path:
    """An apt-cache whose policy offers a candidate for chromium and none for chromium-browser."""
    stub(
        tmp_path,
        "apt-cache",
        'if [ "$2" = chromium ]; then echo "chromium:"; echo "  Installed: (none)"; '
        'echo "  Candidate: 156.0.8078.73-1~deb12u1"; else echo "$2:"; echo "  Installed: (none)"; '
        'echo "  Candidate: (none)"; fi\n' + LONG_TAIL,
    )
    return tmp_path


def test_the_stub_loses_the_race_that_broke_the_old_check(apt_cache: Path) -> None:
    """The old line, with this apt-cache: 141, although chromium has a candidate."""
    assert bash(apt_cache, 'apt-cache policy chromium 2>/dev/null | grep -q "Candidate: [0-9]"') == 141


def test_a_package_with_a_candidate_is_found_whatever_apt_cache_writes_after(apt_cache: Path) -> None:
    for _ in range(5):
        assert bash(apt_cache, "apt_has_candidate chromium") == 0


def test_a_snap_only_package_has_no_candidate(apt_cache: Path) -> None:
    assert bash(apt_cache, "apt_has_candidate chromium-browser") == 1


def test_installed_packages_are_found_under_either_name(tmp_path: Path) -> None:
    # dpkg-query answers the name it knows and complains about the other one, as it does.
    stub(
        tmp_path,
        "dpkg-query",
        'for p in "${@:3}"; do case "$p" in pcscd|libgl1t64) echo "install ok installed";; '
        '*) echo "dpkg-query: no packages found matching $p" >&2;; esac; done\n' + LONG_TAIL,
    )
    assert bash(tmp_path, "apt_is_installed pcscd") == 0
    assert bash(tmp_path, "apt_is_installed libgl1") == 0  # Ubuntu 24.04's t64 rename
    assert bash(tmp_path, "apt_is_installed chromium") == 1


def test_no_pipe_into_grep_q_is_left_in_the_scripts() -> None:
    for script in [*ROOT.glob("scripts/**/*.sh"), ROOT / ".ci" / "run"]:
        for number, line in enumerate(script.read_text(encoding="utf-8").splitlines(), 1):
            code = line.split("#", 1)[0]
            assert not ("|" in code and "grep -q" in code), f"{script.name}:{number} pipes into grep -q"


# -- a missing part: fail in CI, skip only where the set-up said it cannot install it -------------


def test_a_missing_part_fails_the_test_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    monkeypatch.setenv("KIOSK_UNAVAILABLE_PARTS", "")
    with pytest.raises(pytest.fail.Exception, match="chromium is missing"):
        require("chromium", False, "/usr/bin/chromium")
    require("chromium", True, "/usr/bin/chromium")  # present: nothing happens


def test_a_part_the_set_up_cannot_install_here_skips_with_its_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    monkeypatch.setenv("KIOSK_UNAVAILABLE_PARTS", "chromium=only a snap here;other=because")
    assert unavailable_parts() == {"chromium": "only a snap here", "other": "because"}
    with pytest.raises(pytest.skip.Exception, match="only a snap here"):
        require("chromium", False, "/usr/bin/chromium")
    with pytest.raises(pytest.fail.Exception):
        require("postgresql", False, "no server binaries")  # only what was named may skip


def test_outside_ci_a_missing_part_skips(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="installs it"):
        require("faketime", False, "no faketime on PATH")
