"""A code's bytes to text: the declared ECI, else the symbology's charset, else UTF-8, else the one
typical reading of GB18030, Shift_JIS and ISO-8859-1, exactly or not at all: two are refused."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from kiosk.vision.code_text import AMBIGUOUS, decode_text, eci_blocks, is_ambiguous

TEXT = "办理进度查询"
RARE = "𠀀㊣𡃁 生僻字"  # four-byte GB18030 sequences among two-byte ones


def test_no_eci_gives_no_blocks() -> None:
    raw = TEXT.encode("gbk")
    assert eci_blocks(b"]Q1" + raw, raw) == []


def test_one_eci_block() -> None:
    raw = TEXT.encode("utf-8")
    assert eci_blocks(b"]Q2\\000026" + raw, raw) == [(26, raw)]


def test_blocks_switch_eci_and_undouble_backslashes() -> None:
    raw = b"a\\b" + "中".encode("gb18030")
    protocol = b"]Q2\\000003a\\\\b\\000032" + "中".encode("gb18030")
    assert eci_blocks(protocol, raw) == [(3, b"a\\b"), (32, "中".encode("gb18030"))]


def test_a_backslash_and_digits_in_data_without_eci_are_data() -> None:
    raw = b"\\000026abc"
    assert eci_blocks(b"]Q1" + raw, raw) == []


def test_blocks_that_do_not_give_back_the_bytes_count_as_none() -> None:
    assert eci_blocks(b"]Q2\\000026abc", b"abd") == []


@pytest.mark.parametrize(
    ("raw", "blocks", "expected"),
    [
        (TEXT.encode("utf-8"), [(26, TEXT.encode("utf-8"))], (TEXT, "eci:utf-8")),
        (RARE.encode("gb18030"), [(32, RARE.encode("gb18030"))], (RARE, "eci:gb18030")),
        (TEXT.encode("gbk"), [(31, TEXT.encode("gbk"))], (TEXT, "eci:gb18030")),
        (TEXT.encode("gbk"), [(29, TEXT.encode("gbk"))], (TEXT, "eci:gb18030")),  # the old AIM number for Chinese
        (b"\xe9", [(3, b"\xe9")], ("é", "eci:latin-1")),
        ("中".encode("utf-16-be"), [(25, "中".encode("utf-16-be"))], ("中", "eci:utf-16-be")),
    ],
)
def test_the_declared_eci_is_honoured(raw: bytes, blocks: list[tuple[int, bytes]], expected: tuple[str, str]) -> None:
    assert decode_text(raw, blocks) == expected


def test_mixed_blocks_decode_each_with_its_own_codec() -> None:
    blocks = [(3, b"caf\xe9 "), (26, "中文".encode())]
    assert decode_text(b"".join(chunk for _, chunk in blocks), blocks) == ("café 中文", "eci:latin-1+utf-8")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (TEXT.encode("utf-8"), (TEXT, "utf-8")),
        (TEXT.encode("gbk"), (TEXT, "gb18030")),
        (RARE.encode("gb18030"), (RARE, "gb18030")),
        (b"DEMO0001-20261124-0001X", ("DEMO0001-20261124-0001X", "utf-8")),
        (b"", ("", "utf-8")),
    ],
)
def test_without_eci_utf8_then_gb18030(raw: bytes, expected: tuple[str, str]) -> None:
    assert decode_text(raw) == expected


def test_a_wrong_declaration_is_decoded_as_if_there_were_none() -> None:
    raw = TEXT.encode("gbk")  # declared UTF-8, which these bytes are not
    assert decode_text(raw, [(26, raw)]) == (TEXT, "gb18030")


def test_an_eci_with_no_text_codec_is_decoded_as_if_there_were_none() -> None:
    raw = TEXT.encode("utf-8")
    assert decode_text(raw, [(899, raw)]) == (TEXT, "utf-8")  # 899: binary


def test_bytes_no_charset_fits_give_no_text() -> None:
    assert decode_text(b"\xff\xfe\x00\xff") == ("", "")


@pytest.mark.parametrize("text", [TEXT, RARE, "㊣", "𠀀", "€", "A-Z 0-9 ~"])
def test_gb18030_round_trips_exactly(text: str) -> None:
    raw = text.encode("gb18030")
    decoded, _ = decode_text(raw)
    assert decoded == text
    assert decoded.encode("gb18030") == raw


@pytest.mark.parametrize(
    "text",
    [
        "点と線",
        "東京都千代田区",
        "今度のバージョンでは文章の暗号化ができます。",  # a QR sample that came out GB18030
        "Google モバイル\r\nhttp://google.jp",
        "ｲﾗｽﾄ入りｶﾗｰ QRｺｰﾄﾞです",  # half-width katakana among kanji and kana
        "①番窓口",  # an NEC special character: Shift_JIS as Windows writes it
    ],
)
def test_japanese_shift_jis_without_eci_is_shift_jis(text: str) -> None:
    """Kanji mode holds Shift_JIS by definition; its kana and first-level kanji read as GBK give
    GBK's rare extension characters, not GB2312's."""
    assert decode_text(text.encode("cp932")) == (text, "cp932")


@pytest.mark.parametrize(
    "raw",
    [
        "ﾃﾞｻﾞｲﾝQR\r\nhttp://d-qr.net/ex/".encode("cp932"),  # read as GB18030: 棉晦草QR…
        "棉晦草".encode("gbk"),  # the same bytes, made as Chinese
        "ｺｰﾄﾞ".encode("cp932"),  # 匊坜 in GBK
    ],
)
def test_two_typical_readings_are_refused(raw: bytes) -> None:
    decoded = decode_text(raw)
    assert decoded == ("", AMBIGUOUS + "gb18030|cp932")
    assert decoded.ambiguous and is_ambiguous(decoded.encoding)
    assert not decode_text(TEXT.encode("gbk")).ambiguous


@pytest.mark.parametrize("text", ["中", "预约", "户籍", "中华人民共和国"])
def test_short_chinese_whose_bytes_are_half_width_katakana_reads_as_chinese(text: str) -> None:
    """GB2312's bytes (0xA1–0xFE) read as Shift_JIS are often half-width katakana only (中 → ﾒﾐ),
    with no sound or long-vowel mark in its place, which Japanese in half-width katakana has."""
    assert decode_text(text.encode("gbk")) == (text, "gb18030")


@pytest.mark.parametrize(
    "text",
    ["朱镕基", "张喆", "申请人：王堃 业务：户籍", "预审通过 YS20261124000001 请携带材料原件"],
)
def test_gbk_with_rare_characters_stays_gb18030(text: str) -> None:
    assert decode_text(text.encode("gbk")) == (text, "gb18030")


@pytest.mark.parametrize("text", ["café", "Grüße aus Köln", "Ménage à trois"])
def test_latin_1_words_without_eci_are_latin_1(text: str) -> None:
    assert decode_text(text.encode("latin-1")) == (text, "latin-1")


def test_a_symbology_charset_is_its_text() -> None:
    """Code 128's FNC4 gives ISO-8859-1's upper half, whatever GB18030 would make of it."""
    raw = "óóóó1234óóabózz".encode("latin-1")
    assert decode_text(raw) == ("", AMBIGUOUS + "gb18030|latin-1")  # the bytes alone: 篌篌1234篌ab髗z, or this
    assert decode_text(raw, charset="latin-1") == ("óóóó1234óóabózz", "latin-1")
    assert decode_text(b"YS20261124000042", charset="latin-1") == ("YS20261124000042", "utf-8")  # as for ASCII


def test_zxing_text_in_gb18030_means_hanzi_mode() -> None:
    """zxing-cpp renders byte segments as UTF-8, Shift_JIS or ISO-8859-1 only: its text in GB18030
    comes from Hanzi-mode segments, which are GB2312."""
    raw = "棉晦草".encode("gbk")
    asked: list[bytes] = []

    def rendered(text: str) -> Callable[[bytes], str]:
        def answer(raw: bytes) -> str:
            asked.append(raw)
            return text

        return answer

    assert decode_text(raw, rendered=rendered("棉晦草")) == ("棉晦草", "gb18030")
    assert decode_text(raw, rendered=rendered("ﾃﾞｻﾞｲﾝ")).ambiguous  # its Shift_JIS may be a byte-mode guess
    assert asked == [raw, raw]
    for decided in (TEXT.encode("gbk"), TEXT.encode("utf-8"), b"DEMO"):
        decode_text(decided, rendered=rendered(""))
    assert asked == [raw, raw]  # asked only when the bytes leave two readings


@pytest.mark.parametrize("text", ["预约", "探", "卯删平", "户口迁移预约"])
def test_chinese_whose_bytes_happen_to_be_utf8_reads_as_chinese(text: str) -> None:
    """GBK bytes can form two-byte UTF-8 (预约 → ԤԼ, 探 → a lone combining mark): letters of
    mixed scripts, marks with no letter, IPA, which no one writes in a code."""
    assert decode_text(text.encode("gbk")) == (text, "gb18030")


@pytest.mark.parametrize(
    "text", ["привет мир", "ئۇيغۇر تىلى", "Қазақстан", "Zhāng Sān", "lǚ xíng", "Müller", "été", "1101·艾力"]
)
def test_utf8_words_stay_utf8(text: str) -> None:
    """Uyghur and Kazakh (Arabic and Cyrillic script), pinyin with tones, accented Latin words."""
    assert decode_text(text.encode("utf-8")) == (text, "utf-8")
