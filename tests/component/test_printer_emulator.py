"""The ESC/POS printer emulator through a real TCP socket: papers, status answers, faults, the CLI."""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from kiosk.core.devices import Level
from kiosk.peripherals.printer.emulator import PrinterEmulator, PrinterMachine
from tests.conftest import ROOT

INIT = b"\x1b@\x1c&"
CUT = b"\x1dV\x41\x18"
TIMEOUT = 5.0


def receipt(*lines: str) -> bytes:
    return INIT + b"".join(line.encode("gb18030") + b"\n" for line in lines) + CUT


def process_id(ids: bytes) -> bytes:
    return b"\x1d(H\x06\x00\x30\x30" + ids


def ack(ids: bytes) -> bytes:
    return b"\x37\x22" + ids + b"\x00"


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[PrinterEmulator]:
    with PrinterEmulator(PrinterMachine(58, tmp_path / "out")) as running:
        yield running


def connect(emulator: PrinterEmulator) -> socket.socket:
    sock = socket.create_connection((emulator.host, emulator.port), timeout=TIMEOUT)
    sock.settimeout(TIMEOUT)
    return sock


def ask(sock: socket.socket, request: bytes, size: int = 1, timeout: float = TIMEOUT) -> bytes:
    """Send `request`, read `size` bytes back; b"" when nothing comes within `timeout`."""
    sock.sendall(request)
    sock.settimeout(timeout)
    answer = b""
    try:
        while len(answer) < size:
            chunk = sock.recv(size - len(answer))
            if not chunk:
                break
            answer += chunk
    except TimeoutError:
        pass
    return answer


def test_a_receipt_becomes_a_paper_with_files(emulator: PrinterEmulator, tmp_path: Path) -> None:
    data = receipt("受理凭证", "请妥善保管") + receipt("second")
    with connect(emulator) as sock:
        sock.sendall(data)
    first, second = emulator.machine.wait_papers(2, TIMEOUT)
    assert (first.seq, first.complete, first.text_lines()) == (1, True, ["受理凭证", "请妥善保管"])
    assert second.text_lines() == ["second"]
    assert first.raw + second.raw == data
    out = tmp_path / "out"
    assert (out / "0001.txt").read_text("utf-8") == "受理凭证\n请妥善保管\n"
    assert (out / "0001.bin").read_bytes() == first.raw
    summary = json.loads((out / "0001.json").read_text("utf-8"))
    assert summary["lines"] == ["受理凭证", "请妥善保管"] and summary["complete"] and summary["bytes"] == len(first.raw)
    with Image.open(out / "0002.png") as png:
        assert png.width == 384
    assert first.png == out / "0001.png"


@pytest.mark.parametrize(
    ("level", "eot", "gs_r"),
    [
        (Level.OK, [0x12, 0x12, 0x12, 0x12], b"\x00"),
        (Level.LOW, [0x12, 0x12, 0x12, 0x1E], b"\x03"),
        (Level.OUT, [0x1A, 0x32, 0x12, 0x7E], b""),  # offline: GS r is not real-time, it is not answered
    ],
)
def test_status_answers_follow_the_paper(emulator: PrinterEmulator, level: Level, eot: list[int], gs_r: bytes) -> None:
    emulator.machine.set_paper(level)
    with connect(emulator) as sock:
        assert [ask(sock, bytes([0x10, 0x04, n]))[0] for n in (1, 2, 3, 4)] == eot
        assert ask(sock, b"\x1dr\x01", timeout=0.3 if not gs_r else TIMEOUT) == gs_r


