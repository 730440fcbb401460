"""Golden ESC/POS bytes for every paper at 58 and 80 mm: any change to what goes to the printer shows.

A change that is meant (new wording, a layout fix) is accepted by regenerating the files:
    KIOSK_UPDATE_GOLDEN=1 .venv/bin/pytest tests/unit/test_printer_golden.py
and reviewing the new PNGs the emulator renders from them (tests/golden/printer/*.png).
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest

from kiosk.core import papers
from kiosk.core.documents import Document
from kiosk.core.messages import Messages
from kiosk.peripherals.printer.emulator import PrinterMachine
from kiosk.peripherals.printer.escpos import encode as escpos
from kiosk.peripherals.printer.escpos import parse as escpos_parse
from kiosk.peripherals.printer.paper import render
from kiosk.peripherals.printer.paper.layout import Line, layout
from kiosk.peripherals.printer.profile import load_profile
from tests.unit.paper_fixtures import AT, RECEIPT_NO, make_item, make_receipt

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "printer"
UPDATE = os.environ.get("KIOSK_UPDATE_GOLDEN") == "1"
UTC_AT = AT.astimezone(dt.UTC)


def _paper(kind: str, width: int) -> Document:
    messages = Messages()
    if kind == "acceptance":
        return make_receipt(messages)
    if kind == "acceptance-offline":
        return make_receipt(messages, offline=True)
    if kind == "checklist":
        return papers.checklist(make_item(), messages=messages, hall_name="示范县政务服务中心", printed_at=AT)
    if kind == "missing":
        item = make_item()
        return papers.checklist(
            item, messages=messages, hall_name="示范县政务服务中心", printed_at=AT, missing=["proxy"]
        )
    if kind == "query":
        answer = {
            "receipt_no": RECEIPT_NO,
            "item_name": make_item().name,
            "state": "reviewing",
            "timeline": [
                {"state": "received", "at": (UTC_AT - dt.timedelta(days=1)).isoformat()},
                {"state": "reviewing", "at": UTC_AT.isoformat(), "note": "材料齐全，进入审核"},
            ],
        }
        return papers.progress_result(
            messages=messages, answer=answer, hall_name="示范县政务服务中心", printed_at=AT, terminal_id="DEMO0001"
        )
    return papers.test_page(
        messages=messages, terminal_id="DEMO0001", printed_at=AT, paper_width_mm=width, profile_name=f"generic-{width}"
    )


KINDS = ("acceptance", "acceptance-offline", "checklist", "missing", "query", "test")


@pytest.mark.parametrize("width", [58, 80])
@pytest.mark.parametrize("kind", KINDS)
def test_paper_bytes_match_the_golden_file(kind: str, width: int) -> None:
    document = _paper(kind, width)
    data = escpos.encode(document, load_profile(f"generic-{width}"))
    golden = GOLDEN / f"{kind}-{width}.bin"
    if UPDATE:
        golden.write_bytes(data)
        machine = PrinterMachine(width)  # the picture is what the emulator makes of the bytes
        machine.feed(data)
        render.render_items(machine.papers[0].items, machine.paper_dots).save(golden.with_suffix(".png"))
    assert golden.exists(), f"{golden.name} missing: run with KIOSK_UPDATE_GOLDEN=1 and review it"
    assert data == golden.read_bytes()
    # and the golden file itself is what the paper says, line for line
    printout = escpos_parse.parse(golden.read_bytes(), {58: 384, 80: 576}[width])
    assert printout.text_lines() == [item.text for item in layout(document, width) if isinstance(item, Line)]
    assert printout.cut
