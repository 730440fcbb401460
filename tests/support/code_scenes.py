"""Camera scenes with a code in them, generated from a seed, each with the exact bytes it holds.

A code is drawn module by module (QR from segno, Code 128 from tests/support/code128.py,
never from a decoder's own writer) onto a paper slip or a phone screen, placed into a 720p or
1080p frame over the camera's dark plate or a light desk, then degraded as a camera would:
rotation, perspective, defocus, motion, a saturated reflection, uneven light, low contrast,
sensor noise, JPEG. The module-to-pixel step is supersampled so that small modules get the
grey edges a sensor gives them, not aliasing.
"""

from __future__ import annotations

import codecs
import datetime as dt
import math
from dataclasses import dataclass, replace
from unittest import mock

import cv2
import numpy as np
import segno
import segno.consts

from kiosk.core.receipt_number import format_number
from kiosk.peripherals.printer.paper import code128

HD = (1280, 720)
FULL_HD = (1920, 1080)
RECEIPT = format_number("DEMO0001", dt.date(2026, 11, 24), 1)  # DEMO0001-20261124-0001L
RECEIPT_URL = f"http://127.0.0.1:8765/progress/{RECEIPT}"
ID_NUMBER = "11010519491231002X"


@dataclass(frozen=True)
class Payload:
    """What a code holds: `text` encoded with `encoding`, declared by an ECI or not."""

    text: str
    encoding: str = "utf-8"
    eci: int | None = None  # the ECI number written into the QR code, None for none

    @property
    def raw(self) -> bytes:
        return self.text.encode(self.encoding)

    @property
    def label(self) -> str:
        return f"{self.encoding}{f'+eci{self.eci}' if self.eci else ''}"


def _with_quiet_zone(qr: segno.QRCode) -> np.ndarray:
    return np.pad(np.array(qr.matrix, dtype=np.uint8), 4)


def qr_modules(payload: Payload, error: str = "M") -> np.ndarray:
    """The QR code's modules (1 = dark) with a 4-module quiet zone."""
    # segno writes the old AIM number 29 for every Chinese codec; newer encoders write 31 (GBK)
    # or 32 (GB18030): the ECI number written is the payload's own.
    numbers = {codecs.lookup(payload.encoding).name: payload.eci} if payload.eci else {}
    with mock.patch.dict(segno.consts.ECI_ASSIGNMENT_NUM, numbers):
        qr = segno.make_qr(
            payload.text, encoding=payload.encoding, eci=payload.eci is not None, error=error, boost_error=False
        )
    return _with_quiet_zone(qr)


_SEGMENT_MODES = {
    "numeric": segno.consts.MODE_NUMERIC,
    "alphanumeric": segno.consts.MODE_ALPHANUMERIC,
    "byte": segno.consts.MODE_BYTE,
    "kanji": segno.consts.MODE_KANJI,
    "hanzi": segno.consts.MODE_HANZI,
}


def qr_segment_modules(*segments: tuple[str | bytes, str]) -> np.ndarray:
    """A QR code of (content, mode) segments, with no ECI: Kanji mode takes text (segno writes it in
    Shift_JIS), Hanzi mode text (GB2312), byte mode bytes as they are."""
    return _with_quiet_zone(segno.make_qr([(content, _SEGMENT_MODES[mode]) for content, mode in segments]))


def structured_append_parts(text: str, parts: int = 2) -> list[np.ndarray]:
    """The QR codes of a structured-append sequence holding `text` (UTF-8), each with its quiet zone."""
    return [_with_quiet_zone(qr) for qr in segno.make_sequence(text, symbol_count=parts, encoding="utf-8")]


def code128_modules(text: str, height_ratio: float = 0.22) -> np.ndarray:
    return _bars(code128.modules(text), height_ratio)


def latin1_code128_modules(text: str, height_ratio: float = 0.22) -> np.ndarray:
    """Code 128 of ISO-8859-1 text, code set B: FNC4 (value 100 in set B) before a character adds
    128 to the next one (ISO/IEC 15417, 4.3.4.2); kiosk.peripherals.printer.paper.code128 writes ASCII only."""
    values = [code128.START_B]
    for byte in text.encode("latin-1"):
        if not 32 <= byte % 128 < 127:
            raise ValueError("code set B holds printable characters only")
        values += [100, byte - 128 - 32] if byte >= 128 else [byte - 32]
    values.append((values[0] + sum(position * value for position, value in enumerate(values[1:], 1))) % 103)
    widths = "".join(code128.PATTERNS[value] for value in values) + code128.PATTERNS[code128.STOP]
    bars = [1 - index % 2 for index, width in enumerate(widths) for _ in range(int(width))]
    return _bars(np.pad(np.array(bars, dtype=np.uint8), code128.QUIET_MODULES), height_ratio)


