"""Where the page lies in a frame of the fixed document camera: its four corners, sub-pixel.

Candidates come from the working resolution (plate.work_image): the foreground against the
empty-plate model first; without a model, or when its candidates do not hold up, from the
image alone (the whitest, least coloured region, and the outline of strong colour edges). A
candidate's outline is its convex hull cut down to four sides by the smallest enlargement,
which restores a corner hidden by a shadow or a hand.

Each candidate is then refined on the full-resolution frame: across each side, profiles in a
band are projected on that side's own inside-to-outside colour difference (a white page on a
beige desk differs mostly in blue), the step is located to a fraction of a pixel, a line is
fitted robustly (a hand or a reflection at the edge only removes points), and neighbouring
lines meet at the corners. A candidate is a page when most of its outline is such a step.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from kiosk.vision.plate import PlateModel, skin_like, work_image

# Candidates, at the working resolution
MIN_AREA = 0.015  # of the frame: an ID card under a 1080p camera is about 2.3 %
MAX_ASPECT = 1.85  # long/short side: a phone (≥ 2) is not a document
MAX_CANDIDATES = 3  # per source, largest first
WHITE_MARGIN = 30  # grey levels below the brightest paper that are still surely paper
SEED_AREA = 0.25  # of the smallest page: a blob of sure paper that big starts a page
SOLID = 0.97  # filled blobs over their hulls: below this a shadow or hand bit into the page
# Refinement, on the full frame
BANDS = (20.0, 5.0)  # half-widths of the two passes' profiles, px at 1080p
SAMPLES = 48  # profiles across each side
STEP_BOX = 4  # pixels averaged on each side of a step
MIN_STEP = 8.0  # grey levels (along the side's colour difference) for an edge point
MIN_SUPPORT = 0.3  # fraction of each side that must be a clean step
MIN_MEAN_SUPPORT = 0.55  # over the whole outline
BOW = 0.005  # of a side's length: an edge bowed further than this is no line (the page curls)
_ALONG = np.array([-1.5, 0.0, 1.5])  # px along the side: three neighbouring profiles make one


@dataclass(frozen=True, eq=False)
class PageQuad:
    """A page found in a frame."""

    corners: np.ndarray  # (4, 2) float32, full-resolution pixels, clockwise from top-left
    method: str  # "plate" or "edges"
    score: float  # 0..1: the fraction of the outline that is a clean straight step
    cut: bool = False  # a side lies on the frame's border: the page is not wholly in the frame
    bow: float = 0.0  # the most bowed side's sagitta over its length: 0 for a flat page, ~0.03 for a curling one

    def as_list(self) -> list[list[float]]:
        return [[round(float(x), 2), round(float(y), 2)] for x, y in self.corners]


def order_corners(points: np.ndarray) -> np.ndarray:
    """Four points clockwise (on screen), starting at the top-left.

    The top side is the one whose direction, going clockwise, points most to the right; its
    first point is the top-left. That holds for a page turned by up to 45° either way.
    """
    points = np.asarray(points, np.float32).reshape(4, 2)
    centre = points.mean(axis=0)
    angles = np.arctan2(points[:, 1] - centre[1], points[:, 0] - centre[0])
    points = points[np.argsort(angles)]  # y grows downwards: increasing angle is clockwise
    sides = np.roll(points, -1, axis=0) - points
    rightward = sides[:, 0] / (np.linalg.norm(sides, axis=1) + 1e-9)
    return np.roll(points, -int(np.argmax(rightward)), axis=0)


def detect_page(
    frame_bgr: np.ndarray, plate: PlateModel | None = None, *, min_area: float = MIN_AREA
) -> PageQuad | None:
    """The page in a BGR frame, or None. Uses the plate model when it was learned at this frame size."""
    work = work_image(frame_bgr)
    scale = frame_bgr.shape[1] / work.shape[1]
    skin = skin_like(work)
    if plate is not None and plate.ready and plate.shape == work.shape[:2]:
        diff = plate.difference(work)
        page = _segment(work, diff.foreground & ~skin, skin, min_area)
        found = _best(frame_bgr, _outlines(page, min_area), scale, "plate")
        if found is not None:
            return found
    outlines = _outlines(_whitest(work, skin, min_area), min_area) + _outlines(_edge_regions(work, skin), min_area)
    return _best(frame_bgr, outlines, scale, "edges")


# --- candidates at the working resolution ---------------------------------------------------------------------------


def _segment(work: np.ndarray, sure: np.ndarray, skin: np.ndarray, min_area: float) -> np.ndarray:
    """The page's region, grown from the big blobs of `sure` paper.

    Blobs that are not convex had a shadow or a hand bite into them (paper in a shadow can
    match the plate pixel for pixel: white on a grey desk). Then a watershed from those blobs
    and from sure background (the frame's border and hands) gives each undecided pixel to the
    side its smoothest path leads to: the boundary settles on the strongest edge, the page's own.
    """
    kernel = np.ones((3, 3), np.uint8)
    seeds = cv2.morphologyEx(sure.astype(np.uint8), cv2.MORPH_OPEN, kernel)
    contours, _ = cv2.findContours(seeds, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    blobs = [c for c in contours if cv2.contourArea(c) >= SEED_AREA * min_area * seeds.size]
    page = np.zeros(seeds.shape, np.uint8)
    if not blobs:
        return page.astype(bool)
    cv2.drawContours(page, blobs, -1, 1, cv2.FILLED)
    hulls = np.zeros_like(page)
    cv2.drawContours(hulls, [cv2.convexHull(c) for c in blobs], -1, 1, cv2.FILLED)
    if page.sum() >= SOLID * hulls.sum():
        return page.astype(bool)
    markers = np.zeros(page.shape, np.int32)
    markers[skin & (page == 0)] = 1  # red print inside the page is not a hand
    markers[[1, -2], :] = markers[:, [1, -2]] = 1  # the watershed keeps the outermost pixels as its own fence
    markers[(seeds > 0) & (page > 0)] = 2
    # Closing wipes the print off the paper: the page's outline is then the strongest edge around.
    cv2.watershed(cv2.morphologyEx(work, cv2.MORPH_CLOSE, np.ones((5, 5), np.uint8)), markers)
    return markers == 2


def _whitest(work: np.ndarray, skin: np.ndarray, min_area: float) -> np.ndarray:
    """Paper is the brightest, least coloured thing in view: lightness less chroma, near its brightest."""
    lab = cv2.cvtColor(work, cv2.COLOR_BGR2LAB).astype(np.int16)
    chroma = np.abs(lab[..., 1] - 128) + np.abs(lab[..., 2] - 128)
    paper = cv2.GaussianBlur(np.clip(lab[..., 0] - 2 * chroma, 0, 255).astype(np.uint8), (5, 5), 0)
    otsu, _ = cv2.threshold(paper, 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
    counts = np.cumsum(np.bincount(paper.ravel(), minlength=256))
    brightest = int(np.searchsorted(counts, 0.99 * counts[-1]))
    # Sure paper: above Otsu's split and near the brightest, so that a light desk is not taken for paper.
    sure = paper > max(otsu, brightest - WHITE_MARGIN)
    return _segment(work, sure & ~skin, skin, min_area)


def _edge_regions(work: np.ndarray, skin: np.ndarray) -> np.ndarray:
    """Regions enclosed by strong colour edges (lightness and the blue-yellow axis, where paper and wood differ),
    less hands and their outlines."""
    lab = cv2.cvtColor(cv2.GaussianBlur(work, (3, 3), 0), cv2.COLOR_BGR2LAB)
    edges = cv2.Canny(lab[..., 0], 20, 50) | cv2.Canny(lab[..., 2], 10, 25)
    edges = cv2.dilate(edges, np.ones((3, 3), np.uint8))
    contours, _ = cv2.findContours(edges, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    filled = np.zeros_like(edges)
    cv2.drawContours(filled, contours, -1, 255, cv2.FILLED)
    return (filled > 0) & (cv2.dilate(skin.astype(np.uint8), np.ones((9, 9), np.uint8)) == 0)


@dataclass(frozen=True)
class _Outline:
    quad: np.ndarray  # (4, 2) working-resolution pixels, clockwise from top-left
    on_border: tuple[bool, ...]  # per side (from corner i to i+1): lies on the frame's border


def _outlines(mask: np.ndarray, min_area: float) -> list[_Outline]:
    """Four-sided outlines of the largest blobs of a mask that could be pages."""
    mask = cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    height, width = mask.shape
    floor = min_area * height * width
    outlines = []
    for contour in sorted(contours, key=cv2.contourArea, reverse=True)[:MAX_CANDIDATES]:
        if cv2.contourArea(contour) < floor:
            break
        hull = cv2.approxPolyDP(cv2.convexHull(contour), 0.8, True).reshape(-1, 2).astype(np.float64)
        quad = _four_sides(hull)
        if quad is None or not _plausible(quad, floor):
            continue
        quad = order_corners(quad)
        outlines.append(_Outline(quad, _border_sides(quad, width, height)))
    return outlines


def _four_sides(hull: np.ndarray) -> np.ndarray | None:
    """Cut a convex polygon down to four sides, each time dropping the side whose removal adds least area.

    Dropping a side extends its two neighbours to their meeting point: a corner cut off by a
    shadow or covered by a finger comes back where the page's straight sides say it is.
    """
    points = hull
    while len(points) > 4:
        prev, a, b, after = (np.roll(points, k, axis=0) for k in (1, 0, -1, -2))
        d1, d2, w = a - prev, b - after, b - a  # each neighbour continues beyond the side's end
        cross = d1[:, 0] * d2[:, 1] - d1[:, 1] * d2[:, 0]
        with np.errstate(divide="ignore", invalid="ignore"):
            t = (w[:, 0] * d2[:, 1] - w[:, 1] * d2[:, 0]) / cross
            s = (w[:, 0] * d1[:, 1] - w[:, 1] * d1[:, 0]) / cross
            meet = a + d1 * t[:, None]
            added = 0.5 * np.abs(w[:, 0] * (meet - a)[:, 1] - w[:, 1] * (meet - a)[:, 0])
        added[~np.isfinite(added) | (t < 0) | (s < 0)] = np.inf  # neighbours parallel or diverging
        index = int(np.argmin(added))
        if not np.isfinite(added[index]):
            return None
        points = points.copy()
        points[index] = meet[index]
        points = np.delete(points, (index + 1) % len(points), axis=0)
    return points if len(points) == 4 else None


def _plausible(quad: np.ndarray, floor: float) -> bool:
    """Big enough, convex, and shaped like a sheet of paper rather than a phone or a sliver."""
    area = cv2.contourArea(quad.astype(np.float32))
    if area < floor or not cv2.isContourConvex(quad.astype(np.float32)):
        return False
    sides = np.linalg.norm(np.roll(quad, -1, axis=0) - quad, axis=1)
    across, along = (sides[0] + sides[2]) / 2, (sides[1] + sides[3]) / 2
    return max(across, along) / max(1e-6, min(across, along)) <= MAX_ASPECT


def _border_sides(quad: np.ndarray, width: int, height: int, slack: float = 2.0) -> tuple[bool, ...]:
    """Per side (corner i to i+1): both its ends lie on the same edge of the frame."""
    x, y = quad[:, 0], quad[:, 1]
    edges = (x <= slack, x >= width - 1 - slack, y <= slack, y >= height - 1 - slack)
    return tuple(any(edge[i] and edge[(i + 1) % 4] for edge in edges) for i in range(4))


# --- refinement at full resolution ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Side:
    """One side's edge points across a band, and the line fitted through them."""

    point: np.ndarray  # a point on the fitted line
    direction: np.ndarray  # unit vector along it
    found: float  # fraction of profiles with a clean step
    inliers: float  # fraction of profiles whose step lies on the line
    bow: float  # sagitta of a parabola through the steps, over the side's length
    brighter: bool  # the page side is lighter than the outside


def _best(frame: np.ndarray, outlines: list[_Outline], scale: float, method: str) -> PageQuad | None:
    """The largest candidate that refines to a page nearly as clean as the cleanest."""
    pages = [page for outline in outlines if (page := _refine(frame, outline, scale, method)) is not None]
    if not pages:
        return None
    best = max(page.score for page in pages)
    pages.sort(key=lambda page: cv2.contourArea(page.corners), reverse=True)
    return next(page for page in pages if page.score >= best - 0.15)


def _refine(frame: np.ndarray, outline: _Outline, scale: float, method: str) -> PageQuad | None:
    """The candidate's corners from its sides' edges on the full frame; None if it is no page."""
    height, width = frame.shape[:2]
    start = ((outline.quad + 0.5) * scale - 0.5).astype(np.float64)  # working pixel centres → frame pixels
    border = [
        _border_line(start[i], start[(i + 1) % 4], width, height) if outline.on_border[i] else None for i in range(4)
    ]
    wide, narrow = max(10.0, BANDS[0] * height / 1080), max(6.0, BANDS[1] * height / 1080)
    first = _fit_sides(frame, start, border, wide, (0.08, 0.92), curvature=True)
    if first is None:
        return None
    measured = [side for side in first if side is not None]
    found = [side.found for side in measured]
    if len(measured) < 2 or not all(side.brighter for side in measured):
        return None  # a page is lighter than what it lies on: this is a phone, a wallet, a shadow
    if min(found) < MIN_SUPPORT or float(np.mean(found)) < MIN_MEAN_SUPPORT:
        return None
    corners = _meet(first, border)
    if corners is None or np.abs(corners - start).max() > 3 * wide:
        return None
    bow = max(side.bow for side in measured)
    score = float(np.mean(found))
    if bow <= BOW:  # a curling page's sides are no lines: a finer fit would have nothing to find
        second = _fit_sides(frame, corners, border, narrow, (0.03, 0.97))
        refined = None if second is None else _meet(second, border)
        if refined is None or np.abs(refined - corners).max() > 2 * narrow:
            return None
        corners = refined
        score = float(np.mean([side.inliers for side in second if side is not None]))
    return PageQuad(
        order_corners(corners.astype(np.float32)), method, round(score, 3), any(outline.on_border), round(bow, 4)
    )


def _border_line(a: np.ndarray, b: np.ndarray, width: int, height: int) -> _Side:
    """The frame's own edge that a cut side lies on (its pixel boundary, half a pixel out)."""
    middle = (a + b) / 2
    distances = [middle[0], width - 1 - middle[0], middle[1], height - 1 - middle[1]]
    nearest = int(np.argmin(distances))
    point = np.array([[-0.5, 0.0], [width - 0.5, 0.0], [0.0, -0.5], [0.0, height - 0.5]][nearest])
    direction = np.array([0.0, 1.0]) if nearest < 2 else np.array([1.0, 0.0])
    return _Side(point, direction, 1.0, 1.0, 0.0, True)


def _meet(sides: list[_Side | None], border: list[_Side | None]) -> np.ndarray | None:
    """Corner i is where side i-1 meets side i."""
    lines = [side if side is not None else border[i] for i, side in enumerate(sides)]
    corners = []
    for i in range(4):
        p, q = lines[i - 1], lines[i]
        assert p is not None and q is not None
        cross = p.direction[0] * q.direction[1] - p.direction[1] * q.direction[0]
        if abs(cross) < 0.2:  # nearly parallel: no corner there
            return None
        w = q.point - p.point
        t = (w[0] * q.direction[1] - w[1] * q.direction[0]) / cross
        corners.append(p.point + t * p.direction)
    return np.array(corners)


def _fit_sides(
    frame: np.ndarray,
    corners: np.ndarray,
    border: list[_Side | None],
    half: float,
    span: tuple[float, float],
    curvature: bool = False,
) -> list[_Side | None] | None:
    """Each side not on the frame's border, fitted from profiles across it; None if one fails.

    All profiles come from one remap: SAMPLES per side, each the mean of three neighbouring
    ones (less noise, same position), from `half` px inside the page to `half` px outside.
    """
    todo = [i for i in range(4) if border[i] is None]
    if len(todo) < 2:
        return None  # a blob spanning the frame is no page
    a, b = corners[todo], corners[[(i + 1) % 4 for i in todo]]
    length = np.linalg.norm(b - a, axis=1)
    if (length < 8).any():
        return None
    tangent = (b - a) / length[:, None]
    normal = np.stack([tangent[:, 1], -tangent[:, 0]], axis=1)  # outwards: the outline is clockwise on screen
    centres = a[:, None, :] + np.linspace(*span, SAMPLES)[None, :, None] * (b - a)[:, None, :]
    reach = round(half)
    offsets = np.arange(-reach, reach + 1, dtype=np.float64)
    grid = (
        centres[:, :, None, None, :]
        + _ALONG[None, None, :, None, None] * tangent[:, None, None, None, :]
        + offsets[None, None, None, :, None] * normal[:, None, None, None, :]
    )
    count, size = len(todo), offsets.size
    grid = grid.reshape(count * SAMPLES * 3, size, 2).astype(np.float32)
    samples = cv2.remap(frame, grid, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    profiles = samples.reshape(count, SAMPLES, 3, size, -1).astype(np.float32).mean(axis=2)
    inside, outside = profiles[:, :, :3].mean(axis=2), profiles[:, :, -3:].mean(axis=2)
    contrast = np.median(inside, axis=1) - np.median(outside, axis=1)  # per side: the page's colour less the plate's
    strength = np.linalg.norm(contrast, axis=1)
    if (strength < MIN_STEP).any():
        return None
    signal = np.einsum("kslc,kc->ksl", profiles, contrast / strength[:, None])
    steps, positions = _steps(signal.reshape(count * SAMPLES, size), offsets)
    steps, positions = steps.reshape(count, SAMPLES), positions.reshape(count, SAMPLES)
    floor = np.maximum(MIN_STEP, 0.35 * np.median(steps, axis=1))
    valid = (steps >= floor[:, None]) & np.isfinite(positions)
    if (valid.sum(axis=1) < max(5, 0.2 * SAMPLES)).any():
        return None
    points = centres + np.where(valid, positions, 0.0)[..., None] * normal[:, None, :]
    fit = _robust_lines(points, valid)
    if fit is None:
        return None
    point, direction, keep = fit
    bows = _bows(points, valid, point, direction, length) if curvature else np.zeros(count)
    sides: list[_Side | None] = [None] * 4
    for row, i in enumerate(todo):
        sides[i] = _Side(
            point[row],
            direction[row],
            found=float(valid[row].mean()),
            inliers=float(keep[row].mean()),
            bow=float(bows[row]),
            brighter=bool(contrast[row].sum() > 0),
        )
    return sides


def _steps(signal: np.ndarray, offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per profile: the strongest inside-to-outside step (box means either side) and its sub-pixel position.

    A step found at the band's end may lie beyond it: its position is NaN.
    """
    box = STEP_BOX
    total = np.concatenate([np.zeros((signal.shape[0], 1), np.float32), np.cumsum(signal, axis=1)], axis=1)
    split = np.arange(box, signal.shape[1] - box + 1)  # a step between samples split-1 and split
    left = (total[:, split] - total[:, split - box]) / box
    right = (total[:, split + box] - total[:, split]) / box
    difference = left - right
    best = np.argmax(difference, axis=1)
    rows = np.arange(signal.shape[0])
    steps = difference[rows, best]
    inner = (best > 0) & (best < split.size - 1)
    lo = difference[rows, np.clip(best - 1, 0, None)]
    hi = difference[rows, np.clip(best + 1, None, split.size - 1)]
    curvature = lo - 2 * steps + hi
    with np.errstate(divide="ignore", invalid="ignore"):
        shift = np.where(curvature < 0, 0.5 * (lo - hi) / curvature, 0.0)
    positions = offsets[split[best]] - 0.5 + np.clip(shift, -0.5, 0.5)
    return steps, np.where(inner, positions, np.nan)


def _robust_lines(points: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """Per side, total least squares through its valid points, refitted without points further than
    3 robust sigmas (at least 1 px): a finger or a reflection at the edge only removes points."""
    keep = valid
    for _ in range(5):
        weight = keep.astype(np.float64)
        count = weight.sum(axis=1)
        if (count < 5).any():
            return None
        centre = np.einsum("ks,ksi->ki", weight, points) / count[:, None]
        deviations = points - centre[:, None, :]
        scatter = np.einsum("ks,ksi,ksj->kij", weight, deviations, deviations)
        direction = np.linalg.eigh(scatter)[1][:, :, 1]
        normal = np.stack([-direction[:, 1], direction[:, 0]], axis=1)
        residuals = np.abs(np.einsum("ksi,ki->ks", deviations, normal))
        again = valid & (residuals <= np.maximum(1.0, 3 * _robust_sigma(residuals, keep))[:, None])
        if (again == keep).all():
            break
        keep = again
    return centre, direction, keep


def _bows(
    points: np.ndarray, valid: np.ndarray, centre: np.ndarray, direction: np.ndarray, length: np.ndarray
) -> np.ndarray:
    """Per side, how far a parabola through its edge points bows, as a fraction of the side's length.

    Along the side runs -1..1, so the parabola's square term is its sagitta in pixels. Refitted
    without points further than 3 robust sigmas, so that a finger at the edge does not bend it.
    """
    deviations = points - centre[:, None, :]
    along = np.einsum("ksi,ki->ks", deviations, direction) / (length[:, None] / 2)
    across = np.einsum("ksi,ki->ks", deviations, np.stack([-direction[:, 1], direction[:, 0]], axis=1))
    terms = np.stack([np.ones_like(along), along, along**2], axis=2)
    keep = valid
    for _ in range(3):
        weight = keep.astype(np.float64)
        normal_matrix = np.einsum("ks,ksi,ksj->kij", weight, terms, terms) + 1e-9 * np.eye(3)
        coefficients = np.linalg.solve(normal_matrix, np.einsum("ks,ksi,ks->ki", weight, terms, across)[..., None])
        residuals = np.abs(across - np.einsum("ksi,ki->ks", terms, coefficients[..., 0]))
        keep = valid & (residuals <= np.maximum(1.0, 3 * _robust_sigma(residuals, keep))[:, None])
    return np.abs(coefficients[:, 2, 0]) / length


def _robust_sigma(residuals: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """Per row, 1.4826 times the (lower) median absolute residual of the kept points."""
    ordered = np.sort(np.where(keep, residuals, np.inf), axis=1)  # np.nanmedian is ten times slower
    middle = np.maximum(keep.sum(axis=1) - 1, 0) // 2
    return 1.4826 * ordered[np.arange(len(ordered)), middle]
