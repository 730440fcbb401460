"""`kiosk scan-code --json FILE...`: the technician's command on generated images with known codes."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import cv2
import pytest

from kiosk.technician import scan_code
from tests.conftest import ROOT
from tests.support.code_scenes import (
    ID_NUMBER,
    RECEIPT,
    RECEIPT_URL,
    Look,
    Payload,
    code128_scene,
    latin1_code128_modules,
    qr_scene,
    qr_segment_modules,
    render,
    structured_append_parts,
)

KEYS = {"file", "found", "text", "format", "kind", "ms"}


KANJI = "今度のバージョンでは文章の暗号化ができます。"
LATIN_1 = "óóóó1234óóabózz"


@pytest.fixture(scope="module")
def pictures(tmp_path_factory) -> dict[str, Path]:
    """A receipt QR (JPEG), an ID number in Code 128 (PNG), a GBK QR, an empty frame, a non-image;
    a Kanji-mode QR, a QR of half-width katakana (GBK too), ISO-8859-1 Code 128, a structured-append part."""
    folder = tmp_path_factory.mktemp("scan-code")
    drawn = {
        "kanji.png": qr_segment_modules((KANJI, "kanji")),
        "kana.png": qr_segment_modules(("ﾃﾞｻﾞｲﾝ".encode("cp932"), "byte"), ("QR", "alphanumeric")),
        "latin1.png": latin1_code128_modules(LATIN_1),
        "part.png": structured_append_parts(f"{RECEIPT_URL} " * 4)[0],
    }
    files = {name: folder / name for name in ("receipt.jpg", "id.png", "gbk.png", "empty.png", "junk.jpg", *drawn)}
    for name, symbol in drawn.items():
        cv2.imwrite(str(files[name]), render(symbol, Look(module_px=4.0, noise_seed=len(name))))
    receipt = qr_scene(Payload(RECEIPT_URL), Look(angle=20, noise_seed=1))
    cv2.imwrite(str(files["receipt.jpg"]), receipt.image, [cv2.IMWRITE_JPEG_QUALITY, 85])
    cv2.imwrite(str(files["id.png"]), code128_scene(ID_NUMBER, Look(module_px=3.0, noise_seed=2)).image)
    cv2.imwrite(str(files["gbk.png"]), qr_scene(Payload("预约成功，请到大厅取号", "gbk"), Look(noise_seed=3)).image)
    empty = receipt.image.copy()
    empty[:] = 90
    cv2.imwrite(str(files["empty.png"]), empty)
    files["junk.jpg"].write_bytes(b"not a picture")
    return files


def scan(*argv: str, capsys) -> tuple[int, list[dict]]:
    """In-process, through the subcommand's own parser."""
    parser = argparse.ArgumentParser(prog="kiosk")
    parser.add_argument("--config")
    scan_code.add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["scan-code", "--json", *argv])
    code = args.func(args)
    return code, [json.loads(line) for line in capsys.readouterr().out.strip().splitlines()]


def test_each_file_gets_a_line_with_its_code_and_kind(pictures, capsys) -> None:
    files = [pictures["receipt.jpg"], pictures["id.png"], pictures["gbk.png"]]
    code, lines = scan(*map(str, files), capsys=capsys)
    assert code == 0
    assert all(set(line) == KEYS and line["found"] is True and line["ms"] > 0 for line in lines)
    assert [(line["file"], line["text"], line["format"], line["kind"]) for line in lines] == [
        (str(files[0]), RECEIPT_URL, "QRCode", "receipt"),
        (str(files[1]), ID_NUMBER, "Code128", "id_number"),
        (str(files[2]), "预约成功，请到大厅取号", "QRCode", "other"),
    ]
    assert RECEIPT in RECEIPT_URL


def test_a_file_without_a_code_or_not_an_image(pictures, tmp_path, capsys) -> None:
    missing = tmp_path / "missing.png"
    code, lines = scan(
        str(pictures["receipt.jpg"]), str(pictures["empty.png"]), str(pictures["junk.jpg"]), str(missing), capsys=capsys
    )
    assert code == 1
    assert [line["found"] for line in lines] == [True, False, False, False]
    assert set(lines[1]) == KEYS and lines[1]["text"] is None
    assert set(lines[2]) == set(lines[3]) == {"file", "found", "error"}
    assert "image" in lines[2]["error"] and "cannot read" in lines[3]["error"]


def test_the_baseline_decoder_and_the_formats_are_chosen(pictures, capsys) -> None:
    code, lines = scan("--decoder", "pyzbar", str(pictures["receipt.jpg"]), capsys=capsys)
    assert code == 0 and lines[0]["text"] == RECEIPT_URL
    code, lines = scan("--formats", "QRCode", str(pictures["id.png"]), capsys=capsys)
    assert code == 1 and lines[0]["found"] is False  # Code 128 was not asked for
    with pytest.raises(SystemExit):
        scan("--formats", "Aztec", str(pictures["id.png"]), capsys=capsys)


def test_text_by_each_symbology_s_rules_or_none(pictures, capsys) -> None:
    """Kanji mode is Shift_JIS, Code 128 ISO-8859-1 (they came out GB18030), and kana that read
    as Chinese too give no text rather than a guess."""
    files = [pictures["kanji.png"], pictures["latin1.png"], pictures["kana.png"]]
    code, lines = scan(*map(str, files), capsys=capsys)
    assert code == 0
    assert [(line["text"], line["format"], line["kind"]) for line in lines] == [
        (KANJI, "QRCode", "other"),
        (LATIN_1, "Code128", "other"),
        ("", "QRCode", "other"),
    ]
    assert [line.get("refused") for line in lines] == [None, None, "camera.code_ambiguous"]


def test_the_baseline_goes_on_past_a_structured_append_part(pictures, capsys) -> None:
    """zbar's part of a sequence crashed the command (StopIteration), and the later files got no line."""
    code, lines = scan("--decoder", "pyzbar", str(pictures["part.png"]), str(pictures["receipt.jpg"]), capsys=capsys)
    assert code == 1
    assert [(line["found"], line["text"]) for line in lines] == [(False, None), (True, RECEIPT_URL)]


def test_a_bad_config_is_reported(pictures, tmp_path, capsys) -> None:
    code = scan_code.run(
        argparse.Namespace(
            config=str(tmp_path / "none.toml"),
            files=[str(pictures["id.png"])],
            decoder="zxing",
            formats=frozenset({"QRCode"}),
        )
    )
    assert code == 2
    assert "config error" in capsys.readouterr().err


def test_through_the_kiosk_command(pictures) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "main.py"),
            "scan-code",
            "--json",
            str(pictures["receipt.jpg"]),
            str(pictures["junk.jpg"]),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    lines = [json.loads(line) for line in proc.stdout.strip().splitlines()]
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert [(line["found"], line.get("kind")) for line in lines] == [(True, "receipt"), (False, None)]
