"""Codes from camera frames, on generated scenes whose bytes are known: exact reads or none."""

from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np
import pytest
import zxingcpp
from pyzbar import pyzbar

from kiosk.core.devices import CodeRead
from kiosk.core.errors import DeviceError
from kiosk.peripherals.printer.paper import code128
from kiosk.vision import scanner as scanner_module
from kiosk.vision.code_text import is_ambiguous
from kiosk.vision.codes import CODE_128, DATA_MATRIX, PDF417, QR_CODE, decode
from kiosk.vision.scanner import WINDOW, CodeScanner, likely_places, to_gray
from tests.support.code_scenes import (
    FULL_HD,
    HD,
    ID_NUMBER,
    RECEIPT,
    RECEIPT_URL,
    Look,
    Payload,
    Scene,
    code128_scene,
    degraded_set,
    latin1_code128_modules,
    qr_modules,
    qr_scene,
    qr_segment_modules,
    readable_set,
    sequence,
    structured_append_parts,
)

TEXT = "办理进度查询：朝阳区政务服务中心"
RARE = "𠀀㊣𡃁 生僻字"
BLANK = np.full((1080, 1920), 128, np.uint8)


def printed(modules: np.ndarray, scale: int = 5) -> np.ndarray:
    """A clean grey image of modules (1 = dark), `scale` pixels each."""
    return np.kron(1 - modules, np.ones((scale, scale), np.uint8)) * 255


def exact(read: CodeRead | None, scene: Scene) -> bool:
    expected = (scene.expected_raw, scene.format, scene.expected_text)
    return read is not None and (read.raw, read.format, read.text) == expected


@pytest.mark.parametrize("decoder", ["zxing", "pyzbar"])
@pytest.mark.parametrize(
    ("payload", "encoding"),
    [
        (Payload(TEXT, "utf-8", 26), "eci:utf-8"),
        (Payload(RARE, "gb18030", 32), "eci:gb18030"),
        (Payload(TEXT, "gbk", 31), "eci:gb18030"),
        (Payload(TEXT, "gbk", 29), "eci:gb18030"),
        (Payload(TEXT, "gbk"), "gb18030"),
        (Payload(RARE, "gb18030"), "gb18030"),
        (Payload(TEXT, "utf-8"), "utf-8"),
        (Payload(RECEIPT_URL), "utf-8"),
    ],
    ids=lambda value: value.label if isinstance(value, Payload) else value,
)
def test_qr_bytes_and_text_are_exact(payload: Payload, encoding: str, decoder: str) -> None:
    reads = [d.read for d in decode(printed(qr_modules(payload)), decoder=decoder)]
    assert [(r.raw, r.text, r.format) for r in reads] == [(payload.raw, payload.text, QR_CODE)]
    if decoder == "zxing":  # zbar does not report ECIs: its text is always a guess
        assert reads[0].encoding == encoding


def test_zbar_left_to_itself_re_encodes_gbk() -> None:
    """Why the baseline runs zbar in binary mode: its charset guess takes GBK for Shift-JIS."""
    payload = Payload(TEXT, "gbk")
    image = printed(qr_modules(payload))
    assert pyzbar.decode(image)[0].data != payload.raw
    assert decode(image, decoder="pyzbar")[0].read.raw == payload.raw


@pytest.mark.parametrize("decoder", ["zxing", "pyzbar"])
@pytest.mark.parametrize("text", [ID_NUMBER, RECEIPT, "YY20261124000123", "Hi 1234567 ~{}"])
def test_code128_from_an_independent_encoder(text: str, decoder: str) -> None:
    bars = np.repeat(code128.modules(text)[None, :], 40, axis=0)
    reads = [d.read for d in decode(np.pad(printed(bars, 3), 30, constant_values=255), decoder=decoder)]
    assert [(r.raw, r.text, r.format, r.encoding) for r in reads] == [(text.encode(), text, CODE_128, "utf-8")]


