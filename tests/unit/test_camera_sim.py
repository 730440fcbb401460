"""The simulated camera: pacing, playlists, the demo scene, and scripted faults driving the device."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from kiosk.core.devices import DeviceState, FixedBy
from kiosk.core.errors import DeviceError
from kiosk.demo.dock import DemoDock
from kiosk.peripherals.camera.device import CameraDevice, backoff
from kiosk.peripherals.camera.health import FrameHealth, Verdict
from kiosk.peripherals.camera.simulated import SimulatedSource, simulated_camera
from tests.support.camera_media import FakeClock, eventually, still_frames, write_images, write_video

SMALL = (320, 240)


def level(value: int) -> np.ndarray:
    return np.full((SMALL[1], SMALL[0], 3), value, np.uint8)


def centre(image: np.ndarray) -> float:
    """Mean brightness of the middle of the picture, where a placed page lies."""
    height, width = image.shape[:2]
    return float(image[height // 3 : 2 * height // 3, width // 3 : 2 * width // 3].mean())


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def test_frames_are_paced_at_fps_without_bursts(clock: FakeClock) -> None:
    source = SimulatedSource(*SMALL, fps=10, clock=clock, sleep=clock.sleep)
    source.open()
    start = clock.now
    for _ in range(10):
        assert source.read() is not None
    assert clock.now - start == pytest.approx(0.9)  # the first frame at once, then one per 0.1 s
    assert clock.sleeps == pytest.approx([0.1] * 9)
    clock.now += 3.0  # a reader that fell behind gets the next frame at once, not the missed ones in a burst
    source.read()
    source.read()
    assert clock.sleeps[-1] == pytest.approx(0.1) and len(clock.sleeps) == 10


def test_playlist_of_a_video_and_images_loops(tmp_path: Path, clock: FakeClock) -> None:
    video = write_video(tmp_path / "clip.avi", [level(40), level(80), level(120)])
    images = write_images(tmp_path / "pages", [level(160), level(200)])
    write_images(tmp_path / "more", [level(240)], "extra-{}.png")
    playlist = [str(video), str(images), str(tmp_path / "more" / "*.png")]
    source = SimulatedSource(*SMALL, playlist=playlist, clock=clock, sleep=clock.sleep)
    source.open()
    seen = [round(float(source.read().mean()) / 40) * 40 for _ in range(13)]
    assert seen == [40, 80, 120, 160, 200, 240] * 2 + [40]
    assert "playlist" in source.describe()
    source.close()
    assert source.read() is None


def test_empty_playlist_is_not_found(tmp_path: Path) -> None:
    with pytest.raises(DeviceError) as error:
        SimulatedSource(*SMALL, playlist=[str(tmp_path / "none" / "*.jpg")]).open()
    assert error.value.code == "camera.not_found"


def test_scripted_faults_at_the_source(clock: FakeClock) -> None:
    source = SimulatedSource(*SMALL, fps=10, auto=False, clock=clock, sleep=clock.sleep)
    source.open()
    source.black(frames=2)
    assert [source.read().max() > 0 for _ in range(3)] == [False, False, True]
    source.black(seconds=0.5)  # frames come every 0.1 s of the fake clock
    lit = [source.read().max() > 0 for _ in range(7)]
    assert lit[:4] == [False] * 4 and lit[-1]
    source.freeze(0.5)
    frozen = source.read()
    assert all(source.read() is frozen for _ in range(3))
    assert [source.read() is frozen for _ in range(3)][-1] is False
    source.unplug()
    assert source.read() is None
    with pytest.raises(DeviceError) as error:
        source.open()
    assert error.value.code == "camera.not_found"
    source.replug()
    source.open()
    assert source.read() is not None


def test_demo_scene_placed_and_removed_by_script(clock: FakeClock) -> None:
    source = SimulatedSource(*SMALL, fps=10, auto=False, clock=clock, sleep=clock.sleep)
    dock = DemoDock(plate=source)  # the demo's controls lay the pages down
    source.open()
    assert centre(source.read()) < 60  # the empty dark plate
    first = dock.place_page(angle=1.0, slide=0.4)
    halfway = [centre(source.read()) for _ in range(3)]
    assert halfway[0] < 60 and halfway[-1] > halfway[0]  # sliding in from the bottom
    still = [source.read() for _ in range(3)]
    assert centre(still[0]) > 200
    # Two frames of one page differ by sensor noise only, never byte for byte (that is a frozen camera).
    assert not np.array_equal(still[0], still[1])
    assert np.abs(still[0].astype(int) - still[1]).max() <= 4
    dock.remove_page(slide=0.4)
    for _ in range(5):
        source.read()
    assert centre(source.read()) < 60

    second = dock.place_page(angle=1.0, slide=0)
    again = source.read()
    assert second == first + 1
    # Another placement is another page: its number and time differ, in pixels far beyond the noise.
    assert np.abs(again.astype(int) - still[0]).max() > 30


def test_demo_scene_cycles_through_new_pages(clock: FakeClock) -> None:
    source = SimulatedSource(*SMALL, fps=10, clock=clock, sleep=clock.sleep)
    source.open()
    pages: list[np.ndarray] = []
    on_plate = False
    for _ in range(150):  # 15 s of the cycle
        image = source.read()
        if centre(image) > 200 and not on_plate:
            pages.append(image)
        on_plate = centre(image) > 200
        if not pages:
            assert clock.now < 1010, "no page within 10 s"
    assert len(pages) >= 2
    assert all(np.abs(a.astype(int) - b).max() > 30 for a, b in itertools.pairwise(pages))


def test_frame_health_timing() -> None:
    health = FrameHealth(black_after=1.0, frozen_after=2.0)
    black = still_frames(1)[0]
    assert [health.check(black, t) for t in (0, 0.5, 1.0)] == [Verdict.PENDING, Verdict.PENDING, Verdict.BLACK]
    lit = still_frames(1, level=1)[0]
    assert [health.check(lit, t) for t in (2, 3, 4)] == [Verdict.OK, Verdict.PENDING, Verdict.FROZEN]
    health.restart()  # reopened, same picture: timed afresh, and not taken for a new picture
    assert [health.check(lit, t) for t in (5, 6, 7)] == [Verdict.PENDING, Verdict.PENDING, Verdict.FROZEN]


def test_backoff_doubles_to_five_seconds() -> None:
    assert [backoff(n) for n in range(8)] == pytest.approx([0, 0.2, 0.4, 0.8, 1.6, 3.2, 5.0, 5.0])


@pytest.fixture
def camera() -> Iterator[CameraDevice]:
    source = SimulatedSource(*SMALL, fps=30, auto=False)
    device = CameraDevice("camera", source, driver="simulated", black_after=0.3, frozen_after=0.5)
    device.open()
    yield device
    device.close()


def wait_state(camera: CameraDevice, state: DeviceState, code: str) -> None:
    eventually(lambda: (camera.status().state, camera.status().code) == (state, code), what=f"{state} {code}")


def test_faults_drive_the_device_states(camera: CameraDevice) -> None:
    source: SimulatedSource = camera.source  # type: ignore[assignment]
    codes: list[str] = []
    camera.subscribe(lambda event: codes.append(event.payload.code))
    camera.claim("materials")
    camera.latest(5)
    assert camera.status().state == DeviceState.READY

    source.black(seconds=60)
    wait_state(camera, DeviceState.USER_ERROR, "camera.black")
    assert camera.status().fixed_by == FixedBy.STAFF
    source.black(seconds=0)  # uncovered
    wait_state(camera, DeviceState.READY, "device.ready")

    source.freeze(60)
    wait_state(camera, DeviceState.HARDWARE_ERROR, "camera.frozen")
    source.freeze(0)
    wait_state(camera, DeviceState.READY, "device.ready")

    source.unplug()
    wait_state(camera, DeviceState.DISCONNECTED, "camera.not_found")
    source.replug()
    wait_state(camera, DeviceState.READY, "device.ready")
    assert codes[:2] == ["camera.black", "device.ready"]
    assert "camera.disconnected" in codes


def test_open_reports_a_missing_camera_and_the_demo_factory(tmp_path: Path) -> None:
    missing = simulated_camera("camera", *SMALL, fps=15, playlist=[str(tmp_path / "nothing.avi")])
    missing.open()
    assert (missing.status().state, missing.status().code) == (DeviceState.DISCONNECTED, "camera.not_found")
    demo = simulated_camera("camera", *SMALL, fps=15)
    demo.open()
    assert demo.status().state == DeviceState.READY and demo.capabilities >= {"document", "preview", "codes"}
    release = demo.claim("materials")
    preview = demo.preview(5)
    assert preview.width == SMALL[0]  # a preview is never scaled up
    assert preview.jpeg.startswith(b"\xff\xd8")
    release()
    demo.close()
