"""`kiosk demo-submit --hall URL --count N`: queue made-up applications in the outbox and drain it to a hall.

Each application is shaped as the journey submits one (kiosk.core.journey, `_submission`): a demo
citizen, the first catalogue item with a material that takes three pages, three ~500 KB A4 JPEG
pages that differ by --seed and index. They go through the real outbox (sealed, durable) and the
real uploader, so the command is safe to kill at any moment: an enqueue is atomic and every upload
step is idempotent at the hall; `--count 0` finishes whatever an earlier run left.

Output, one JSON line each: {"receipt_no", "ms"} per application the hall committed, then
{"queued", "delivered", "left", "stuck", "ms"} (and "error" when an enqueue was refused, e.g.
storage.full). Exit 0 when the outbox is empty at the end; 1 when something is left (the hall
stayed unreachable for --give-up-s), parked, or an enqueue was refused; 2 on a config or key
error. Nothing personal is printed or logged: receipt numbers and codes only.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import io
import json
import logging
import os
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from kiosk.core import protocol
from kiosk.core.catalogue import Material, ServiceItem, load_catalogue
from kiosk.core.config import KioskConfig, load_config
from kiosk.core.errors import ConfigError, KioskError
from kiosk.core.hall_client import HallClient
from kiosk.core.identity import Identity
from kiosk.core.journey import applicant_record
from kiosk.core.outbox import Outbox
from kiosk.core.receipt_number import ReceiptNumbers
from kiosk.core.sealing import read_key
from kiosk.core.uploader import Uploader
from kiosk.demo.identities import DEMO_CITIZENS
from kiosk.wiring import build_outbox

log = logging.getLogger(__name__)

PAGES = 3
PAGE_SIZE = (1240, 1754)  # A4 at 150 dpi, as the document camera delivers it
NOISE = 10  # grey levels of paper grain: keeps a page near 500 KB as JPEG instead of a few KB
MAX_SLEEP_S = 2.0  # longest wait between drain rounds, so the give-up deadline is kept


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    p = sub.add_parser("demo-submit", help="queue made-up applications and drain the outbox to a hall")
    p.add_argument("--hall", required=True, help="the hall's base URL (signed with the config's key file)")
    p.add_argument("--count", type=int, required=True, help="applications to make; 0 only drains")
    # SUPPRESS: without --config here, the top-level `kiosk --config` is not overwritten with None
    p.add_argument(
        "--config", default=argparse.SUPPRESS, help="kiosk.toml (default config/kiosk.toml or $KIOSK_CONFIG)"
    )
    p.add_argument("--seed", type=int, default=0, help="varies the generated pages")
    p.add_argument("--give-up-s", type=float, default=60.0, help="stop after this long without a delivery")
    p.add_argument("--record", type=Path, help="append {receipt_no, parts: {name: sha256}} here before each enqueue")
    p.set_defaults(func=run)
    return p


def demo_item() -> tuple[ServiceItem, Material]:
    """The first catalogue item with a material that takes PAGES pages."""
    for item in load_catalogue().items:
        for material in item.materials:
            if material.max_pages >= PAGES:
                return item, material
    raise ConfigError(f"no catalogue item has a material of {PAGES} pages")


def page_jpeg(seed: int, index: int, page: int) -> bytes:
    """One A4 page: paper grain plus printed lines, deterministic in (seed, index, page)."""
    rng = np.random.default_rng([seed, index, page])
    grain = 235 + rng.integers(-NOISE, NOISE + 1, (PAGE_SIZE[1], PAGE_SIZE[0]), dtype=np.int16)
    image = Image.fromarray(grain.clip(0, 255).astype(np.uint8), "L").convert("RGB")
    draw = ImageDraw.Draw(image)
    for row, y in enumerate(range(100, PAGE_SIZE[1] - 60, 40)):
        draw.text((100, y), f"DEMO {seed}-{index}-{page} line {row} " * 4, fill=(20, 20, 20))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=85)
    return out.getvalue()


def demo_application(
    receipt_no: str, terminal_id: str, item: ServiceItem, material: Material, citizen: Identity
) -> dict[str, Any]:
    """The application JSON as Journey._submission builds it (kiosk.core.protocol.Application), for a
    session that scanned the citizen's card and photographed PAGES pages of one material."""
    prefill = citizen.field_values()
    form = {f.id: prefill.get(f.prefill, "") or f.default or (f.choices[0] if f.choices else "") for f in item.fields}
    application = protocol.Application(
        receipt_no=receipt_no,
        terminal_id=terminal_id,
        session_id=uuid.uuid4().hex[:12],
        item_id=item.id,
        item_name=item.name,
        submitted_at=dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        applicant=protocol.Applicant(**applicant_record(citizen)),
        form={k: v for k, v in form.items() if v},
        materials=[protocol.Material(id=material.id, name=material.name, pages=PAGES)],
    )
    return protocol.wire(application)


