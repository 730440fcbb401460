"""Document camera scenes generated from a seed, each with the page's exact corners.

A page (white paper with lines of print, a red header, a red round seal, sometimes a table)
is drawn flat, then laid onto the kiosk's dark base plate or a light desk: turned up to ±30°,
seen through a slightly tilted camera, under the citizen's shadow, with a reflection, a hand
at its edge; then degraded as a camera would: vignetting, lens blur, sensor noise, JPEG.

Corners are in frame pixels (pixel centres at integers), clockwise from the page's top-left,
and exact: the page's outline is drawn where they say, anti-aliased by the warp.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field, replace

import cv2
import numpy as np

HD = (1280, 720)
FULL_HD = (1920, 1080)
A4 = (210.0, 297.0)
A5 = (148.0, 210.0)
ID_CARD = (54.0, 85.6)  # portrait, as every size here: (short, long)
HOUSEHOLD = (105.0, 143.0)  # a household register page
PHONE = (71.0, 146.0)
NOTE = (40.0, 50.0)  # a sticky note: paper, too small to be a document
PAGE_PX_PER_MM = 4.0  # the flat page is drawn finer than any camera sees it
CAMERA_PX_PER_MM = 3.27  # 1080p: an A4 page fills 90 % of the frame's height
SHARED_SIZES = ((A4, 0.6), (A5, 0.1), (ID_CARD, 0.15), (HOUSEHOLD, 0.15))
RED = (40, 35, 200)
NOISE_PAD = 64  # px of extra noise around the frame: where each frame's noise window starts


@dataclass(frozen=True, eq=False)
class Backdrop:
    """What the camera sees with no page: the plate or desk, lit and vignetted, before noise."""

    kind: str  # "plate" (dark matte base plate) or "desk" (light desk)
    image: np.ndarray  # float32 BGR
    seed: int

    @property
    def size(self) -> tuple[int, int]:
        return self.image.shape[1], self.image.shape[0]


@dataclass(frozen=True)
class Look:
    """Where the page lies and what happens to the picture; every field is drawn from a seed."""

    size_mm: tuple[float, float] = A4  # (short, long)
    landscape: bool = False
    angle: float = 0.0  # degrees, in-plane
    centre: tuple[float, float] = (0.5, 0.5)  # fraction of the frame
    px_per_mm: float = CAMERA_PX_PER_MM
    tilt: tuple[float, float] = (0.0, 0.0)  # camera tilt: keystone in x and y, fraction per frame width
    shadow: float = 0.0  # 0..1 darkening of the citizen's shadow
    shadow_at: tuple[float, float] = (0.5, 0.3)  # fraction of the frame
    glare: float = 0.0  # peak brightness a reflection adds on the paper (saturates above 255)
    glare_at: tuple[float, float] = (0.5, 0.5)  # fraction of the page
    glare_radius: float = 0.08  # fraction of the page's long side
    hand: float = -1.0  # where along the perimeter (0..1) a hand covers the page's edge; < 0: none
    curl: float = 0.0  # bow of the page's bottom edge, fraction of the page's width
    exposure: float = 1.0  # gain on the whole picture
    blur: float = 0.7  # lens blur, gaussian sigma in frame pixels at 1080p
    noise: float = 2.0
    jpeg: int = 88
    content_seed: int = 0
    noise_seed: int = 0


@dataclass(frozen=True, eq=False)
class Scene:
    image: np.ndarray  # BGR uint8, as the camera gives it
    corners: np.ndarray  # (4, 2) float32, clockwise from top-left; zeros when there is no page
    kind: str  # "page", "cut", "empty", "hand_only", "phone", "note"
    backdrop: Backdrop
    expect_found: bool  # a whole page lies in the frame: detection must find it, corners exact
    expect_advice: str  # what the watcher must tell the citizen, steady and with a good recent best
    look: Look = field(default_factory=Look)
    label: str = ""

    @property
    def diagonal(self) -> float:
        return math.hypot(*self.backdrop.size)


@dataclass(frozen=True, eq=False)
class SequenceFrame:
    t: float  # seconds
    image: np.ndarray
    phase: str  # "empty", "moving", "resting"
    placement: int  # which placement this frame belongs to (0, 1, …); -1 when empty


# --- the backdrop ---------------------------------------------------------------------------------------------------


def _vignette(size: tuple[int, int], strength: float) -> np.ndarray:
    width, height = size
    xs = np.linspace(-1, 1, width, dtype=np.float32) ** 2
    ys = np.linspace(-1, 1, height, dtype=np.float32) ** 2
    return 1 - strength * (ys[:, None] * 0.6 + xs[None, :] * 0.4)


def _smooth_noise(rng: np.random.Generator, size: tuple[int, int], cells: tuple[int, int]) -> np.ndarray:
    coarse = rng.normal(0, 1, (cells[1], cells[0])).astype(np.float32)
    return cv2.resize(coarse, size, interpolation=cv2.INTER_CUBIC)


def backdrop(kind: str = "plate", size: tuple[int, int] = FULL_HD, seed: int = 0) -> Backdrop:
    """The dark base plate (matte, fine grain) or a light desk (grey to beige, wood grain), vignetted."""
    rng = np.random.default_rng(seed)
    width, height = size
    if kind == "plate":
        base = np.array([48, 42, 38], np.float32) + rng.uniform(-6, 6)
        grain = rng.normal(0, 2.0, (height, width)).astype(np.float32)
        texture = cv2.GaussianBlur(grain, (0, 0), 1.2) + 2.5 * _smooth_noise(rng, size, (12, 7))
    elif kind == "desk":
        grey = rng.uniform(172, 200)
        warmth = rng.uniform(0, 1)  # 0: light grey laminate, 1: beige wood
        base = np.array([grey - 28 * warmth, grey - 10 * warmth, grey + 6 * warmth], np.float32)
        angle = rng.uniform(0, math.pi)
        ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
        across = xs * math.cos(angle) + ys * math.sin(angle)
        along = -xs * math.sin(angle) + ys * math.cos(angle)
        wobble = 40 * _smooth_noise(rng, size, (6, 4))
        grain = np.sin((across + wobble + 0.02 * along) / rng.uniform(9, 16))
        texture = 3.5 * warmth * grain + 4.0 * _smooth_noise(rng, size, (10, 6))
    else:
        raise ValueError(kind)
    image = (base[None, None, :] + texture[..., None]) * _vignette(size, 0.22)[..., None]
    return Backdrop(kind, image.astype(np.float32), seed)


# --- the page -------------------------------------------------------------------------------------------------------


def _words(page: np.ndarray, rng: np.random.Generator, x0: int, x1: int, y: int, height: int, colour) -> None:
    """One line of print: Hershey letters in runs, as text looks from a metre away."""
    x = x0
    scale = height / 22
    while x < x1 - 4 * height:
        word = "".join(chr(int(c)) for c in rng.integers(65, 91, int(rng.integers(2, 7))))
        (w, _), _ = cv2.getTextSize(word, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
        if x + w > x1:
            break
        cv2.putText(page, word, (x, y), cv2.FONT_HERSHEY_SIMPLEX, scale, colour, max(1, round(scale * 1.6)))
        x += w + int(height * rng.uniform(0.6, 1.4))


def page_image(size_mm: tuple[float, float], seed: int, px_per_mm: float = PAGE_PX_PER_MM) -> np.ndarray:
    """A flat portrait page: red header, lines of print, maybe a table, a red round seal."""
    rng = np.random.default_rng(seed)
    width, height = round(size_mm[0] * px_per_mm), round(size_mm[1] * px_per_mm)
    tint = rng.uniform(224, 242) + rng.uniform(-5, 3, 3)  # the camera exposes paper short of clipping
    if size_mm == HOUSEHOLD and rng.random() < 0.5:
        tint = tint - np.array([0, 8, 16])  # some register pages are pale pink
    page = np.empty((height, width, 3), np.uint8)
    page[:] = np.clip(tint, 0, 255).astype(np.uint8)
    mm = px_per_mm
    margin = round(rng.uniform(12, 20) * mm * min(1.0, size_mm[0] / 150))
    line = max(6, round(rng.uniform(2.6, 3.6) * mm))
    ink = tuple(int(v) for v in rng.uniform(20, 60, 3))
    y = margin + 2 * line
    _words(page, rng, margin + width // 6, width - margin - width // 6, y, round(line * 1.6), RED)
    cv2.line(page, (margin, y + line), (width - margin, y + line), RED, max(2, round(0.6 * mm)))
    y += 3 * line
    if rng.random() < 0.4:  # a table
        rows, cols = int(rng.integers(3, 7)), int(rng.integers(2, 5))
        bottom = min(height - margin, y + rows * 2 * line)
        for r in np.linspace(y, bottom, rows + 1):
            cv2.line(page, (margin, int(r)), (width - margin, int(r)), ink, max(1, round(0.3 * mm)))
        for c in np.linspace(margin, width - margin, cols + 1):
            cv2.line(page, (int(c), y), (int(c), bottom), ink, max(1, round(0.3 * mm)))
        y = bottom + 2 * line
    while y < height - margin:
        right = width - margin - (int(rng.integers(0, width // 3)) if rng.random() < 0.3 else 0)
        _words(page, rng, margin, right, y, line, ink)
        y += round(line * rng.uniform(1.7, 2.2))
    radius = round(min(21 * mm, width / 5))
    cx = int(rng.uniform(width * 0.55, width - margin - radius))
    cy = int(rng.uniform(height * 0.6, height - margin - radius))
    seal = np.zeros(page.shape[:2], np.uint8)
    cv2.circle(seal, (cx, cy), radius, 255, max(2, round(1.2 * mm)), cv2.LINE_AA)
    star = [
        (cx + radius * 0.35 * r * math.sin(k * math.pi / 5), cy - radius * 0.35 * r * math.cos(k * math.pi / 5))
        for k, r in zip(range(10), [1, 0.4] * 5, strict=True)
    ]
    cv2.fillPoly(seal, [np.array(star, np.int32)], 255, cv2.LINE_AA)
    ink_red = np.array([60, 50, 215], np.float32) / 255  # seal ink multiplies the print under it
    area = (slice(cy - radius - 3, cy + radius + 4), slice(cx - radius - 3, cx + radius + 4))
    cover = (seal[area].astype(np.float32) / 255)[..., None]
    page[area] = (page[area] * (1 - cover + cover * ink_red)).astype(np.uint8)
    return page


# --- geometry -------------------------------------------------------------------------------------------------------


def _camera_tilt(size: tuple[int, int], tilt: tuple[float, float]) -> np.ndarray:
    """The homography of a camera not quite square to the plate: the frame's corners move a little."""
    width, height = size
    frame = np.float32([[0, 0], [width, 0], [width, height], [0, height]])
    kx, ky = tilt
    moved = frame + np.float32(
        [[kx * width, ky * height], [-kx * width, -ky * height], [kx * width, ky * height], [-kx * width, -ky * height]]
    ) * np.float32([[1, 1], [1, -1], [-1, -1], [-1, 1]])
    return cv2.getPerspectiveTransform(frame, moved)