def test_code128_with_fnc4_is_iso_8859_1() -> None:
    """ISO/IEC 15417: FNC4 shifts to ISO-8859-1's upper half; read as GB18030 it was 篌篌1234篌ab髗z."""
    text = "óóóó1234óóabózz"
    image = np.pad(printed(latin1_code128_modules(text), 3), 30, constant_values=255)
    reads = [d.read for d in decode(image)]
    assert [(r.raw, r.text, r.format, r.encoding) for r in reads] == [
        (text.encode("latin-1"), text, CODE_128, "latin-1")
    ]
    assert CodeScanner().scan_still(image).text == text


@pytest.mark.parametrize("decoder", ["zxing", "pyzbar"])
@pytest.mark.parametrize(
    "text",
    ["今度のバージョンでは文章の暗号化ができます。", "東京都千代田区霞が関", "点と線"],
    ids=["sentence", "address", "short"],
)
def test_qr_kanji_mode_is_shift_jis(text: str, decoder: str) -> None:
    image = printed(qr_segment_modules((text, "kanji")))
    reads = [d.read for d in decode(image, decoder=decoder)]
    assert [(r.raw, r.text, r.format, r.encoding) for r in reads] == [(text.encode("cp932"), text, QR_CODE, "cp932")]


@pytest.mark.parametrize("decoder", ["zxing", "pyzbar"])
def test_qr_byte_mode_kana_that_is_also_chinese_is_refused(decoder: str) -> None:
    """ﾃﾞｻﾞｲﾝ in Shift_JIS is 棉晦草 in GBK, both typical: no text rather than a guess."""
    image = printed(qr_segment_modules(("ﾃﾞｻﾞｲﾝ".encode("cp932"), "byte"), ("QR", "alphanumeric")))
    reads = [d.read for d in decode(image, decoder=decoder)]
    assert [(r.raw, r.text) for r in reads] == [("ﾃﾞｻﾞｲﾝQR".encode("cp932"), "")]
    assert is_ambiguous(reads[0].encoding)
    assert is_ambiguous(CodeScanner(decoder=decoder).scan_still(image).encoding)


def test_qr_hanzi_mode_is_gb2312_by_zxing_s_own_text() -> None:
    """The same bytes in Hanzi mode: zxing-cpp's text (a second read, only now) tells the mode."""
    hanzi = printed(qr_segment_modules(("棉晦草", "hanzi")))
    assert [(d.read.text, d.read.encoding) for d in decode(hanzi)] == [("棉晦草", "gb18030")]
    byte_mode = printed(qr_segment_modules(("棉晦草".encode("gbk"), "byte")))
    assert [(d.read.raw, d.read.text) for d in decode(byte_mode)] == [("棉晦草".encode("gbk"), "")]


def test_zxing_reads_a_frame_twice_only_for_two_readings(monkeypatch) -> None:
    calls: list[zxingcpp.TextMode] = []
    read_barcodes = zxingcpp.read_barcodes

    def counted(image: np.ndarray, **options: object) -> list[zxingcpp.Barcode]:
        calls.append(options["text_mode"])
        return read_barcodes(image, **options)

    monkeypatch.setattr(zxingcpp, "read_barcodes", counted)
    decode(printed(qr_modules(Payload(TEXT, "gbk"))))
    assert calls == [zxingcpp.TextMode.HexECI]
    decode(printed(qr_segment_modules(("棉晦草", "hanzi"))))
    assert calls[1:] == [zxingcpp.TextMode.HexECI, zxingcpp.TextMode.Plain]


def test_a_structured_append_part_is_no_code_for_zbar() -> None:
    """zbar reports a part of a sequence as ZBAR_PARTIAL, a type of no format: skipped, not a crash."""
    part = printed(structured_append_parts(f"{RECEIPT_URL} {TEXT}" * 2)[0])
    assert decode(part, decoder="pyzbar") == []
    assert CodeScanner(decoder="pyzbar").scan_still(part) is None  # was RuntimeError: generator raised StopIteration
    assert CodeScanner(decoder="pyzbar", votes=1).feed(part) is None


