"""The incremental ESC/POS parser: chunk boundaries, the commands a real driver sends, python-escpos's output."""

from __future__ import annotations

import numpy as np
import pytest
from escpos.printer import Dummy
from PIL import Image, ImageDraw

from kiosk.core.documents import Align
from kiosk.peripherals.printer.escpos import encode as escpos
from kiosk.peripherals.printer.escpos.parse import (
    Cut,
    EscPosError,
    InfoRequest,
    ParseError,
    PrintedQR,
    ProcessIdRequest,
    RealTimeRequest,
    Reset,
    StatusRequest,
    StreamParser,
    parse,
    unpack_rows,
)
from kiosk.peripherals.printer.paper import code128, render
from kiosk.peripherals.printer.paper.layout import Bars, Line, Raster

URL = "https://hall.example.cn/progress/DEMO0001"


def document_bytes() -> bytes:
    """A receipt as our driver sends it: styles, GB18030 (a four-byte character too), QR, barcode, cut."""
    return (
        escpos.INIT
        + escpos.CHINESE_MODE
        + escpos.align(Align.CENTER)
        + escpos.bold(True)
        + escpos.size(2, 2)
        + "受理凭证\n".encode("gb18030")
        + escpos.bold(False)
        + escpos.size(1, 1)
        + escpos.align(Align.LEFT)
        + "生僻字：𠀀 Tel: 100%\n".encode("gb18030")
        + escpos.align(Align.CENTER)
        + escpos.qr(URL, 4)
        + b"\x1dh\x50\x1dw\x02\x1dH\x00\x1dk\x49\x0c{BDEMO{C\x00\x01\x02\x63"
        + b"\x1bJ\x10"
        + escpos.align(Align.LEFT)
        + "请妥善保管本凭证\n".encode("gb18030")
        + b"\x1dV\x41\x18"
    )


def picture(width: int = 100, height: int = 50) -> Image.Image:
    image = Image.new("1", (width, height), 1)
    draw = ImageDraw.Draw(image)
    draw.rectangle((10, 5, 60, 40), fill=0)
    draw.line((0, 0, width - 1, height - 1), fill=0)
    return image


def black(image: Image.Image) -> np.ndarray:
    return (np.asarray(image.convert("L")) < 128).astype(np.uint8)


def stacked(rasters: list[Raster], width: int) -> np.ndarray:
    return np.vstack([unpack_rows(raster)[:, :width] for raster in rasters])


def events(data: bytes) -> list[object]:
    parser = StreamParser()
    return [parsed.event for parsed in [*parser.feed(data), *parser.finish()]]


def test_the_document_parses_whole() -> None:
    printout = parse(document_bytes())
    assert printout.initialised and printout.chinese_mode and printout.cut
    assert printout.text_lines() == ["受理凭证", "生僻字：𠀀 Tel: 100%", "请妥善保管本凭证"]
    assert printout.lines()[0] == Line("受理凭证", Align.CENTER, True, 2, 2)
    assert printout.qr_payloads() == [URL]
    (bars,) = printout.barcodes()
    assert (bars.payload, bars.module, bars.height) == ("DEMO00010299", 2, 0x50)
    assert printout.items[-1] == Cut(partial=False, feed_dots=0x18)


def test_every_chunk_boundary_gives_the_same_printout() -> None:
    data = document_bytes()
    whole = events(data)
    for cut in range(1, len(data)):
        parser = StreamParser()
        split = [p.event for p in [*parser.feed(data[:cut]), *parser.feed(data[cut:]), *parser.finish()]]
        assert split == whole, f"split at byte {cut}"
    parser = StreamParser()  # and one byte at a time
    assert [p.event for i in range(len(data)) for p in parser.feed(data[i : i + 1])] + [
        p.event for p in parser.finish()
    ] == whole


def test_a_command_cut_off_waits_and_is_an_error_only_at_the_very_end() -> None:
    parser = StreamParser()
    assert [p.event for p in parser.feed(b"\x1b@\x1d(k\x03")] == [Reset()]
    assert parser.qr_module == 3  # the QR module size command is not in yet
    assert [p.event for p in parser.feed(b"\x001C\x05")] == []
    assert parser.qr_module == 5
    with pytest.raises(EscPosError) as caught:
        parse(b"\x1b@ok\n\x1dV")
    assert caught.value.offset == 5


def test_unknown_commands_and_bytes_are_errors_with_their_offset() -> None:
    with pytest.raises(EscPosError) as caught:
        parse(b"\x1b@\x1c&ok\n\x1bZ")
    assert caught.value.offset == 7
    with pytest.raises(EscPosError) as caught:
        parse(b"\x1b@ab\xb0\xa1\n")  # GB18030 without FS &
    assert caught.value.offset == 4
    # the stream parser reports and goes on
    assert events(b"\x1bZ0ok\n") == [ParseError(0, "unknown command ESC 0x5a"), Line("0ok")]


