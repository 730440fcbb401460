"""One frame's codes: zxing-cpp, the main decoder, or pyzbar, the baseline kept for comparison.

Both give the code's raw bytes and its corners in frame pixels; the text is decoded from the
bytes by code_text, honouring the ECI the code declares (zxing-cpp reports it, zbar cannot) and
the symbology's own charset, or refused when the bytes read as two plausible texts.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterator
from ctypes import c_void_p, cast, string_at
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import zxingcpp

from kiosk.core.devices import CodeRead
from kiosk.core.errors import DeviceError
from kiosk.vision.code_text import LATIN_1, decode_text, eci_blocks

log = logging.getLogger(__name__)

QR_CODE, CODE_128, PDF417, DATA_MATRIX = "QRCode", "Code128", "PDF417", "DataMatrix"
FORMATS = frozenset({QR_CODE, CODE_128, PDF417, DATA_MATRIX})
DEFAULT_FORMATS = frozenset({QR_CODE, CODE_128})  # on every frame; PDF417 and DataMatrix when a screen asks
DECODERS = ("zxing", "pyzbar")
CHARSETS = {CODE_128: LATIN_1}  # a symbology's own charset: Code 128's FNC4 shifts to ISO-8859-1's upper half


@dataclass(frozen=True, eq=False)
class Detection:
    """A code read, and where: its four corners in frame pixels (x, y), as the decoder gives them."""

    read: CodeRead
    corners: np.ndarray  # float32, shape (4, 2)


@dataclass(frozen=True, eq=False)
class Found:
    """What one pass over a frame gave: the codes read, and where codes were seen but not read."""

    detections: list[Detection] = field(default_factory=list)
    unread: list[np.ndarray] = field(default_factory=list)  # corners, (4, 2): worth a closer look (zxing only)


def check_formats(formats: frozenset[str]) -> frozenset[str]:
    unknown = formats - FORMATS
    if unknown or not formats:
        raise DeviceError(f"unknown code formats {sorted(unknown)}", code="camera.code_formats")
    return formats


def _zxing_read(gray: np.ndarray, formats: frozenset[str], text_mode: zxingcpp.TextMode) -> list[zxingcpp.Barcode]:
    return zxingcpp.read_barcodes(
        gray,
        formats=[getattr(zxingcpp.BarcodeFormat, name) for name in sorted(formats)],
        # Light-on-dark codes and a half-resolution look are steps of the scanner's ladder, not every
        # frame's cost: zxing's own pyramid takes 40 % longer on a 1080p frame and reads no more.
        try_invert=False,
        try_downscale=False,
        text_mode=text_mode,
        return_errors=True,  # a code seen but not decoded still tells where to look closer
    )


def _zxing(gray: np.ndarray, formats: frozenset[str]) -> Found:
    # HexECI: .text is the ECI protocol form, the ECI blocks as hex. zxing-cpp's own text (Plain)
    # is the only trace of a QR code's segment modes, which the binding does not report: a second
    # read of the frame (the same codes), made only when a QR code's bytes alone leave two readings.
    @functools.cache
    def plain() -> dict[bytes, str]:
        return {b.bytes: b.text for b in _zxing_read(gray, formats, zxingcpp.TextMode.Plain) if b.valid}

    def rendered(raw: bytes) -> str | None:
        return plain().get(raw)

    found = Found()
    for barcode in _zxing_read(gray, formats, zxingcpp.TextMode.HexECI):
        p = barcode.position
        corners = np.array(
            [(q.x, q.y) for q in (p.top_left, p.top_right, p.bottom_right, p.bottom_left)], dtype=np.float32
        )
        if not barcode.valid:
            found.unread.append(corners)
            continue
        raw = barcode.bytes
        family = barcode.symbology.name  # a compact PDF417 is a PDF417
        blocks = eci_blocks(bytes.fromhex(barcode.text), raw)
        text, encoding = decode_text(raw, blocks, CHARSETS.get(family), rendered if family == QR_CODE else None)
        found.detections.append(Detection(CodeRead(raw, text, family, encoding), corners))
    return found


# zbar by default converts a QR code's bytes to UTF-8 after guessing their charset (UTF-8, then
# Shift-JIS, then ISO-8859-1): GBK bytes pass as Shift-JIS and come out as other characters.
# ZBAR_CFG_BINARY (zbar ≥ 0.23, 4 in zbar.h; pyzbar's enum stops before it) hands the bytes over
# untouched, except under an ISO-8859 ECI, which zbar still converts to UTF-8. zbar does not
# report ECIs, so its text is always a guess.
_ZBAR_CFG_BINARY = 4
_ZBAR_GREY = 0x30303859  # fourcc "Y800"
_ZBAR_SYMBOLS = {QR_CODE: 64, CODE_128: 128}  # zbar_symbol_type_t; no DataMatrix, and its PDF417 never decodes
_ZBAR_NAMES = {number: name for name, number in _ZBAR_SYMBOLS.items()}


def _zbar_symbols(zbar: Any, image: Any) -> Iterator[Any]:
    symbol = zbar.zbar_image_first_symbol(image)
    while symbol:
        yield symbol
        symbol = zbar.zbar_symbol_next(symbol)


def _pyzbar(gray: np.ndarray, formats: frozenset[str]) -> Found:
    from pyzbar import wrapper as zbar  # the baseline's library loads only when asked for

    scanner = zbar.zbar_image_scanner_create()
    image = zbar.zbar_image_create()
    pixels = np.ascontiguousarray(gray).tobytes()
    try:
        zbar.zbar_image_scanner_set_config(scanner, 0, zbar.ZBarConfig.CFG_ENABLE, 0)  # 0: every symbology
        for name in formats & _ZBAR_SYMBOLS.keys():
            zbar.zbar_image_scanner_set_config(scanner, _ZBAR_SYMBOLS[name], zbar.ZBarConfig.CFG_ENABLE, 1)
            zbar.zbar_image_scanner_set_config(scanner, _ZBAR_SYMBOLS[name], _ZBAR_CFG_BINARY, 1)
        zbar.zbar_image_set_format(image, _ZBAR_GREY)
        zbar.zbar_image_set_size(image, gray.shape[1], gray.shape[0])
        zbar.zbar_image_set_data(image, cast(pixels, c_void_p), len(pixels), None)
        zbar.zbar_scan_image(scanner, image)
        found = Found()
        for symbol in _zbar_symbols(zbar, image):
            # zbar reports a part of a structured-append QR code as ZBAR_PARTIAL (1): not a whole code.
            name = _ZBAR_NAMES.get(symbol.contents.type)
            if name is None:
                continue
            raw = string_at(zbar.zbar_symbol_get_data(symbol), zbar.zbar_symbol_get_data_length(symbol))
            points = [
                (zbar.zbar_symbol_get_loc_x(symbol, i), zbar.zbar_symbol_get_loc_y(symbol, i))
                for i in range(zbar.zbar_symbol_get_loc_size(symbol))
            ]
            xs, ys = zip(*points, strict=True)  # zbar gives an outline: keep its bounding box
            corners = np.array([(min(xs), min(ys)), (max(xs), min(ys)), (max(xs), max(ys)), (min(xs), max(ys))])
            text, encoding = decode_text(raw, charset=CHARSETS.get(name))
            found.detections.append(Detection(CodeRead(raw, text, name, encoding), corners.astype(np.float32)))
        return found
    finally:
        zbar.zbar_image_destroy(image)
        zbar.zbar_image_scanner_destroy(scanner)


def find(gray: np.ndarray, formats: frozenset[str] = DEFAULT_FORMATS, decoder: str = "zxing") -> Found:
    """One pass over a grey frame (uint8, 2-D); DeviceError camera.code_decoder_failed if the decoder fails."""
    passes = {"zxing": _zxing, "pyzbar": _pyzbar}
    if decoder not in passes:
        raise DeviceError(f"unknown code decoder {decoder!r}", code="camera.code_decoder")
    formats = check_formats(formats)
    try:
        return passes[decoder](gray, formats)
    except Exception as exc:  # a decoder library's own error (or ours) reaches the camera's callers typed
        failure = type(exc).__name__  # not its message: that may hold the code's bytes
        log.warning("code decoder %s failed: %s", decoder, failure)
        raise DeviceError(f"the {decoder} decoder failed: {failure}", code="camera.code_decoder_failed") from exc


def decode(gray: np.ndarray, formats: frozenset[str] = DEFAULT_FORMATS, decoder: str = "zxing") -> list[Detection]:
    """The codes one grey frame holds, each with its corners."""
    return find(gray, formats, decoder).detections
