"""The ESC/POS driver over its other lines, real OS objects, no mocks: a pseudo-terminal as the serial
cable, a regular file as /dev/usb/lp0, a USB device that is not there, a TCP printer that never answers."""

from __future__ import annotations

import contextlib
import logging
import os
import select
import socket
import threading
import time
import tty
from collections.abc import Iterator
from pathlib import Path

import pytest

from kiosk.core.devices import DeviceState, FixedBy, Level
from kiosk.core.documents import Document
from kiosk.core.errors import DeviceError
from kiosk.core.messages import Messages
from kiosk.peripherals.printer.driver import EscPosPrinter
from kiosk.peripherals.printer.emulator import PrinterMachine
from kiosk.peripherals.printer.escpos import parse as escpos_parse
from kiosk.peripherals.printer.paper.layout import Line, layout
from kiosk.peripherals.printer.profile import load_profile
from tests.unit.paper_fixtures import ID_NUMBER, NAME, RECEIPT_NO, make_receipt

TIMEOUT = 10.0
DRIVER_LOG = "kiosk.peripherals.printer.driver"


def receipt() -> Document:
    return make_receipt(Messages())


def receipt_lines() -> list[str]:
    return [item.text for item in layout(receipt(), 80) if isinstance(item, Line)]


def make_printer(url: str, tmp_path: Path, **kwargs: float) -> EscPosPrinter:
    device = EscPosPrinter("printer", url, load_profile("generic-80"), tmp_path / "jobs.jsonl", **kwargs)
    device.open()
    return device


# -- serial: a pseudo-terminal is the cable ---------------------------------------------------


class SerialLine:
    """A pty pair: the driver opens the slave by name, a thread on the master is the printer."""

    def __init__(self, machine: PrinterMachine) -> None:
        self.machine = machine
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)
        self.path = os.ttyname(self.slave)
        self.received = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._pump, name="serial-printer", daemon=True)

    def _pump(self) -> None:
        while not self._stop.is_set():
            ready, _, _ = select.select([self.master], [], [], 0.05)
            if not ready:
                continue
            try:
                data = os.read(self.master, 4096)
            except OSError:  # EIO: no one has the slave open any more
                return
            self.received += len(data)
            answer = self.machine.feed(data)
            if answer:
                os.write(self.master, answer)

    def __enter__(self) -> SerialLine:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        assert not self._thread.is_alive(), "the serial pump did not stop"
        os.close(self.master)
        os.close(self.slave)


@pytest.fixture
def machine(tmp_path: Path) -> PrinterMachine:
    return PrinterMachine(80, tmp_path / "paper")


@pytest.fixture
def serial_line(machine: PrinterMachine) -> Iterator[SerialLine]:
    with SerialLine(machine) as line:
        yield line


def test_serial_prints_a_receipt_and_reads_paper_low(
    serial_line: SerialLine, machine: PrinterMachine, tmp_path: Path
) -> None:
    events: list[str] = []
    machine.set_paper(Level.LOW)
    device = make_printer(f"serial://{serial_line.path}?baud=115200", tmp_path)
    try:
        device.subscribe(lambda event: events.append(event.kind))
        assert "status" in device.capabilities
        assert device.link.is_open and device.link._printer is not None
        assert device.link._printer.device.baudrate == 115200  # the URL's baud reached pyserial
        assert device.status().consumables["paper"] is Level.LOW  # read when opened

        started = time.monotonic()
        result = device.print_document(receipt(), "serial-1", TIMEOUT)
        took = time.monotonic() - started

        assert result.byte_count > 0
        status = device.status()
        assert (status.state, status.consumables["paper"]) == (DeviceState.READY, Level.LOW)
        assert device.check() == device.check()  # asked again: the same answer, nothing left over on the line
        record = device.journal.get("serial-1")
        assert record is not None and record["confirmed"] is True  # the process ID came back over the pty
        assert record["confirmation"] == "process_id"
        assert "printed" in events
    finally:
        device.close()
    (paper,) = machine.papers
    assert paper.complete and not paper.errors
    assert paper.text_lines() == receipt_lines()
    assert len(paper.process_ids) == 1
    assert took < 5.0


def test_serial_printer_without_process_id_is_confirmed_by_status(
    serial_line: SerialLine, machine: PrinterMachine, tmp_path: Path
) -> None:
    machine.process_id = False
    started = time.monotonic()
    device = make_printer(f"serial://{serial_line.path}?baud=115200", tmp_path)
    try:
        device.print_document(receipt(), "serial-status", TIMEOUT)
        took = time.monotonic() - started
        assert device.journal.get("serial-status")["confirmation"] == "status"
        assert device.status().state is DeviceState.READY
    finally:
        device.close()
    (paper,) = machine.papers
    assert paper.text_lines() == receipt_lines() and paper.process_ids == []
    assert took < 5.0  # open, probe and print: no waiting out the caller's timeout


def test_serial_paper_out_refuses_before_the_receipt(
    serial_line: SerialLine, machine: PrinterMachine, tmp_path: Path
) -> None:
    machine.set_paper(Level.OUT)
    device = make_printer(f"serial://{serial_line.path}?baud=115200", tmp_path)
    try:
        with pytest.raises(DeviceError) as caught:
            device.print_document(receipt(), "serial-out", TIMEOUT)
        assert caught.value.code == "printer.paper_out"
        assert device.status().fixed_by is FixedBy.STAFF
    finally:
        device.close()
    assert machine.papers == []


