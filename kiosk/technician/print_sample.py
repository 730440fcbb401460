"""`kiosk print --printer URL --sample acceptance|checklist|query|test --json`: a sample paper.

For the technician installing a printer: one made-up citizen (a GB 11643 example ID number,
masked on paper, as always) on the first service of the catalogue. Prints one JSON line
{"job_id", "printed", "bytes", "confirmation", "model", "firmware", "ms", "state", "paper"}
(and "code" when the printer refused) and exits 0 when printed, 1 when the printer refused
(state and code say why), 2 on a bad profile or connection.

`bytes` is what was sent to the printer, a failed job's too (0: refused before sending);
`confirmation` how the job was counted printed (status.Confirmation: "process_id", "status",
"none"), or, when it failed after sending, what was awaited; null when nothing was sent;
`model` and `firmware` what the printer answered to GS I, null where it did not.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import tempfile
import time
from pathlib import Path

from kiosk.core import papers
from kiosk.core.catalogue import load_catalogue
from kiosk.core.documents import Document
from kiosk.core.errors import ConfigError, KioskError
from kiosk.core.messages import PRIMARY, Messages
from kiosk.core.progress import BEIJING
from kiosk.core.receipt_number import format_number
from kiosk.demo.identities import DEMO_CITIZENS
from kiosk.peripherals.printer.driver import EscPosPrinter
from kiosk.peripherals.printer.profile import PrinterProfile, load_profile

SAMPLES = ("acceptance", "checklist", "query", "test")
SAMPLE_TERMINAL = "SAMPLE01"
SAMPLE_RECEIPT = format_number(SAMPLE_TERMINAL, dt.date(2026, 11, 24), 17)
SAMPLE_URL = "https://zwfw.example.gov.cn/progress/" + SAMPLE_RECEIPT


def sample_document(kind: str, profile: PrinterProfile, at: dt.datetime | None = None) -> Document:
    """The sample paper `kind`, in zh-CN, for `profile`'s paper."""
    at = at or dt.datetime.now(BEIJING)
    messages = Messages(PRIMARY)
    item = load_catalogue().items[0]
    citizen = DEMO_CITIZENS[0]
    hall = "示范县政务服务中心 24小时自助服务区"
    if kind == "acceptance":
        return papers.acceptance_receipt(
            messages=messages,
            item=item,
            receipt_no=SAMPLE_RECEIPT,
            applicant_name=citizen.name,
            id_number=citizen.id_number,
            submitted_at=at,
            materials=[(material.name, 1) for material in item.materials[:3]],
            hall_name=hall,
            terminal_id=SAMPLE_TERMINAL,
            progress_url=SAMPLE_URL,
        )
    if kind == "checklist":
        return papers.checklist(item, messages=messages, hall_name=hall, printed_at=at)
    if kind == "query":
        accepted = (at - dt.timedelta(days=2)).astimezone(dt.UTC).isoformat()
        answer = {
            "receipt_no": SAMPLE_RECEIPT,
            "item_name": item.name,
            "state": "reviewing",
            "timeline": [
                {"state": "received", "at": accepted},
                {"state": "reviewing", "at": at.astimezone(dt.UTC).isoformat()},
            ],
        }
        return papers.progress_result(
            messages=messages, answer=answer, hall_name=hall, printed_at=at, terminal_id=SAMPLE_TERMINAL
        )
    return papers.test_page(
        messages=messages,
        terminal_id=SAMPLE_TERMINAL,
        printed_at=at,
        paper_width_mm=profile.paper_width_mm,
        profile_name=profile.name,
    )


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    p = sub.add_parser("print", help="print a sample paper on a printer and report bytes, time and state")
    p.add_argument("--printer", required=True, help="tcp://HOST:PORT, usb://VID:PID, serial:///DEV, file:///PATH")
    p.add_argument("--sample", choices=SAMPLES, default="test")
    p.add_argument("--profile", default="generic-80", help="a profile name in config/printers/ or a .toml path")
    p.add_argument("--timeout", type=float, default=30.0)
    p.add_argument("--json", action="store_true", help="print JSON (the only format)")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    try:
        profile = load_profile(args.profile)
        document = sample_document(args.sample, profile)
        with tempfile.TemporaryDirectory() as scratch:  # samples always print: no journal kept
            printer = EscPosPrinter("printer", args.printer, profile, Path(scratch) / "jobs.jsonl")
            report = _print(printer, document, args.sample, args.timeout)
    except ConfigError as exc:
        print(json.dumps({"error": str(exc)}, ensure_ascii=False))
        return 2
    print(json.dumps(report, ensure_ascii=False))
    return 0 if report["printed"] else 1


def _print(printer: EscPosPrinter, document: Document, kind: str, timeout: float) -> dict[str, object]:
    job_id = f"sample-{kind}-{int(time.time() * 1000)}"
    printer.open()
    started = time.perf_counter()
    try:
        printer.print_document(document, job_id, timeout)
        report: dict[str, object] = {"job_id": job_id, "printed": True}
    except KioskError as exc:
        report = {"job_id": job_id, "printed": False, "code": exc.code}
    finally:
        elapsed = (time.perf_counter() - started) * 1000
        status = printer.status()
        job, answers = printer.last_job, printer.answers
        printer.close()
    return {
        **report,
        "bytes": job.sent if job else 0,
        "confirmation": job.confirmation if job else None,
        "model": answers.model if answers else None,
        "firmware": answers.firmware if answers else None,
        "ms": round(elapsed, 1),
        "state": status.state.value,
        "paper": status.consumables.get("paper", "unknown"),
    }
