"""`kiosk outbox`: what a technician needs of a terminal's outbox, on site or over a remote shell.

    kiosk outbox list                      what has not reached the hall (one JSON line each)
    kiosk outbox requeue KEY               give a parked application (receipt number) or rating
                                           (session id) another try, now
    kiosk outbox purge --older-than-days N drop tombstones of applications the hall has had for N days

It opens the outbox beside a running kiosk (SQLite WAL allows that) without its upkeep: the
running kiosk's own sweep is the only one, so no file an enqueue has just written is taken for
an orphan. Nothing personal is printed: keys, states, error codes and times.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from kiosk.core.config import load_config
from kiosk.core.errors import ConfigError, KioskError
from kiosk.core.outbox import Outbox
from kiosk.core.sealing import Sealer, read_key

DAY_S = 86_400


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    p = sub.add_parser("outbox", help="list, requeue or purge the terminal's outbox")
    # SUPPRESS: without --config here, the top-level `kiosk --config` is not overwritten with None
    p.add_argument(
        "--config", default=argparse.SUPPRESS, help="kiosk.toml (default config/kiosk.toml or $KIOSK_CONFIG)"
    )
    actions = p.add_subparsers(dest="action", required=True)
    actions.add_parser("list", help="what has not reached the hall")
    requeue = actions.add_parser("requeue", help="try a parked application or rating again, now")
    requeue.add_argument("key", help="receipt number (application) or session id (rating)")
    purge = actions.add_parser("purge", help="drop old tombstones of delivered applications")
    purge.add_argument("--older-than-days", type=float, required=True)
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    try:
        config = load_config(Path(args.config) if getattr(args, "config", None) else None)
        sealer = Sealer(read_key(config.data_dir / config.storage.key_file))
        outbox = Outbox(config.data_dir / "outbox", sealer, config.storage.min_free_mb, upkeep=False)
    except FileNotFoundError:
        print("kiosk: outbox: no outbox key: this terminal has never queued anything", file=sys.stderr)
        return 2
    except (ConfigError, KioskError) as exc:
        print(f"kiosk: outbox: {exc}", file=sys.stderr)
        return 2
    try:
        if args.action == "list":
            for row in outbox.waiting():
                print(json.dumps(row, ensure_ascii=False))
            print(json.dumps({"stats": outbox.stats()}))
            return 0
        if args.action == "requeue":
            requeued = outbox.requeue(args.key)
            print(json.dumps({"key": args.key, "requeued": requeued}, ensure_ascii=False))
            return 0 if requeued else 1
        print(json.dumps({"purged": outbox.purge(args.older_than_days * DAY_S)}))
        return 0
    except KioskError as exc:
        print(f"kiosk: outbox: {exc.code}", file=sys.stderr)
        return 1
    finally:
        outbox.close()
