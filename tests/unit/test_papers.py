"""Papers (kiosk.core.papers) and how they reach paper: layout, ESC/POS, PNG."""

from __future__ import annotations

import io
import itertools
import re
import tomllib
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from kiosk.core import papers
from kiosk.core.catalogue import MaterialForm
from kiosk.core.documents import QR, Align, Barcode, Document, Footer, RasterTest, Row, Text, Title
from kiosk.core.errors import CatalogueError, KioskError
from kiosk.core.messages import Messages
from kiosk.core.paths import MESSAGES_DIR
from kiosk.peripherals.printer.escpos import encode as escpos
from kiosk.peripherals.printer.escpos import parse as escpos_parse
from kiosk.peripherals.printer.paper import code128, layout, render
from kiosk.peripherals.printer.profile import PrinterProfile, load_profile
from tests.unit.paper_fixtures import (
    AT,
    ID_NUMBER,
    NAME,
    PROGRESS_URL,
    RECEIPT_NO,
    make_item,
    make_messages,
    make_receipt,
)

WIDTHS = (58, 80)


def profile(width: int) -> PrinterProfile:
    return load_profile(f"generic-{width}")


@pytest.fixture
def messages(tmp_path: Path) -> Messages:
    return make_messages(tmp_path)


# -- the catalogue ------------------------------------------------------------------------------


def _codes(path: Path) -> set[str]:
    def flat(table: dict, prefix: str = "") -> set[str]:
        out: set[str] = set()
        for key, value in table.items():
            out |= flat(value, f"{prefix}{key}.") if isinstance(value, dict) else {prefix + key}
        return out

    with open(path, "rb") as fh:
        return flat(tomllib.load(fh))


def test_catalogues_have_the_same_codes_and_every_code_papers_uses() -> None:
    zh = _codes(MESSAGES_DIR / "zh-CN.toml")
    en = _codes(MESSAGES_DIR / "en.toml")
    assert zh == en
    source = Path(papers.__file__).read_text(encoding="utf-8")
    used = set(re.findall(r'"((?:paper)\.[a-z_.]+)"', source))
    used |= {f"paper.form.{form.value}" for form in MaterialForm}
    assert used - zh == set()


def test_wording_comes_from_the_catalogue(tmp_path: Path) -> None:
    english = make_receipt(make_messages(tmp_path, "en"))
    assert english.text_lines()[0] == "Acceptance receipt"


# -- 受理凭证 ----------------------------------------------------------------------------------


def test_receipt_shows_number_masked_id_and_masked_name(messages: Messages) -> None:
    lines = make_receipt(messages).text_lines()
    assert RECEIPT_NO in lines
    assert "证件号码：1101**********002X" in lines
    assert "申请人：欧**国" in lines
    assert "受理时间：2024-05-06 14:32" in lines
    assert "承诺时限：5个工作日" in lines
    assert "结果送达：免费寄递（EMS）" in lines
    assert "投诉电话：12345" in lines
    assert "咨询电话：0571-12345678" in lines
    assert "父母双方居民身份证：2页" in lines
    assert "扫码查询办理进度" in lines


def test_receipt_never_carries_the_full_id_number_or_name(messages: Messages) -> None:
    document = make_receipt(messages)
    everything = "\n".join(document.text_lines() + document.qr_payloads())
    assert ID_NUMBER not in everything and NAME not in everything
    for width in WIDTHS:
        printed = escpos.encode(document, profile(width))
        assert ID_NUMBER.encode("gb18030") not in printed
        assert NAME.encode("gb18030") not in printed


def test_receipt_refuses_personal_data_in_the_progress_url(messages: Messages) -> None:
    with pytest.raises(KioskError) as caught:
        make_receipt(messages, progress_url=f"https://hall.example.cn/progress?id={ID_NUMBER}")
    assert caught.value.code == "paper.error.personal_data"