def _bars(row: np.ndarray, height_ratio: float) -> np.ndarray:
    return np.repeat(row[None, :], max(12, round(len(row) * height_ratio)), axis=0)


@dataclass(frozen=True)
class Look:
    """Where and how the code appears; every field is drawn from a seed, `noise_seed` included."""

    size: tuple[int, int] = FULL_HD
    module_px: float = 6.0  # frame pixels per module at the code's centre
    angle: float = 0.0  # in-plane rotation, degrees
    keystone: tuple[float, float] = (0.0, 0.0)  # perspective: how much wider one edge is than the other, x and y
    centre: tuple[float, float] = (0.5, 0.5)  # fraction of the frame
    carrier: str = "paper"  # "paper" or "phone"
    background: str = "plate"  # "plate" (the camera's dark grey plate) or "desk" (light)
    ink: float = 20.0  # grey of dark modules
    light: float = 235.0  # grey of light modules
    inverted: bool = False  # light modules on a dark screen (a phone in dark mode)
    shading: float = 0.0  # 0..1: how much darker one side of the frame is
    glare: float = 0.0  # peak brightness added by a reflection (saturates above 255)
    glare_at: tuple[float, float] = (0.3, 0.3)  # the reflection's centre, in code widths from the code's centre
    glare_radius: float = 0.25  # in code widths
    blur: float = 0.0  # defocus, gaussian sigma in pixels
    motion: float = 0.0  # motion blur length in pixels
    motion_angle: float = 0.0
    noise: float = 2.0  # sensor noise sigma, grey levels
    jpeg: int = 0  # JPEG quality, 0 for none
    noise_seed: int = 0


@dataclass(frozen=True, eq=False)
class Scene:
    """One camera frame and what a decoder must read in it, exactly, or nothing."""

    image: np.ndarray  # BGR
    expected_raw: bytes
    format: str  # "QRCode" or "Code128"
    label: str
    expected_text: str
    symbol: np.ndarray  # the modules drawn, quiet zone included
    look: Look


def _background(look: Look, rng: np.random.Generator) -> np.ndarray:
    width, height = look.size
    base = 60.0 if look.background == "plate" else 185.0
    coarse = rng.normal(0, 10 if look.background == "plate" else 14, (9, 16)).astype(np.float32)
    texture = cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC)
    return base + texture


