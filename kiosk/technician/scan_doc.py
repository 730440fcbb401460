"""`kiosk scan-doc --json IN --out OUT.jpg`: find the page in one camera image and write it corrected.

Prints one JSON line: {"found", "corners" (input pixels, clockwise from top-left),
"effective_dpi", "quality" (the measurements and the advice a citizen would get), "ms" (finding
and measuring, not reading or writing files)}. Exit 0 with a page, 1 without one, 2 when the
input (or the --plate image) cannot be read or the page cannot be written: then
{"found": false, "error": {"code", "message"}}.

`--plate EMPTY.jpg`, a picture of the empty base plate from the same camera, lets it use the
plate model, as the kiosk does; without it the page is found from its edges. The page goes
to --out only: nothing is logged or kept.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from kiosk.core.errors import KioskError
from kiosk.core.messages import Messages
from kiosk.vision.page_detect import detect_page
from kiosk.vision.page_files import capture_page
from kiosk.vision.page_warp import PageError, effective_dpi
from kiosk.vision.plate import PlateModel
from kiosk.vision.quality import measure


def add_parser(sub: Any) -> argparse.ArgumentParser:
    """Register `scan-doc` on the CLI's subparsers."""
    scan = sub.add_parser("scan-doc", help="find the page in a camera image, print its corners and quality")
    scan.add_argument("--json", action="store_true", help="print JSON (the only format)")
    scan.add_argument("image", metavar="IN", help="a camera image (JPEG, PNG…)")
    scan.add_argument("--out", metavar="OUT.jpg", help="write the corrected page here")
    scan.add_argument("--plate", metavar="EMPTY.jpg", help="the same camera's picture of the empty base plate")
    scan.add_argument("--size-mm", default="210x297", type=_size, help="the paper's size, WxH in mm (default A4)")
    scan.add_argument("--bw", action="store_true", help="write the page in black and white")
    scan.set_defaults(func=run)
    return scan


def run(args: argparse.Namespace) -> int:
    try:
        code, answer = _scan(args)
    except KioskError as exc:
        code, answer = 2, {"found": False, "error": {"code": exc.code, "message": Messages("zh-CN").error(exc)}}
    print(json.dumps(answer, ensure_ascii=False))
    return code


def _scan(args: argparse.Namespace) -> tuple[int, dict[str, Any]]:
    frame = _read(args.image)
    plate = None
    if args.plate:
        plate = PlateModel(min_frames=1)
        plate.learn(_read(args.plate))
    cv2.cvtColor(np.zeros((1, 1, 3), np.uint8), cv2.COLOR_BGR2LAB)  # OpenCV builds its Lab tables once: not per frame
    started = time.perf_counter()
    quad = detect_page(frame, plate)
    quality = measure(frame, quad) if quad is not None else {}
    elapsed = round((time.perf_counter() - started) * 1000, 1)
    if quad is None:
        return 1, {"found": False, "corners": [], "effective_dpi": 0.0, "quality": quality, "ms": elapsed}
    if args.out:
        jpeg = capture_page(frame, quad.corners, args.size_mm, args.bw).jpeg
        try:
            Path(args.out).write_bytes(jpeg)
        except OSError as exc:
            raise PageError(f"cannot write {args.out}: {exc.strerror}", code="doc.write_failed") from None
    return 0, {
        "found": True,
        "corners": quad.as_list(),
        "effective_dpi": round(effective_dpi(quad.corners, args.size_mm), 1),
        "quality": quality,
        "ms": elapsed,
    }


def _read(path: str) -> np.ndarray:
    data = np.fromfile(path, np.uint8) if Path(path).is_file() else np.empty(0, np.uint8)
    image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if image is None:
        raise PageError(f"not an image: {path}", code="doc.unreadable")
    return image


def _size(text: str) -> tuple[float, float]:
    try:
        width, height = (float(part) for part in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not WxH in mm, e.g. 210x297") from None
    if width <= 0 or height <= 0:
        raise argparse.ArgumentTypeError(f"{text!r}: both sides must be positive")
    return width, height
