"""The simulated printer: files per job, one print per job id, scripted faults."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from kiosk.core.devices import Device, DeviceEvent, DeviceState, FixedBy, Level
from kiosk.core.documents import QR, Document
from kiosk.core.errors import ConfigError, DeviceError, DeviceTimeout
from kiosk.peripherals import escpos_parse
from kiosk.peripherals.sim_printer import SimulatedPrinter
from tests.unit.paper_fixtures import PROGRESS_URL, make_messages, make_receipt


@pytest.fixture
def receipt(tmp_path: Path) -> Document:
    messages_dir = tmp_path / "messages"
    messages_dir.mkdir()
    return make_receipt(make_messages(messages_dir))


@pytest.fixture
def printer(tmp_path: Path) -> SimulatedPrinter:
    device = SimulatedPrinter("printer", tmp_path / "out", 58)
    device.open()
    return device


def _events(device: SimulatedPrinter) -> list[DeviceEvent]:
    events: list[DeviceEvent] = []
    device.subscribe(events.append)
    return events


def test_is_a_device_with_capabilities_and_paper(printer: SimulatedPrinter) -> None:
    assert isinstance(printer, Device)
    assert printer.capabilities == {"qr_native", "cut", "paper_58"}
    status = printer.status()
    assert (status.state, status.code, status.consumables) == (
        DeviceState.READY,
        "device.ready",
        {"paper": Level.OK},
    )


def test_prints_png_raw_and_text(printer: SimulatedPrinter, receipt: Document) -> None:
    events = _events(printer)
    result = printer.print_document(receipt, "DEMO0001202405060012K", timeout=10)
    raw = Path(result.artefacts["raw"])
    assert result.byte_count == raw.stat().st_size > 0
    assert escpos_parse.parse(raw.read_bytes()).qr_payloads() == [PROGRESS_URL]
    assert Path(result.artefacts["png"]).read_bytes().startswith(b"\x89PNG")
    assert Path(result.artefacts["text"]).read_text(encoding="utf-8").splitlines() == receipt.text_lines()
    assert [e.kind for e in events if e.kind != "state"] == ["printed"]
    assert printer.status().state is DeviceState.READY


def test_a_job_is_printed_once(printer: SimulatedPrinter, receipt: Document, tmp_path: Path) -> None:
    events = _events(printer)
    first = printer.print_document(receipt, "job-1", timeout=10)
    mtime = Path(first.artefacts["raw"]).stat().st_mtime_ns
    assert printer.print_document(receipt, "job-1", timeout=10) == first
    assert [e.kind for e in events].count("printed") == 1
    # after a restart of the kiosk the files are the record
    again = SimulatedPrinter("printer", tmp_path / "out", 58)
    again.open()
    assert again.print_document(receipt, "job-1", timeout=10) == first
    assert Path(first.artefacts["raw"]).stat().st_mtime_ns == mtime


def test_paper_out_is_a_hardware_error_for_staff(printer: SimulatedPrinter, receipt: Document) -> None:
    events = _events(printer)
    printer.set_paper(Level.OUT)
    status = printer.status()
    assert (status.state, status.code, status.fixed_by) == (
        DeviceState.HARDWARE_ERROR,
        "printer.paper_out",
        FixedBy.STAFF,
    )
    assert status.consumables == {"paper": Level.OUT}
    assert "paper_out" in [e.kind for e in events]
    with pytest.raises(DeviceError) as caught:
        printer.print_document(receipt, "job-2", timeout=10)
    assert caught.value.code == "printer.paper_out"
    assert not list(printer.out_dir.glob("job-2.*"))
    printer.set_paper(Level.OK)  # staff change the roll
    assert printer.status().state is DeviceState.READY
    printer.print_document(receipt, "job-2", timeout=10)


def test_paper_out_at_start(tmp_path: Path, receipt: Document) -> None:
    device = SimulatedPrinter("printer", tmp_path / "out", 80, paper=Level.OUT)
    events = _events(device)
    device.open()
    assert device.status().code == "printer.paper_out"
    assert [e.kind for e in events if e.kind != "state"] == ["paper_out"]


def test_paper_low_still_prints(printer: SimulatedPrinter, receipt: Document) -> None:
    events = _events(printer)
    printer.set_paper(Level.LOW)
    assert printer.status().state is DeviceState.READY
    assert printer.status().consumables["paper"] is Level.LOW
    assert "paper_low" in [e.kind for e in events]
    printer.print_document(receipt, "job-3", timeout=10)


def test_fail_next_fails_one_job(printer: SimulatedPrinter, receipt: Document) -> None:
    printer.fail_next("printer.offline")
    with pytest.raises(DeviceError) as caught:
        printer.print_document(receipt, "job-4", timeout=10)
    assert caught.value.code == "printer.offline"
    status = printer.status()
    assert (status.state, status.code, status.fixed_by) == (
        DeviceState.HARDWARE_ERROR,
        "printer.offline",
        FixedBy.RETRY,
    )
    assert printer.print_document(receipt, "job-4", timeout=10).job_id == "job-4"
    assert printer.status().state is DeviceState.READY


def test_timeout_leaves_state_unknown_and_never_prints_twice(printer: SimulatedPrinter, receipt: Document) -> None:
    printer.set_delay(0.5)
    with pytest.raises(DeviceTimeout):
        printer.print_document(receipt, "job-5", timeout=0.05)
    assert printer.status().state is DeviceState.UNKNOWN
    with pytest.raises(DeviceError) as caught:  # the first try is still on the print head
        printer.print_document(receipt, "job-5", timeout=0.05)
    assert caught.value.code == "printer.busy"
    printer.set_delay(0)
    deadline = time.monotonic() + 5
    while not (printer.out_dir / "job-5.bin").exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    result = printer.print_document(receipt, "job-5", timeout=10)  # the abandoned try did print it
    assert result.job_id == "job-5"
    assert len(list(printer.out_dir.glob("job-5.*"))) == 3


def test_closed_printer_refuses(printer: SimulatedPrinter, receipt: Document) -> None:
    printer.close()
    with pytest.raises(DeviceError) as caught:
        printer.print_document(receipt, "job-6", timeout=10)
    assert caught.value.code == "printer.offline"


def test_refuses_bad_configuration_and_job_ids(tmp_path: Path, printer: SimulatedPrinter, receipt: Document) -> None:
    with pytest.raises(ConfigError):
        SimulatedPrinter("printer", tmp_path, 76)
    with pytest.raises(ValueError):
        printer.print_document(receipt, "../escape", timeout=10)


def test_a_document_it_cannot_print_leaves_the_printer_ready(printer: SimulatedPrinter) -> None:
    too_big = Document("t", (QR("x" * 5000),))  # over what a QR code at correction M holds
    with pytest.raises(Exception):  # noqa: B017 - the QR library's own overflow error
        printer.print_document(too_big, "job-7", timeout=10)
    assert printer.status().state is DeviceState.READY
    assert not list(printer.out_dir.glob("job-7.*"))
