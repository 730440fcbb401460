"""`kiosk scan-doc --json`: the technician's command on generated camera images with known corners."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from kiosk.technician import scan_doc
from tests.conftest import ROOT
from tests.support import doc_scenes as ds

MAX_ERROR = 0.003  # worst corner, as a fraction of the frame's diagonal
LOOK = ds.Look(angle=-9, centre=(0.45, 0.5), px_per_mm=3.0, content_seed=21, noise_seed=21)


@pytest.fixture(scope="module")
def pictures(tmp_path_factory) -> dict[str, Path | np.ndarray]:
    """A page on a light desk, the empty desk, and a file that is no image."""
    folder = tmp_path_factory.mktemp("scan-doc")
    back = ds.backdrop("desk", ds.FULL_HD, seed=51)
    image, corners = ds.render(back, LOOK)
    files = {"page": folder / "page.jpg", "empty": folder / "empty.png", "junk": folder / "junk.jpg"}
    cv2.imwrite(str(files["page"]), image, [cv2.IMWRITE_JPEG_QUALITY, 95])
    cv2.imwrite(str(files["empty"]), ds.empty_frames(back, 1, seed=2)[0])
    files["junk"].write_bytes(b"not a picture")
    return {**files, "corners": corners, "folder": folder}


def scan(*argv: str, capsys) -> tuple[int, dict]:
    """In-process, through the subcommand's own parser."""
    parser = argparse.ArgumentParser(prog="kiosk")
    scan_doc.add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["scan-doc", "--json", *argv])
    code = args.func(args)
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1, lines
    return code, json.loads(lines[0])


def worst_error(found: list[list[float]], truth: np.ndarray) -> float:
    return float(np.linalg.norm(np.array(found) - truth, axis=1).max()) / np.hypot(1920, 1080)


@pytest.mark.parametrize("with_plate", [True, False])
def test_the_page_is_found_and_written_corrected(pictures, with_plate, capsys) -> None:
    out = pictures["folder"] / f"page-{with_plate}.jpg"
    plate = ["--plate", str(pictures["empty"])] if with_plate else []
    code, answer = scan(str(pictures["page"]), "--out", str(out), *plate, capsys=capsys)
    assert code == 0, answer
    assert set(answer) == {"found", "corners", "effective_dpi", "quality", "ms"}
    assert answer["found"] is True
    assert worst_error(answer["corners"], pictures["corners"]) <= MAX_ERROR
    assert answer["effective_dpi"] == pytest.approx(76.2, abs=0.6)  # 3 px per mm of paper
    assert answer["quality"]["method"] == ("plate" if with_plate else "edges")
    assert answer["quality"]["advice"] == "doc.ready" and answer["quality"]["in_frame"] is True
    assert 0 < answer["ms"] < 1000
    written = cv2.imread(str(out))
    assert written.shape == (2339, 1654, 3) and out.stat().st_size <= 1_000_000


def test_black_and_white_at_another_paper_size(pictures, capsys) -> None:
    out = pictures["folder"] / "bw.jpg"
    code, answer = scan(str(pictures["page"]), "--out", str(out), "--bw", "--size-mm", "216x279", capsys=capsys)
    assert code == 0
    assert answer["effective_dpi"] == pytest.approx(min(3.0 * 210 / 216, 3.0 * 297 / 279) * 25.4, abs=0.6)
    assert cv2.imread(str(out), cv2.IMREAD_UNCHANGED).shape == (2197, 1701)  # 279 x 216 mm at 200 dpi


def test_no_page_exits_1_and_writes_nothing(pictures, capsys) -> None:
    out = pictures["folder"] / "none.jpg"
    code, answer = scan(str(pictures["empty"]), "--out", str(out), capsys=capsys)
    assert code == 1
    assert answer["found"] is False and answer["corners"] == [] and answer["effective_dpi"] == 0
    assert not out.exists()


@pytest.mark.parametrize("which", ["junk", "missing"])
def test_an_unreadable_input_exits_2_with_a_message_code(pictures, which, capsys) -> None:
    path = pictures["junk"] if which == "junk" else pictures["folder"] / "missing.jpg"
    code, answer = scan(str(path), capsys=capsys)
    assert code == 2
    assert answer["found"] is False and answer["error"]["code"] == "doc.unreadable"
    assert answer["error"]["message"]


def test_the_command_line_prints_one_json_line(pictures) -> None:
    out = pictures["folder"] / "cli.jpg"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "main.py"), "scan-doc", "--json", str(pictures["page"]), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 1, proc.stdout
    answer = json.loads(lines[0])
    assert answer["found"] is True and worst_error(answer["corners"], pictures["corners"]) <= MAX_ERROR
    assert out.stat().st_size <= 1_000_000