def _carrier(symbol: np.ndarray, look: Look, rng: np.random.Generator) -> np.ndarray:
    """The flat slip or phone in grey levels, one pixel per module."""
    dark, bright = (look.light, look.ink) if look.inverted else (look.ink, look.light)
    if look.carrier == "phone":
        screen = np.pad(np.where(symbol == 1, dark, bright), 3, constant_values=bright)
        bezel = max(2, screen.shape[1] // 12)
        flat = np.pad(screen, ((bezel * 3, bezel * 3), (bezel, bezel)), constant_values=18.0)
        return flat.astype(np.float32)
    margin = max(3, min(symbol.shape) // 4)
    flat = np.pad(np.where(symbol == 1, dark, bright), margin, constant_values=bright).astype(np.float32)
    # A few lines of print above and below the code: clutter a decoder must ignore.
    for top in (1, flat.shape[0] - margin + 1):
        for line in range(max(0, (margin - 2) // 3)):
            y = top + line * 3
            x = 1
            while x < flat.shape[1] - 3:
                word = int(rng.integers(2, 6))
                flat[y : y + 2, x : x + word] = look.ink + 30
                x += word + int(rng.integers(1, 3))
    return flat


def _corners(flat_shape: tuple[int, int], look: Look) -> np.ndarray:
    """Where the carrier's corners land in the frame (the code's centre at look.centre)."""
    height, width = flat_shape
    half = np.array([width, height], dtype=np.float64) / 2 * look.module_px
    signs = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]], dtype=np.float64)
    kx, ky = look.keystone
    corners = signs * half
    corners[:, 1] *= 1 + kx * signs[:, 0]  # one side taller than the other
    corners[:, 0] *= 1 + ky * signs[:, 1]  # top wider than bottom
    theta = math.radians(look.angle)
    rotation = np.array([[math.cos(theta), -math.sin(theta)], [math.sin(theta), math.cos(theta)]])
    return corners @ rotation.T + np.array(look.centre) * look.size


def _place(frame: np.ndarray, flat: np.ndarray, corners: np.ndarray) -> np.ndarray:
    """Draw `flat` into `frame` with its corners at `corners`: supersampled, then area-averaged."""
    height, width = frame.shape
    x0, y0 = np.clip(np.floor(corners.min(axis=0)).astype(int), 0, [width, height])
    x1, y1 = np.clip(np.ceil(corners.max(axis=0)).astype(int), 0, [width, height])
    if x1 <= x0 or y1 <= y0:
        return frame
    ss = 4 if (x1 - x0) * (y1 - y0) < 600_000 else 2
    source = np.array([[0, 0], [flat.shape[1], 0], [flat.shape[1], flat.shape[0]], [0, flat.shape[0]]], np.float32)
    target = ((corners - [x0, y0]) * ss).astype(np.float32)
    homography = cv2.getPerspectiveTransform(source, target)
    size = ((x1 - x0) * ss, (y1 - y0) * ss)
    patch = cv2.warpPerspective(flat, homography, size, flags=cv2.INTER_NEAREST)
    cover = cv2.warpPerspective(np.ones_like(flat), homography, size, flags=cv2.INTER_NEAREST)
    patch = cv2.resize(patch, (x1 - x0, y1 - y0), interpolation=cv2.INTER_AREA)
    cover = cv2.resize(cover, (x1 - x0, y1 - y0), interpolation=cv2.INTER_AREA)
    region = frame[y0:y1, x0:x1]
    frame[y0:y1, x0:x1] = region * (1 - cover) + patch * cover
    return frame


def _motion_kernel(length: float, angle: float) -> np.ndarray:
    size = math.ceil(length) | 1
    kernel = np.zeros((size, size), np.float32)
    c = size // 2
    dx, dy = math.cos(math.radians(angle)) * length / 2, math.sin(math.radians(angle)) * length / 2
    cv2.line(kernel, (round(c - dx), round(c - dy)), (round(c + dx), round(c + dy)), 1.0, 1, cv2.LINE_AA)
    return kernel / kernel.sum()


def render(symbol: np.ndarray, look: Look) -> np.ndarray:
    """The BGR frame a camera would give of `symbol` seen as `look` says."""
    rng = np.random.default_rng(look.noise_seed)
    frame = _background(look, rng)
    flat = _carrier(symbol, look, rng)
    frame = _place(frame, flat, _corners(flat.shape, look))
    height, width = frame.shape
    if look.shading:
        ramp = np.linspace(1 - look.shading, 1, width, dtype=np.float32)
        frame *= ramp[None, :] if rng.random() < 0.5 else ramp[None, ::-1]
    if look.glare:
        code_width = symbol.shape[1] * look.module_px
        cx, cy = np.array(look.centre) * look.size + np.array(look.glare_at) * code_width
        sigma = look.glare_radius * code_width
        xs = np.exp(-((np.arange(width, dtype=np.float32) - cx) ** 2) / (2 * sigma**2))
        ys = np.exp(-((np.arange(height, dtype=np.float32) - cy) ** 2) / (2 * sigma**2))
        frame += look.glare * np.outer(ys, xs)
    if look.blur:
        frame = cv2.GaussianBlur(frame, (0, 0), look.blur)
    if look.motion >= 2:
        frame = cv2.filter2D(frame, -1, _motion_kernel(look.motion, look.motion_angle))
    tint = (1.0, 0.98, 0.95) if look.carrier == "paper" else (1.0, 0.97, 0.92)
    bgr = cv2.merge([frame * np.float32(t) for t in tint])
    noise = np.empty_like(bgr)
    cv2.setRNGSeed(look.noise_seed)  # OpenCV's generator: several times faster than numpy's normal
    cv2.randn(noise, 0.0, look.noise)
    image = np.clip(bgr + noise, 0, 255, out=bgr).astype(np.uint8)
    if look.jpeg:
        _, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, look.jpeg])
        image = cv2.imdecode(encoded, cv2.IMREAD_COLOR)
    return image


def qr_scene(payload: Payload, look: Look, error: str = "M", label: str = "") -> Scene:
    symbol = qr_modules(payload, error)
    label = label or f"qr {payload.label}"
    return Scene(render(symbol, look), payload.raw, "QRCode", label, payload.text, symbol, look)