def test_receipt_qr_is_the_progress_url(messages: Messages) -> None:
    assert make_receipt(messages).qr_payloads() == [PROGRESS_URL]


def test_offline_receipt_says_pending_upload(messages: Messages) -> None:
    assert not any("待上传" in line for line in make_receipt(messages).text_lines())
    offline = make_receipt(messages, offline=True)
    assert "【待上传】" in offline.text_lines()
    mark = next(b for b in offline.blocks if isinstance(b, Text) and "待上传" in b.text)
    assert mark.large and mark.bold


# -- 一次性告知单 --------------------------------------------------------------------------------


def test_checklist_lists_every_material_with_its_requirements(messages: Messages) -> None:
    document = papers.checklist(make_item(), messages=messages, hall_name="示范县政务服务中心", printed_at=AT)
    lines = document.text_lines()
    assert lines[0] == "一次性告知单"
    assert "1. 父母双方居民身份证（必须提供）" in lines
    assert "材料形式：原件及复印件" in lines
    assert "份数：1份" in lines
    assert "说明：正反面复印在同一张A4纸上" in lines
    assert "2. 授权委托书（符合情形时提供）" in lines
    assert "适用情形：委托代办时提供" in lines
    assert "3. 新生儿照片（可选提供）" in lines
    assert "材料形式：电子证照" in lines
    for expected in (
        "收费标准：不收费",
        "法定时限：20个工作日",
        "承诺时限：5个工作日",
        "咨询电话：0571-12345678",
    ):
        assert expected in lines


def test_checklist_with_missing_lists_only_what_is_missing(messages: Messages) -> None:
    document = papers.checklist(
        make_item(),
        messages=messages,
        hall_name="示范县政务服务中心",
        printed_at=AT,
        missing=["proxy", "proxy"],
    )
    text = "\n".join(document.text_lines())
    assert "您还缺少以下材料" in text
    assert "1. 授权委托书（符合情形时提供）" in text
    assert "居民身份证" not in text and "新生儿照片" not in text


def test_checklist_with_nothing_missing_says_so(messages: Messages) -> None:
    document = papers.checklist(make_item(), messages=messages, hall_name="h", printed_at=AT, missing=[])
    assert "您的材料已齐全。" in document.text_lines()
    assert not any("材料形式" in line for line in document.text_lines())


def test_checklist_refuses_an_unknown_material(messages: Messages) -> None:
    with pytest.raises(CatalogueError):
        papers.checklist(make_item(), messages=messages, hall_name="h", printed_at=AT, missing=["nope"])


# -- layout -----------------------------------------------------------------------------------


def test_wrap_counts_cjk_as_two_columns_and_keeps_words_whole() -> None:
    assert layout.wrap("一二三四五", 6) == ["一二三", "四五"]
    assert layout.wrap("abc defgh ij", 8) == ["abc", "defgh ij"]
    assert layout.wrap("一二三，四五", 6) == ["一二", "三，四", "五"]  # no line starts with "，"
    assert layout.wrap("x" * 10, 4) == ["xxxx", "xxxx", "xx"]
    assert layout.wrap("", 10) == [""]
    assert layout.wrap("a\x1b@b\tc", 10) == ["a@b c"]  # no way to smuggle a command in


@pytest.mark.parametrize("width", WIDTHS)
def test_no_laid_out_line_is_wider_than_the_paper(messages: Messages, width: int) -> None:
    columns = layout.paper(width).columns
    for document in (make_receipt(messages, offline=True), _checklist(messages)):
        for item in layout.layout(document, width):
            if isinstance(item, layout.Line):
                assert item.columns <= columns, item


def test_row_continues_under_its_value() -> None:
    document = Document("t", (Row("办理事项", "一二三四五六七八九十" * 3),))
    lines = [item.text for item in layout.layout(document, 58)]
    assert lines[0].startswith("办理事项：一二三")
    assert lines[1].startswith(" " * 10) and not lines[1].startswith(" " * 11)


