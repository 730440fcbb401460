"""The ESC/POS driver through real sockets to the printer emulator: papers, QR codes, faults, jobs once."""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Iterator
from pathlib import Path

import cv2
import pytest

from kiosk.core import papers
from kiosk.core.devices import DeviceState, FixedBy, Level
from kiosk.core.documents import Document
from kiosk.core.errors import DeviceError
from kiosk.core.messages import Messages
from kiosk.peripherals.printer.driver import EscPosPrinter
from kiosk.peripherals.printer.emulator import PrinterEmulator, PrinterMachine
from kiosk.peripherals.printer.paper.layout import Line, layout
from kiosk.peripherals.printer.profile import PrinterProfile, load_profile
from kiosk.technician.print_sample import SAMPLES, sample_document
from kiosk.vision.scanner import CodeScanner
from tests.unit.paper_fixtures import PROGRESS_URL, RECEIPT_NO, make_receipt

TIMEOUT = 10.0
AT = dt.datetime(2026, 11, 24, 9, 30, tzinfo=dt.timezone(dt.timedelta(hours=8)))


def profile(width: int, **changes: object) -> PrinterProfile:
    return load_profile(f"generic-{width}").model_copy(update=changes)


@pytest.fixture
def machine(tmp_path: Path) -> PrinterMachine:
    return PrinterMachine(80, tmp_path / "paper")


@pytest.fixture
def emulator(machine: PrinterMachine) -> Iterator[PrinterEmulator]:
    with PrinterEmulator(machine) as running:
        yield running


def make_printer(emulator: PrinterEmulator, tmp_path: Path, width: int = 80, **changes: object) -> EscPosPrinter:
    device = EscPosPrinter("printer", emulator.url, profile(width, **changes), tmp_path / "jobs.jsonl")
    device.open()
    return device


@pytest.fixture
def printer(emulator: PrinterEmulator, tmp_path: Path) -> Iterator[EscPosPrinter]:
    device = make_printer(emulator, tmp_path)
    yield device
    device.close()


def receipt() -> Document:
    return make_receipt(Messages())


def complete(machine: PrinterMachine) -> list[list[str]]:
    return [paper.text_lines() for paper in machine.papers if paper.complete]


# -- papers round-trip ------------------------------------------------------------------------


@pytest.mark.parametrize("width", [58, 80])
@pytest.mark.parametrize("kind", SAMPLES)
def test_every_paper_prints_line_for_line(tmp_path: Path, width: int, kind: str) -> None:
    """What the emulator decodes from our bytes is exactly the laid-out text: Chinese, punctuation, Latin."""
    machine = PrinterMachine(width, tmp_path / "paper")
    document = sample_document(kind, profile(width), AT)
    with PrinterEmulator(machine) as emulator:
        device = make_printer(emulator, tmp_path, width)
        try:
            device.print_document(document, f"{kind}-{width}", TIMEOUT)
        finally:
            device.close()
    (paper,) = machine.papers
    expected = [item.text for item in layout(document, width) if isinstance(item, Line)]
    assert paper.complete and not paper.errors
    assert paper.text_lines() == expected


def test_the_test_page_holds_every_character_class(printer: EscPosPrinter, machine: PrinterMachine) -> None:
    printer.print_document(sample_document("test", printer.profile, AT), "test-page", TIMEOUT)
    lines = machine.papers[0].text_lines()
    assert any(line and all(not ch.isalnum() for ch in line.strip()) for line in lines)  # punctuation only
    assert any(line.isascii() and any(ch.isalpha() for ch in line) for line in lines)  # Latin only
    text = "\n".join(lines)
    for sample in ("𠀀", "㐀", "龘", "，。、；：", "ＡＢＣ", "^_`{|}~", "┌─┬─┐", "1101**********002X"):
        assert sample in text


def _scan(png: Path) -> list[str]:
    image = cv2.imread(str(png), cv2.IMREAD_GRAYSCALE)
    read = CodeScanner(frozenset({"QRCode"})).scan_still(image)
    return [read.text] if read else []


@pytest.mark.parametrize(
    "changes",
    [
        {"native_qr": True},
        {"native_qr": False, "image_method": "bitImageRaster"},
        {"native_qr": False, "image_method": "graphics", "fragment_height": 48},
        {"native_qr": False, "image_method": "bitImageColumn"},
    ],
    ids=["native", "raster", "graphics-fragments", "column"],
)
@pytest.mark.parametrize("width", [58, 80])
def test_the_qr_on_paper_reads_back_as_the_progress_url(
    emulator: PrinterEmulator, machine: PrinterMachine, tmp_path: Path, width: int, changes: dict[str, object]
) -> None:
    machine.paper_dots = {58: 384, 80: 576}[width]
    device = make_printer(emulator, tmp_path, width, **changes)
    try:
        device.print_document(receipt(), "qr", TIMEOUT)
    finally:
        device.close()
    (paper,) = machine.papers
    assert paper.png is not None
    assert _scan(paper.png) == [PROGRESS_URL]
    if changes["native_qr"]:
        assert paper.qr_payloads() == [PROGRESS_URL]  # the printer drew it from GS ( k


# -- status -----------------------------------------------------------------------------------


def test_status_is_read_and_paper_low_still_prints(printer: EscPosPrinter, machine: PrinterMachine) -> None:
    events: list[str] = []
    printer.subscribe(lambda event: events.append(event.kind))
    machine.set_paper(Level.LOW)
    printer.print_document(receipt(), "low", TIMEOUT)
    assert printer.status().consumables["paper"] is Level.LOW
    assert "paper_low" in events and "printed" in events
    assert len(complete(machine)) == 1


