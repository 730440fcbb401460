"""One frame's codes: zxing-cpp, the main decoder, or pyzbar, the baseline kept for comparison.

Both give the code's raw bytes and its corners in frame pixels; the text is decoded from the
bytes by code_text, honouring the ECI the code declares (zxing-cpp reports it, zbar cannot).
"""

from __future__ import annotations

from ctypes import c_void_p, cast, string_at
from dataclasses import dataclass, field

import numpy as np
import zxingcpp

from kiosk.core.devices import CodeRead
from kiosk.core.errors import DeviceError
from kiosk.vision.code_text import decode_text, eci_blocks

QR_CODE, CODE_128, PDF417, DATA_MATRIX = "QRCode", "Code128", "PDF417", "DataMatrix"
FORMATS = frozenset({QR_CODE, CODE_128, PDF417, DATA_MATRIX})
DEFAULT_FORMATS = frozenset({QR_CODE, CODE_128})  # on every frame; PDF417 and DataMatrix when a screen asks
DECODERS = ("zxing", "pyzbar")


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


def _zxing(gray: np.ndarray, formats: frozenset[str]) -> Found:
    barcodes = zxingcpp.read_barcodes(
        gray,
        formats=[getattr(zxingcpp.BarcodeFormat, name) for name in sorted(formats)],
        # Light-on-dark codes and a half-resolution look are steps of the scanner's ladder, not every
        # frame's cost: zxing's own pyramid takes 40 % longer on a 1080p frame and reads no more.
        try_invert=False,
        try_downscale=False,
        text_mode=zxingcpp.TextMode.HexECI,  # .text is then the ECI protocol form: the ECI blocks, as hex
        return_errors=True,  # a code seen but not decoded still tells where to look closer
    )
    found = Found()
    for barcode in barcodes:
        p = barcode.position
        corners = np.array(
            [(q.x, q.y) for q in (p.top_left, p.top_right, p.bottom_right, p.bottom_left)], dtype=np.float32
        )
        if not barcode.valid:
            found.unread.append(corners)
            continue
        raw = barcode.bytes
        text, encoding = decode_text(raw, eci_blocks(bytes.fromhex(barcode.text), raw))
        family = barcode.symbology.name  # a compact PDF417 is a PDF417
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
        symbol = zbar.zbar_image_first_symbol(image)
        while symbol:
            raw = string_at(zbar.zbar_symbol_get_data(symbol), zbar.zbar_symbol_get_data_length(symbol))
            name = next(n for n, number in _ZBAR_SYMBOLS.items() if number == symbol.contents.type)
            points = [
                (zbar.zbar_symbol_get_loc_x(symbol, i), zbar.zbar_symbol_get_loc_y(symbol, i))
                for i in range(zbar.zbar_symbol_get_loc_size(symbol))
            ]
            xs, ys = zip(*points, strict=True)  # zbar gives an outline: keep its bounding box
            corners = np.array([(min(xs), min(ys)), (max(xs), min(ys)), (max(xs), max(ys)), (min(xs), max(ys))])
            text, encoding = decode_text(raw)
            found.detections.append(Detection(CodeRead(raw, text, name, encoding), corners.astype(np.float32)))
            symbol = zbar.zbar_symbol_next(symbol)
        return found
    finally:
        zbar.zbar_image_destroy(image)
        zbar.zbar_image_scanner_destroy(scanner)


def find(gray: np.ndarray, formats: frozenset[str] = DEFAULT_FORMATS, decoder: str = "zxing") -> Found:
    """One pass over a grey frame (uint8, 2-D)."""
    if decoder == "zxing":
        return _zxing(gray, check_formats(formats))
    if decoder == "pyzbar":
        return _pyzbar(gray, check_formats(formats))
    raise DeviceError(f"unknown code decoder {decoder!r}", code="camera.code_decoder")


def decode(gray: np.ndarray, formats: frozenset[str] = DEFAULT_FORMATS, decoder: str = "zxing") -> list[Detection]:
    """The codes one grey frame holds, each with its corners."""
    return find(gray, formats, decoder).detections