def test_large_text_that_does_not_fit_double_width_is_printed_tall() -> None:
    document = Document("t", (Title("受理凭证"), Text(RECEIPT_NO, large=True)))
    title, number = layout.layout(document, 58)
    assert (title.width, title.height, title.bold, title.align) == (2, 2, True, Align.CENTER)
    assert (number.text, number.width, number.height) == (RECEIPT_NO, 1, 2)


# -- ESC/POS ----------------------------------------------------------------------------------

PUNCTUATION = "，。、；：？！“”（）【】…—·"  # 32 columns: one full line on 58 mm
LATIN = "Tel: +86 (571) 1234-5678 & 100%"  # 31 columns: one line on 58 mm


def _checklist(messages: Messages) -> Document:
    return papers.checklist(make_item(), messages=messages, hall_name="示范县政务服务中心", printed_at=AT)


@pytest.mark.parametrize("width", WIDTHS)
def test_escpos_text_round_trips_through_gb18030(messages: Messages, width: int) -> None:
    document = Document(
        "t",
        (*make_receipt(messages, offline=True).blocks, Text(PUNCTUATION), Text(LATIN), Text("生僻字：𠀀")),
    )
    data = escpos.encode(document, profile(width))
    printout = escpos_parse.parse(data)
    laid = [item.text for item in layout.layout(document, width) if isinstance(item, layout.Line)]
    assert printout.text_lines() == laid
    for line in document.text_lines():  # what fits on one line comes back verbatim
        if layout.text_width(line) <= layout.paper(width).columns // 2:
            assert line in printout.text_lines()
    assert PUNCTUATION in printout.text_lines()
    assert LATIN in printout.text_lines()
    assert "生僻字：𠀀" in printout.text_lines()  # a four-byte GB18030 character
    assert "受理凭证".encode() not in data  # GB18030 everywhere, never UTF-8


def test_escpos_frame_styles_and_cut(messages: Messages) -> None:
    data = escpos.encode(make_receipt(messages), profile(58))
    assert data.startswith(b"\x1b@\x1c&")  # init, then Chinese mode
    assert data.endswith(b"\x1dV\x41\x18")  # feed to the cutter and cut
    printout = escpos_parse.parse(data)
    assert printout.initialised and printout.chinese_mode and printout.cut
    title = printout.lines()[0]
    assert (title.text, title.bold, title.align, title.width, title.height) == (
        "受理凭证",
        True,
        Align.CENTER,
        2,
        2,
    )
    number = next(line for line in printout.lines() if line.text == RECEIPT_NO)
    assert number.bold and number.height == 2
    assert printout.lines()[-1].align is Align.CENTER  # "请妥善保管本凭证"
    assert "-" * 32 in printout.text_lines()


def test_escpos_qr_is_native_and_carries_the_payload(messages: Messages) -> None:
    data = escpos.encode(make_receipt(messages), profile(80))
    store = escpos._qr_function(80, b"0" + PROGRESS_URL.encode())
    assert store in data
    assert store[3:5] == bytes([len(PROGRESS_URL) + 3, 0])  # pL pH = k + 3
    (code,) = escpos_parse.parse(data).qr_codes()
    assert (code.text, code.model, code.ecc) == (PROGRESS_URL, 2, "M")
    assert 3 <= code.module <= 7


def test_escpos_parser_refuses_unknown_commands() -> None:
    with pytest.raises(escpos_parse.EscPosError) as caught:
        escpos_parse.parse(b"\x1b@\x1c&ok\n\x1bZ")
    assert caught.value.offset == 7


# -- PNG --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("width", "dots"), [(58, 384), (80, 576)])
def test_png_has_paper_width_and_a_readable_qr(messages: Messages, width: int, dots: int) -> None:
    png = render.render_png(make_receipt(messages, offline=True), width)
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG" and image.width == dots
    decoded, _points, _ = cv2.QRCodeDetector().detectAndDecode(np.array(image.convert("L")))
    assert decoded == PROGRESS_URL


