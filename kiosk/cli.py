"""The one command line: `kiosk run|hall|selftest …` (main.py and the `kiosk` console script)."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from kiosk.core.config import KioskConfig, load_config
from kiosk.core.errors import CatalogueError, ConfigError
from kiosk.core.logctx import configure_logging
from kiosk.technician import demo_submit, outbox_tool, print_sample, printer_emulator, scan_code, scan_doc

log = logging.getLogger("kiosk")


def _config(path: str | None) -> KioskConfig:
    try:
        return load_config(Path(path) if path else None)
    except ConfigError as exc:
        print(f"kiosk: config error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def cmd_run(args: argparse.Namespace) -> int:
    config = _config(args.config)
    ui = config.ui
    fullscreen = ui.fullscreen and not args.windowed
    from kiosk.kivy_setup import configure_kivy

    configure_kivy(config.data_dir, fullscreen=fullscreen, width=ui.width, height=ui.height)
    import asyncio

    from kiosk.app import KioskApp
    from kiosk.wiring import build

    kiosk = build(config)
    app = KioskApp(kiosk)
    try:
        asyncio.run(app.async_run(async_lib="asyncio"))
    finally:
        kiosk.close()
    return 0


def cmd_selftest(args: argparse.Namespace) -> int:
    config = _config(args.config)
    from kiosk.peripherals.factory import build_devices

    devices = build_devices(config.peripherals, config.data_dir)
    report: dict[str, dict[str, object]] = {}
    for role, device in devices.by_role().items():
        device.open()
        report[role] = {
            "driver": device.driver,
            **device.status().as_dict(),
            "capabilities": sorted(device.capabilities),
        }
        device.close()
    ok = all(entry["state"] in ("ready", "not_configured") for entry in report.values())
    if args.json:
        print(json.dumps({"ok": ok, "devices": report}, ensure_ascii=False))
    else:
        for role, entry in report.items():
            print(f"{role:12} {entry['driver']:10} {entry['state']:15} {entry['code']}")
    return 0 if ok else 1


def cmd_read_card(args: argparse.Namespace) -> int:
    """One card from the PC/SC readers (and the SAM module when --sam names its port)."""
    from kiosk.peripherals.base import BaseDevice
    from kiosk.technician.read_card import run

    config = _config(args.config).peripherals
    readers: list[BaseDevice] = []
    if not args.no_pcsc:
        from kiosk.peripherals.cards.pcsc.reader import PcscCardReader

        pattern = args.reader or config.card_reader.reader
        readers.append(PcscCardReader("card_reader", pattern, config.card_reader.contactless_reader))
    if args.sam:
        from kiosk.peripherals.cards.sam.reader import SamIdReader

        readers.append(SamIdReader("id_reader", args.sam, args.baud or config.id_reader.baud))
    code, line = run(readers, args.timeout)
    print(line)
    return code


def cmd_hall(args: argparse.Namespace) -> int:
    from hall.server import serve

    data = Path(args.data)
    data.mkdir(parents=True, exist_ok=True)
    keys = dict(args.terminal_key)
    catalogue_dir = Path(args.catalogue) if args.catalogue else None
    try:
        serve(
            args.host,
            args.port,
            args.db or f"sqlite:///{data / 'hall.db'}",
            data / "documents",
            keys,
            catalogue_dir=catalogue_dir,
            staff_users=dict(args.staff_user),
        )
    except CatalogueError as exc:  # nothing to serve terminals yet: say which file, not a traceback
        print(f"kiosk hall: catalogue error: {exc}", file=sys.stderr)
        return 2
    return 0


def _terminal_key(text: str) -> tuple[str, bytes]:
    from hall.signing import parse_terminal_key

    try:
        return parse_terminal_key(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _staff_user(text: str) -> tuple[str, str]:
    from hall.staff_auth import parse_staff_user

    try:
        return parse_staff_user(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="kiosk", description="Self-service hall kiosk")
    p.add_argument("--config", help="kiosk.toml to use (default config/kiosk.toml, or $KIOSK_CONFIG)")
    p.add_argument("-v", "--verbose", action="store_true")
    sub = p.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="start the kiosk UI")
    run.add_argument("--windowed", action="store_true", help="a window instead of full screen")
    run.set_defaults(func=cmd_run)
    selftest = sub.add_parser("selftest", help="open every configured device and report its state")
    selftest.add_argument("--json", action="store_true")
    selftest.set_defaults(func=cmd_selftest)
    read_card = sub.add_parser("read-card", help="wait for one card and print the identity it holds")
    read_card.add_argument("--json", action="store_true", help="print JSON (the only format)")
    read_card.add_argument("--reader", help="PC/SC reader name pattern (default: config card_reader.reader)")
    read_card.add_argument("--no-pcsc", action="store_true", help="do not use PC/SC readers")
    read_card.add_argument("--sam", metavar="SERIALPORT", help="also read resident ID cards on this SAM port")
    read_card.add_argument("--baud", type=int, help="SAM baud rate (default: config id_reader.baud)")
    read_card.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for a card")
    read_card.set_defaults(func=cmd_read_card)
    scan_code.add_parser(sub)
    scan_doc.add_parser(sub)
    print_sample.add_parser(sub)
    printer_emulator.add_parser(sub)
    demo_submit.add_parser(sub)
    outbox_tool.add_parser(sub)
    hall = sub.add_parser("hall", help="run the hall server in the foreground")
    hall.add_argument("--host", default="127.0.0.1")
    hall.add_argument("--port", type=int, default=8765)
    hall.add_argument("--db", help="database URL (default sqlite in --data)")
    hall.add_argument("--data", default="data/hall-server", help="folder for documents (and the default DB)")
    hall.add_argument(
        "--terminal-key",
        metavar="ID=HEXKEY",
        type=_terminal_key,
        action="append",
        default=[],
        help="a terminal's 32-byte signing key in hex (repeatable; kept in the hall's database)",
    )
    hall.add_argument(
        "--staff-user",
        metavar="NAME:PASSWORD",
        type=_staff_user,
        action="append",
        default=[],
        help="a staff account for /staff and the staff API (repeatable; stored hashed in the hall's database)",
    )
    hall.add_argument(
        "--catalogue",
        metavar="DIR",
        help="the service files (*.toml) served to terminals; edit them to publish (default config/services)",
    )
    hall.set_defaults(func=cmd_hall)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    configure_logging(logging.DEBUG if args.verbose else logging.INFO)
    return int(args.func(args))
