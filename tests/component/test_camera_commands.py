"""The camera's document and code commands on the simulated camera, through the real grab thread
and the real vision code: what the materials and scan screens call. The demo dock lays the pages
down and holds the codes up."""

from __future__ import annotations

import io
import time
from collections.abc import Callable, Iterator

import pytest
from PIL import Image

from kiosk.core.devices import PageView
from kiosk.core.errors import DeviceError, DeviceTimeout
from kiosk.demo.dock import DemoDock
from kiosk.peripherals.camera.device import CameraDevice
from kiosk.peripherals.camera.simulated import SimulatedSource
from tests.support.camera_media import eventually

PROGRESS = "http://127.0.0.1:8765/progress/DEMO0001-20261124-0001X"


@pytest.fixture
def source() -> SimulatedSource:
    return SimulatedSource(1920, 1080, 15, auto=False)


@pytest.fixture
def camera(source: SimulatedSource) -> Iterator[CameraDevice]:
    device = CameraDevice("camera", source, "simulated")
    device.open()
    yield device
    device.close()


@pytest.fixture
def dock(source: SimulatedSource) -> DemoDock:
    return DemoDock(plate=source)


@pytest.fixture
def materials(camera: CameraDevice) -> Iterator[CameraDevice]:
    """The camera held by the materials screen."""
    release = camera.claim("materials")
    yield camera
    release()


def watch_until(camera: CameraDevice, check: Callable[[PageView], bool], what: str, timeout: float = 20.0) -> PageView:
    deadline = time.monotonic() + timeout
    while True:
        view = camera.watch_page(2.0)
        if check(view):
            return view
        assert time.monotonic() < deadline, f"{what}: last advice {view.advice}"


def test_a_page_laid_down_is_outlined_judged_and_ready_once(materials: CameraDevice, dock: DemoDock) -> None:
    camera = materials
    empty = watch_until(camera, lambda v: v.advice == "doc.place_page", "empty plate")
    assert empty.outline == () and not empty.ready
    for _ in range(8):  # the plate model learns from the empty plate
        camera.watch_page(2.0)
    dock.place_page(angle=2.0)
    moving = watch_until(camera, lambda v: v.outline != (), "page seen")
    assert len(moving.outline) == 4 and all(0 <= c <= 1 for point in moving.outline for c in point)
    ready = watch_until(camera, lambda v: v.ready, "ready")
    assert ready.advice == "doc.ready"
    page = camera.capture(5.0)
    with Image.open(io.BytesIO(page.jpeg)) as image:
        assert image.size == (page.width, page.height)
        assert abs(page.height / page.width - 297 / 210) < 0.01  # corrected to A4, portrait
    assert len(page.jpeg) <= 1_000_000
    assert 60 < page.dpi < 120  # what a 1080p sensor gives an A4 page filling most of the height
    # The same page lying there is not taken again…
    for _ in range(10):
        assert not camera.watch_page(2.0).ready
    # …the next one is.
    dock.remove_page(slide=0)
    watch_until(camera, lambda v: v.outline == (), "page gone")
    time.sleep(0.4)
    dock.place_page()
    watch_until(camera, lambda v: v.ready, "next page ready")


def test_capture_without_a_page_says_so(materials: CameraDevice) -> None:
    with pytest.raises(DeviceError) as caught:
        materials.capture(5.0)
    assert caught.value.code == "doc.no_page"


def test_a_card_sized_material_photographed_as_an_a4_copy_stays_a4(materials: CameraDevice, dock: DemoDock) -> None:
    dock.place_page(slide=0)
    watch_until(materials, lambda v: v.outline != (), "page seen")
    page = materials.capture(5.0, size_mm=(85.6, 54))
    assert abs(page.height / page.width - 297 / 210) < 0.01


def test_a_code_held_up_is_read_exactly(camera: CameraDevice, dock: DemoDock) -> None:
    release = camera.claim("scan")
    try:
        camera.latest(5.0)  # frames flow
        with pytest.raises(DeviceTimeout) as caught:
            camera.scan_code(0.5)
        assert caught.value.code == "camera.no_code"
        dock.hold_up(PROGRESS)
        read = camera.scan_code(10.0)
        assert (read.raw, read.text, read.format) == (PROGRESS.encode(), PROGRESS, "QRCode")
    finally:
        release()


def test_one_owner_at_a_time(camera: CameraDevice) -> None:
    release = camera.claim("materials")
    with pytest.raises(DeviceError) as caught:
        camera.claim("scan")
    assert caught.value.code == "camera.in_use"
    release()
    eventually(lambda: camera.owner() is None, what="released")
    camera.claim("scan")()


def test_nothing_of_a_page_outlives_the_claim(camera: CameraDevice, dock: DemoDock) -> None:
    """A captured page is remembered (not taken twice) only while the camera is held."""
    release = camera.claim("materials")
    dock.place_page(slide=0)
    watch_until(camera, lambda v: v.ready, "ready")
    camera.capture(5.0)
    assert not camera.watch_page(2.0).ready
    release()
    eventually(lambda: camera.owner() is None, what="released")
    release = camera.claim("materials")
    try:
        watch_until(camera, lambda v: v.ready, "ready for the next session")
    finally:
        release()
