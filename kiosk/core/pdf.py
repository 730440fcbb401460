"""One PDF per material from its page JPEGs, written by hand: the JPEG bytes go in unchanged
(/DCTDecode), so the PDF is exactly as sharp as the pages and costs no re-encoding."""

from __future__ import annotations

from dataclasses import dataclass

POINTS_PER_MM = 72 / 25.4


@dataclass(frozen=True)
class PdfPage:
    jpeg: bytes
    width_px: int
    height_px: int
    size_mm: tuple[float, float]  # the paper's size; turned to match the image's orientation

    def media_box(self) -> tuple[float, float]:
        short, long = sorted(self.size_mm)
        portrait = self.height_px >= self.width_px
        width, height = (short, long) if portrait else (long, short)
        return round(width * POINTS_PER_MM, 2), round(height * POINTS_PER_MM, 2)


def _components(jpeg: bytes) -> int:
    """Colour components from the JPEG's SOF header: 1 (grey, a black-and-white page) or 3."""
    i = 2
    while i + 9 < len(jpeg):
        if jpeg[i] != 0xFF:
            break
        marker, length = jpeg[i + 1], int.from_bytes(jpeg[i + 2 : i + 4], "big")
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            return jpeg[i + 9]
        i += 2 + length
    return 3


def pdf_from_jpegs(pages: list[PdfPage]) -> bytes:
    """A PDF 1.4 with one page per JPEG, each filling its page."""
    if not pages:
        raise ValueError("a PDF needs at least one page")
    objects: list[bytes] = []

    def add(body: bytes) -> int:
        objects.append(body)
        return len(objects)

    catalog = add(b"")  # filled in once the page tree's number is known
    tree = add(b"")
    kids = []
    for n, page in enumerate(pages):
        width, height = page.media_box()
        space = b"/DeviceGray" if _components(page.jpeg) == 1 else b"/DeviceRGB"
        image = add(
            b"<< /Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace %s /BitsPerComponent 8"
            b" /Filter /DCTDecode /Length %d >>\nstream\n%s\nendstream"
            % (page.width_px, page.height_px, space, len(page.jpeg), page.jpeg)
        )
        draw = b"q %.2f 0 0 %.2f 0 0 cm /Im%d Do Q" % (width, height, n)
        content = add(b"<< /Length %d >>\nstream\n%s\nendstream" % (len(draw), draw))
        kids.append(
            add(
                b"<< /Type /Page /Parent %d 0 R /MediaBox [0 0 %.2f %.2f] /Resources << /XObject << /Im%d %d 0 R >> >>"
                b" /Contents %d 0 R >>" % (tree, width, height, n, image, content)
            )
        )
    objects[catalog - 1] = b"<< /Type /Catalog /Pages %d 0 R >>" % tree
    objects[tree - 1] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (
        b" ".join(b"%d 0 R" % k for k in kids),
        len(kids),
    )
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root %d 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, catalog, xref)
    return bytes(out)