def test_cover_open_is_offline_and_answers_again_when_closed(emulator: PrinterEmulator) -> None:
    emulator.machine.open_cover()
    with connect(emulator) as sock:
        assert ask(sock, b"\x10\x04\x01") == b"\x1a"
        assert ask(sock, b"\x10\x04\x02") == b"\x16"
        assert ask(sock, receipt("lost") + process_id(b"0001"), 7, timeout=0.3) == b""
        emulator.machine.close_cover()
        assert ask(sock, b"\x10\x04\x01") == b"\x12"
        assert ask(sock, receipt("kept") + process_id(b"0002"), 7) == ack(b"0002")
    (paper,) = emulator.machine.wait_papers(1, TIMEOUT)
    assert paper.text_lines() == ["kept"]


def test_a_silent_printer_answers_nothing_but_prints(emulator: PrinterEmulator) -> None:
    emulator.machine.silent(True)
    with connect(emulator) as sock:
        assert ask(sock, b"\x10\x04\x04", timeout=0.3) == b""
        assert ask(sock, receipt("quiet") + process_id(b"0003"), 7, timeout=0.3) == b""
    assert emulator.machine.wait_papers(1, TIMEOUT)[0].text_lines() == ["quiet"]


def test_process_id_is_acknowledged_after_the_paper(emulator: PrinterEmulator) -> None:
    with connect(emulator) as sock:
        assert ask(sock, receipt("one") + process_id(b"A001"), 7) == ack(b"A001")
        assert len(emulator.machine.papers) == 1  # printed before the answer went out


def test_paper_running_out_mid_paper_leaves_a_fragment_and_no_ack(tmp_path: Path) -> None:
    machine = PrinterMachine(58, tmp_path, roll_dots=700, near_end_dots=600)
    with PrinterEmulator(machine) as emulator, connect(emulator) as sock:
        assert ask(sock, b"\x10\x04\x04") == b"\x12"
        lines = [f"line {n}" for n in range(40)]  # 30 dots each: 1200 dots, the roll has 700
        assert ask(sock, receipt(*lines) + process_id(b"B001"), 7, timeout=0.5) == b""
        assert ask(sock, b"\x10\x04\x04") == b"\x7e"
        assert ask(sock, b"\x10\x04\x02") == b"\x32"
        (fragment,) = machine.wait_papers(1, TIMEOUT)
        assert not fragment.complete
        assert fragment.text_lines() == lines[: len(fragment.text_lines())]
        assert 20 <= len(fragment.text_lines()) < 40
        assert (tmp_path / "0001-partial.png").exists() and (tmp_path / "0001-partial.json").exists()
        machine.load_paper(5000)
        assert ask(sock, b"\x10\x04\x04") == b"\x12"
        assert ask(sock, receipt("after the new roll") + process_id(b"B002"), 7) == ack(b"B002")
        assert machine.wait_papers(2, TIMEOUT)[1].text_lines() == ["after the new roll"]


def test_near_end_comes_before_the_end(tmp_path: Path) -> None:
    machine = PrinterMachine(58, None, roll_dots=700, near_end_dots=600)
    assert machine.feed(receipt("a", "b", "c", "d") + b"\x10\x04\x04") == b"\x1e"  # 4×30 + 48 dots used
    assert machine.feed(b"\x1dr\x01") == b"\x03"


def test_a_dropped_connection_keeps_the_paper_open_for_the_next(emulator: PrinterEmulator) -> None:
    head = INIT + "第一行\n".encode("gb18030")
    emulator.drop_after(len(head))
    with connect(emulator) as sock:
        sock.sendall(head + "never arrives\n".encode("gb18030"))
        assert sock.recv(16) == b""  # closed by the printer
    with connect(emulator) as sock:
        assert ask(sock, "第二行\n".encode("gb18030") + CUT + process_id(b"C001"), 7) == ack(b"C001")
    (paper,) = emulator.machine.wait_papers(1, TIMEOUT)
    assert paper.complete and paper.text_lines() == ["第一行", "第二行"]