def test_png_uses_the_simplified_chinese_face() -> None:
    assert "CJK SC" in render.font(False).getname()[0]
    assert render.font(True).getname()[1] == "Bold"


def test_png_height_follows_the_layout(messages: Messages) -> None:
    short = render.render_image(Document("t", (Text("一"),)), 58)
    longer = render.render_image(Document("t", (Text("一" * 17),)), 58)  # 34 columns: two lines
    assert longer.height - short.height == layout.GLYPH_HEIGHT + render.LINE_GAP


# -- barcode, footer, raster test pattern -------------------------------------------------------


def _decode_code128(bars: tuple[bool, ...]) -> str:
    """Read modules back to text: run widths → symbol values → check → code sets B and C."""
    runs = [len(list(group)) for _, group in itertools.groupby(bars)]
    assert bars[0] and bars[-1] and "".join(map(str, runs[-7:])) == code128.PATTERNS[code128.STOP]
    values = [code128.PATTERNS.index("".join(map(str, runs[i : i + 6]))) for i in range(0, len(runs) - 7, 6)]
    *symbols, check = values
    assert check == (symbols[0] + sum(i * v for i, v in enumerate(symbols[1:], 1))) % 103
    text, code_set = "", "C" if symbols[0] == code128.START_C else "B"
    for value in symbols[1:]:
        if value in (code128.CODE_B, code128.CODE_C):
            code_set = "C" if value == code128.CODE_C else "B"
        else:
            text += f"{value:02d}" if code_set == "C" else chr(value + 32)
    return text


BARCODE_PAYLOADS = ("SAMPLE01", "AB12345678", "0123456789")


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("payload", BARCODE_PAYLOADS)
def test_barcode_fits_the_paper_and_decodes_to_its_payload(width: int, payload: str) -> None:
    items = layout.layout(Document("t", (Barcode(payload, "条码说明"),)), width)
    assert [type(item) for item in items] == [layout.Line, layout.Bars, layout.Line, layout.Line]
    bars = items[1]
    assert isinstance(bars, layout.Bars)
    assert items[0].text == items[2].text == ""  # quiet space above and below
    assert (items[3].text, items[3].align) == ("条码说明", Align.CENTER)
    assert bars.payload == payload and bars.height == 64
    assert bars.modules == tuple(bool(m) for m in code128.modules(payload)[10:-10])
    dots = layout.paper(width).dots
    assert (len(bars.modules) + 20) * bars.module <= dots  # with the quiet zones
    assert bars.module == 3 or (len(bars.modules) + 20) * 3 > dots  # the widest that fits
    assert _decode_code128(bars.modules) == payload


def test_barcode_takes_the_widest_module_that_fits() -> None:
    receipt = "DEMO0001-20240506-0012K"  # the terminal's receipt number format: 286 modules with quiet zones
    (bars,) = [item for item in layout.layout(Document("t", (Barcode(receipt),)), 80) if isinstance(item, layout.Bars)]
    assert bars.module == 2 and _decode_code128(bars.modules) == receipt


@pytest.mark.parametrize("payload", ["受理编号", "tab\there", ""])
def test_barcode_refuses_what_is_not_printable_ascii(payload: str) -> None:
    with pytest.raises(ValueError):
        layout.layout(Document("t", (Barcode(payload),)), 58)


def test_a_barcode_too_wide_for_the_paper_becomes_a_qr_code_of_the_same_text() -> None:
    receipt = "DEMO0001-20240506-0012K"  # 572 dots of bars at 2 dots a module: 58 mm has 384
    items = layout.layout(Document("t", (Barcode(receipt, receipt),)), 58)
    (symbol,) = [item for item in items if isinstance(item, layout.Symbol)]
    assert symbol.payload == receipt and symbol.size <= layout.paper(58).dots
    assert items[-1].text == receipt  # the caption stays


