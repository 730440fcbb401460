"""The per-material PDF, read back with pypdf (an independent parser)."""

from __future__ import annotations

import io

import pytest
from PIL import Image
from pypdf import PdfReader

from kiosk.core.pdf import POINTS_PER_MM, PdfPage, pdf_from_jpegs


def jpeg(size: tuple[int, int], mode: str = "RGB", colour: object = (200, 30, 30)) -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size, colour).save(buffer, "JPEG", quality=80)
    return buffer.getvalue()


def embedded_jpegs(reader: PdfReader) -> list[bytes]:
    """Each page's image stream as stored (pypdf's `page.images` re-encodes some JPEGs)."""
    return [page["/Resources"]["/XObject"][f"/Im{n}"].get_object().get_data() for n, page in enumerate(reader.pages)]


def test_every_page_is_there_at_its_paper_size_with_the_jpeg_unchanged() -> None:
    portrait, landscape = jpeg((620, 877)), jpeg((700, 440))
    pdf = pdf_from_jpegs([PdfPage(portrait, 620, 877, (210, 297)), PdfPage(landscape, 700, 440, (85.6, 54))])
    reader = PdfReader(io.BytesIO(pdf), strict=True)
    assert len(reader.pages) == 2
    first, second = reader.pages
    assert float(first.mediabox.width) == pytest.approx(210 * POINTS_PER_MM, abs=0.01)
    assert float(first.mediabox.height) == pytest.approx(297 * POINTS_PER_MM, abs=0.01)
    # The card is wider than tall, as its photo is.
    assert float(second.mediabox.width) == pytest.approx(85.6 * POINTS_PER_MM, abs=0.01)
    assert float(second.mediabox.height) == pytest.approx(54 * POINTS_PER_MM, abs=0.01)
    assert embedded_jpegs(reader) == [portrait, landscape]


def test_a_black_and_white_page_is_grey_in_the_pdf() -> None:
    grey = jpeg((300, 420), "L", 128)
    reader = PdfReader(io.BytesIO(pdf_from_jpegs([PdfPage(grey, 300, 420, (210, 297))])), strict=True)
    xobject = reader.pages[0]["/Resources"]["/XObject"]["/Im0"].get_object()
    assert xobject["/ColorSpace"] == "/DeviceGray"


def test_no_pages_is_an_error() -> None:
    with pytest.raises(ValueError):
        pdf_from_jpegs([])
