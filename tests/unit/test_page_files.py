"""Perspective correction, black and white, the page JPEG and the material's PDF."""

from __future__ import annotations

import io
import re
import shutil
import subprocess
from dataclasses import replace

import cv2
import numpy as np
import pytest
from pypdf import PdfReader

from kiosk.core.pdf import POINTS_PER_MM, PdfPage, pdf_from_jpegs
from kiosk.vision.page_files import capture_page, encode_page_jpeg
from kiosk.vision.page_warp import PageError, black_and_white, effective_dpi, warp_page
from tests.support import doc_scenes as ds

A4_200DPI = (1654, 2339)  # 210 x 297 mm: 1653.5 x 2338.6 px
LOOK = ds.Look(angle=12, centre=(0.5, 0.5), px_per_mm=3.0, content_seed=9, noise_seed=9)


@pytest.fixture(scope="module")
def back() -> ds.Backdrop:
    return ds.backdrop("plate", ds.FULL_HD, seed=41)


@pytest.fixture(scope="module")
def scene(back) -> tuple[np.ndarray, np.ndarray]:
    return ds.render(back, LOOK)


@pytest.fixture(scope="module")
def page(scene) -> np.ndarray:
    return warp_page(*scene)


def test_the_page_comes_out_at_its_declared_size_as_it_lies(back, scene, page) -> None:
    assert page.shape == (A4_200DPI[1], A4_200DPI[0], 3)
    image, corners = ds.render(back, replace(LOOK, landscape=True, angle=-8))
    assert warp_page(image, corners).shape == (A4_200DPI[0], A4_200DPI[1], 3)
    card = replace(LOOK, size_mm=ds.ID_CARD, landscape=True, angle=20)
    image, corners = ds.render(back, card)
    assert warp_page(image, corners, (85.6, 54), dpi=300).shape == (638, 1011, 3)


def test_effective_dpi_is_what_the_sensor_gives(scene) -> None:
    _, corners = scene
    assert effective_dpi(corners, (210, 297)) == pytest.approx(3.0 * 25.4, abs=0.5)  # 3 px per mm
    assert effective_dpi(corners, (297, 210)) == pytest.approx(3.0 * 25.4, abs=0.5)  # either way round


def test_the_print_lands_where_it_was_on_the_paper(page) -> None:
    flat = cv2.cvtColor(ds.page_image(ds.A4, LOOK.content_seed), cv2.COLOR_BGR2GRAY)
    size = (210, 297)  # 1 px per mm: the print as a pattern of lines and blocks
    ours = cv2.resize(cv2.cvtColor(page, cv2.COLOR_BGR2GRAY), size, interpolation=cv2.INTER_AREA).astype(float)
    truth = cv2.resize(flat, size, interpolation=cv2.INTER_AREA).astype(float)
    correlation = np.corrcoef(ours.ravel(), truth.ravel())[0, 1]
    assert correlation > 0.9
    assert np.corrcoef(ours.ravel(), truth[::-1, ::-1].ravel())[0, 1] < 0.5  # not upside down


def test_red_seals_and_headers_stay_red(page) -> None:
    flat = ds.page_image(ds.A4, LOOK.content_seed)
    blue, green, red = (flat[..., k].astype(int) for k in range(3))
    ink = ((red > 150) & (green < 110) & (blue < 110)).astype(np.uint8)
    ink = cv2.erode(ink, np.ones((5, 5), np.uint8))  # the solid middle of strokes, not their edges
    ink = cv2.resize(ink, A4_200DPI, interpolation=cv2.INTER_NEAREST) > 0
    assert ink.sum() > 2000
    decoded = cv2.imdecode(np.frombuffer(encode_page_jpeg(page), np.uint8), cv2.IMREAD_COLOR)
    for image in (page, decoded):
        b, g, r = (np.median(image[..., k][ink]) for k in range(3))
        assert r - max(g, b) > 60, (r, g, b)
    paper = ~cv2.dilate(ink.astype(np.uint8), np.ones((25, 25), np.uint8)).astype(bool)
    b, g, r = (np.median(page[..., k][paper]) for k in range(3))
    assert max(r, g, b) - min(r, g, b) < 12  # and white stays white