def test_real_time_requests_are_events_that_print_nothing() -> None:
    data = (
        b"\x10\x04\x01\x10\x04\x04\x1dr\x01\x1dr\x32"  # DLE EOT 1, 4; GS r 1, 50
        b"\x10\x05\x02\x10\x14\x01\x00\x05\x10\x14\x08\x01\x03\x14\x01\x00\x00"  # DLE ENQ 2, DC4 1, DC4 8
    )
    assert events(data) == [
        StatusRequest(True, 1),
        StatusRequest(True, 4),
        StatusRequest(False, 1),
        StatusRequest(False, 2),
        RealTimeRequest("DLE ENQ", 2),
        RealTimeRequest("DLE DC4", 1),
        RealTimeRequest("DLE DC4", 8),
    ]
    assert parse(data).items == []
    with pytest.raises(EscPosError):
        parse(b"\x10\x04\x05")
    with pytest.raises(EscPosError):
        parse(b"\x10\x14\x08\x01\x03\x14\x01\x00\x01")


def test_process_id_request_comes_after_what_was_before_it() -> None:
    assert events(b"\x1c&a\n\x1d(H\x06\x00\x30\x30ABCD") == [Line("a"), ProcessIdRequest(b"ABCD")]
    with pytest.raises(EscPosError):
        parse(b"\x1d(H\x06\x00\x31\x30ABCD")


def test_printer_id_requests_are_events_that_print_nothing() -> None:
    assert events(b"\x1dIC\x1dIA\x1dI\x01") == [InfoRequest(67), InfoRequest(65), InfoRequest(1)]
    assert parse(b"\x1dIC").items == []
    with pytest.raises(EscPosError, match="GS I 70"):
        parse(b"\x1dIF")


def test_styles_without_content_are_accepted() -> None:
    data = b"\x1b@\x1c&\x1cC\x01\x1bt\x00\x1bM\x01\x1b-\x01\x1dB\x01\x1bR\x0f\x1b3\x10\x1b2\x1c.hi\n\x1bd\x02\x1dV\x01"
    printout = parse(data)
    assert printout.text_lines() == ["hi", "", ""]  # ESC d 2: two empty lines
    assert not printout.chinese_mode
    assert printout.items[-1] == Cut(partial=True, feed_dots=0)


@pytest.mark.parametrize("impl", ["bitImageRaster", "graphics", "bitImageColumn"])
def test_python_escpos_images_parse_back_to_the_image(impl: str) -> None:
    image = picture()
    printer = Dummy()
    printer.image(image, impl=impl, fragment_height=48 if impl == "bitImageColumn" else 20)
    printout = parse(printer.output)
    assert len(printout.rasters()) == 3  # split into fragments (stripes of 24 dots for ESC *)
    assert printout.text_lines() == []  # the LF after each stripe adds no line
    bits = stacked(printout.rasters(), image.width)
    assert np.array_equal(bits[: image.height], black(image))
    assert not bits[image.height :].any()  # ESC * pads the last stripe with white


def test_images_are_placed_by_alignment_and_magnified() -> None:
    printer = Dummy()
    printer.image(picture(64, 8), impl="bitImageRaster")
    (raster,) = parse(b"\x1ba\x01" + printer.output.replace(b"v0\x00", b"v0\x03"), paper_dots=384).rasters()
    assert (raster.width, raster.height, raster.left) == (128, 16, 128)
    assert np.array_equal(unpack_rows(raster)[::2, ::2], black(picture(64, 8)))


def test_python_escpos_code128_parses_back() -> None:
    printer = Dummy()
    printer.barcode("{BNo.{C\x0c\x22\x38", "CODE128", function_type="B", height=80, width=3, pos="BELOW")
    printout = parse(printer.output)
    (bars,) = printout.barcodes()
    assert bars.payload == "No.123456"
    assert (bars.module, bars.height) == (3, 80)
    quiet = code128.QUIET_MODULES
    assert np.array_equal(np.array(bars.modules, np.uint8), code128.modules("No.123456")[quiet:-quiet])
    assert printout.lines() == [Line("No.123456", Align.CENTER)]  # HRI below
    assert printout.items.index(bars) == 0


def test_code128_code_sets() -> None:
    def payload(data: bytes) -> str:
        (bars,) = parse(b"\x1dk\x49" + bytes([len(data)]) + data).barcodes()
        return bars.payload

    assert payload(b"{Aabc".replace(b"abc", b"ABC")) == "ABC"
    assert payload(b"{Ba{{b") == "a{b"
    assert payload(b"{C\x00\x63{Bx") == "0099x"
    for bad in (b"AB", b"{C\x64", b"{Ba{1"):
        with pytest.raises(EscPosError):
            parse(b"\x1dk\x49" + bytes([len(bad)]) + bad)


def test_render_items_draws_bars_and_rasters() -> None:
    bars = Bars("x", (True, False, True), 2, 10)
    raster = Raster(8, 2, bytes([0xFF, 0x0F]), left=100)
    image = np.asarray(render.render_items([bars, raster], 384))
    top = render.MARGIN_TOP
    left = (384 - 6) // 2
    assert (image[top : top + 10, left : left + 2] == 0).all() and (
        image[top : top + 10, left + 2 : left + 4] == 255
    ).all()
    raster_top = top + 10 + render.BARS_GAP
    assert (image[raster_top, 100:108] == 0).all()
    assert (image[raster_top + 1, 100:104] == 255).all() and (image[raster_top + 1, 104:108] == 0).all()
    assert image.shape == (top + 10 + render.BARS_GAP + 2 + render.MARGIN_BOTTOM, 384)


def test_printed_qr_payload_keeps_its_settings() -> None:
    (code,) = parse(escpos.qr(URL, 6)).qr_codes()
    assert code == PrintedQR(URL.encode(), 2, 6, "M")
