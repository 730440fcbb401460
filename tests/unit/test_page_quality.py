"""Quality gates and the page watcher: the right advice for each defect, one capture per placement."""

from __future__ import annotations

import copy
from dataclasses import replace

import numpy as np
import pytest

from kiosk.vision import quality
from kiosk.vision.page_detect import detect_page
from kiosk.vision.plate import PlateModel
from kiosk.vision.quality import Gates, PageWatcher
from tests.support import doc_scenes as ds

FPS = 12.0


_PLATES: dict[tuple[str, tuple[int, int], int], PlateModel] = {}


def watcher_for(back: ds.Backdrop) -> PageWatcher:
    """A watcher that has seen the empty plate, as at the kiosk's start (learned once per backdrop)."""
    key = (back.kind, back.size, back.seed)  # a backdrop is drawn from these alone
    if key not in _PLATES:
        watcher = PageWatcher(PlateModel())
        for n, frame in enumerate(ds.empty_frames(back, 5, seed=back.seed)):
            assert watcher.feed(frame, n / FPS).advice == quality.PLACE_PAGE
        assert watcher.plate.ready
        _PLATES[key] = watcher.plate
    return PageWatcher(copy.deepcopy(_PLATES[key]))


def settle(watcher: PageWatcher, frames: list[np.ndarray], start: float = 1.0) -> list[quality.WatchResult]:
    return [watcher.feed(frame, start + n / FPS) for n, frame in enumerate(frames)]


@pytest.fixture(scope="module", params=["plate", "desk"])
def defects(request) -> tuple[ds.Backdrop, list[ds.Scene]]:
    back = ds.backdrop(request.param, ds.FULL_HD, seed=31)
    return back, ds.advice_set(back)


def test_each_defect_gets_its_advice_once_the_page_lies_still(defects) -> None:
    back, scenes = defects
    expected = {scene.expect_advice for scene in scenes}
    assert expected == {"doc.ready", "doc.glare", "doc.flatten", "doc.blurry", "doc.too_dark", "doc.too_bright",
                        "doc.whole_page"}  # fmt: skip
    for scene in scenes:
        watcher = watcher_for(back)
        results = settle(watcher, [scene.image] * 8)  # 0.58 s of a still page
        assert results[-1].advice == scene.expect_advice, (back.kind, scene.expect_advice, results[-1].quality)
        assert results[-1].ready == (scene.expect_advice == "doc.ready")
        assert not any(result.ready for result in results[:-2])  # never before 0.5 s of stillness


def test_measurements_say_why(defects) -> None:
    back, scenes = defects
    plate = watcher_for(back).plate
    found = {scene.expect_advice: quality.measure(scene.image, detect_page(scene.image, plate)) for scene in scenes[:3]}
    good, glare, curled = found["doc.ready"], found["doc.glare"], found["doc.flatten"]
    assert good["glare_blob"] == 0 and good["in_frame"] and good["bow"] < 0.002
    assert glare["glare_blob"] > 0.05  # the reflection covers several per cent of the page
    assert curled["bow"] > 0.02
    assert 0.2 < good["sharpness"] < 1.0


def test_a_page_going_soft_is_blurry_against_the_placements_best() -> None:
    back = ds.backdrop("plate", ds.HD, seed=32)
    look = ds.Look(angle=5, centre=(0.5, 0.5), px_per_mm=1.8, noise_seed=3)
    sharp, soft = ds.render(back, look)[0], ds.render(back, replace(look, blur=3.3))[0]
    watcher = watcher_for(back)
    results = settle(watcher, [sharp] * 3 + [soft] * 8)
    soft_value = results[-1].quality["sharpness"]
    assert soft_value > Gates().sharpness_floor  # above the device's floor: only the recent best tells
    assert results[-1].advice == quality.BLURRY
    assert not any(result.ready for result in results)


def test_a_moving_page_is_told_to_hold_still_and_never_ready() -> None:
    back = ds.backdrop("desk", ds.HD, seed=33)
    watcher = watcher_for(back)
    base = ds.Look(angle=0, centre=(0.5, 0.5), px_per_mm=1.8, content_seed=1)
    frames = [ds.render(back, replace(base, angle=k * 0.8, noise_seed=k))[0] for k in range(8)]
    results = settle(watcher, frames)
    assert [result.advice for result in results[1:]] == [quality.HOLD_STILL] * 7
    assert not any(result.ready for result in results)


