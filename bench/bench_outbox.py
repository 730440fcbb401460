"""How fast the outbox keeps an application, drains it to a hall, and how many progress queries the hall answers.

    .venv/bin/python bench/bench_outbox.py [--apps 15] [--query-s 5] [--dir DATA_DIR] [--pg URL|private]

Enqueue: an application with 3 × ~500 KB JPEG pages (kiosk.technician.demo_submit's pages), sealed
and fsynced, on the data folder's disk; beside it the baseline of the same bytes written plain with
fsync. Drain: the real uploader to a loopback EmbeddedHall on SQLite (and PostgreSQL with --pg).
Progress: signed GET /v1/progress for the committed applications from 4 threads. Prints, never asserts:
the goal is enqueue p95 ≤ 20 ms.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hall.server import EmbeddedHall
from kiosk.core.config import load_config
from kiosk.core.errors import ConfigError, HallError
from kiosk.core.hall_client import HallClient
from kiosk.core.outbox import Outbox
from kiosk.core.receipt_number import format_number
from kiosk.core.sealing import Sealer, fsync_directory
from kiosk.core.uploader import Uploader
from kiosk.demo.identities import DEMO_CITIZENS
from kiosk.technician.demo_submit import PAGES, demo_application, demo_item, page_jpeg

TERMINAL = "BENCH001"
KEY = bytes.fromhex("33" * 32)
THREADS = 4
Pages = list[tuple[str, bytes]]


def data_disk() -> Path:
    """The configured data folder, or the project's data/ when there is no config."""
    try:
        return load_config().data_dir
    except ConfigError:
        return Path(__file__).resolve().parents[1] / "data"


def percentiles(ms: list[float]) -> str:
    cuts = statistics.quantiles(ms, n=20, method="inclusive")
    return f"p50 {statistics.median(ms):6.1f} ms   p95 {cuts[18]:6.1f} ms   max {max(ms):6.1f} ms"


def plain_write(directory: Path, pages: Pages) -> None:
    """The baseline: the same bytes, unencrypted, one file each, fsynced, and the folder fsynced."""
    for name, data in pages:
        with open(directory / name.replace("/", "_"), "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
    fsync_directory(directory)


def bench_enqueue(root: Path, apps: list[tuple[str, dict, Pages]]) -> Outbox:
    outbox = Outbox(root / "outbox", Sealer(KEY), min_free_mb=10)
    baseline_dir = root / "plain"
    baseline_dir.mkdir()
    sealed, plain = [], []
    for receipt_no, application, pages in apps:
        started = time.perf_counter()
        outbox.enqueue(receipt_no, application, pages)
        sealed.append((time.perf_counter() - started) * 1000)
        target = baseline_dir / receipt_no
        target.mkdir()
        started = time.perf_counter()
        plain_write(target, pages)
        plain.append((time.perf_counter() - started) * 1000)
    print(f"enqueue (sealed, fsync)  {percentiles(sealed)}   goal p95 ≤ 20 ms")
    print(f"plain writes + fsync     {percentiles(plain)}")
    return outbox


def bench_drain(label: str, outbox: Outbox, hall_url: str, megabytes: float) -> None:
    hall = HallClient(hall_url, KEY, TERMINAL, timeout=30)
    uploader = Uploader(outbox, hall)
    started = time.perf_counter()
    delivered = 0
    while outbox.depth():
        delivered += uploader.drain_once() is not None
    seconds = time.perf_counter() - started
    hall.close()
    print(f"drain to {label:10}  {delivered / seconds:6.1f} applications/s   {megabytes / seconds:6.1f} MB/s")


def bench_progress(label: str, hall_url: str, queries: list[dict[str, str]], duration: float) -> None:
    """Signed progress queries, as terminals send them, from THREADS threads (a client each)."""
    statuses: Counter[int] = Counter()
    lock = threading.Lock()
    deadline = time.monotonic() + duration

    def worker(offset: int) -> None:
        count: Counter[int] = Counter()
        i = offset
        with HallClient(hall_url, KEY, TERMINAL, timeout=10) as hall:
            while time.monotonic() < deadline:
                query = queries[i % len(queries)]
                try:
                    hall.progress(query["receipt_no"], id_tail=query["id_tail"])
                    count[200] += 1
                except HallError as exc:
                    count[exc.params.get("status", 0)] += 1
                i += 1
        with lock:
            statuses.update(count)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    answered = dict(sorted(statuses.items()))
    print(f"progress on {label:10}  {sum(statuses.values()) / duration:6.0f} queries/s ({THREADS} threads)  {answered}")


def make_apps(count: int, batch: int) -> list[tuple[str, dict, Pages]]:
    """Distinct applications (pages differ by batch and index, so no blob is shared)."""
    item, material = demo_item()
    receipts = [format_number(TERMINAL, dt.date.today(), batch * 1000 + n) for n in range(1, count + 1)]
    apps = []
    for index, receipt_no in enumerate(receipts):
        citizen = DEMO_CITIZENS[0]  # the one with an address: the larger JSON
        pages = [(f"{material.id}/{p}.jpg", page_jpeg(batch, index, p)) for p in range(1, PAGES + 1)]
        apps.append((receipt_no, demo_application(receipt_no, TERMINAL, item, material, citizen), pages))
    return apps


def run_backend(label: str, db_url: str, root: Path, apps: list[tuple[str, dict, Pages]], query_s: float) -> None:
    hall = EmbeddedHall(db_url, root / "hall-documents", terminal_keys={TERMINAL: KEY})
    hall.start()
    try:
        outbox = bench_enqueue(root, apps)
        megabytes = sum(len(d) for _, _, pages in apps for _, d in pages) / 1e6
        bench_drain(label, outbox, hall.url, megabytes)
        outbox.close()
        queries = [{"receipt_no": r, "id_tail": a["applicant"]["id_number"][-6:]} for r, a, _ in apps]
        bench_progress(label, hall.url, queries, query_s)
    finally:
        hall.stop()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--apps", type=int, default=15, help="applications per backend")
    p.add_argument("--query-s", type=float, default=5.0, help="seconds of progress queries per backend")
    p.add_argument("--dir", type=Path, help="where to write (default: the configured data folder's disk)")
    p.add_argument(
        "--pg", help="also run the hall on this PostgreSQL URL (an empty database); 'private': a server of its own"
    )
    args = p.parse_args()
    base = args.dir or data_disk()
    base.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as stack:
        if args.pg == "private":  # the tests' own throwaway server (needs Debian's postgresql binaries)
            from tests.support.postgres import postgres_server

            args.pg = stack.enter_context(postgres_server()).create_database()
        run_all(args, base)


def run_all(args: argparse.Namespace, base: Path) -> None:
    backends = [("SQLite", None)] + ([("PostgreSQL", args.pg)] if args.pg else [])
    for batch, (label, url) in enumerate(backends):
        apps = make_apps(args.apps, batch)
        with tempfile.TemporaryDirectory(dir=base, prefix="bench-outbox-") as tmp:
            root = Path(tmp)
            print(f"-- {label}: {len(apps)} applications × {PAGES} pages, {root} --")
            run_backend(label, url or f"sqlite:///{root / 'hall.db'}", root, apps, args.query_s)


if __name__ == "__main__":
    main()