@pytest.mark.parametrize(
    ("decoder", "library"), [("zxing", "zxingcpp.read_barcodes"), ("pyzbar", "pyzbar.wrapper.zbar_scan_image")]
)
def test_a_failing_decoder_is_a_device_error(decoder: str, library: str, monkeypatch, caplog) -> None:
    def fails(*args: object, **kwargs: object) -> None:
        raise StopIteration(TEXT)  # a message that could be a code's content: not logged

    monkeypatch.setattr(library, fails)
    with pytest.raises(DeviceError) as caught:
        decode(printed(qr_modules(Payload(RECEIPT_URL))), decoder=decoder)
    assert caught.value.code == "camera.code_decoder_failed"
    assert "StopIteration" in caplog.text and TEXT not in caplog.text


@pytest.mark.parametrize("name", [PDF417, DATA_MATRIX])
def test_pdf417_and_datamatrix_only_when_asked(name: str) -> None:
    symbol = zxingcpp.create_barcode("YS20261124000042", getattr(zxingcpp.BarcodeFormat, name))
    image = np.pad(np.array(zxingcpp.write_barcode_to_image(symbol, scale=4)), 40, constant_values=255)
    assert decode(image) == []
    assert CodeScanner().scan_still(image) is None
    assert [(d.read.format, d.read.raw) for d in decode(image, frozenset({name}))] == [(name, b"YS20261124000042")]
    assert CodeScanner(frozenset({name})).scan_still(image).format == name


def test_unknown_formats_decoders_and_frames_are_refused() -> None:
    cases = [
        (lambda: decode(BLANK, frozenset({"Aztec"})), "camera.code_formats"),
        (lambda: decode(BLANK, frozenset()), "camera.code_formats"),
        (lambda: decode(BLANK, decoder="zbar"), "camera.code_decoder"),
        (lambda: CodeScanner(decoder="zbar"), "camera.code_decoder"),
        (lambda: CodeScanner(votes=0), "camera.code_votes"),
        (lambda: to_gray(np.zeros((8, 8), np.float32)), "camera.frame"),
    ]
    for call, code in cases:
        with pytest.raises(DeviceError) as caught:
            call()
        assert caught.value.code == code


@pytest.mark.parametrize("decoder", ["zxing", "pyzbar"])
def test_corners_are_where_the_code_is(decoder: str) -> None:
    scene = qr_scene(Payload(RECEIPT_URL), Look(centre=(0.3, 0.6), module_px=5.0, angle=10, noise_seed=3))
    (found,) = decode(to_gray(scene.image), decoder=decoder)
    assert found.corners.shape == (4, 2)
    assert np.allclose(found.corners.mean(axis=0), (0.3 * 1920, 0.6 * 1080), atol=4)
    side = (scene.symbol.shape[1] - 8) * 5.0  # without the quiet zone
    assert side * 0.9 < np.linalg.norm(found.corners[2] - found.corners[0]) / np.sqrt(2) < side * 1.5


@pytest.mark.parametrize("size", [FULL_HD, HD], ids=["1080p", "720p"])
def test_hard_but_readable_scenes_read_exactly(size: tuple[int, int]) -> None:
    scanner = CodeScanner()
    missed = [scene.label for scene in readable_set(size) if not exact(scanner.scan_still(scene.image), scene)]
    assert missed == []


def test_no_wrong_reads_across_a_generated_set() -> None:
    """Single frames of QR and Code 128 scenes, many beyond reading: each is exact or nothing."""
    scenes = degraded_set(60, FULL_HD, seed=7, code128_share=0.3) + degraded_set(30, HD, seed=8, code128_share=0.3)
    scanner = CodeScanner()
    reads = [(scene, scanner.scan_still(scene.image)) for scene in scenes]
    wrong = [scene.label for scene, read in reads if read is not None and not exact(read, scene)]
    assert wrong == []
    assert sum(read is not None for _, read in reads) >= len(scenes) // 2  # and many are read
    assert any(scene.format == CODE_128 and read is not None for scene, read in reads)