def code128_scene(text: str, look: Look, label: str = "") -> Scene:
    symbol = code128_modules(text)
    return Scene(render(symbol, look), text.encode("ascii"), "Code128", label or "code128", text, symbol, look)


def sequence(scene: Scene, n: int) -> list[np.ndarray]:
    """`n` more frames of the scene as a hand holds it, each with fresh noise.

    The code drifts, turns and tilts a little, moves faster or slower (motion blur comes and
    goes), the reflection slides. Defocus, contrast and size stay: they are the camera's and
    the code's.
    """
    rng = np.random.default_rng(scene.look.noise_seed + 7919)
    frames = []
    for _ in range(n):
        look = scene.look
        look = replace(
            look,
            centre=tuple(float(c + rng.normal(0, 0.004)) for c in look.centre),
            angle=look.angle + float(rng.normal(0, 1.5)),
            keystone=tuple(float(k + rng.normal(0, 0.02)) for k in look.keystone),
            module_px=look.module_px * float(1 + rng.normal(0, 0.02)),
            motion=look.motion * float(rng.uniform(0, 1.5)),
            glare_at=tuple(float(g + rng.normal(0, 0.08)) for g in look.glare_at),
            noise_seed=int(rng.integers(1 << 31)),
        )
        frames.append(render(scene.symbol, look))
    return frames


# --- payloads -----------------------------------------------------------------------------------------------------

_TEXTS = (
    "办理进度查询：朝阳区政务服务中心 第{n}号",
    "预约成功，请于{n}日上午到大厅取号办理",
    "预审通过 YS2026112400{n:04d} 请携带材料原件",
)
_RARE = "𠀀𠀁㊣𡃁 生僻字测试 {n}"  # 4-byte GB18030 sequences (and ㊣, two bytes in GBK)


def random_payload(rng: np.random.Generator) -> Payload:
    """One QR payload of the kinds a citizen holds up, in every encoding the hall sees."""
    n = int(rng.integers(1, 10_000))
    text = _TEXTS[n % len(_TEXTS)].format(n=n)
    choices = (
        Payload(text, "utf-8", 26),
        Payload(text, "utf-8"),
        Payload(text, "gbk"),
        Payload(text, "gbk", 29),
        Payload(text, "gbk", 31),
        Payload(_RARE.format(n=n), "gb18030", 32),
        Payload(_RARE.format(n=n), "gb18030"),
        Payload(f"https://zwfw.example.gov.cn/elicence/view?id={n:08d}&sig=Ab{n}Cd"),
        Payload(f"http://127.0.0.1:8765/progress/{format_number('DEMO0001', dt.date(2026, 11, 24), n)}"),
        Payload(ID_NUMBER),
        Payload(f"YY2026112400{n:04d}"),
    )
    return choices[int(rng.integers(len(choices)))]


# --- sets -----------------------------------------------------------------------------------------------------------


def degraded_look(rng: np.random.Generator, size: tuple[int, int], n_modules: int) -> Look:
    """A code held up to the camera the way people do: often small, tilted, soft, shiny or grainy.

    Lengths are the camera's (fractions of the frame's height), so the same scene at 720p has
    smaller modules and less blur in pixels than at 1080p. Defocus stays under half a module,
    and a reflection (on glass mostly) under a fifth of the code's width: past that no decoder
    reads any frame, and the screen asks the citizen to hold the code differently. Calibrated
    so that pyzbar reads about 40 % of 1080p frames, as it did of real degraded scenes
    (bench/README.md).
    """
    scale = size[1] / FULL_HD[1]
    module_px = size[1] * rng.uniform(0.08, 0.32) / n_modules
    phone = rng.random() < 0.5
    return Look(
        size=size,
        module_px=module_px,
        angle=float(rng.uniform(-180, 180)),
        keystone=(float(rng.uniform(-0.3, 0.3)), float(rng.uniform(-0.3, 0.3))),
        centre=(float(rng.uniform(0.3, 0.7)), float(rng.uniform(0.3, 0.7))),
        carrier="phone" if phone else "paper",
        background="plate" if rng.random() < 0.7 else "desk",
        ink=float(rng.uniform(10, 110)),
        light=float(rng.uniform(140, 245)),
        inverted=bool(rng.random() < 0.04),
        shading=float(rng.uniform(0, 0.5)),
        glare=float(rng.uniform(60, 260) if rng.random() < (0.5 if phone else 0.15) else 0),  # glass shines
        glare_at=(float(rng.uniform(-0.4, 0.4)), float(rng.uniform(-0.4, 0.4))),
        glare_radius=float(rng.uniform(0.06, 0.2)),
        blur=float(rng.uniform(0, min(1.4 * scale, 0.5 * module_px))),
        motion=float(rng.choice([0, rng.uniform(2, 6) * scale])),
        motion_angle=float(rng.uniform(0, 180)),
        noise=float(rng.uniform(1, 8)),
        jpeg=int(rng.choice([0, rng.integers(35, 90)])),
        noise_seed=int(rng.integers(1 << 31)),
    )


