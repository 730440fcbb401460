"""Page detection and capture figures in one run, side by side, on generated document scenes.

    .venv/bin/python bench/bench_docs.py [--scenes 200] [--seed 2026] [--captures 40]

The scenes (tests/support/doc_scenes.py) are 1080p camera frames of a page with known corners:
half on the kiosk's dark base plate, half on a light desk; A4 mostly, also A5, ID-card and
household-register pages; turned up to ±30°, under the citizen's shadow, with reflections, a hand
at an edge; lens blur, sensor noise, JPEG. Besides them, frames with no page at all (empty
plate or desk, a hand, a phone, a sticky note).

Three detectors on the same frames:
(a) ours with the plate model learned from five frames of the empty plate, as the kiosk runs;
(b) ours from the image alone (edges and the whitest region), as without a plate model;
(c) the classic plain Canny detector: grey, blur, Canny, contours, the largest that
    approxPolyDP makes four-sided.
A page counts as found when the worst corner is within 2 % of the frame's diagonal (anything
further is another shape); the corner error is given over the pages found. Then the kiosk's
whole per-frame work (PageWatcher.feed: detection and every quality gate), and capture to file:
an A4 page warped to 200 dpi and encoded as a JPEG of at most 1 MB.
Prints, never asserts. Takes about a minute.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kiosk.vision.page_detect import detect_page, order_corners
from kiosk.vision.page_files import capture_page
from kiosk.vision.plate import PlateModel
from kiosk.vision.quality import PageWatcher
from tests.support import doc_scenes as ds

FOUND_WITHIN = 0.02  # of the diagonal: a quad further off than this is not the page
MS = 1000

Detector = Callable[[ds.Scene], np.ndarray | None]


def canny_baseline(frame: np.ndarray) -> np.ndarray | None:
    """The classic: at 500 px high, grey, blur, Canny 75/200, the largest contour with four corners."""
    ratio = frame.shape[0] / 500
    small = cv2.resize(frame, (round(frame.shape[1] / ratio), 500))
    grey = cv2.GaussianBlur(cv2.cvtColor(small, cv2.COLOR_BGR2GRAY), (5, 5), 0)
    contours, _ = cv2.findContours(cv2.Canny(grey, 75, 200), cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
    for contour in sorted(contours, key=cv2.contourArea, reverse=True)[:5]:
        approx = cv2.approxPolyDP(contour, 0.02 * cv2.arcLength(contour, True), True)
        if len(approx) == 4:
            return order_corners((approx.reshape(4, 2) + 0.5) * ratio - 0.5)
    return None


def learned(back: ds.Backdrop) -> PlateModel:
    plate = PlateModel()
    for frame in ds.empty_frames(back, 5, seed=back.seed):
        plate.learn(frame)
    return plate


def run(detector: Detector, scenes: list[ds.Scene], negatives: list[ds.Scene]) -> dict[str, list[float]]:
    detector(scenes[0])  # OpenCV sets up its tables on first use: not a frame's cost
    found: dict[str, list[float]] = {"error": [], "ms": [], "plate": [], "desk": [], "wrong": [], "false": []}
    for scene in scenes:
        started = time.perf_counter()
        corners = detector(scene)
        found["ms"].append((time.perf_counter() - started) * MS)
        if corners is None:
            continue
        error = float(np.linalg.norm(corners - scene.corners, axis=1).max()) / scene.diagonal
        if error <= FOUND_WITHIN:
            found["error"].append(error * 100)
            found[scene.backdrop.kind].append(1)
        else:
            found["wrong"].append(1)
    found["false"] = [1 for scene in negatives if detector(scene) is not None]
    return found


def watcher_ms(scenes: list[ds.Scene], plates: dict[int, PlateModel]) -> list[float]:
    """PageWatcher.feed on each scene as a new placement: detection, quality gates, steadiness."""
    watchers = {key: PageWatcher(plate) for key, plate in plates.items()}
    times = []
    for n, scene in enumerate(scenes):
        watcher = watchers[id(scene.backdrop)]
        started = time.perf_counter()
        watcher.feed(scene.image, float(n))
        times.append((time.perf_counter() - started) * MS)
    return times


def captures(scenes: list[ds.Scene], count: int) -> tuple[list[float], list[int]]:
    """Capture to file of A4 pages: warp to 200 dpi, JPEG within 1 MB (from the true corners)."""
    a4 = [scene for scene in scenes if scene.look.size_mm == ds.A4][:count]
    capture_page(a4[0].image, a4[0].corners)
    times, sizes = [], []
    for scene in a4:
        started = time.perf_counter()
        frame = capture_page(scene.image, scene.corners, ds.A4)
        times.append((time.perf_counter() - started) * MS)
        sizes.append(len(frame.jpeg))
    return times, sizes


def percentile(samples: list[float], pct: int) -> float:
    return float(np.percentile(samples, pct)) if samples else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenes", type=int, default=200, help="1080p scenes with a page")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--captures", type=int, default=40, help="A4 pages captured to file")
    args = parser.parse_args()

    started = time.monotonic()
    scenes = ds.scene_set(args.scenes, ds.FULL_HD, seed=args.seed)
    negatives = ds.negative_set(ds.FULL_HD, seed=args.seed + 1)
    plates = {id(back): learned(back) for back in {id(s.backdrop): s.backdrop for s in scenes + negatives}.values()}
    made = time.monotonic() - started
    detectors: dict[str, Detector] = {
        "ours (plate model)": lambda s: _corners(detect_page(s.image, plates[id(s.backdrop)])),
        "ours (edges only)": lambda s: _corners(detect_page(s.image)),
        "plain Canny baseline": lambda s: canny_baseline(s.image),
    }
    results = {name: run(detector, scenes, negatives) for name, detector in detectors.items()}
    feed = watcher_ms(scenes, plates)
    capture_ms, sizes = captures(scenes, args.captures)

    n, kinds = len(scenes), {kind: sum(s.backdrop.kind == kind for s in scenes) for kind in ("plate", "desk")}
    shadowed, shiny = sum(s.look.shadow > 0 for s in scenes), sum(s.look.glare > 0 for s in scenes)
    hands = sum(s.look.hand >= 0 for s in scenes)
    print(f"Document pages, one run ({time.monotonic() - started:.0f} s, {made:.0f} s of it drawing the scenes).")
    print(f"{n} scenes at 1920x1080: {kinds['plate']} on the dark plate, {kinds['desk']} on a light desk;")
    print(f"{shadowed} shadowed, {shiny} with a reflection, {hands} with a hand at an edge;", end=" ")
    print(f"{len(negatives)} without a page.")
    print(f"  {'':22} {'found':>9} {'plate':>7} {'desk':>7} {'wrong':>6}  {'corner error % diag':>20}  "
          f"{'ms per frame':>15}  {'false pages':>11}")  # fmt: skip
    print(f"  {'':22} {'':>9} {'':>7} {'':>7} {'':>6}  {'median':>9} {'max':>10}  {'median':>7} {'p95':>7}")
    for name, found in results.items():
        errors = found["error"]
        print(
            f"  {name:22} {len(errors):>4}/{n:<4} {len(found['plate']):>3}/{kinds['plate']:<3} "
            f"{len(found['desk']):>3}/{kinds['desk']:<3} {len(found['wrong']):>6}  "
            f"{percentile(errors, 50):>9.4f} {percentile(errors, 100):>10.4f}  "
            f"{percentile(found['ms'], 50):>7.1f} {percentile(found['ms'], 95):>7.1f}  "
            f"{len(found['false']):>5}/{len(negatives)}"
        )
    print(f"  {'watcher.feed (detection + quality gates), plate model':57} "
          f"{percentile(feed, 50):>7.1f} {percentile(feed, 95):>7.1f} ms")  # fmt: skip
    print(
        f"capture to file, {len(capture_ms)} A4 pages (warp to 200 dpi + JPEG ≤ 1 MB): "
        f"median {statistics.median(capture_ms):.0f} ms, max {max(capture_ms):.0f} ms; "
        f"JPEG median {statistics.median(sizes) / 1000:.0f} kB, largest {max(sizes) / 1000:.0f} kB"
    )
    ours = results["ours (plate model)"]
    rate = len(ours["error"]) / n * 100
    worst = max(ours["error"], default=float("inf"))
    frame_ms, frame_p95 = percentile(feed, 50), percentile(feed, 95)
    capture_s = statistics.median(capture_ms) / MS
    print("goals, ours with the plate model:")
    print(f"  detection ≥ 98 %: {_verdict(rate >= 98)} ({rate:.1f} %)")
    print(f"  worst-corner error ≤ 0.3 % of the diagonal: {_verdict(worst <= 0.3)} (max {worst:.4f} %)")
    print(f"  ≤ 15 ms per 1080p frame: {_verdict(frame_ms <= 15)} (median {frame_ms:.1f} ms, p95 {frame_p95:.1f} ms)")
    print(f"  capture to file ≤ 0.4 s per A4 page: {_verdict(capture_s <= 0.4)} (median {capture_s:.3f} s)")


def _corners(quad) -> np.ndarray | None:
    return None if quad is None else quad.corners


def _verdict(met: bool) -> str:
    return "met" if met else "MISSED"


if __name__ == "__main__":
    main()