@pytest.mark.parametrize(("kind", "same_spot"), [("plate", False), ("desk", False), ("plate", True)])
def test_one_capture_per_placement(kind, same_spot) -> None:
    """Placed, left to rest, taken away, the next placed: each is captured once, 0.5 s after it stopped."""
    back = ds.backdrop(kind, ds.HD, seed=34)
    frames = ds.sequence(back, seed=5, fps=FPS, placements=2, same_spot=same_spot)
    watcher = PageWatcher()  # learns the plate from the first, empty frames
    captures, advice = [], {}
    for frame in frames:
        result = watcher.feed(frame.image, frame.t)
        advice.setdefault(frame.phase, set()).add(result.advice)
        if result.ready:
            captures.append(frame)
            watcher.mark_captured()
    assert [frame.placement for frame in captures] == [0, 1]
    for capture in captures:
        rest_began = min(f.t for f in frames if f.placement == capture.placement and f.phase == "resting")
        assert capture.t == pytest.approx(rest_began + 0.5, abs=0.5 / FPS)
    assert advice["empty"] == {quality.PLACE_PAGE}
    assert advice.get("moving", set()) <= {quality.WHOLE_PAGE, quality.HOLD_STILL}
    assert quality.PLACE_PAGE in advice["resting"]  # after the capture: the next page, please
    assert watcher.plate.ready


def test_a_page_lying_still_is_not_absorbed_into_the_plate() -> None:
    back = ds.backdrop("desk", ds.HD, seed=35)
    watcher = watcher_for(back)
    page = ds.render(back, ds.Look(angle=-7, centre=(0.5, 0.5), px_per_mm=1.8, noise_seed=8))[0]
    results = settle(watcher, [page] * 40)
    assert all(result.quad is not None and result.quad.method == "plate" for result in results)
    empty = ds.render_empty(back, ds.Look(noise_seed=9))
    assert watcher.feed(empty, 10.0).quad is None
    assert watcher.feed(page, 10.1).quad.method == "plate"


def test_the_plate_follows_a_slow_change_of_light() -> None:
    back = ds.backdrop("plate", ds.HD, seed=36)
    watcher = watcher_for(back)
    for n in range(40):  # the hall's lights come up by a quarter while the plate is empty
        frame = ds.render_empty(back, ds.Look(exposure=1 + 0.25 * n / 39, noise_seed=n))
        assert watcher.feed(frame, 1 + n / FPS).advice == quality.PLACE_PAGE
    look = ds.Look(angle=3, centre=(0.5, 0.5), px_per_mm=1.8, exposure=1.25, noise_seed=50)
    result = watcher.feed(ds.render(back, look)[0], 5.0)
    assert result.quad is not None and result.quad.method == "plate"


def test_a_blank_page_is_not_called_blurry() -> None:
    back = ds.backdrop("plate", ds.HD, seed=37)
    look = ds.Look(angle=4, centre=(0.5, 0.5), px_per_mm=1.8, noise_seed=10)
    blank = np.full((round(297 * ds.PAGE_PX_PER_MM), round(210 * ds.PAGE_PX_PER_MM), 3), 232, np.uint8)
    results = settle(watcher_for(back), [ds.render(back, look, blank)[0]] * 8)
    assert results[-1].quality["sharpness"] is None  # nothing printed to be sharp
    assert results[-1].advice == quality.READY


def test_the_plate_is_learned_afresh_when_the_frame_size_changes() -> None:
    small, large = ds.backdrop("plate", ds.HD, seed=38), ds.backdrop("plate", ds.FULL_HD, seed=38)
    watcher = watcher_for(small)
    for n, frame in enumerate(ds.empty_frames(large, 5, seed=1)):
        assert watcher.feed(frame, 1 + n / FPS).advice == quality.PLACE_PAGE
    look = ds.Look(angle=-4, centre=(0.5, 0.5), px_per_mm=2.6, noise_seed=11)
    assert watcher.feed(ds.render(large, look)[0], 2.0).quad.method == "plate"