def page_corners(look: Look, size: tuple[int, int]) -> np.ndarray:
    """Frame positions of the page's own corners (its top-left first), before any ordering."""
    short, long = look.size_mm
    w, h = (long, short) if look.landscape else (short, long)
    half = np.array([w, h]) * look.px_per_mm / 2
    signs = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]], np.float64)
    theta = math.radians(look.angle)
    rotation = np.array([[math.cos(theta), -math.sin(theta)], [math.sin(theta), math.cos(theta)]])
    flat = (signs * half) @ rotation.T + np.array(look.centre) * size
    tilted = cv2.perspectiveTransform(flat[None].astype(np.float64), _camera_tilt(size, look.tilt))[0]
    return tilted.astype(np.float32)


def clockwise_from_top_left(own: np.ndarray, angle: float) -> np.ndarray:
    """The page's corners as the frame sees them: the page's own top-left unless it lies turned by a quarter."""
    quarter = round(angle / 90) % 4
    return np.roll(own, quarter, axis=0)


# --- rendering ------------------------------------------------------------------------------------------------------


def _ellipse_blob(size: tuple[int, int], centre, axes, angle: float, soft: float) -> np.ndarray:
    """A soft ellipse (0..1), drawn at a quarter of the size for speed."""
    width, height = size
    small = np.zeros((height // 4 + 1, width // 4 + 1), np.float32)
    c = (round(centre[0] / 4), round(centre[1] / 4))
    cv2.ellipse(small, c, (max(1, round(axes[0] / 4)), max(1, round(axes[1] / 4))), angle, 0, 360, 1.0, -1)
    if soft > 0:
        small = cv2.GaussianBlur(small, (0, 0), max(0.5, soft / 4))
    return cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR)


def _warp_page(page: np.ndarray, corners_own: np.ndarray, size: tuple[int, int], look: Look) -> np.ndarray:
    """The page (BGRA, premultiplied by its coverage) in frame pixels, bowed if the page curls."""
    height, width = page.shape[:2]
    source = np.float32([[-0.5, -0.5], [width - 0.5, -0.5], [width - 0.5, height - 0.5], [-0.5, height - 0.5]])
    homography = cv2.getPerspectiveTransform(source, corners_own)
    bgra = cv2.cvtColor(page, cv2.COLOR_BGR2BGRA)
    if not look.curl:
        return cv2.warpPerspective(bgra, homography, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    # The page's far edge lifts and bows towards the camera: in the page's own coordinates the
    # bottom edge bulges outwards, most in its middle.
    ys, xs = np.mgrid[0 : size[1], 0 : size[0]].astype(np.float32)
    points = cv2.perspectiveTransform(np.dstack([xs, ys]), np.linalg.inv(homography))
    u, v = points[..., 0], points[..., 1]
    rise = np.clip((v - 0.6 * height) / (0.4 * height), 0, None) ** 2
    v = v - look.curl * width * np.sin(np.pi * np.clip((u + 0.5) / width, 0, 1)) * rise
    return cv2.remap(bgra, u, v, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)


def _hand(frame: np.ndarray, at: np.ndarray, inward: np.ndarray, rng: np.random.Generator) -> None:
    """A hand reaching in: palm outside, fingers over the page's edge, with its soft shadow."""
    size = (frame.shape[1], frame.shape[0])
    scale = frame.shape[0] / 1080
    direction = math.degrees(math.atan2(inward[1], inward[0]))
    palm_c = at - inward * 120 * scale
    hand = _ellipse_blob(size, palm_c, (110 * scale, 80 * scale), direction, 3 * scale)
    across = np.array([-inward[1], inward[0]])
    for k, length in zip((-1.5, -0.5, 0.5, 1.5), (70, 85, 80, 60), strict=True):
        tip = palm_c + inward * (80 + length * 0.6) * scale + across * k * 36 * scale
        hand = np.maximum(hand, _ellipse_blob(size, tip, (length * scale, 15 * scale), direction, 3 * scale))
    shadow = cv2.GaussianBlur(np.roll(hand, (round(12 * scale), round(16 * scale)), (0, 1)), (0, 0), 12 * scale)
    frame *= (1 - 0.35 * shadow)[..., None]
    skin = np.array([115, 150, 205], np.float32) * rng.uniform(0.85, 1.1)
    shade = 0.85 + 0.15 * _smooth_noise(rng, size, (16, 9))
    frame[:] = frame * (1 - hand[..., None]) + (skin * shade[..., None]) * hand[..., None]


def _perimeter_point(corners: np.ndarray, at: float) -> tuple[np.ndarray, np.ndarray]:
    """The point `at` (0..1) along the page's outline and the unit vector into the page there."""
    side = min(3, int(at * 4))
    t = 0.2 + 0.6 * (at * 4 - side)  # keep clear of the corners
    a, b = corners[side], corners[(side + 1) % 4]
    point = a + (b - a) * t
    inward = corners.mean(axis=0) - point
    return point, inward / np.linalg.norm(inward)


@functools.lru_cache(maxsize=4)
def _unit_noise(width: int, height: int) -> np.ndarray:
    """Gaussian noise a little larger than the frame: each frame takes a window at its own offset."""
    noise = np.empty((height + NOISE_PAD, width + NOISE_PAD, 3), np.float32)
    cv2.setRNGSeed(0)  # OpenCV's generator: several times faster than numpy's normal
    cv2.randn(noise, 0.0, 1.0)
    return noise


def _camera(frame: np.ndarray, look: Look) -> np.ndarray:
    """Gain, lens blur, sensor noise, JPEG: what the camera does to the light it gets."""
    height, width = frame.shape[:2]
    if look.exposure != 1.0:
        frame *= look.exposure
    image = cv2.GaussianBlur(cv2.convertScaleAbs(frame), (0, 0), max(0.3, look.blur * height / 1080))
    dx, dy = np.random.default_rng(look.noise_seed).integers(0, NOISE_PAD, 2)
    noisy = cv2.scaleAdd(
        _unit_noise(width, height)[dy : dy + height, dx : dx + width], look.noise, image.astype(np.float32)
    )
    image = cv2.convertScaleAbs(cv2.max(noisy, 0.0))
    if look.jpeg:
        _, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, look.jpeg])
        image = cv2.imdecode(encoded, cv2.IMREAD_COLOR)
    return image


