#!/usr/bin/env bash
# Sets everything up on Debian 12 / Ubuntu (system packages, a venv, the project), then:
#   scripts/setup.sh demo [--windowed]   start the kiosk in its demo configuration
#   scripts/setup.sh test                run the whole test suite (what CI runs)
#   scripts/setup.sh install             only set up
# Run as root, or as a user with sudo. Safe to run again: it installs only what is missing.
set -euo pipefail

cd "$(dirname "$0")/.."
. scripts/lib/apt.sh
mode="${1:-install}"
shift || true

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

# Debian packages: the CJK font (screens and paper), what Kivy's wheel needs for a window
# (GL/EGL, mtdev), Xvfb for headless runs and the end-to-end tests, Chromium for web pages,
# pcscd for PC/SC card readers (libpcsclite-dev and swig build pyscard, which has no wheel),
# libzbar0 for pyzbar, the baseline code decoder; libusb-1.0-0 for USB receipt printers.
APT_RUNTIME=(python3 python3-venv python3-dev gcc fonts-noto-cjk libgl1 libegl1 libgles2 libmtdev1 libzbar0 libusb-1.0-0 xvfb xauth
  pcscd libpcsclite-dev swig)
if ! ls /var/lib/apt/lists/*_Packages >/dev/null 2>&1; then
  $SUDO apt-get update -qq  # a fresh image has no package lists: nothing would have a candidate
fi
APT_TEST=(vsmartcard-vpcd)  # the virtual card reader driver: tests only, never on a terminal
# PostgreSQL's server binaries: the hall's tests run on SQLite and on PostgreSQL (production's database).
# They start a private server of their own (tests/support/postgres.py), so the system service the
# package sets up is not needed, and nothing here starts it (CI machines may have no systemd).
APT_TEST+=(postgresql)
APT_TEST+=(faketime)  # libfaketime: the clock-skew tests run the terminal with its clock set off the hall's
# Debian ships Chromium as a deb; Ubuntu only as a snap, which this script cannot install: the
# browser tests then skip, saying why (KIOSK_UNAVAILABLE_PARTS, read by tests/support/parts.py).
# Anything else the set-up installs must be there: with CI=true a test missing it fails.
export KIOSK_UNAVAILABLE_PARTS=""
if apt_has_candidate chromium; then
  APT_TEST+=(chromium)
else
  KIOSK_UNAVAILABLE_PARTS="chromium=this system's package lists have no chromium deb (Ubuntu ships it only as a snap)"
fi

need=()
wanted=("${APT_RUNTIME[@]}")
if [ "$mode" = "test" ]; then wanted+=("${APT_TEST[@]}"); fi
for pkg in "${wanted[@]}"; do
  apt_is_installed "$pkg" || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${need[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# vpcd's package enables itself for the system pcscd, listening on every interface. Our tests
# give their own pcscd its own reader.conf, so the system-wide entry is never wanted.
if [ -f /etc/reader.conf.d/vpcd ]; then
  echo "setup: removing /etc/reader.conf.d/vpcd (it would open a card reader port on every interface)"
  $SUDO rm -f /etc/reader.conf.d/vpcd
fi

PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv with $($PYTHON --version)"
  "$PYTHON" -m venv .venv
fi
stamp=".venv/.installed-$(sha256sum pyproject.toml | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  echo "setup: installing Python packages (pyproject.toml)"
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e ".[test]"
  rm -f .venv/.installed-*
  touch "$stamp"
fi

case "$mode" in
  install)
    echo "setup: done"
    ;;
  demo)
    if [ -n "${DISPLAY:-}" ] || [ -n "${WAYLAND_DISPLAY:-}" ]; then
      exec .venv/bin/kiosk run "$@"
    fi
    # No screen: a virtual one, on whatever display number is free (Xvfb picks and tells us).
    exec 3< <(exec Xvfb -displayfd 1 -screen 0 1080x1920x24 -nolisten tcp 2>/dev/null)
    xvfb_pid=$!
    read -r number <&3
    export DISPLAY=":$number"
    echo "setup: no display found: started a virtual one on $DISPLAY (screenshots only)" >&2
    # The Xvfb goes when the kiosk does, however either is stopped: a signal to this script alone
    # (a supervisor's, timeout's) is passed on to the kiosk, which shuts down, and then Xvfb ends.
    # Job control: the kiosk in a process group of its own, so a Ctrl-C reaches it through the trap.
    set -m
    .venv/bin/kiosk run "$@" &
    kiosk_pid=$!
    trap 'kill -TERM "$kiosk_pid" 2>/dev/null || true' INT TERM HUP  # the kiosk shuts down on TERM
    trap 'kill "$xvfb_pid" 2>/dev/null || true' EXIT
    status=0
    wait "$kiosk_pid" || status=$?
    while kill -0 "$kiosk_pid" 2>/dev/null; do  # a trapped signal ended `wait` early: the kiosk is closing
      status=0
      wait "$kiosk_pid" || status=$?
    done
    exit "$status"
    ;;
  test)
    .venv/bin/ruff check .
    .venv/bin/mypy  # kiosk/core and hall/ ([tool.mypy] in pyproject.toml)
    exec .venv/bin/python -m pytest "$@"
    ;;
  *)
    echo "usage: scripts/setup.sh [install|demo [--windowed]|test [pytest args]]" >&2
    exit 2
    ;;
esac