def test_a_new_job_does_not_continue_an_unfinished_paper(emulator: PrinterEmulator) -> None:
    with connect(emulator) as sock:
        sock.sendall(INIT + b"half a receipt\n")
        assert ask(sock, b"\x10\x04\x01") == b"\x12"  # the data before it is in
    with connect(emulator) as sock:
        sock.sendall(receipt("a new receipt"))
    fragment, paper = emulator.machine.wait_papers(2, TIMEOUT)
    assert (fragment.complete, fragment.text_lines()) == (False, ["half a receipt"])
    assert (paper.complete, paper.text_lines()) == (True, ["a new receipt"])
    assert fragment.raw == INIT + b"half a receipt\n\x10\x04\x01"  # all it received until the new job


def test_a_slow_printer_still_prints_in_order(emulator: PrinterEmulator) -> None:
    emulator.delay(0.05)
    with connect(emulator) as sock:
        started = time.monotonic()
        assert ask(sock, receipt("slow") + process_id(b"D001"), 7) == ack(b"D001")
        assert time.monotonic() - started >= 0.05
    assert emulator.machine.papers[0].text_lines() == ["slow"]


def test_gs_i_tells_the_model_and_firmware_it_was_given(tmp_path: Path) -> None:
    machine = PrinterMachine(58, tmp_path, model="XP-58IIH", firmware="V7.03")
    with PrinterEmulator(machine) as emulator, connect(emulator) as sock:
        assert ask(sock, b"\x1dIC", 10) == b"\x5fXP-58IIH\x00"
        assert ask(sock, b"\x1dIA", 7) == b"\x5fV7.03\x00"
        assert ask(sock, b"\x1dIB", timeout=0.3) == b""  # the maker: not scripted, not answered
        machine.open_cover()
        assert ask(sock, b"\x1dIC", timeout=0.3) == b""  # offline: only real-time requests are answered
    assert machine.papers == []


def test_without_a_model_gs_i_is_not_answered(emulator: PrinterEmulator) -> None:
    with connect(emulator) as sock:
        assert ask(sock, b"\x1dIC\x1dIA", timeout=0.3) == b""
        assert ask(sock, b"\x10\x04\x04") == b"\x12"


def test_without_process_id_it_answers_status_but_not_gs_paren_h(tmp_path: Path) -> None:
    machine = PrinterMachine(58, tmp_path, process_id=False)
    with PrinterEmulator(machine) as emulator, connect(emulator) as sock:
        assert ask(sock, b"\x10\x04\x04") == b"\x12"
        assert ask(sock, receipt("no answer") + process_id(b"E001"), 7, timeout=0.3) == b""
        assert ask(sock, receipt("in order") + b"\x1dr\x01") == b"\x00"  # GS r after the cut: answered
    first, second = machine.wait_papers(2, TIMEOUT)
    assert (first.text_lines(), first.process_ids) == (["no answer"], [])
    assert second.complete and second.text_lines() == ["in order"]


@contextlib.contextmanager
def cli_emulator(out: Path, *flags: str) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """`kiosk printer-emulator` in its own process, 80 mm; yields it and the URL it listens on."""
    command = [sys.executable, "main.py", "printer-emulator", "--port", "0", "--out", str(out), "--width", "80", *flags]
    proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        yield proc, json.loads(proc.stdout.readline())["listening"]
    finally:
        proc.terminate()
        assert proc.wait(TIMEOUT) == 0