def test_black_and_white_is_binary_and_shading_does_not_show(back, scene) -> None:
    image, corners = scene
    shaded, _ = ds.render(back, replace(LOOK, shadow=0.45, shadow_at=(0.55, 0.35)))
    plain, dim = warp_page(image, corners, bw=True), warp_page(shaded, corners, bw=True)
    assert plain.shape == (A4_200DPI[1], A4_200DPI[0])
    assert set(np.unique(plain)) <= {0, 255} and set(np.unique(dim)) <= {0, 255}
    ink = (plain == 0).mean()
    assert 0.02 < ink < 0.25
    assert (plain == dim).mean() > 0.97
    assert black_and_white(np.full((40, 30, 3), 90, np.uint8)).min() == 255  # an evenly grey page is paper


def test_the_page_jpeg_fits_1_mb_and_carries_its_dpi(page) -> None:
    jpeg = encode_page_jpeg(page, dpi=200)
    assert len(jpeg) <= 1_000_000
    assert jpeg[6:11] == b"JFIF\x00" and jpeg[13] == 1  # density in dots per inch
    assert (int.from_bytes(jpeg[14:16], "big"), int.from_bytes(jpeg[16:18], "big")) == (200, 200)
    assert cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR).shape == page.shape
    grainy = cv2.add(page, np.random.default_rng(1).integers(0, 40, page.shape, dtype=np.uint8))
    assert len(encode_page_jpeg(grainy)) <= 1_000_000  # a harder page takes a lower step, still fits
    with pytest.raises(PageError) as caught:
        encode_page_jpeg(page, max_bytes=20_000)
    assert caught.value.code == "doc.too_large"


def test_capture_gives_the_page_and_the_sensors_dpi(scene) -> None:
    image, corners = scene
    frame = capture_page(image, corners, (210, 297))
    assert (frame.width, frame.height) == A4_200DPI
    assert frame.dpi == pytest.approx(76.2, abs=0.5)
    assert len(frame.jpeg) <= 1_000_000
    bw = capture_page(image, corners, (210, 297), bw=True)
    assert cv2.imdecode(np.frombuffer(bw.jpeg, np.uint8), cv2.IMREAD_UNCHANGED).ndim == 2


def test_an_impossible_paper_size_is_refused(scene) -> None:
    image, corners = scene
    for size in ((0, 297), (-1, 5)):
        with pytest.raises(PageError) as caught:
            warp_page(image, corners, size)
        assert caught.value.code == "doc.size"


def test_the_pdf_has_every_page_at_its_size_with_the_jpegs_unchanged(page) -> None:
    images = [page, np.ascontiguousarray(np.rot90(page)), cv2.resize(page, (425, 674))]
    portrait, landscape, card = (encode_page_jpeg(image) for image in images)
    sizes = [(210, 297), (210, 297), (54, 85.6)]
    pdf = pdf_from_jpegs(
        [
            PdfPage(jpeg, image.shape[1], image.shape[0], size)
            for jpeg, image, size in zip((portrait, landscape, card), images, sizes, strict=True)
        ]
    )
    reader = PdfReader(io.BytesIO(pdf), strict=True)
    assert len(reader.pages) == 3
    boxes = [(float(p.mediabox.width) / POINTS_PER_MM, float(p.mediabox.height) / POINTS_PER_MM) for p in reader.pages]
    assert boxes == [pytest.approx(size, abs=0.01) for size in ((210, 297), (297, 210), (54, 85.6))]
    embedded = [next(iter(p["/Resources"]["/XObject"].values())).get_object() for p in reader.pages]
    assert [image["/Filter"] for image in embedded] == ["/DCTDecode"] * 3
    assert [image.get_data() for image in embedded] == [portrait, landscape, card]  # no re-encoding
    _check_structure(pdf, 3)
    if shutil.which("pdfinfo"):  # poppler, where installed: an independent reader
        info = subprocess.run(["pdfinfo", "-"], input=pdf, capture_output=True, check=True).stdout
        assert re.search(rb"Pages:\s+3", info)


def _check_structure(pdf: bytes, pages: int) -> None:
    """A PDF 1.4 whose cross-reference table points at every object, as a strict reader expects."""
    assert pdf.startswith(b"%PDF-1.4\n") and pdf.rstrip().endswith(b"%%EOF")
    start = int(re.search(rb"startxref\s+(\d+)", pdf).group(1))
    assert pdf[start:].startswith(b"xref")
    count = int(re.match(rb"xref\s+0 (\d+)", pdf[start:]).group(1))
    offsets = [int(m) for m in re.findall(rb"(\d{10}) 00000 n", pdf[start:])]
    assert len(offsets) == count - 1
    for number, offset in enumerate(offsets, start=1):
        assert pdf[offset:].startswith(b"%d 0 obj" % number)
    assert len(re.findall(rb"/Type /Page(?!s)", pdf)) == pages