def render(back: Backdrop, look: Look, page: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The camera's frame of the page lying as `look` says, and the page's corners."""
    size = back.size
    frame = back.image.copy()
    rng = np.random.default_rng(look.noise_seed)
    if page is None:
        page = page_image(look.size_mm, look.content_seed)
    if look.landscape:
        page = cv2.rotate(page, cv2.ROTATE_90_COUNTERCLOCKWISE)
    own = page_corners(look, size)
    # Only the page's bounding box is drawn into (and a bowed edge's reach beyond it).
    pad = 3 + look.curl * float(np.linalg.norm(own[1] - own[0]))
    x0, y0 = np.clip(np.floor(own.min(axis=0) - pad).astype(int), 0, size)
    x1, y1 = np.clip(np.ceil(own.max(axis=0) + pad).astype(int), 0, size)
    warped = _warp_page(page, own - np.float32([x0, y0]), (x1 - x0, y1 - y0), look)
    cover = warped[..., 3:].astype(np.float32) / 255
    box = frame[y0:y1, x0:x1]
    box[:] = box * (1 - cover) + warped[..., :3]  # the warp premultiplied the page
    if look.glare:
        page_c = own[0] + (own[1] - own[0]) * look.glare_at[0] + (own[3] - own[0]) * look.glare_at[1]
        r = look.glare_radius * max(look.size_mm) * look.px_per_mm
        blob = _ellipse_blob(size, page_c, (r * 1.4, r), rng.uniform(0, 180), r * 0.5)
        box += (look.glare * blob[y0:y1, x0:x1])[..., None] * cover  # a reflection off the paper only
    if look.shadow:
        centre = np.array(look.shadow_at) * size
        blob = _ellipse_blob(size, centre, (size[1] * 0.45, size[1] * 0.3), rng.uniform(0, 180), size[1] * 0.12)
        frame *= (1 - look.shadow * blob)[..., None]
    corners = clockwise_from_top_left(own, look.angle)
    if look.hand >= 0:
        at, inward = _perimeter_point(corners, look.hand)
        _hand(frame, at, inward, rng)
    return _camera(frame, look), corners


# --- scene sets -----------------------------------------------------------------------------------------------------


def _fit(look: Look, size: tuple[int, int], margin: float, rng: np.random.Generator) -> Look:
    """Shrink the camera scale if the turned page would not fit, then pick a centre that keeps it whole."""
    width, height = size
    for _ in range(40):
        corners = page_corners(replace(look, centre=(0.5, 0.5)), size)
        span = corners.max(axis=0) - corners.min(axis=0)
        room = np.array([width, height]) - 2 * margin - span
        if (room > 0).all():
            offset = rng.uniform(-room / 2, room / 2)
            centre = (np.array(size) / 2 + offset) / size
            return replace(look, centre=(float(centre[0]), float(centre[1])))
        look = replace(look, px_per_mm=look.px_per_mm * 0.96)
    raise ValueError("the page cannot fit the frame")


def random_look(rng: np.random.Generator, size: tuple[int, int]) -> Look:
    """A whole page as citizens lay them: any size, turned, often shadowed, sometimes shiny or half under a hand."""
    sizes, weights = zip(*SHARED_SIZES, strict=True)
    size_mm = sizes[int(rng.choice(len(sizes), p=weights))]
    scale = size[1] / 1080
    look = Look(
        size_mm=size_mm,
        landscape=bool(rng.random() < 0.3),
        angle=float(rng.uniform(-30, 30)),
        px_per_mm=CAMERA_PX_PER_MM * scale * rng.uniform(0.92, 1.0),
        tilt=(float(rng.uniform(-0.012, 0.012)), float(rng.uniform(-0.012, 0.012))),
        shadow=float(rng.choice([0.0, rng.uniform(0.25, 0.5)], p=[0.55, 0.45])),
        shadow_at=(float(rng.uniform(0.2, 0.8)), float(rng.uniform(0.0, 0.6))),
        glare=float(rng.choice([0.0, rng.uniform(40, 90)], p=[0.7, 0.3])),
        glare_at=(float(rng.uniform(0.2, 0.8)), float(rng.uniform(0.2, 0.8))),
        glare_radius=float(rng.uniform(0.04, 0.08)),
        hand=float(rng.uniform(0, 1)) if rng.random() < 0.15 and size_mm[0] >= 100 else -1.0,  # not over a card
        blur=float(rng.uniform(0.5, 1.1)),
        noise=float(rng.uniform(1.0, 3.5)),
        jpeg=int(rng.integers(80, 93)),
        content_seed=int(rng.integers(1 << 31)),
        noise_seed=int(rng.integers(1 << 31)),
    )
    return _fit(look, size, 16 * scale, rng)


def _label(back: Backdrop, look: Look) -> str:
    parts = [back.kind, f"{look.size_mm[0]:g}x{look.size_mm[1]:g}", f"{look.angle:+.0f}°"]
    parts += ["shadow"] * bool(look.shadow) + ["glare"] * bool(look.glare) + ["hand"] * (look.hand >= 0)
    return " ".join(parts)


def page_scene(back: Backdrop, look: Look, advice: str = "doc.ready", kind: str = "page") -> Scene:
    image, corners = render(back, look)
    whole = kind == "page"
    return Scene(image, corners, kind, back, whole, advice, look, _label(back, look))


def scene_set(n: int, size: tuple[int, int] = FULL_HD, seed: int = 2026, backdrops: int = 4) -> list[Scene]:
    """`n` whole pages, half on dark plates and half on light desks (each of `backdrops` of each kind)."""
    rng = np.random.default_rng(seed)
    plates = [backdrop("plate", size, seed + k) for k in range(backdrops)]
    desks = [backdrop("desk", size, seed + 100 + k) for k in range(backdrops)]
    scenes = []
    for index in range(n):
        back = (plates, desks)[index % 2][(index // 2) % backdrops]
        scenes.append(page_scene(back, random_look(rng, size)))
    return scenes


def empty_frames(back: Backdrop, n: int, seed: int = 0) -> list[np.ndarray]:
    """`n` frames of the backdrop alone, fresh noise and slightly varying light each: to learn the plate from."""
    rng = np.random.default_rng(seed)
    frames = []
    for _ in range(n):
        look = Look(exposure=float(rng.uniform(0.98, 1.02)), noise=2.0, noise_seed=int(rng.integers(1 << 31)))
        frames.append(render_empty(back, look))
    return frames


def render_empty(back: Backdrop, look: Look) -> np.ndarray:
    return _camera(back.image.copy(), look)


def _object_scene(back: Backdrop, kind: str, look: Look, rng: np.random.Generator) -> Scene:
    """Something that is not a page: a phone, a hand, a sticky note."""
    size = back.size
    frame = back.image.copy()
    scale = size[1] / 1080
    if kind == "hand_only":
        at = np.array([rng.uniform(0.3, 0.7) * size[0], size[1] * rng.uniform(0.35, 0.6)])
        _hand(frame, at, np.array([0.0, -1.0]), rng)
    else:
        w_mm, h_mm = PHONE if kind == "phone" else NOTE
        w, h = w_mm * CAMERA_PX_PER_MM * scale, h_mm * CAMERA_PX_PER_MM * scale
        centre = (float(rng.uniform(0.3, 0.7) * size[0]), float(rng.uniform(0.35, 0.65) * size[1]))
        box = cv2.boxPoints((centre, (w, h), float(rng.uniform(-30, 30))))
        mask = np.zeros((size[1], size[0]), np.float32)
        cv2.fillPoly(mask, [np.round(box * 16).astype(np.int32)], 1.0, cv2.LINE_AA, shift=4)
        if kind == "phone":  # rounded corners: a dark glass slab with a rim
            mask = cv2.GaussianBlur(mask, (0, 0), 6 * scale)
            mask = np.clip((mask - 0.5) * 4 + 0.5, 0, 1)
        colour = np.array([22, 22, 26] if kind == "phone" else [120, 235, 245], np.float32)
        frame = frame * (1 - mask[..., None]) + colour * mask[..., None]
    return Scene(_camera(frame, look), np.zeros((4, 2), np.float32), kind, back, False, "doc.place_page", look, kind)


def negative_set(size: tuple[int, int] = FULL_HD, seed: int = 7, backdrops: int = 2) -> list[Scene]:
    """No page in these: the empty plate or desk, a hand alone, a phone, a sticky note."""
    rng = np.random.default_rng(seed)
    scenes = []
    for k in range(backdrops):
        for kind_of_back in ("plate", "desk"):
            back = backdrop(kind_of_back, size, seed + k * 10 + (kind_of_back == "desk"))
            look = Look(noise_seed=int(rng.integers(1 << 31)))
            scenes.append(
                Scene(
                    render_empty(back, look),
                    np.zeros((4, 2), np.float32),
                    "empty",
                    back,
                    False,
                    "doc.place_page",
                    look,
                    f"{back.kind} empty",
                )
            )
            for kind in ("hand_only", "phone", "note"):
                scenes.append(_object_scene(back, kind, replace(look, noise_seed=int(rng.integers(1 << 31))), rng))
    return scenes


def advice_set(back: Backdrop, seed: int = 11) -> list[Scene]:
    """One defect each, with the advice the citizen must get (whole pages, except the cut ones)."""
    rng = np.random.default_rng(seed)
    size = back.size
    base = _fit(Look(angle=6.0, content_seed=seed, noise_seed=seed), size, 40, rng)
    width_px = A4[0] * base.px_per_mm
    cut_left = replace(base, centre=((width_px * 0.35) / size[0], 0.5), angle=3.0)
    cut_bottom = replace(base, landscape=True, centre=(0.5, 0.75), angle=-4.0)
    cases = [
        (base, "doc.ready", "page"),
        (replace(base, glare=400, glare_radius=0.09, glare_at=(0.4, 0.35)), "doc.glare", "page"),
        (replace(base, curl=0.05), "doc.flatten", "page"),
        (replace(base, blur=5.0), "doc.blurry", "page"),
        (replace(base, exposure=0.3), "doc.too_dark", "page"),
        (replace(base, exposure=1.7), "doc.too_bright", "page"),
        (cut_left, "doc.whole_page", "cut"),
        (cut_bottom, "doc.whole_page", "cut"),
    ]
    return [page_scene(back, look, advice, kind) for look, advice, kind in cases]


def sequence(
    back: Backdrop,
    seed: int = 3,
    fps: float = 12.0,
    placements: int = 2,
    same_spot: bool = False,
    rest_s: float = 1.5,
    empty_s: float = 0.5,
) -> list[SequenceFrame]:
    """A citizen at work: the empty plate, a page slid in and left to rest, taken away; then the next.

    With `same_spot` the next page is put exactly where the last one lay (the same outline,
    other print), as when a citizen turns the page of a booklet without moving it.
    """
    rng = np.random.default_rng(seed)
    size = back.size
    dt = 1.0 / fps
    frames: list[SequenceFrame] = []
    t = 0.0

    def add(image: np.ndarray, phase: str, placement: int) -> None:
        nonlocal t
        frames.append(SequenceFrame(t, image, phase, placement))
        t += dt

    def noise() -> int:
        return int(rng.integers(1 << 31))

    for _ in range(round(empty_s * fps)):
        add(render_empty(back, Look(noise_seed=noise())), "empty", -1)
    rest = _fit(Look(angle=float(rng.uniform(-10, 10)), noise_seed=noise()), size, 30, rng)
    for placement in range(placements):
        page = page_image(rest.size_mm, seed * 100 + placement)
        if placement and not same_spot:
            rest = _fit(replace(rest, angle=float(rng.uniform(-10, 10))), size, 30, rng)
        if not (placement and same_spot):
            start = np.array(rest.centre) + np.array([0.45, 0.1])  # slid in from the right, partly out of frame
            for step in range(6):
                w = (step + 1) / 7
                centre = start + (np.array(rest.centre) - start) * w
                moving = replace(rest, centre=tuple(centre), angle=rest.angle + 8 * (1 - w), noise_seed=noise())
                add(render(back, moving, page)[0], "moving", placement)
        for _ in range(round(rest_s * fps)):
            add(render(back, replace(rest, noise_seed=noise()), page)[0], "resting", placement)
        if not same_spot or placement == placements - 1:
            for _ in range(round(empty_s * fps)):
                add(render_empty(back, Look(noise_seed=noise())), "empty", -1)
    return frames