def test_paper_out_refuses_before_sending_anything(printer: EscPosPrinter, machine: PrinterMachine) -> None:
    machine.set_paper(Level.OUT)
    with pytest.raises(DeviceError) as caught:
        printer.print_document(receipt(), "out", TIMEOUT)
    assert caught.value.code == "printer.paper_out"
    status = printer.status()
    assert (status.state, status.fixed_by, status.consumables["paper"]) == (
        DeviceState.HARDWARE_ERROR,
        FixedBy.STAFF,
        Level.OUT,
    )
    assert machine.papers == []


def test_unknown_status_prints_with_a_warning(
    printer: EscPosPrinter, machine: PrinterMachine, caplog: pytest.LogCaptureFixture
) -> None:
    machine.silent(True)
    with caplog.at_level(logging.WARNING, logger="kiosk.peripherals.printer.driver"):
        printer.print_document(receipt(), "silent", TIMEOUT)
    assert "paper status unknown" in caplog.text
    assert RECEIPT_NO not in caplog.text
    assert printer.status().state is DeviceState.READY
    assert printer.status().consumables["paper"] is Level.UNKNOWN  # never read as "out"
    assert len(complete(machine)) == 1
    assert printer.journal.get("silent")["confirmed"] is False


# -- a job prints once, whatever happens --------------------------------------------------------


def test_paper_running_out_mid_job_prints_one_whole_receipt_after_refill(
    printer: EscPosPrinter, machine: PrinterMachine
) -> None:
    machine.load_paper(300)  # the roll ends a few lines into the receipt
    with pytest.raises(DeviceError) as caught:
        printer.print_document(receipt(), "mid-out", TIMEOUT)
    assert caught.value.code == "printer.paper_out"
    assert [paper.complete for paper in machine.papers] == [False]  # the torn-off stub

    ready = threading.Event()
    printer.subscribe(lambda e: e.kind == "state" and e.payload.state is DeviceState.READY and ready.set())
    machine.load_paper()  # staff put in a new roll; the driver notices by itself
    assert ready.wait(TIMEOUT)
    printer.print_document(receipt(), "mid-out", TIMEOUT)
    printer.print_document(receipt(), "mid-out", TIMEOUT)  # asked again: nothing more comes out
    whole = complete(machine)
    assert len(whole) == 1 and RECEIPT_NO in whole[0]
    assert whole[0] == [item.text for item in layout(receipt(), 80) if isinstance(item, Line)]


def test_cover_opened_mid_job_prints_once_after_it_is_closed(
    printer: EscPosPrinter, emulator: PrinterEmulator, machine: PrinterMachine
) -> None:
    emulator.delay(0.4)  # the job is on its way when the cover opens
    threading.Timer(0.1, machine.open_cover).start()
    with pytest.raises(DeviceError) as caught:
        printer.print_document(receipt(), "cover", TIMEOUT)
    assert caught.value.code == "printer.cover_open"
    assert printer.status().fixed_by is FixedBy.STAFF
    emulator.delay(0)
    machine.close_cover()
    printer.print_document(receipt(), "cover", TIMEOUT)
    assert len(complete(machine)) == 1


def test_a_dropped_connection_gives_exactly_one_whole_receipt(
    printer: EscPosPrinter, emulator: PrinterEmulator, machine: PrinterMachine
) -> None:
    emulator.drop_after(200)  # the line drops in the middle of the receipt
    printer.print_document(receipt(), "drop", TIMEOUT)
    assert [paper.complete for paper in machine.papers] == [False, True]
    assert RECEIPT_NO in complete(machine)[0]


def test_a_finished_job_is_not_printed_again_after_a_restart(
    emulator: PrinterEmulator, machine: PrinterMachine, tmp_path: Path
) -> None:
    first = make_printer(emulator, tmp_path)
    result = first.print_document(receipt(), "restart", TIMEOUT)
    first.close()
    again = make_printer(emulator, tmp_path)  # the kiosk restarted: same journal
    try:
        assert again.print_document(receipt(), "restart", TIMEOUT).byte_count == result.byte_count
    finally:
        again.close()
    assert len(machine.papers) == 1


def test_no_printer_is_offline_for_the_technician(tmp_path: Path) -> None:
    with PrinterEmulator(PrinterMachine(80)) as gone:
        url = gone.url  # a port that nobody listens on once it stops
    device = EscPosPrinter("printer", url, profile(80), tmp_path / "jobs.jsonl", connect_timeout=1)
    device.open()
    try:
        assert (device.status().state, device.status().fixed_by) == (DeviceState.DISCONNECTED, FixedBy.TECHNICIAN)
        with pytest.raises(DeviceError) as caught:
            device.print_document(receipt(), "nobody", 1.5)
        assert caught.value.code == "printer.offline"
    finally:
        device.close()


def test_bad_job_ids_and_unprintable_documents_leave_the_printer_ready(printer: EscPosPrinter) -> None:
    with pytest.raises(ValueError):
        printer.print_document(receipt(), "../etc/passwd", TIMEOUT)
    with pytest.raises(ValueError):
        printer.print_document(Document("qr", (papers.QR("x" * 8000),)), "too-long", TIMEOUT)
    assert printer.status().state is DeviceState.READY
