"""`kiosk scan-code --json FILE...`: read the code in each image file, as the camera would.

One JSON line per file: {"file", "found", "text", "format", "kind", "ms"} (and "refused":
"camera.code_ambiguous" with no text for a code whose bytes read as two texts, both plausible),
or {"file", "found": false, "error"} for a file that is not a readable image or that the decoder
failed on (the next file is read all the same). Each image gets the scanner's whole
ladder (scan_still); `kind` is what the kiosk would make of the code under the config's rules.
Exit 0 when every file held a code, 1 otherwise, 2 on a config error. The text may hold an ID
number: it goes to stdout only, which the technician asked for, and is never logged.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from kiosk.core.code_kinds import CodeRules, classify
from kiosk.core.config import load_config
from kiosk.core.errors import ConfigError, DeviceError
from kiosk.vision.code_text import is_ambiguous
from kiosk.vision.codes import DECODERS, DEFAULT_FORMATS, FORMATS, check_formats
from kiosk.vision.scanner import CodeScanner


def _formats(value: str) -> frozenset[str]:
    try:
        return check_formats(frozenset(name.strip() for name in value.split(",") if name.strip()))
    except DeviceError:
        raise argparse.ArgumentTypeError(f"a comma list of {', '.join(sorted(FORMATS))}") from None


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    p = sub.add_parser("scan-code", help="read the code in image files, one JSON line per file")
    p.add_argument("--json", action="store_true", help="print JSON (the only format)")
    p.add_argument("--decoder", choices=DECODERS, default="zxing", help="pyzbar: the baseline, for comparison")
    p.add_argument(
        "--formats",
        type=_formats,
        default=DEFAULT_FORMATS,
        help="comma list: QRCode,Code128 (the default), PDF417, DataMatrix",
    )
    p.add_argument("files", nargs="+", metavar="FILE", help="image files (PNG, JPEG, …)")
    p.set_defaults(func=run)
    return p


def scan_file(path: Path, scanner: CodeScanner, rules: CodeRules) -> dict[str, Any]:
    """The JSON object for one file."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        return {"file": str(path), "found": False, "error": f"cannot read the file: {exc.strerror}"}
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_GRAYSCALE)
    if image is None:
        return {"file": str(path), "found": False, "error": "not an image OpenCV can decode"}
    started = time.perf_counter()
    try:
        read = scanner.scan_still(image)
    except DeviceError as exc:
        return {"file": str(path), "found": False, "error": exc.code}
    ms = round((time.perf_counter() - started) * 1000, 1)
    if read is None:
        return {"file": str(path), "found": False, "text": None, "format": None, "kind": None, "ms": ms}
    kind = classify(read, rules).kind.value
    found = {"file": str(path), "found": True, "text": read.text, "format": read.format, "kind": kind, "ms": ms}
    if is_ambiguous(read.encoding):
        found["refused"] = "camera.code_ambiguous"
    return found


def run(args: argparse.Namespace) -> int:
    config_path = getattr(args, "config", None)
    try:
        rules = CodeRules.from_config(load_config(Path(config_path) if config_path else None))
    except ConfigError as exc:
        print(f"kiosk: config error: {exc}", file=sys.stderr)
        return 2
    scanner = CodeScanner(args.formats, args.decoder)
    every = True
    for name in args.files:
        result = scan_file(Path(name), scanner, rules)
        print(json.dumps(result, ensure_ascii=False), flush=True)
        every = every and result["found"]
    return 0 if every else 1