def degraded_set(n: int, size: tuple[int, int] = FULL_HD, seed: int = 2026, code128_share: float = 0.0) -> list[Scene]:
    """`n` scenes, some beyond any decoder: QR codes, and Code 128 in `code128_share` of them."""
    rng = np.random.default_rng(seed)
    scenes = []
    for index in range(n):
        if code128_share and rng.random() < code128_share:
            text = str(rng.choice([ID_NUMBER, RECEIPT, f"YY2026112400{index:04d}"]))
            symbol = code128_modules(text)
            look = degraded_look(rng, size, symbol.shape[1] // 3)  # a linear code is about 3 QR codes long
            scenes.append(code128_scene(text, look, f"#{index} code128"))
            continue
        payload = random_payload(rng)
        error = str(rng.choice(["L", "M", "Q"]))
        symbol = qr_modules(payload, error)
        look = degraded_look(rng, size, symbol.shape[1])
        label = f"#{index} {payload.label}"
        scenes.append(Scene(render(symbol, look), payload.raw, "QRCode", label, payload.text, symbol, look))
    return scenes


def readable_set(size: tuple[int, int] = FULL_HD) -> list[Scene]:
    """Hard but readable: one difficulty at a time, each of which the scanner must get right."""
    utf8 = Payload("办理进度查询：朝阳区政务服务中心", "utf-8", 26)
    gbk = Payload("预约成功，请于上午到大厅取号办理", "gbk")
    rare = Payload("𠀀㊣𡃁 生僻字", "gb18030", 32)
    base = Look(size=size, module_px=6.0, ink=25, light=230, noise=3.0)
    width = size[0]
    scale = width / FULL_HD[0]
    looks = {
        "small modules": replace(base, module_px=2.6 * scale),
        "rotated 45": replace(base, angle=45),
        "upside down": replace(base, angle=180),
        "perspective": replace(base, keystone=(0.25, -0.2), angle=15),
        "defocus": replace(base, blur=1.8 * scale),
        "motion": replace(base, motion=6 * scale, motion_angle=30),
        "glare": replace(base, glare=240, glare_at=(0.05, 0.1), glare_radius=0.08),
        "noise": replace(base, noise=14),
        "jpeg 30": replace(base, jpeg=30, noise=5),
        "low contrast": replace(base, ink=110, light=170),
        "dark mode phone": replace(base, carrier="phone", inverted=True),
        "phone on desk": replace(base, carrier="phone", background="desk", angle=-20),
        "shading": replace(base, shading=0.6, background="desk"),
    }
    scenes = [
        qr_scene(payload, replace(look, noise_seed=index), label=f"qr {name} {payload.label}")
        for index, (name, look) in enumerate(looks.items())
        for payload in (utf8, gbk, rare)
    ]
    bar = replace(base, module_px=3.0 * scale)
    bar_looks = {
        "plain": bar,
        "tilted 10": replace(bar, angle=10),
        "vertical": replace(bar, angle=90),
        "perspective": replace(bar, keystone=(0.15, 0.1), angle=-8),
        "defocus": replace(bar, blur=1.0 * scale),
        "motion": replace(bar, motion=4 * scale, motion_angle=90),
        "glare": replace(bar, glare=280, glare_at=(0.1, 0.0), glare_radius=0.05),
        "jpeg 35": replace(bar, jpeg=35),
        "phone": replace(bar, carrier="phone", background="desk"),
    }
    for index, (name, look) in enumerate(bar_looks.items()):
        for text in (ID_NUMBER, RECEIPT):
            scenes.append(code128_scene(text, replace(look, noise_seed=100 + index), f"code128 {name}"))
    return scenes
