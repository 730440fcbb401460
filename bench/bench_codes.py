"""Codes held up to the document camera: read rate, wrong reads and time per frame, side by side.

    .venv/bin/python bench/bench_codes.py [--scenes 200] [--frames 10] [--seed 2026]

The same generated degraded QR scenes (tests/support/code_scenes.py: small, tilted, soft, shiny,
grainy, in UTF-8, GBK and GB18030 with and without ECI) at 720p and 1080p, read by:

  ours, single frame   CodeScanner.scan_still: a plain pass, then the whole escalation ladder,
                       on one frame per scene; QR and Code 128, as in service
  ours, voting         CodeScanner.feed, votes=2, on up to --frames frames of the scene as a hand
                       holds it (10: two thirds of a second at 15 fps); a pass and, after a
                       miss, the ladder's inversion, crops and one filter per frame
  pyzbar               kiosk.vision.codes with decoder="pyzbar" (zbar in binary mode: its raw
                       bytes, which pyzbar's own decode() would have re-encoded), one pass
  cv2 Aruco            cv2.QRCodeDetectorAruco().detectAndDecode; an exception counts as no read

A read is right when its bytes are the scene's (cv2 gives text only: right when it is the
scene's text), wrong when it is anything else. Times are per frame fed, grey conversion
included. Prints, never asserts. Takes about 3 minutes on two cores.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import cv2
import numpy as np

from kiosk.vision.codes import decode
from kiosk.vision.scanner import CodeScanner, to_gray
from tests.support.code_scenes import FULL_HD, HD, Scene, degraded_set, sequence

MS = 1000


@dataclass
class Tally:
    right: int = 0
    wrong: int = 0
    scenes: int = 0
    times: list[float] = field(default_factory=list)  # ms per frame

    def row(self, name: str) -> str:
        median = statistics.median(self.times)
        p95 = float(np.percentile(self.times, 95))
        rate = self.right / self.scenes
        return f"{name:22} {rate:7.1%} {self.wrong:6d} {median:9.1f} {p95:8.1f}"


def timed(read: Callable[[np.ndarray], object], frame: np.ndarray, tally: Tally) -> object:
    started = time.perf_counter()
    answer = read(frame)
    tally.times.append((time.perf_counter() - started) * MS)
    return answer


def score(tally: Tally, right: bool, answered: bool) -> None:
    tally.scenes += 1
    tally.right += right
    tally.wrong += answered and not right


def ours_single(scenes: list[Scene]) -> Tally:
    tally, scanner = Tally(), CodeScanner()
    for scene in scenes:
        read = timed(scanner.scan_still, scene.image, tally)
        score(tally, read is not None and read.raw == scene.expected_raw, read is not None)
    return tally


def ours_voting(scenes: list[Scene], frames: int) -> tuple[Tally, list[int]]:
    tally, needed = Tally(), []
    for scene in scenes:
        scanner = CodeScanner(votes=2)
        read = None
        for index, frame in enumerate([scene.image, *sequence(scene, frames - 1)], 1):
            read = timed(scanner.feed, frame, tally)
            if read is not None:
                needed.append(index)
                break
        score(tally, read is not None and read.raw == scene.expected_raw, read is not None)
    return tally, needed


def pyzbar(scenes: list[Scene]) -> Tally:
    tally = Tally()
    for scene in scenes:
        found = timed(lambda image: decode(to_gray(image), decoder="pyzbar"), scene.image, tally)
        score(tally, any(d.read.raw == scene.expected_raw for d in found), bool(found))
    return tally


def opencv_aruco(scenes: list[Scene]) -> Tally:
    tally, detector = Tally(), cv2.QRCodeDetectorAruco()

    def read(image: np.ndarray) -> str:
        try:
            return detector.detectAndDecode(to_gray(image))[0]
        except (cv2.error, UnicodeDecodeError):  # its binding takes every payload for UTF-8
            return ""

    for scene in scenes:
        text = timed(read, scene.image, tally)
        score(tally, text == scene.expected_text, bool(text))
    return tally


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--scenes", type=int, default=200, help="scenes per resolution")
    p.add_argument("--frames", type=int, default=10, help="frames per scene for the voting scanner")
    p.add_argument("--seed", type=int, default=2026)
    args = p.parse_args()
    cv2.setNumThreads(1)  # every decoder on one core, as on the kiosk beside the UI
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)  # Aruco warns about each ECI
    results: dict[str, dict[str, Tally]] = {}
    print(f"{args.scenes} degraded QR scenes per resolution, seed {args.seed}; voting: 2 of up to {args.frames} frames")
    for name, size in (("720p", HD), ("1080p", FULL_HD)):
        scenes = degraded_set(args.scenes, size, args.seed)
        voting, needed = ours_voting(scenes, args.frames)
        results[name] = {
            "ours, single frame": ours_single(scenes),
            "ours, voting": voting,
            "pyzbar": pyzbar(scenes),
            "cv2 Aruco": opencv_aruco(scenes),
        }
        print(f"\n{name}: {size[0]}×{size[1]}")
        print(f"{'decoder':22} {'read':>7} {'wrong':>6} {'median ms':>9} {'p95 ms':>8}")
        for row, tally in results[name].items():
            print(tally.row(row))
        print(f"voting: frames to a read, median {statistics.median(needed):.0f}, max {max(needed)}")
    full = results["1080p"]
    single, voting, baseline = full["ours, single frame"], full["ours, voting"], full["pyzbar"]
    ratio = single.right / max(1, baseline.right)
    wrong = sum(t.wrong for rows in results.values() for key, t in rows.items() if key.startswith("ours"))
    print("\ngoals (1080p)                      achieved")
    print(f"single frame ≥ 2× pyzbar's rate    {ratio:.2f}×")
    print(f"voting ≥ 95 %                      {voting.right / voting.scenes:.1%}")
    print(
        f"median ≤ 10 ms per frame           {statistics.median(voting.times):.1f} ms (voting), "
        f"{statistics.median(single.times):.1f} ms (single)"
    )
    print(f"0 wrong reads (ours, both sizes)   {wrong}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