# -- file: a device node with no way back -----------------------------------------------------


def test_file_prints_without_status_and_records_the_job_unconfirmed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    lp0 = tmp_path / "lp0"
    lp0.write_bytes(b"")
    device = make_printer(f"file://{lp0}", tmp_path)
    try:
        assert "status" not in device.capabilities
        assert device.status().consumables["paper"] is Level.UNKNOWN  # a file cannot answer: never "out"
        with caplog.at_level(logging.WARNING, logger=DRIVER_LOG):
            result = device.print_document(receipt(), "file-1", TIMEOUT)
        assert "paper status unknown, printing anyway" in caplog.text
        for secret in (RECEIPT_NO, NAME, ID_NUMBER):
            assert secret not in caplog.text
        assert device.status().state is DeviceState.READY
        assert device.status().consumables["paper"] is Level.UNKNOWN

        data = lp0.read_bytes()
        assert len(data) == result.byte_count  # the receipt and nothing else: no status query, no process ID
        printout = escpos_parse.parse(data)
        assert printout.text_lines() == receipt_lines()
        assert printout.cut and data.endswith(b"\x1dVA\x18")
        assert printout.requests == [escpos_parse.Reset()]

        record = device.journal.get("file-1")
        assert record is not None and record["confirmed"] is False
        assert record["confirmation"] == "none" and device.answers is None  # nothing to ask a file
        assert record["bytes"] == len(data)

        again = device.print_document(receipt(), "file-1", TIMEOUT)  # asked again: nothing more is written
        assert again.byte_count == result.byte_count
        assert lp0.stat().st_size == len(data)
    finally:
        device.close()
    assert lp0.read_bytes() == data


# -- usb: no such device ----------------------------------------------------------------------


def test_usb_with_no_device_is_offline_for_the_technician(tmp_path: Path) -> None:
    started = time.monotonic()
    device = make_printer("usb://dead:beef", tmp_path, connect_timeout=1.0)
    try:
        assert time.monotonic() - started < 2.0
        status = device.status()
        assert (status.state, status.code, status.fixed_by) == (
            DeviceState.DISCONNECTED,
            "printer.offline",
            FixedBy.TECHNICIAN,
        )
        started = time.monotonic()
        with pytest.raises(DeviceError) as caught:
            device.print_document(receipt(), "usb-1", 1.0)
        took = time.monotonic() - started
        assert caught.value.code == "printer.offline"
        assert type(caught.value) is DeviceError
        assert took < 2.0
        assert device.journal.get("usb-1") is None  # nothing printed, nothing recorded
        assert device.status().state is DeviceState.DISCONNECTED
    finally:
        device.close()


# -- tcp: a printer that takes the connection and says nothing --------------------------------


class DeafServer:
    """Accepts one connection and neither reads nor writes until told to stop; then drains it."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.accepted = threading.Event()
        self.stop = threading.Event()
        self.received = b""
        self._thread = threading.Thread(target=self._serve, name="deaf-printer", daemon=True)

    def _serve(self) -> None:
        conn, _ = self.listener.accept()
        with conn:
            self.accepted.set()
            self.stop.wait(30)  # sleeps: reads nothing, answers nothing
            conn.settimeout(2)
            chunks = []
            with contextlib.suppress(OSError):
                while chunk := conn.recv(65536):
                    chunks.append(chunk)
            self.received = b"".join(chunks)

    def __enter__(self) -> DeafServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self._thread.join(timeout=5)
        self.listener.close()


def test_tcp_printer_that_never_answers_prints_unconfirmed(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with DeafServer() as server:
        started = time.monotonic()
        device = make_printer(f"tcp://127.0.0.1:{server.port}", tmp_path, connect_timeout=1.0)
        try:
            opened = time.monotonic() - started
            assert server.accepted.is_set()
            status = device.status()
            assert (status.state, status.consumables["paper"]) == (DeviceState.READY, Level.UNKNOWN)
            started = time.monotonic()
            with caplog.at_level(logging.WARNING, logger=DRIVER_LOG):
                result = device.print_document(receipt(), "deaf-1", TIMEOUT)
            took = time.monotonic() - started
            assert "paper status unknown" in caplog.text
            record = device.journal.get("deaf-1")
            assert record is not None and (record["confirmed"], record["confirmation"]) == (False, "none")
            assert device.status().consumables["paper"] is Level.UNKNOWN
        finally:
            device.close()
        server.stop.set()
    assert opened < 2.0
    assert took < 4.0
    # what reached the printer once it listened: status queries and the whole receipt, and no GS ( H,
    # because a printer that does not answer status will not answer a process ID either
    printout = escpos_parse.parse(server.received)
    assert not any(isinstance(r, escpos_parse.ProcessIdRequest) for r in printout.requests)
    assert any(isinstance(r, escpos_parse.StatusRequest) for r in printout.requests)
    assert printout.text_lines() == receipt_lines()
    assert printout.cut
    assert len(server.received) > result.byte_count
