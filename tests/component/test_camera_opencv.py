"""The real OpenCV camera driver on real recordings (this machine has no /dev/video*).

An .avi written with cv2.VideoWriter and image sequences play through cv2.VideoCapture as a
camera would: unplugging is the stream ending with its file gone, a frozen camera is a video of
one picture repeated, a covered lens a video of black frames.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from kiosk.core.devices import DeviceState, FixedBy
from kiosk.core.errors import DeviceError
from kiosk.peripherals.camera.device import CameraDevice
from kiosk.peripherals.camera.opencv import OpenCvSource, find_video_device
from tests.support.camera_media import eventually, moving_frames, still_frames, write_images, write_video

FPS = 20


class CountingSource(OpenCvSource):
    """The real source, counting how often the device opens and closes it."""

    opens = 0
    closes = 0

    def open(self) -> None:
        self.opens += 1
        super().open()

    def close(self) -> None:
        self.closes += 1
        super().close()


def grab_threads() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name.endswith("-grab")]


@pytest.fixture
def make_camera() -> Iterator:
    made: list[CameraDevice] = []

    def make(path: Path | str, **health: float) -> CameraDevice:
        camera = CameraDevice("camera", CountingSource(str(path), 320, 240, FPS), driver="opencv", **health)
        made.append(camera)
        camera.open()
        return camera

    yield make
    for camera in made:
        camera.close()


def test_video_file_and_image_sequence_open_by_path(tmp_path: Path) -> None:
    video = write_video(tmp_path / "clip.avi", moving_frames(5, (352, 288)))
    write_images(tmp_path / "frames", moving_frames(3, (176, 144)), "{:04d}.jpg")
    for path, size in ((video, (352, 288)), (tmp_path / "frames" / "%04d.jpg", (176, 144))):
        source = OpenCvSource(str(path), 1920, 1080, 50)
        source.open()
        try:
            assert source.size == size  # what the source gives, not what was asked for
            assert f"{size[0]}x{size[1]}" in source.describe()
            image = source.read()
            assert image is not None and image.shape == (size[1], size[0], 3)
        finally:
            source.close()
        assert source.read() is None


def test_missing_paths_and_names_are_not_found(tmp_path: Path) -> None:
    empty_tree = {"sysfs_root": tmp_path / "sys", "dev_root": tmp_path / "dev"}
    for device in (tmp_path / "gone.avi", tmp_path / "gone" / "%04d.jpg", "/dev/video-kiosk-test-none"):
        with pytest.raises(DeviceError) as error:
            OpenCvSource(str(device), **empty_tree).open()
        assert error.value.code == "camera.not_found"
    with pytest.raises(DeviceError) as error:
        OpenCvSource("Document Camera", **empty_tree).open()
    assert error.value.code == "camera.not_found"


def test_names_resolve_through_sysfs_and_by_id(tmp_path: Path) -> None:
    sysfs, dev = tmp_path / "sys" / "class" / "video4linux", tmp_path / "dev"
    nodes = {"video0": ("Integrated Webcam", 0), "video3": ("HD USB Camera", 1), "video2": ("HD USB Camera", 0)}
    for node, (name, index) in nodes.items():
        (sysfs / node).mkdir(parents=True)
        (sysfs / node / "name").write_text(f"{name}\n")
        (sysfs / node / "index").write_text(f"{index}\n")
        (dev / node).parent.mkdir(exist_ok=True)
        (dev / node).touch()
    (dev / "video5").touch()
    (dev / "video6").touch()
    by_id = dev / "v4l" / "by-id"
    by_id.mkdir(parents=True)
    os.symlink("../../video6", by_id / "usb-Doc_Co_DocCam_1080p_SN42-video-index1")
    os.symlink("../../video5", by_id / "usb-Doc_Co_DocCam_1080p_SN42-video-index0")

    def find(name: str) -> str | None:
        return find_video_device(name, sysfs, dev)

    assert find("hd usb camera") == str(dev / "video2")  # the capture node, not the metadata one
    assert find("WEBCAM") == str(dev / "video0")
    assert find("DocCam 1080p SN42") == str(dev / "video5")  # by vendor and serial, spaces as udev writes them
    assert find("Thermal Printer") is None
    # A resolved name is opened with V4L2; a plain file is no camera, so the open itself fails.
    with pytest.raises(DeviceError) as error:
        OpenCvSource("HD USB", sysfs_root=sysfs, dev_root=dev).open()
    assert error.value.code == "camera.open_failed"


def test_unplugged_camera_is_reopened_when_it_comes_back(tmp_path: Path, make_camera) -> None:
    folder = write_images(tmp_path / "camera", moving_frames(100), "{:04d}.png")  # 5 s, one file read per frame
    camera = make_camera(folder / "%04d.png")
    assert camera.status().state == DeviceState.READY
    states: list[DeviceState] = []
    camera.subscribe(lambda event: states.append(event.payload.state))
    camera.claim("materials")
    camera.latest(5)

    away = folder.rename(tmp_path / "away")  # unplugged: the next frame is missing, and so is the camera
    eventually(lambda: camera.status().code == "camera.not_found", what="not found")
    assert camera.status().state == DeviceState.DISCONNECTED and camera.status().fixed_by == FixedBy.TECHNICIAN
    _, last = camera.latest(1)
    with pytest.raises(DeviceError) as error:
        camera.latest(0.5, after=last)
    assert error.value.code == "camera.not_found"  # why no frame comes, for the screen to say

    away.rename(folder)
    eventually(lambda: camera.status().state == DeviceState.READY, what="ready again")
    image, _ = camera.latest(5, after=last)
    assert image.shape == (240, 320, 3)
    assert DeviceState.DISCONNECTED in states
    assert camera.source.opens >= 4  # the probe, the first open, failed reopens, the reopen that worked


def test_frozen_camera_is_reopened_until_it_moves_again(tmp_path: Path, make_camera) -> None:
    video = write_video(tmp_path / "camera.avi", still_frames(200, level=1), FPS)  # 10 s of one picture
    camera = make_camera(video, frozen_after=0.5)
    camera.claim("materials")
    eventually(lambda: camera.status().code == "camera.frozen", what="frozen")
    status = camera.status()
    assert (status.state, status.fixed_by) == (DeviceState.HARDWARE_ERROR, FixedBy.TECHNICIAN)
    opens = camera.source.opens
    eventually(lambda: camera.source.opens > opens, what="reopened")
    assert camera.status().code == "camera.frozen"  # the same picture again after reopening: still frozen

    os.replace(write_video(tmp_path / "moving.avi", moving_frames(200), FPS), video)
    eventually(lambda: camera.status().state == DeviceState.READY, what="ready again")


def test_black_frames_are_a_covered_lens(tmp_path: Path, make_camera) -> None:
    camera = make_camera(write_video(tmp_path / "camera.avi", still_frames(200), FPS), black_after=0.3)
    camera.claim("scan")
    eventually(lambda: camera.status().code == "camera.black", what="black")
    status = camera.status()
    assert (status.state, status.fixed_by) == (DeviceState.USER_ERROR, FixedBy.STAFF)


def test_one_owner_at_a_time(tmp_path: Path, make_camera) -> None:
    camera = make_camera(write_video(tmp_path / "camera.avi", moving_frames(200), FPS))
    release_materials = camera.claim("materials")
    assert camera.claim("materials")  # claiming again for the same owner is harmless
    with pytest.raises(DeviceError) as error:
        camera.claim("scan")
    assert error.value.code == "camera.in_use"
    camera.latest(5)
    assert len(grab_threads()) == 1

    release_materials()
    assert camera.owner() is None and not grab_threads()  # the light goes off
    assert camera.source.closes == camera.source.opens
    with pytest.raises(DeviceError) as error:
        camera.latest(1)
    assert error.value.code == "camera.not_claimed"

    release_scan = camera.claim("scan")
    release_materials()  # a stale release does not take the camera from its new holder
    assert camera.owner() == "scan"
    camera.latest(5)
    release_scan()


def test_close_leaves_no_thread_and_no_open_source(tmp_path: Path, make_camera) -> None:
    camera = make_camera(write_video(tmp_path / "camera.avi", moving_frames(200), FPS))
    camera.claim("video_call")
    camera.latest(5)
    camera.close()
    assert not grab_threads()
    assert camera.source.closes == camera.source.opens
    assert camera.status().state == DeviceState.DISCONNECTED
    with pytest.raises(DeviceError):
        camera.claim("materials")
