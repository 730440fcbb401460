"""The printer driver's pieces without a printer: status bytes, endpoints, profiles, the job journal, GBK text."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import pytest

from kiosk.core.devices import Level
from kiosk.core.errors import ConfigError
from kiosk.peripherals.printer import status as st
from kiosk.peripherals.printer.escpos import encode as escpos
from kiosk.peripherals.printer.escpos import parse as escpos_parse
from kiosk.peripherals.printer.journal import JobJournal
from kiosk.peripherals.printer.link import Endpoint, parse_endpoint
from kiosk.peripherals.printer.paper.layout import Line
from kiosk.peripherals.printer.profile import PROFILES_DIR, PrinterProfile, load_profile

FIXED = 0x12  # bits 1 and 4: set in every DLE EOT answer
HAN_4_BYTES = "𠀀"  # CJK Extension B: four bytes in GB18030, nothing in GBK

# -- DLE EOT 2 + DLE EOT 4 --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("offline", "sensor", "expected"),
    [
        (FIXED, FIXED, st.PaperStatus(Level.OK)),
        (FIXED, FIXED | 0x04, st.PaperStatus(Level.LOW)),  # near end, bit 2
        (FIXED, FIXED | 0x08, st.PaperStatus(Level.LOW)),  # near end, bit 3
        (FIXED, FIXED | 0x0C, st.PaperStatus(Level.LOW)),
        (FIXED, FIXED | 0x20, st.PaperStatus(Level.OUT)),  # paper end, bit 5
        (FIXED, FIXED | 0x40, st.PaperStatus(Level.OUT)),  # paper end, bit 6
        (FIXED, FIXED | 0x6C, st.PaperStatus(Level.OUT)),  # end wins over near end
        (FIXED | 0x20, FIXED, st.PaperStatus(Level.OUT)),  # stopped by paper end (DLE EOT 2 bit 5)
        (FIXED | 0x04, FIXED, st.PaperStatus(Level.OK, cover_open=True)),
        (FIXED | 0x40, FIXED, st.PaperStatus(Level.OK, error=True)),
        (FIXED | 0x64, FIXED | 0x0C, st.PaperStatus(Level.OUT, cover_open=True, error=True)),
        (FIXED | 0x04, FIXED | 0x0C, st.PaperStatus(Level.LOW, cover_open=True)),
    ],
    ids=[
        "ok",
        "near-end-bit2",
        "near-end-bit3",
        "near-end",
        "end-bit5",
        "end-bit6",
        "end-and-near-end",
        "end-via-offline-cause",
        "cover-open",
        "error",
        "everything-wrong",
        "cover-open-paper-low",
    ],
)
def test_dle_eot_answers(offline: int, sensor: int, expected: st.PaperStatus) -> None:
    assert st.from_dle_eot(offline, sensor) == expected


@pytest.mark.parametrize(
    ("offline", "sensor"),
    [
        (0x00, FIXED),  # fixed bits missing
        (FIXED, 0x00),
        (0xFF, 0xFF),  # a line stuck high
        (FIXED | 0x01, FIXED),  # bit 0 is always clear
        (FIXED, FIXED | 0x80 | 0x60),  # bit 7 is always clear: not "paper end" however the rest looks
        (0x37, 0x22),  # the head of a process ID answer
        (0x10, 0x04),  # our own query echoed back
        (0x02, 0x12),  # bit 4 missing
    ],
)
def test_bytes_that_are_not_dle_eot_answers_are_unknown_never_out(offline: int, sensor: int) -> None:
    assert st.from_dle_eot(offline, sensor) == st.UNKNOWN
    assert st.from_dle_eot(offline, sensor).paper is Level.UNKNOWN


def test_every_byte_pair_is_either_a_reading_or_unknown() -> None:
    """Exhaustively: a paper level comes only from bytes with the fixed bits right."""
    for offline in range(256):
        for sensor in range(256):
            paper = st.from_dle_eot(offline, sensor).paper
            valid = offline & 0x93 == 0x12 and sensor & 0x93 == 0x12
            assert (paper is not Level.UNKNOWN) == valid, (offline, sensor)


# -- GS r 1 -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sensor", "expected"),
    [
        (0x00, Level.OK),
        (0x01, Level.LOW),
        (0x02, Level.LOW),
        (0x03, Level.LOW),
        (0x04, Level.OUT),
        (0x08, Level.OUT),
        (0x0F, Level.OUT),  # what a printer with no paper at either sensor says
        (0x60, Level.OK),  # bits 5 and 6 are not paper bits in GS r 1
    ],
)
def test_gs_r_answers(sensor: int, expected: Level) -> None:
    assert st.from_gs_r(sensor) == st.PaperStatus(expected)


@pytest.mark.parametrize("sensor", [0x10, 0x80, 0x12, 0x1F, 0x37, 0x9C, 0xFF])
def test_bytes_that_are_not_gs_r_answers_are_unknown_never_out(sensor: int) -> None:
    assert st.from_gs_r(sensor) == st.UNKNOWN


# -- the inbox --------------------------------------------------------------------------------

ANSWER = b"\x37\x22Ab1Z\x00"


def test_inbox_sorts_a_process_id_answer_from_status_bytes() -> None:
    inbox = st.Inbox()
    inbox.feed(bytes([FIXED, FIXED | 0x0C]) + ANSWER + bytes([FIXED | 0x04]))
    assert inbox.process_ids == [b"Ab1Z"]
    assert inbox.status_bytes == [FIXED, FIXED | 0x0C, FIXED | 0x04]


def test_inbox_joins_an_answer_split_across_two_feeds() -> None:
    inbox = st.Inbox()
    inbox.feed(bytes([FIXED]) + ANSWER[:3])
    assert inbox.process_ids == [] and inbox.status_bytes == [FIXED]
    inbox.feed(ANSWER[3:] + bytes([0x00]))
    assert inbox.process_ids == [b"Ab1Z"]
    assert inbox.status_bytes == [FIXED, 0x00]


def test_inbox_joins_an_answer_that_comes_byte_by_byte() -> None:
    inbox = st.Inbox()
    stream = bytes([FIXED, FIXED | 0x20]) + ANSWER + bytes([0x03]) + b"\x37\x22WXYZ\x00" + bytes([FIXED])
    for index in range(len(stream)):
        inbox.feed(stream[index : index + 1])
    assert inbox.process_ids == [b"Ab1Z", b"WXYZ"]
    assert inbox.status_bytes == [FIXED, FIXED | 0x20, 0x03, FIXED]


@pytest.mark.parametrize("cut", range(1, len(ANSWER)))
def test_inbox_waits_for_the_rest_of_an_answer_wherever_it_is_cut(cut: int) -> None:
    inbox = st.Inbox()
    inbox.feed(ANSWER[:cut])
    assert inbox.process_ids == [] and inbox.status_bytes == []  # nothing taken as a status byte
    inbox.feed(ANSWER[cut:])
    assert inbox.process_ids == [b"Ab1Z"] and inbox.status_bytes == []


def test_inbox_a_lone_0x37_not_followed_by_0x22_is_a_status_byte() -> None:
    inbox = st.Inbox()
    inbox.feed(b"\x37")
    assert inbox.status_bytes == []  # might be the start of an answer
    inbox.feed(bytes([FIXED]))
    assert inbox.status_bytes == [0x37, FIXED] and inbox.process_ids == []


def test_inbox_clear_forgets_everything_including_half_an_answer() -> None:
    inbox = st.Inbox()
    inbox.feed(bytes([FIXED]) + ANSWER + ANSWER[:4])
    inbox.clear()
    assert inbox.status_bytes == [] and inbox.process_ids == []
    inbox.feed(bytes([FIXED]))
    assert inbox.status_bytes == [FIXED] and inbox.process_ids == []


INFO = b"\x5fXP-T80Q\x00"


def test_inbox_keeps_printer_info_apart_from_status_bytes() -> None:
    inbox = st.Inbox()
    inbox.feed(bytes([FIXED]) + INFO + ANSWER + b"\x5fV7.03\x00" + bytes([0x00]))
    assert inbox.infos == ["XP-T80Q", "V7.03"]
    assert inbox.process_ids == [b"Ab1Z"]
    assert inbox.status_bytes == [FIXED, 0x00]  # the NULs that end the answers are not GS r answers


@pytest.mark.parametrize("cut", range(1, len(INFO)))
def test_inbox_waits_for_the_rest_of_printer_info_wherever_it_is_cut(cut: int) -> None:
    inbox = st.Inbox()
    inbox.feed(INFO[:cut])
    assert inbox.infos == [] and inbox.status_bytes == []
    inbox.forget_answers()  # a job starts meanwhile: the answer on its way is kept whole
    inbox.feed(INFO[cut:] + bytes([0x00]))
    assert inbox.infos == ["XP-T80Q"] and inbox.status_bytes == [0x00]


def test_inbox_a_0x5f_with_no_nul_where_info_must_end_is_a_stray_byte() -> None:
    inbox = st.Inbox()
    inbox.feed(b"\x5f" + b"x" * st.INFO_MAX)
    assert inbox.status_bytes == []  # an answer of the longest length may still end
    inbox.feed(b"y")
    assert inbox.infos == [] and inbox.status_bytes[0] == 0x5F
    assert len(inbox.status_bytes) == 2 + st.INFO_MAX


def test_inbox_printer_info_keeps_only_printable_text() -> None:
    inbox = st.Inbox()
    inbox.feed(b"\x5f EPSON\x07\xffTM \x00")
    assert inbox.infos == ["EPSON\ufffdTM"]


def test_dle_eot_and_gs_r_answers_are_told_apart_by_shape() -> None:
    for byte in range(256):
        assert not (st.is_dle_eot_answer(byte) and st.is_gs_r_answer(byte)), byte
    assert not st.is_dle_eot_answer(st.INFO_HEAD) and not st.is_gs_r_answer(st.INFO_HEAD)
    assert not st.is_dle_eot_answer(0x37) and not st.is_gs_r_answer(0x37)


def test_inbox_take_takes_one_kind_keeps_the_other_and_drops_noise() -> None:
    inbox = st.Inbox()
    inbox.feed(bytes([0x00, FIXED, 0x37, FIXED | 0x0C, 0x03, 0xFF]))
    assert inbox.answers_to(st.is_gs_r_answer) == [0x00, 0x03]
    assert inbox.take(st.is_dle_eot_answer) == [FIXED, FIXED | 0x0C]
    assert inbox.status_bytes == [0x00, 0x03]
    assert inbox.take(st.is_gs_r_answer) == [0x00, 0x03] and inbox.status_bytes == []


def test_inbox_forget_answers_drops_every_kind() -> None:
    inbox = st.Inbox()
    inbox.feed(bytes([FIXED]) + ANSWER + INFO)
    inbox.forget_answers()
    assert (inbox.status_bytes, inbox.process_ids, inbox.infos) == ([], [], [])


# -- what the printer answers ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("answers", "confirmation"),
    [
        (st.Answers(dle_eot=True, gs_r=True, process_id=True), "process_id"),
        (st.Answers(process_id=True), "process_id"),
        (st.Answers(dle_eot=True, gs_r=True), "status"),
        (st.Answers(dle_eot=True), "status"),
        (st.Answers(gs_r=True), "status"),
        (st.Answers(model="XP-T80Q", firmware="V7.03"), "none"),
        (st.NOTHING, "none"),
    ],
)
def test_the_best_confirmation_the_printer_offers(answers: st.Answers, confirmation: str) -> None:
    assert answers.confirmation == confirmation


@pytest.mark.parametrize("token", [b"Pr0b", None])
def test_the_probe_asks_in_order_with_gs_r_last_and_prints_nothing(token: bytes | None) -> None:
    data = st.identify_request(token)
    printout = escpos_parse.parse(data)
    assert printout.items == []  # no text, no feed, no cut
    expected = [
        escpos_parse.InfoRequest(67),
        *([escpos_parse.ProcessIdRequest(token)] if token else []),
        escpos_parse.StatusRequest(realtime=False, n=1),
        escpos_parse.Reset(),  # clears whatever a printer that knows none of it kept as text
    ]
    assert printout.requests == expected
    assert escpos_parse.parse(st.firmware_request(True)).requests == [
        escpos_parse.InfoRequest(65),
        escpos_parse.StatusRequest(realtime=False, n=1),
        escpos_parse.Reset(),
    ]
    assert escpos_parse.parse(st.firmware_request(False)).items == []


# -- the process ID request --------------------------------------------------------------------


def test_process_id_request_is_gs_paren_h_the_parser_reads_back() -> None:
    request = st.process_id_request(b"Ab1Z")
    assert request == b"\x1d(H\x06\x00\x30\x30Ab1Z"
    (parsed,) = escpos_parse.parse(request).requests
    assert parsed == escpos_parse.ProcessIdRequest(b"Ab1Z")


@pytest.mark.parametrize(
    "token",
    [b"", b"abc", b"abcde", b"ab\x00d", b"ab\x1fd", b"ab\x7fd", b"ab\xffd", b"\x37\x22\x00\x00", "中".encode()],
)
def test_process_id_request_refuses_bad_tokens(token: bytes) -> None:
    with pytest.raises(ValueError, match="four printable ASCII bytes"):
        st.process_id_request(token)


# -- endpoints --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("tcp://192.168.1.50", Endpoint("tcp", "192.168.1.50:9100", {})),
        ("tcp://printer.hall.local", Endpoint("tcp", "printer.hall.local:9100", {})),
        ("tcp://192.168.1.50:9101", Endpoint("tcp", "192.168.1.50:9101", {})),
        ("usb://0416:5011", Endpoint("usb", "0416:5011", {})),
        ("usb://0fe6:811e?in_ep=0x81&out_ep=0x03", Endpoint("usb", "0fe6:811e", {"in_ep": "0x81", "out_ep": "0x03"})),
        ("serial:///dev/ttyS0", Endpoint("serial", "/dev/ttyS0", {})),
        ("serial:///dev/ttyUSB0?baud=115200", Endpoint("serial", "/dev/ttyUSB0", {"baud": "115200"})),
        ("file:///dev/usb/lp0", Endpoint("file", "/dev/usb/lp0", {})),
    ],
)
def test_parse_endpoint(url: str, expected: Endpoint) -> None:
    assert parse_endpoint(url) == expected


def test_only_a_file_endpoint_cannot_be_read() -> None:
    assert not parse_endpoint("file:///dev/usb/lp0").readable
    for url in ("tcp://h", "usb://1:2", "serial:///dev/ttyS0"):
        assert parse_endpoint(url).readable


@pytest.mark.parametrize(
    "url",
    [
        "http://192.168.1.50:9100",
        "tcp://",
        "tcp://:9100",
        "usb://nocolon",
        "usb://",
        "serial://",
        "file://",
        "/dev/usb/lp0",
        "",
        "lpt://1",
    ],
)
def test_bad_endpoints_name_the_accepted_forms(url: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_endpoint(url)
    message = str(caught.value)
    for form in ("tcp://HOST:PORT", "usb://VID:PID", "serial:///DEV", "file:///PATH"):
        assert form in message
    assert repr(url) in message


@pytest.mark.parametrize(
    "url",
    [
        "tcp://192.168.1.50:ninety",  # ValueError from urllib in parse_endpoint
        "usb://zz:yy",  # ValueError from int(..., 16) in Link.open, escaping EscPosPrinter.open
        "usb://0416:5011:1",
        "usb://0416:5011?in_ep=xyz",
        "serial:///dev/ttyS0?baud=fast",
        "serial://dev/ttyS0",  # two slashes: "dev" is taken as a host and dropped, the path is /ttyS0
        "file://dev/usb/lp0",  # the same: /usb/lp0
    ],
)
def test_a_url_with_a_bad_part_is_a_config_error_when_parsed(url: str) -> None:
    with pytest.raises(ConfigError):
        parse_endpoint(url)


# -- profiles ---------------------------------------------------------------------------------

BUILT_IN = sorted(PROFILES_DIR.glob("*.toml"))


def test_there_are_built_in_profiles() -> None:
    assert {path.stem for path in BUILT_IN} >= {"generic-58", "generic-80"}


@pytest.mark.parametrize("path", BUILT_IN, ids=[path.stem for path in BUILT_IN])
def test_every_built_in_profile_loads_by_name_and_by_path(path: Path) -> None:
    by_name = load_profile(path.stem)
    assert isinstance(by_name, PrinterProfile)
    assert by_name.name == path.stem
    assert load_profile(str(path)) == by_name


def _write_profile(tmp_path: Path, body: str, name: str = "mine.toml") -> Path:
    path = tmp_path / name
    path.write_text(body, encoding="utf-8")
    return path


def test_a_technicians_own_profile_loads_from_its_path(tmp_path: Path) -> None:
    path = _write_profile(
        tmp_path, 'name = "xp-58iih"\npaper_width_mm = 58\nencoding = "gbk"\ncutter = "none"\nprocess_id = false\n'
    )
    profile = load_profile(str(path))
    assert (profile.name, profile.paper_width_mm, profile.encoding, profile.cutter, profile.process_id) == (
        "xp-58iih",
        58,
        "gbk",
        "none",
        False,
    )
    assert profile.image_method == "bitImageRaster"  # defaults fill the rest


def test_a_path_without_the_toml_suffix_is_still_a_path(tmp_path: Path) -> None:
    path = _write_profile(tmp_path, 'name = "own"\n', name="own-printer")
    assert load_profile(str(path)).name == "own"


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ('name = "x"\npaper_widht_mm = 80\n', "paper_widht_mm: unknown key"),
        ('name = "x"\npaper_width_mm = 70\n', "paper_width_mm = 70"),
        ('name = "x"\nimage_method = "bitImageRasterised"\n', "image_method = 'bitImageRasterised'"),
        ('name = "x"\nencoding = "big5"\n', "encoding = 'big5'"),
        ('name = "x"\nfragment_height = 10\n', "fragment_height = 10"),
        ("paper_width_mm = 80\n", "name: required key is missing"),
    ],
    ids=["unknown-key", "paper-width-70", "image-method", "encoding", "fragment-height", "no-name"],
)
def test_a_bad_profile_is_a_config_error_naming_file_and_key(tmp_path: Path, body: str, words: str) -> None:
    path = _write_profile(tmp_path, body)
    with pytest.raises(ConfigError) as caught:
        load_profile(str(path))
    assert str(path) in str(caught.value)
    assert words in str(caught.value)
    assert caught.value.code == "error.config"  # a readable file with a wrong value: the generic config code


def test_a_missing_profile_is_printer_bad_profile(tmp_path: Path) -> None:
    for name in ("no-such-model", str(tmp_path / "gone.toml")):
        with pytest.raises(ConfigError) as caught:
            load_profile(name)
        assert caught.value.code == "printer.bad_profile"
        assert "printer profile" in str(caught.value)
    with pytest.raises(ConfigError) as caught:
        load_profile("no-such-model")
    assert str(PROFILES_DIR / "no-such-model.toml") in str(caught.value)


@pytest.mark.parametrize(
    "content",
    [b'name = "x"\npaper_width_mm = \n', b"[[[\n", "name = '中文'\n".encode("gbk"), b"\x00\x01\x02"],
    ids=["no-value", "brackets", "not-utf8", "binary"],
)
def test_a_file_that_is_not_toml_is_printer_bad_profile(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "broken.toml"
    path.write_bytes(content)
    with pytest.raises(ConfigError) as caught:
        load_profile(str(path))
    assert caught.value.code == "printer.bad_profile"
    assert str(path) in str(caught.value)


def test_a_directory_where_the_profile_should_be_is_printer_bad_profile(tmp_path: Path) -> None:
    (tmp_path / "dir.toml").mkdir()
    with pytest.raises(ConfigError) as caught:
        load_profile(str(tmp_path / "dir.toml"))
    assert caught.value.code == "printer.bad_profile"


# -- the job journal --------------------------------------------------------------------------


def test_journal_records_survive_a_new_journal_on_the_same_path(tmp_path: Path) -> None:
    path = tmp_path / "state" / "jobs.jsonl"  # the directory is made on the first record
    first = JobJournal(path)
    assert first.get("R-1") is None
    first.record("R-1", 1200, "process_id")
    first.record("R-2", 900, "none")
    again = JobJournal(path)
    one, two = again.get("R-1"), again.get("R-2")
    assert one is not None and two is not None
    assert (one["bytes"], one["confirmed"]) == (1200, True)
    assert (two["bytes"], two["confirmed"]) == (900, False)
    assert again.get("R-3") is None


def test_journal_says_how_each_job_was_confirmed(tmp_path: Path) -> None:
    path = tmp_path / "jobs.jsonl"
    journal = JobJournal(path)
    for job_id, confirmation in (("R-1", "process_id"), ("R-2", "status"), ("R-3", "none")):
        journal.record(job_id, 100, confirmation)
    lines = [json.loads(line) for line in path.read_text("utf-8").splitlines()]
    assert [(line["confirmation"], line["confirmed"]) for line in lines] == [
        ("process_id", True),
        ("status", False),  # delivered, its status after the cut fine: not confirmed by the printer
        ("none", False),
    ]
    again = JobJournal(path)
    assert [again.confirmation(again.get(job_id) or {}) for job_id in ("R-1", "R-2", "R-3")] == [
        "process_id",
        "status",
        "none",
    ]


def test_journal_lines_from_before_the_confirmation_field_still_read(tmp_path: Path) -> None:
    path = tmp_path / "jobs.jsonl"
    path.write_text(
        '{"job": "OLD-1", "bytes": 100, "confirmed": true, "at": 0}\n'
        '{"job": "OLD-2", "bytes": 100, "confirmed": false, "at": 0}\n',
        encoding="utf-8",
    )
    journal = JobJournal(path)
    assert journal.confirmation(journal.get("OLD-1") or {}) == "process_id"
    assert journal.confirmation(journal.get("OLD-2") or {}) == "none"


def test_journal_skips_a_torn_last_line_with_a_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "jobs.jsonl"
    journal = JobJournal(path)
    journal.record("R-1", 100, "process_id")
    journal.record("R-2", 200, "process_id")
    whole = json.dumps({"job": "R-3", "bytes": 300, "confirmed": True, "at": 0.0})
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(whole[: len(whole) // 2])  # the power went in the middle of the append
    with caplog.at_level(logging.WARNING, logger="kiosk.peripherals.printer.journal"):
        again = JobJournal(path)
    assert again.get("R-1") is not None and again.get("R-2") is not None
    assert again.get("R-3") is None  # not confirmed: it may print again, once
    assert f"{path} line 3 is not a job record" in caplog.text


@pytest.mark.parametrize(
    "line", ["[1, 2]\n", '{"bytes": 3}\n', "null\n", "\n"], ids=["list", "no-job", "null", "empty"]
)
def test_journal_skips_a_line_that_is_json_but_no_record(
    tmp_path: Path, line: str, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "jobs.jsonl"
    JobJournal(path).record("R-1", 100, "process_id")
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(line)
    JobJournal(path).record("R-2", 100, "process_id")
    with caplog.at_level(logging.WARNING, logger="kiosk.peripherals.printer.journal"):
        again = JobJournal(path)
    assert again.get("R-1") is not None and again.get("R-2") is not None
    assert "line 2 is not a job record" in caplog.text


def test_journal_appends_and_never_rewrites(tmp_path: Path) -> None:
    path = tmp_path / "jobs.jsonl"
    journal = JobJournal(path)
    journal.record("R-1", 100, "process_id")
    before, inode = path.read_bytes(), os.stat(path).st_ino
    JobJournal(path).record("R-2", 200, "none")  # a restart, then a new job
    journal.record("R-1", 100, "process_id")  # even the same id again is one more line, not an edit
    after = path.read_bytes()
    assert after.startswith(before)
    assert os.stat(path).st_ino == inode  # the same file, not a replacement
    lines = after.decode("utf-8").splitlines()
    assert [json.loads(line)["job"] for line in lines] == ["R-1", "R-2", "R-1"]
    assert after.endswith(b"\n")


def test_a_record_after_a_torn_line_survives_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "jobs.jsonl"
    JobJournal(path).record("R-1", 100, "process_id")
    with open(path, "a", encoding="utf-8") as fh:
        fh.write('{"job": "R-2", "by')  # the power went in the middle of the append
    JobJournal(path).record("R-3", 300, "process_id")  # the kiosk came back and printed R-3
    assert JobJournal(path).get("R-3") is not None  # so R-3 must not print again after the next restart


# -- text in GBK and GB18030 ------------------------------------------------------------------


def test_gbk_prints_a_4_byte_character_as_geta_and_logs_no_text(caplog: pytest.LogCaptureFixture) -> None:
    text = f"张{HAN_4_BYTES}三"
    with caplog.at_level(logging.WARNING, logger="kiosk.peripherals.printer.escpos.encode"):
        data = escpos.encode_text(text, "gbk")
    assert data == f"张{escpos.GBK_MISSING}三".encode("gbk")
    assert data.decode("gbk") == "张〓三"
    (record,) = [r for r in caplog.records if r.name == "kiosk.peripherals.printer.escpos.encode"]
    assert record.levelno == logging.WARNING
    message = record.getMessage()
    assert "1 characters" in message and "gbk" in message
    for secret in (HAN_4_BYTES, "张", "三", text):
        assert secret not in message  # the text may be a name: never in the log


def test_gbk_text_that_fits_logs_nothing(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="kiosk.peripherals.printer.escpos.encode"):
        assert escpos.encode_text("欧阳建国，你好！", "gbk") == "欧阳建国，你好！".encode("gbk")
    assert not [r for r in caplog.records if r.name == "kiosk.peripherals.printer.escpos.encode"]


def _profile(encoding: str) -> PrinterProfile:
    return load_profile("generic-80").model_copy(update={"encoding": encoding})


def test_a_4_byte_character_round_trips_in_gb18030(caplog: pytest.LogCaptureFixture) -> None:
    text = f"张{HAN_4_BYTES}三 No.1"
    assert escpos.encode_text(text, "gb18030") == text.encode("gb18030")
    assert len(HAN_4_BYTES.encode("gb18030")) == 4
    with caplog.at_level(logging.WARNING, logger="kiosk.peripherals.printer.escpos.encode"):
        data = escpos.encode_items([Line(text), Line(HAN_4_BYTES)], _profile("gb18030"))
    printout = escpos_parse.parse(data)
    assert printout.text_lines() == [text, HAN_4_BYTES]
    assert printout.cut and printout.chinese_mode
    assert not [r for r in caplog.records if r.name == "kiosk.peripherals.printer.escpos.encode"]


def test_gbk_receipt_bytes_parse_to_the_geta_mark() -> None:
    data = escpos.encode_items([Line(f"张{HAN_4_BYTES}三")], _profile("gbk"))
    assert escpos_parse.parse(data).text_lines() == ["张〓三"]
