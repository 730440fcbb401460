"""The camera's scan_code through the real grab thread and scanner, on codes whose text is not plain:
what it answers is a read or a DeviceError with a message code, never another exception."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator

import numpy as np
import pytest

from kiosk.core.errors import DeviceError, DeviceTimeout
from kiosk.peripherals.camera.device import CameraDevice
from kiosk.peripherals.camera.sources import Pacer
from kiosk.vision import codes
from tests.support.code_scenes import RECEIPT_URL, Look, qr_segment_modules, render, structured_append_parts

KANJI = "今度のバージョンでは文章の暗号化ができます。"


class HeldUp:
    """A code held up to the camera: a few frames of it, each with its own noise, over and over."""

    def __init__(self, symbol: np.ndarray) -> None:
        self._frames = [render(symbol, Look(module_px=5.0, noise_seed=seed)) for seed in range(4)]
        self._next: Iterator[np.ndarray] = iter(())
        self._pacer = Pacer(15)

    def open(self) -> None:
        self._next = itertools.cycle(self._frames)
        self._pacer.reset()

    def read(self) -> np.ndarray | None:
        self._pacer.wait()
        return next(self._next)

    def close(self) -> None:
        self._next = iter(())

    def describe(self) -> str:
        return "a code held up"


@pytest.fixture
def scanning() -> Iterator[Callable[..., CameraDevice]]:
    """A camera held by the scan screen, the code in front of it."""
    made: list[tuple[CameraDevice, Callable[[], None]]] = []

    def scan(symbol: np.ndarray, decoder: str = "zxing") -> CameraDevice:
        camera = CameraDevice("camera", HeldUp(symbol), "simulated", code_decoder=decoder)
        camera.open()
        made.append((camera, camera.claim("scan")))
        camera.latest(5.0)  # frames flow
        return camera

    yield scan
    for camera, release in made:
        release()
        camera.close()


@pytest.mark.parametrize("decoder", ["zxing", "pyzbar"])
def test_kanji_mode_reads_as_shift_jis(scanning, decoder: str) -> None:
    read = scanning(qr_segment_modules((KANJI, "kanji")), decoder).scan_code(10.0)
    assert (read.raw, read.text, read.format) == (KANJI.encode("cp932"), KANJI, "QRCode")


@pytest.mark.parametrize("decoder", ["zxing", "pyzbar"])
def test_a_code_whose_text_reads_two_ways_is_a_device_error(scanning, decoder: str) -> None:
    camera = scanning(qr_segment_modules(("ﾃﾞｻﾞｲﾝ".encode("cp932"), "byte"), ("QR", "alphanumeric")), decoder)
    with pytest.raises(DeviceError) as caught:
        camera.scan_code(10.0)
    assert caught.value.code == "camera.code_ambiguous"


def test_a_structured_append_part_with_the_baseline_is_no_code(scanning) -> None:
    """Was StopIteration out of scan_code: zbar's ZBAR_PARTIAL symbol type has no format."""
    camera = scanning(structured_append_parts(f"{RECEIPT_URL} " * 4)[0], "pyzbar")
    with pytest.raises(DeviceTimeout) as caught:
        camera.scan_code(1.0)
    assert caught.value.code == "camera.no_code"


@pytest.mark.parametrize("decoder", ["zxing", "pyzbar"])
def test_a_failing_decoder_is_a_device_error(scanning, decoder: str, monkeypatch) -> None:
    camera = scanning(qr_segment_modules((KANJI, "kanji")), decoder)

    def fails(gray: np.ndarray, formats: frozenset[str]) -> codes.Found:
        raise StopIteration

    monkeypatch.setattr(codes, f"_{decoder}", fails)
    with pytest.raises(DeviceError) as caught:
        camera.scan_code(5.0)
    assert caught.value.code == "camera.code_decoder_failed"