def test_no_wrong_reads_with_votes_over_hand_held_frames() -> None:
    for scene in degraded_set(12, FULL_HD, seed=11, code128_share=0.3):
        scanner = CodeScanner(votes=2)
        reads = [scanner.feed(frame) for frame in [scene.image, *sequence(scene, 3)]]
        assert all(read is None or exact(read, scene) for read in reads), scene.label


def test_votes_two_frames_must_agree() -> None:
    scene = qr_scene(Payload(TEXT, "gbk"), Look(noise_seed=1))
    first, second = scene.image, sequence(scene, 1)[0]
    scanner = CodeScanner(votes=2)
    assert scanner.feed(first) is None
    assert exact(scanner.feed(second), scene)
    scanner.reset()
    assert scanner.feed(second) is None
    assert exact(CodeScanner(votes=1).feed(first), scene)


def test_votes_are_counted_per_code_and_expire() -> None:
    one = qr_scene(Payload(RECEIPT_URL), Look(centre=(0.3, 0.5), noise_seed=1))
    other = code128_scene(ID_NUMBER, Look(centre=(0.6, 0.5), module_px=3.0, noise_seed=2))
    scanner = CodeScanner(votes=2)
    assert scanner.feed(one.image) is None
    assert scanner.feed(other.image) is None  # one vote each
    assert exact(scanner.feed(one.image), one)
    scanner.reset()
    assert scanner.feed(one.image) is None
    for _ in range(WINDOW - 1):
        assert scanner.feed(BLANK) is None
    assert scanner.feed(one.image) is None  # the first vote has left the window


def test_a_dark_mode_screen_reads_inverted_and_stays_so() -> None:
    scene = qr_scene(Payload(TEXT, "utf-8", 26), Look(carrier="phone", inverted=True, noise_seed=5))
    assert decode(to_gray(scene.image)) == []  # the plain pass alone cannot
    scanner = CodeScanner(votes=2)
    reads = [scanner.feed(frame) for frame in [scene.image, *sequence(scene, 2)]]
    assert reads[0] is None and exact(reads[1], scene) and exact(reads[2], scene)


def test_frames_may_be_grey_bgr_or_bgra() -> None:
    scene = qr_scene(Payload(RECEIPT_URL), Look(noise_seed=6))
    for conversion in (None, cv2.COLOR_BGR2GRAY, cv2.COLOR_BGR2BGRA):
        frame = scene.image if conversion is None else cv2.cvtColor(scene.image, conversion)
        assert exact(CodeScanner(votes=1).feed(frame), scene)


def test_a_2x_crop_reads_a_code_too_small_for_the_whole_frame(monkeypatch) -> None:
    """1.4-pixel modules: no whole-frame look reads them, a 2× crop where the code is or just was does."""
    look = Look(module_px=1.4, angle=-25, blur=0.5, noise=2.0, centre=(0.4, 0.6), noise_seed=1)
    small = qr_scene(Payload(RECEIPT_URL), look)
    near = qr_scene(Payload(RECEIPT_URL), replace(look, module_px=4.0, blur=0.0, noise_seed=2))
    gray = to_gray(small.image)
    assert decode(gray) == []
    (x0, y0), (x1, y1) = likely_places(gray)[0].min(axis=0), likely_places(gray)[0].max(axis=0)
    assert x0 < 0.4 * 1920 < x1 and y0 < 0.6 * 1080 < y1
    assert exact(CodeScanner().scan_still(small.image), small)  # cropped where it looks like a code
    monkeypatch.setattr(scanner_module, "likely_places", lambda gray: [])
    assert CodeScanner().scan_still(small.image) is None  # so the crop is what read it
    scanner = CodeScanner(votes=2)
    assert scanner.feed(near.image) is None
    assert exact(scanner.feed(small.image), small)  # cropped where it just was


def test_nothing_is_read_from_an_empty_frame() -> None:
    assert CodeScanner(votes=1).feed(BLANK) is None
    assert CodeScanner().scan_still(BLANK) is None
    assert decode(BLANK, decoder="pyzbar") == []
