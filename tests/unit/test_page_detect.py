"""Page detection on generated document scenes whose corners are known exactly."""

from __future__ import annotations

import math
from dataclasses import replace

import cv2
import numpy as np
import pytest

from kiosk.vision.page_detect import PageQuad, detect_page, order_corners
from kiosk.vision.plate import PlateModel, work_image
from tests.support import doc_scenes as ds

MAX_ERROR = 0.003  # worst corner, as a fraction of the frame's diagonal (the goal)


def learned(back: ds.Backdrop) -> PlateModel:
    plate = PlateModel()
    for frame in ds.empty_frames(back, 5, seed=back.seed):
        plate.learn(frame)
    return plate


def worst_error(quad: PageQuad, scene: ds.Scene) -> float:
    return float(np.linalg.norm(quad.corners - scene.corners, axis=1).max()) / scene.diagonal


@pytest.fixture(scope="module")
def scenes() -> list[ds.Scene]:
    """Whole pages on two dark plates and two light desks: sizes, turns, shadows, reflections, hands."""
    return ds.scene_set(16, backdrops=2, seed=404) + ds.scene_set(6, size=ds.HD, backdrops=1, seed=720)


@pytest.fixture(scope="module")
def plates(scenes: list[ds.Scene]) -> dict[int, PlateModel]:
    return {id(scene.backdrop): learned(scene.backdrop) for scene in scenes}


@pytest.mark.parametrize("method", ["plate", "edges"])
def test_every_whole_page_is_found_to_within_0_3_percent(scenes, plates, method) -> None:
    errors = []
    for scene in scenes:
        quad = detect_page(scene.image, plates[id(scene.backdrop)] if method == "plate" else None)
        assert quad is not None, scene.label
        assert (quad.method, quad.cut) == (method, False), scene.label
        errors.append(worst_error(quad, scene))
        assert errors[-1] <= MAX_ERROR, (scene.label, errors[-1])
    assert float(np.median(errors)) < MAX_ERROR / 10  # sub-pixel, typically


def test_corners_come_clockwise_from_the_top_left_of_a_turned_page() -> None:
    back = ds.backdrop("plate", ds.HD, seed=3)
    plate = learned(back)
    for angle in (-30.0, -12.0, 0.0, 17.0, 30.0):
        for landscape in (False, True):
            look = ds.Look(angle=angle, landscape=landscape, centre=(0.5, 0.5), px_per_mm=1.6, noise_seed=7)
            scene = ds.page_scene(back, look)
            quad = detect_page(scene.image, plate)
            assert quad is not None
            assert worst_error(quad, scene) <= MAX_ERROR, (angle, landscape)


def test_order_corners_takes_any_order_and_turns_up_to_45_degrees() -> None:
    rectangle = np.array([[-30.0, -20.0], [30.0, -20.0], [30.0, 20.0], [-30.0, 20.0]])
    rng = np.random.default_rng(5)
    for degrees in (-44, -30, -5, 0, 5, 30, 44):
        theta = math.radians(degrees)
        turn = np.array([[math.cos(theta), -math.sin(theta)], [math.sin(theta), math.cos(theta)]])
        expected = rectangle @ turn.T + [100, 80]
        shuffled = expected[rng.permutation(4)]
        assert np.allclose(order_corners(shuffled), expected, atol=1e-4), degrees


def test_nothing_else_is_taken_for_a_page() -> None:
    """The empty plate or desk, a hand alone, a phone, a sticky note: never a page, with or without the plate model."""
    scenes = ds.negative_set(ds.HD)
    plates = {id(scene.backdrop): learned(scene.backdrop) for scene in scenes}
    for scene in scenes:
        assert detect_page(scene.image, plates[id(scene.backdrop)]) is None, scene.label
        assert detect_page(scene.image) is None, scene.label


@pytest.mark.parametrize("kind", ["plate", "desk"])
def test_a_page_cut_by_the_frame_is_found_and_said_to_be_cut(kind) -> None:
    back = ds.backdrop(kind, ds.HD, seed=12)
    plate = learned(back)
    cut = [scene for scene in ds.advice_set(back) if scene.kind == "cut"]
    assert len(cut) == 2
    for scene in cut:
        quad = detect_page(scene.image, plate)
        assert quad is not None and quad.cut, scene.look


def test_a_curling_page_is_found_with_its_bow() -> None:
    back = ds.backdrop("plate", ds.HD, seed=12)
    flat, curled = (scene for scene in ds.advice_set(back) if scene.expect_advice in ("doc.ready", "doc.flatten"))
    plate = learned(back)
    flat_quad, curled_quad = detect_page(flat.image, plate), detect_page(curled.image, plate)
    assert flat_quad is not None and curled_quad is not None
    assert flat_quad.bow < 0.002 < 0.02 < curled_quad.bow  # fractions of the side: a 5 % bow in the scene


def test_the_plate_model_sees_the_page_but_not_shadows_or_a_change_of_light() -> None:
    back = ds.backdrop("desk", ds.HD, seed=21)
    plate = learned(back)
    look = ds.Look(angle=8, centre=(0.5, 0.5), px_per_mm=1.6, noise_seed=4)
    page = ds.page_scene(back, look)
    shadow = ds.render_empty(replace(back, image=back.image * _shade(back.size)), ds.Look(noise_seed=5))
    brighter = ds.render_empty(back, ds.Look(exposure=1.15, noise_seed=6))
    assert plate.difference(work_image(shadow)).foreground.mean() < 0.002
    assert plate.difference(work_image(brighter)).foreground.mean() < 0.002
    seen = plate.difference(work_image(page.image)).foreground
    truth = np.zeros(seen.shape, np.uint8)
    cv2.fillConvexPoly(truth, np.round((page.corners + 0.5) / (back.size[0] / seen.shape[1]) - 0.5).astype(np.int32), 1)
    overlap = (seen & (truth > 0)).sum() / max(1, (seen | (truth > 0)).sum())
    assert overlap > 0.9


def _shade(size: tuple[int, int]) -> np.ndarray:
    """A soft dark patch: the shadow of the citizen's head over half the plate."""
    width, height = size
    xs = np.linspace(-1, 1, width, dtype=np.float32)[None, :]
    ys = np.linspace(-1, 1, height, dtype=np.float32)[:, None]
    return (1 - 0.45 * np.exp(-((xs + 0.3) ** 2 + ys**2) / 0.3))[..., None]