def test_footer_is_a_rule_then_centred_small_print() -> None:
    text = "终端 DEMO0001　打印于 2024-05-06 14:32 " + "一" * 20
    rule, *lines = layout.layout(Document("t", (Footer(text),)), 58)
    assert rule.text == "-" * 32
    assert [line.text for line in lines] == layout.wrap(text, 32) and len(lines) > 1
    assert all(line.align is Align.CENTER and line.width == 1 for line in lines)


@pytest.mark.parametrize("width", WIDTHS)
def test_raster_test_is_a_full_width_pattern_then_its_caption(width: int) -> None:
    raster, caption = layout.layout(Document("t", (RasterTest(48, "分段高度 48 点"),)), width)
    assert isinstance(raster, layout.Raster) and (caption.text, caption.align) == ("分段高度 48 点", Align.CENTER)
    dots = layout.paper(width).dots
    assert (raster.width, raster.height, raster.left) == (dots, 48, 0)
    assert len(raster.rows) == (dots + 7) // 8 * 48
    pixels = np.unpackbits(np.frombuffer(raster.rows, np.uint8).reshape(48, -1), axis=1)[:, :dots]
    assert pixels[0].all() and pixels[-1].all() and pixels[:, 0].all() and pixels[:, -1].all()  # the frame
    inner = pixels[1:-1, 1:-1]
    assert 0.4 < inner.mean() < 0.6  # stripes, half black
    assert (inner[1:, :-1] == inner[:-1, 1:]).all()  # diagonals: each row is the last one shifted by a dot


def test_qr_raster_flag_reaches_the_symbol() -> None:
    native, raster = (
        item
        for item in layout.layout(Document("t", (QR("x"), QR("x", raster=True))), 58)
        if isinstance(item, layout.Symbol)
    )
    assert not native.raster and raster.raster


def test_document_lists_barcode_payloads_and_captions() -> None:
    document = Document("t", (Barcode("AB1", "说明"), Footer("页脚"), RasterTest(24, "图样"), QR("q", "扫码")))
    assert document.barcode_payloads() == ["AB1"]
    assert document.text_lines() == ["说明", "页脚", "图样", "扫码"]


# -- 办件查询结果 --------------------------------------------------------------------------------

PROGRESS_RECEIPT = "DEMO0001-20240506-0012K"


def _answer(**extra: object) -> dict:
    return {
        "receipt_no": PROGRESS_RECEIPT,
        "item_name": "出生医学证明首次签发",
        "state": "reviewing",
        "timeline": [
            {"state": "received", "at": "2024-05-06T06:32:00+00:00", "note": None},
            {"state": "reviewing", "at": "2024-05-06T16:05:00Z", "note": "材料已转审核科室"},
        ],
        **extra,
    }


def _progress(messages: Messages, answer: dict) -> Document:
    return papers.progress_result(
        messages=messages, answer=answer, hall_name="示范县政务服务中心", printed_at=AT, terminal_id="DEMO0001"
    )


def test_progress_result_shows_state_and_timeline_in_beijing_time(messages: Messages) -> None:
    document = _progress(messages, _answer())
    lines = document.text_lines()
    assert lines[0] == "办件查询结果"
    assert "受理编号：" + PROGRESS_RECEIPT in lines
    assert "办理事项：出生医学证明首次签发" in lines
    assert "当前状态：审核中" in lines
    assert "2024-05-06 14:32　已受理" in lines
    assert "2024-05-07 00:05　审核中" in lines  # 16:05 UTC is past midnight in Beijing
    assert "　备注：材料已转审核科室" in lines
    assert lines[-1] == "终端 DEMO0001　打印于 2024-05-06 14:32"
    assert isinstance(document.blocks[-1], Footer)
    assert document.barcode_payloads() == [PROGRESS_RECEIPT]


