"""What the printer answers, found out when the line opens, and the confirmation the driver uses.

Through real TCP to the emulator in the mode of many printers sold in China: status (DLE EOT,
GS r) answered, GS ( H not. Before the probe, every job on such a printer waited out the caller's
30 s for a process ID that never came and was reported failed, although it had printed.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from kiosk.core.devices import DeviceState, Level
from kiosk.core.errors import DeviceError
from kiosk.peripherals.printer.driver import EscPosPrinter, JobReport
from kiosk.peripherals.printer.emulator import PrinterEmulator, PrinterMachine
from kiosk.peripherals.printer.escpos import encode as escpos
from kiosk.peripherals.printer.escpos import parse as escpos_parse
from kiosk.peripherals.printer.paper.layout import Line, layout
from kiosk.peripherals.printer.status import Answers
from kiosk.technician.print_sample import SAMPLES, sample_document
from tests.component.test_printer_driver import AT, complete, make_printer, profile, receipt
from tests.component.test_printer_links import receipt_lines
from tests.unit.paper_fixtures import ID_NUMBER, NAME, RECEIPT_NO

TIMEOUT = 30.0  # the caller's timeout the field report saw run out
QUICK = 5.0  # a healthy printer's job, probe included, comes well under it
MODEL, FIRMWARE = "XP-T80Q", "V7.03"
STATUS_ONLY = Answers(dle_eot=True, gs_r=True, process_id=False)


@dataclass
class Rig:
    """A printer that answers status but not GS ( H, on its port, and the driver opened on it."""

    machine: PrinterMachine
    emulator: PrinterEmulator
    printer: EscPosPrinter


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    machine = PrinterMachine(80, tmp_path / "paper", process_id=False)
    with PrinterEmulator(machine) as emulator:
        device = make_printer(emulator, tmp_path)
        try:
            yield Rig(machine, emulator, device)
        finally:
            device.close()


def wait_ready(printer: EscPosPrinter) -> threading.Event:
    ready = threading.Event()
    printer.subscribe(lambda e: e.kind == "state" and e.payload.state is DeviceState.READY and ready.set())
    return ready


@pytest.mark.parametrize("width", [58, 80])
@pytest.mark.parametrize("kind", SAMPLES)
def test_every_paper_prints_at_once_on_a_printer_without_process_id(tmp_path: Path, width: int, kind: str) -> None:
    machine = PrinterMachine(width, tmp_path / "paper", process_id=False)
    document = sample_document(kind, profile(width), AT)
    job_id = f"{kind}-{width}"
    with PrinterEmulator(machine) as emulator:
        started = time.monotonic()
        device = make_printer(emulator, tmp_path, width)
        try:
            result = device.print_document(document, job_id, TIMEOUT)
            took = time.monotonic() - started
            status = device.status()
            assert (status.state, status.consumables["paper"]) == (DeviceState.READY, Level.OK)
            assert device.answers == STATUS_ONLY
            assert device.last_job == JobReport(job_id, result.byte_count, "status")
        finally:
            device.close()
    assert took < QUICK  # open, probe and print; the old driver waited out all 30 s here
    (paper,) = machine.papers
    assert paper.complete and not paper.errors and paper.process_ids == []
    assert paper.text_lines() == [item.text for item in layout(document, width) if isinstance(item, Line)]
    record = device.journal.get(job_id)
    assert record is not None
    assert (record["confirmation"], record["confirmed"], record["bytes"]) == ("status", False, result.byte_count)
    assert result.byte_count == len(escpos.encode(document, profile(width)))


def test_the_probe_prints_nothing_and_reads_model_and_firmware(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    machine = PrinterMachine(80, tmp_path / "paper", process_id=False, model=MODEL, firmware=FIRMWARE)
    with PrinterEmulator(machine) as emulator:
        with caplog.at_level(logging.INFO, logger="kiosk.peripherals.printer.driver"):
            device = make_printer(emulator, tmp_path)
        try:
            assert device.answers == Answers(True, True, False, MODEL, FIRMWARE)
            assert device.answers.confirmation == "status"
            assert machine.papers == []  # asking printed nothing
            device.print_document(receipt(), "after-the-probe", TIMEOUT)
        finally:
            device.close()
    (paper,) = machine.papers
    assert paper.text_lines() == receipt_lines()  # nothing of the probe's bytes ended up on paper
    assert f"model {MODEL}, firmware {FIRMWARE}: jobs confirmed by status" in caplog.text
    for secret in (RECEIPT_NO, NAME, ID_NUMBER):
        assert secret not in caplog.text


def test_a_printer_that_answers_everything_is_confirmed_by_process_id(tmp_path: Path) -> None:
    machine = PrinterMachine(80, tmp_path / "paper", model=MODEL, firmware=FIRMWARE)
    with PrinterEmulator(machine) as emulator:
        device = make_printer(emulator, tmp_path)
        try:
            assert device.answers == Answers(True, True, True, MODEL, FIRMWARE)
            device.print_document(receipt(), "epson", TIMEOUT)
            assert device.last_job is not None and device.last_job.confirmation == "process_id"
        finally:
            device.close()
    (paper,) = machine.papers
    assert len(paper.process_ids) == 1  # the job's; the probe's asked about no paper
    assert device.journal.get("epson")["confirmed"] is True


def test_a_printer_without_gs_i_has_no_model(rig: Rig) -> None:
    assert rig.printer.answers == STATUS_ONLY
    assert (rig.printer.answers.model, rig.printer.answers.firmware) == (None, None)


def test_a_profile_without_process_id_never_asks_for_one(rig: Rig, tmp_path: Path) -> None:
    rig.machine.process_id = True  # the printer would answer, the profile says not to ask
    device = make_printer(rig.emulator, tmp_path, process_id=False)
    try:
        assert device.answers == STATUS_ONLY
        device.print_document(receipt(), "not-asked", TIMEOUT)
        assert device.last_job is not None and device.last_job.confirmation == "status"
    finally:
        device.close()
    (paper,) = rig.machine.papers
    assert paper.complete and paper.process_ids == []


def test_a_profile_without_status_asks_nothing(tmp_path: Path) -> None:
    machine = PrinterMachine(80, tmp_path / "paper", model=MODEL)
    with PrinterEmulator(machine) as emulator:
        device = make_printer(emulator, tmp_path, status=False)
        try:
            device.print_document(receipt(), "unasked", TIMEOUT)
            assert device.answers is None
            assert device.last_job is not None and device.last_job.confirmation == "none"
        finally:
            device.close()
    (paper,) = machine.papers
    assert escpos_parse.parse(paper.raw).requests == [escpos_parse.Reset()]  # the job's ESC @, nothing else


@pytest.mark.parametrize("process_id", [True, False])
def test_a_printer_offline_at_open_is_asked_once_it_is_back(tmp_path: Path, process_id: bool) -> None:
    """Offline, a printer answers only DLE EOT: asking the rest then would find less than it has."""
    machine = PrinterMachine(80, tmp_path / "paper", paper_level=Level.OUT, process_id=process_id)
    with PrinterEmulator(machine) as emulator:
        device = make_printer(emulator, tmp_path)
        try:
            assert device.status().code == "printer.paper_out" and device.answers is None
            ready = wait_ready(device)
            machine.load_paper()
            assert ready.wait(TIMEOUT)
            assert device.answers == Answers(True, True, process_id)
            device.print_document(receipt(), "after-refill", TIMEOUT)
            assert device.journal.get("after-refill")["confirmation"] == ("process_id" if process_id else "status")
        finally:
            device.close()
    assert complete(machine) == [receipt_lines()]


# -- once, whatever happens -------------------------------------------------------------------


def test_a_status_confirmed_job_is_not_printed_again_after_a_reconnect_or_a_restart(rig: Rig, tmp_path: Path) -> None:
    printer, machine = rig.printer, rig.machine
    first = printer.print_document(receipt(), "R-1", TIMEOUT)
    assert printer.journal.get("R-1")["confirmation"] == "status"

    machine.process_id = True  # new firmware while the line was down: the reconnect asks again
    rig.emulator.drop_connections()
    printer.print_document(receipt(), "R-2", TIMEOUT)  # goes out on a new line
    assert printer.answers == Answers(True, True, True)
    assert printer.journal.get("R-2")["confirmation"] == "process_id"
    assert printer.print_document(receipt(), "R-1", TIMEOUT).byte_count == first.byte_count
    assert len(machine.papers) == 2

    again = make_printer(rig.emulator, tmp_path)  # the kiosk restarted: same journal
    try:
        for job_id in ("R-1", "R-2"):
            again.print_document(receipt(), job_id, TIMEOUT)
        assert again.last_job == JobReport("R-2", first.byte_count, "process_id")
    finally:
        again.close()
    assert [paper.complete for paper in machine.papers] == [True, True]


def test_paper_running_out_mid_job_is_not_counted_printed(rig: Rig) -> None:
    """The roll ends in the middle: no status comes after the cut, the paper sensor says out."""
    printer, machine = rig.printer, rig.machine
    machine.load_paper(300)
    with pytest.raises(DeviceError) as caught:
        printer.print_document(receipt(), "torn", TIMEOUT)
    assert caught.value.code == "printer.paper_out"
    assert printer.journal.get("torn") is None
    sent = printer.last_job
    assert sent is not None and sent.sent > 0 and sent.confirmation == "status"
    assert [paper.complete for paper in machine.papers] == [False]

    ready = wait_ready(printer)
    machine.load_paper()  # staff put in a new roll; the driver notices by itself
    assert ready.wait(TIMEOUT)
    for _ in range(2):  # asked again: nothing more comes out
        printer.print_document(receipt(), "torn", TIMEOUT)
    assert complete(machine) == [receipt_lines()]
    assert printer.journal.get("torn")["confirmation"] == "status"


def test_the_cover_opened_mid_job_is_not_counted_printed(rig: Rig) -> None:
    rig.emulator.delay(0.4)  # the job is on its way when the cover opens
    threading.Timer(0.1, rig.machine.open_cover).start()
    with pytest.raises(DeviceError) as caught:
        rig.printer.print_document(receipt(), "cover", TIMEOUT)
    assert (caught.value.code, rig.printer.journal.get("cover")) == ("printer.cover_open", None)
    rig.emulator.delay(0)
    rig.machine.close_cover()
    rig.printer.print_document(receipt(), "cover", TIMEOUT)
    assert complete(rig.machine) == [receipt_lines()]


def test_a_line_dropped_mid_job_gives_one_whole_receipt(rig: Rig) -> None:
    rig.emulator.drop_after(200)
    rig.printer.print_document(receipt(), "drop", TIMEOUT)
    assert [paper.complete for paper in rig.machine.papers] == [False, True]
    assert complete(rig.machine) == [receipt_lines()]
    assert rig.printer.journal.get("drop")["confirmation"] == "status"


# -- a late answer ----------------------------------------------------------------------------


class LateMachine(PrinterMachine):
    """Answers the probe only when the next job's bytes come in: too late for the probe."""

    def __init__(self, out_dir: Path) -> None:
        super().__init__(80, out_dir, process_id=True, model=MODEL)
        self.held = b""

    def feed(self, data: bytes, job: int = 0) -> bytes:
        answer = super().feed(data, job)
        if b"\x1dIC" in data:  # the probe: its answers are kept back
            self.held, answer = answer, b""
        elif len(data) > 64 and self.held:  # a job's bytes: the probe's answers go out first
            answer, self.held = self.held + answer, b""
        return answer


def test_a_late_answer_to_the_probe_is_not_taken_for_the_jobs(tmp_path: Path) -> None:
    machine = LateMachine(tmp_path / "paper")
    with PrinterEmulator(machine) as emulator:
        device = make_printer(emulator, tmp_path)
        try:
            assert device.answers == Answers(dle_eot=True)  # nothing came in time but the status
            device.print_document(receipt(), "late", TIMEOUT)
            # its process ID, model and GS r byte came during the job: none of them is read as status
            status = device.status()
            assert (status.state, status.consumables["paper"]) == (DeviceState.READY, Level.OK)
            assert device.last_job is not None and device.last_job.confirmation == "status"
            assert device.answers == Answers(dle_eot=True)
            assert device.check().paper is Level.OK
        finally:
            device.close()
    assert complete(machine) == [receipt_lines()]