def append_record(path: Path, receipt_no: str, parts: list[tuple[str, bytes]]) -> None:
    """One JSON line, written with a single write and fsynced: a kill leaves it whole or absent."""
    line = json.dumps({"receipt_no": receipt_no, "parts": {n: hashlib.sha256(d).hexdigest() for n, d in parts}})
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        os.write(fd, (line + "\n").encode("ascii"))
        os.fsync(fd)
    finally:
        os.close(fd)


def enqueue_demo(outbox: Outbox, config: KioskConfig, count: int, seed: int, record: Path | None) -> Iterator[str]:
    """Queue `count` applications, yielding each receipt number once it is durable.
    KioskError (storage.full, …) stops it."""
    item, material = demo_item()
    numbers = ReceiptNumbers(config.terminal.id, config.data_dir / "receipt-sequence.json")
    for index in range(count):
        if not outbox.has_room():  # as the journey does before a session: not even a number is taken
            raise KioskError("under the storage reserve", code="storage.full")
        receipt_no = numbers.next()
        application = demo_application(
            receipt_no, config.terminal.id, item, material, DEMO_CITIZENS[index % len(DEMO_CITIZENS)]
        )
        parts = [(f"{material.id}/{page}.jpg", page_jpeg(seed, index, page)) for page in range(1, PAGES + 1)]
        if record is not None:
            append_record(record, receipt_no, parts)
        outbox.enqueue(receipt_no, application, parts)
        yield receipt_no


def drain(outbox: Outbox, uploader: Uploader, give_up_s: float) -> int:
    """Deliver until the outbox is empty or nothing was delivered for `give_up_s`; how many were delivered.

    Prints {"receipt_no", "ms"} per delivery."""
    delivered = 0
    last_progress = time.monotonic()
    while outbox.depth() and time.monotonic() - last_progress < give_up_s:
        started = time.perf_counter()
        try:
            receipt_no = uploader.drain_once()
        except Exception as exc:  # e.g. the disk is full for the tombstone: the round is tried again
            log.error("demo-submit: round failed (%s)", type(exc).__name__)
            receipt_no = None
        if receipt_no is not None:
            delivered += 1
            last_progress = time.monotonic()
            ms = round((time.perf_counter() - started) * 1000, 1)
            print(json.dumps({"receipt_no": receipt_no, "ms": ms}), flush=True)
            continue
        due = outbox.next_try_at()
        wait = MAX_SLEEP_S if due is None else due - time.time()
        time.sleep(min(max(wait, 0.05), MAX_SLEEP_S))
    return delivered


def run(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    try:
        config_path = getattr(args, "config", None)
        config = load_config(Path(config_path) if config_path else None)
        key = read_key(config.data_dir / config.hall.key_file)
        config.data_dir.mkdir(parents=True, exist_ok=True)
        outbox = build_outbox(config)
    except FileNotFoundError:
        print("kiosk: demo-submit: hall.key_file is missing: provision the terminal's key", file=sys.stderr)
        return 2
    except (ConfigError, KioskError) as exc:
        print(f"kiosk: demo-submit: {exc}", file=sys.stderr)
        return 2
    hall = HallClient(args.hall, key, config.terminal.id, config.hall.timeout_s)
    summary: dict[str, Any] = {"queued": 0}
    try:
        try:
            for _ in enqueue_demo(outbox, config, args.count, args.seed, args.record):
                summary["queued"] += 1
        except KioskError as exc:  # storage.full: keep what is queued, send it, say why the rest is not
            summary["error"] = exc.code
            print(f"kiosk: demo-submit: not queued: {exc.code}", file=sys.stderr)
        summary["delivered"] = drain(outbox, Uploader(outbox, hall), args.give_up_s)
        stats = outbox.stats()
        summary |= {"left": stats["depth"], "stuck": stats["stuck"]}
    except KioskError as exc:  # storage.full: not a byte free, the outbox cannot even open; nothing is lost
        summary["error"] = exc.code
        print(f"kiosk: demo-submit: the outbox cannot open: {exc.code}", file=sys.stderr)
    finally:
        hall.close()
        outbox.close()
    summary["ms"] = round((time.perf_counter() - started) * 1000)
    print(json.dumps(summary), flush=True)
    return 0 if summary.get("left") == 0 and summary.get("stuck") == 0 and "error" not in summary else 1
