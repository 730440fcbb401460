"""A code's bytes to text: the declared ECI, else UTF-8, else GB18030, exactly or not at all."""

from __future__ import annotations

import pytest

from kiosk.vision.code_text import decode_text, eci_blocks

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