def test_progress_result_carries_no_id_number_and_masks_a_name(messages: Messages) -> None:
    document = _progress(messages, _answer(applicant_name=NAME))
    everything = "\n".join(document.text_lines() + document.barcode_payloads())
    assert ID_NUMBER not in everything and NAME not in everything
    assert "申请人：欧**国" in document.text_lines()
    assert not any("申请人" in line for line in _progress(messages, _answer()).text_lines())


def test_progress_result_lays_out_on_80_mm(messages: Messages) -> None:
    items = layout.layout(_progress(messages, _answer()), 80)
    (bars,) = [item for item in items if isinstance(item, layout.Bars)]
    assert _decode_code128(bars.modules) == PROGRESS_RECEIPT
    assert all(item.columns <= 48 for item in items if isinstance(item, layout.Line))


# -- 打印机测试页 --------------------------------------------------------------------------------


def _test_page(messages: Messages, width: int = 58) -> Document:
    return papers.test_page(
        messages=messages, terminal_id="SAMPLE01", printed_at=AT, paper_width_mm=width, profile_name="generic-58"
    )


def test_test_page_prints_every_character_class(messages: Messages) -> None:
    lines = _test_page(messages).text_lines()
    assert lines[0] == "打印机测试页"
    assert "打印机配置：generic-58" in lines and "纸宽：58 mm" in lines
    text = "\n".join(lines)
    for sample in (
        "ABCDEFGHIJKLMNOPQRSTUVWXYZ",
        "abcdefghijklmnopqrstuvwxyz",
        "0123456789",
        "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~",
        "，。、；：？！“”‘’（）【】《》—…·",
        "政务服务自助终端",
        "１２３ＡＢＣ",
        "1101**********002X",
        "℃ ㎡ № ￥ ¥ × ÷ ±",
    ):
        assert sample in text, sample
    for rare in "𠀀㐀䶮龘堃":
        assert rare in text
    assert [len(ch.encode("gb18030")) for ch in "𠀀㐀"] == [4, 4]
    assert ID_NUMBER not in text
    assert lines[-1] == "终端 SAMPLE01　打印于 2024-05-06 14:32"
    for line in lines:  # everything on it is printable in Chinese mode
        assert line.encode("gb18030").decode("gb18030") == line


def test_test_page_has_both_qr_kinds_a_barcode_and_the_fragment_ladder(messages: Messages) -> None:
    document = _test_page(messages)
    native, raster = (block for block in document.blocks if isinstance(block, QR))
    assert (native.raster, raster.raster) == (False, True) and native.payload == raster.payload
    assert "native QR" in native.caption and "raster QR" in raster.caption
    assert document.barcode_payloads() == ["SAMPLE01"]
    ladder = [block for block in document.blocks if isinstance(block, RasterTest)]
    assert [block.height_dots for block in ladder] == [24, 48, 96, 192, 384]
    for height in (24, 48, 96, 192, 384):
        assert f"分段高度 {height} 点" in document.text_lines()


@pytest.mark.parametrize("width", WIDTHS)
def test_test_page_lays_out_on_both_papers(messages: Messages, width: int) -> None:
    items = layout.layout(_test_page(messages, width), width)
    columns = layout.paper(width).columns
    assert all(item.columns <= columns for item in items if isinstance(item, layout.Line))
    assert [item.height for item in items if isinstance(item, layout.Raster)] == [24, 48, 96, 192, 384]
    assert [item.raster for item in items if isinstance(item, layout.Symbol)] == [False, True]
    assert sum(isinstance(item, layout.Bars) for item in items) == 1


def test_test_page_speaks_english_too(tmp_path: Path) -> None:
    lines = _test_page(make_messages(tmp_path, "en")).text_lines()
    assert lines[0] == "Printer test page" and "政务服务自助终端" in lines