def run_print(listening: str, sample: str, *flags: str) -> tuple[int, dict[str, object], str]:
    """`kiosk print --json`: its exit code, its report, and all it wrote."""
    printed = subprocess.run(
        [sys.executable, "main.py", "print", "--printer", listening, "--sample", sample, "--json", *flags],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return printed.returncode, json.loads(printed.stdout), printed.stdout + printed.stderr


REPORT_KEYS = {"job_id", "printed", "bytes", "confirmation", "model", "firmware", "ms", "state", "paper"}


def test_the_cli_listens_and_writes_papers(tmp_path: Path) -> None:
    """`kiosk printer-emulator` in its own process; `kiosk print` sends it every sample paper."""
    out = tmp_path / "papers"
    with cli_emulator(out) as (proc, listening):
        assert proc.stdout is not None
        host, port = listening.removeprefix("tcp://").rsplit(":", 1)
        with socket.create_connection((host, int(port)), timeout=TIMEOUT) as sock:
            sock.sendall(receipt("受理凭证", "技术员测试"))
        announced = json.loads(proc.stdout.readline())
        assert announced == {
            "seq": 1,
            "complete": True,
            "png": str(out / "0001.png"),
            "lines": ["受理凭证", "技术员测试"],
        }
        assert (out / "0001.txt").read_text("utf-8") == "受理凭证\n技术员测试\n"
        assert json.loads((out / "0001.json").read_text("utf-8"))["seq"] == 1
        with Image.open(out / "0001.png") as png:
            assert png.width == 576

        for seq, sample in enumerate(("acceptance", "checklist", "query", "test"), start=2):
            code, report, said = run_print(listening, sample)
            assert code == 0, said
            assert set(report) == REPORT_KEYS
            assert report["printed"] and report["bytes"] > 500
            assert (report["confirmation"], report["model"], report["firmware"]) == ("process_id", None, None)
            assert (report["state"], report["paper"]) == ("ready", "ok")
            paper = json.loads(proc.stdout.readline())
            assert paper["seq"] == seq and paper["complete"]
            if sample == "acceptance":
                assert "证件号码：1101**********002X" in paper["lines"]  # the made-up citizen, masked
                assert "11010519491231002X" not in said + "".join(paper["lines"])


def test_print_cli_on_a_printer_without_process_id_prints_every_paper_at_once(tmp_path: Path) -> None:
    """The field report: each sample took the whole 30 s and said printer.timeout, though printed."""
    flags = ("--no-process-id", "--model", "XP-T80Q", "--firmware", "V7.03")
    with cli_emulator(tmp_path / "papers", *flags) as (proc, listening):
        assert proc.stdout is not None
        for seq, sample in enumerate(("acceptance", "checklist", "query", "test"), start=1):
            code, report, said = run_print(listening, sample)  # the default --timeout of 30 s
            assert code == 0, said
            assert set(report) == REPORT_KEYS
            assert report["printed"] and report["bytes"] > 500
            assert (report["confirmation"], report["model"], report["firmware"]) == ("status", "XP-T80Q", "V7.03")
            assert (report["state"], report["paper"]) == ("ready", "ok")
            assert isinstance(report["ms"], float) and report["ms"] < 5000
            paper = json.loads(proc.stdout.readline())
            assert paper["seq"] == seq and paper["complete"]


def test_print_cli_reports_the_bytes_sent_when_the_job_fails(tmp_path: Path) -> None:
    machine = PrinterMachine(80, tmp_path, roll_dots=300, process_id=False)  # the roll ends mid-receipt
    with PrinterEmulator(machine) as emulator:
        code, report, _ = run_print(emulator.url, "acceptance", "--timeout", "5")
    assert code == 1
    assert (report["printed"], report["code"], report["confirmation"]) == (False, "printer.paper_out", "status")
    assert isinstance(report["bytes"], int) and report["bytes"] > 500  # it went out; the paper ran out
    assert [paper.complete for paper in machine.papers] == [False]


def test_print_cli_says_why_when_the_printer_is_not_there(tmp_path: Path) -> None:
    with PrinterEmulator(PrinterMachine(80)) as gone:
        url = gone.url
    code, report, _ = run_print(url, "acceptance", "--timeout", "1")
    assert code == 1
    assert (report["printed"], report["code"], report["state"]) == (False, "printer.offline", "disconnected")
    assert (report["bytes"], report["confirmation"], report["model"]) == (0, None, None)
    code, report, _ = run_print("http://x", "test")
    assert code == 2 and "tcp://HOST:PORT" in str(report["error"])
