"""A code's bytes to text, by the rules of its symbology, exactly or not at all.

A wrong charset gives other characters with no error (Shift_JIS or ISO-8859-1 bytes decode as
GBK), and the kiosk acts on what it reads: a wrong read is worse than none. So the raw bytes are
kept, and the text is decoded here, strictly:

- an ECI the code declares is honoured (zxing-cpp reports it, zbar cannot);
- a symbology with a charset of its own uses it (Code 128: ISO-8859-1, ISO/IEC 15417);
- otherwise (QR byte mode, PDF417, DataMatrix, whatever zbar reads) ASCII is what it is, and
  so is UTF-8 that reads as text (GBK bytes often form two-byte UTF-8 too: 预约 → ԤԼ); else the
  readings that fit are weighed: GB18030 (codes made in China often hold GBK or GB18030 without
  saying so), Shift_JIS (QR's Japanese origin; its Kanji mode is Shift_JIS by definition) and
  ISO-8859-1 (QR's default). The one whose characters are typical of its script is taken; two
  typical ones are refused (Decoded.ambiguous, no text) unless zxing-cpp's own text shows QR
  Hanzi mode; with none typical, UTF-8 if the bytes are UTF-8, else GB18030 if it fits.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Sequence
from typing import NamedTuple

# AIM ECI assignment numbers → Python codecs. 29 (GB2312, and what older encoders write for any
# Chinese charset) and 31 (GBK) are decoded as GB18030, their superset: a GB2312 payload
# decodes to the same text, and a mislabelled GBK one still decodes.
ECI_CODECS = {
    0: "cp437",
    1: "latin-1",
    2: "cp437",
    3: "latin-1",
    **{eci: f"iso8859-{eci - 2}" for eci in (4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 15, 16, 17, 18)},
    20: "shift_jis",
    21: "cp1250",
    22: "cp1251",
    23: "cp1252",
    24: "cp1256",
    25: "utf-16-be",
    26: "utf-8",
    27: "ascii",
    28: "big5",
    29: "gb18030",
    30: "euc_kr",
    31: "gb18030",
    32: "gb18030",
    33: "utf-16-le",
    34: "utf-32-be",
    35: "utf-32-le",
    170: "ascii",
}
GB18030 = "gb18030"  # GBK and GB2312 are subsets of GB18030
SHIFT_JIS = "cp932"  # Shift_JIS as Japanese encoders write it: Windows' superset (①, ㈱ …)
LATIN_1 = "latin-1"
AMBIGUOUS = "ambiguous:"  # the encoding of a refused read, then the readings that fit equally well

_IDENTIFIER = re.compile(rb"^\][A-Za-z][0-9A-Za-z]")
_ECI = re.compile(rb"\\(\d{6})")
# Text never holds control characters but tab and line breaks: where ISO-8859-1, which fits any
# byte, gives one, the bytes are not ISO-8859-1 text.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_HALF_KANA = range(0xFF61, 0xFFA0)  # JIS X 0201 katakana, one byte each in Shift_JIS
_KANA_MARKS = "ｧｨｩｪｫｬｭｮｯｰﾞﾟ"  # small kana, the long-vowel mark, the sound marks: only after a kana
_VOICED = "ｳｶｷｸｹｺｻｼｽｾｿﾀﾁﾂﾃﾄﾊﾋﾌﾍﾎ"  # the kana ﾞ may follow
_SEMI_VOICED = "ﾊﾋﾌﾍﾎ"  # the kana ﾟ may follow
_WORD_MARKS = "ｰﾞﾟ"  # the long-vowel and sound marks
_LATIN_LETTERS = (range(0xC0, 0x180), range(0x1CD, 0x1DD))  # accented letters, pinyin's ǎ ǐ ǒ ǔ ǖ ǘ ǚ ǜ
_WORD_PUNCTUATION = "·«»§°±×÷–—‘’“”"  # punctuation of two UTF-8 bytes that text holds among its words


class Decoded(NamedTuple):
    """A code's text and how it was decoded: "eci:<codec>[+<codec>…]", "<codec>", "" when no
    charset fits, or AMBIGUOUS and the readings that fit equally well, then with no text."""

    text: str
    encoding: str

    @property
    def ambiguous(self) -> bool:
        return is_ambiguous(self.encoding)


def is_ambiguous(encoding: str) -> bool:
    """Whether a read's text was refused: its bytes read as two texts, both plausible."""
    return encoding.startswith(AMBIGUOUS)


def eci_blocks(eci_protocol: bytes, raw: bytes) -> list[tuple[int, bytes]]:
    """The (ECI number, bytes) blocks of a code read in the ECI protocol; [] if it declares no ECI.

    `eci_protocol` is the symbology identifier, then, when the code declares an ECI, each block
    as `\\nnnnnn` and its bytes, a data backslash doubled (zxing-cpp's TextMode.HexECI gives it
    as hex). Anything that does not parse back to exactly `raw` counts as no ECI.
    """
    data = _IDENTIFIER.sub(b"", eci_protocol, count=1)
    if not _ECI.match(data):
        return []
    blocks: list[tuple[int, bytearray]] = []
    i = 0
    while i < len(data):
        match = _ECI.match(data, i)
        if match:
            blocks.append((int(match[1]), bytearray()))
            i = match.end()
        elif data[i : i + 2] == b"\\\\":
            blocks[-1][1].extend(b"\\")
            i += 2
        else:
            blocks[-1][1].append(data[i])
            i += 1
    found = [(eci, bytes(chunk)) for eci, chunk in blocks if chunk]
    return found if b"".join(chunk for _, chunk in found) == raw else []


def decode_text(
    raw: bytes,
    blocks: Sequence[tuple[int, bytes]] = (),
    charset: str | None = None,
    rendered: Callable[[bytes], str | None] | None = None,
) -> Decoded:
    """The text of a code's bytes: by its declared ECI blocks, else by `charset`, the symbology's
    own, else weighed (see the module's docstring). `rendered` gives zxing-cpp's own text of the
    QR code with these bytes, asked for only when the bytes alone leave two readings."""
    if blocks and all(eci in ECI_CODECS for eci, _ in blocks):
        codecs = [ECI_CODECS[eci] for eci, _ in blocks]
        try:
            text = "".join(chunk.decode(codec) for (_, chunk), codec in zip(blocks, codecs, strict=True))
            return Decoded(text, "eci:" + "+".join(dict.fromkeys(codecs)))
        except UnicodeDecodeError:
            pass  # a wrong declaration: decode as if there were none
    if raw.isascii():
        return Decoded(raw.decode("ascii"), "utf-8")  # the same text in every charset here
    if charset:
        return Decoded(raw.decode(charset), charset)
    try:
        utf8 = raw.decode("utf-8")
    except UnicodeDecodeError:
        utf8 = None
    if utf8 is not None and _typical_utf8(utf8):
        return Decoded(utf8, "utf-8")
    return _weighed(raw, rendered, utf8)


def _weighed(raw: bytes, rendered: Callable[[bytes], str | None] | None, utf8: str | None) -> Decoded:
    """`utf8`: the bytes' UTF-8 reading when they have one, though not a typical one."""
    fits = {codec: text for codec in (GB18030, SHIFT_JIS, LATIN_1) if (text := _fitting(raw, codec)) is not None}
    typical = [codec for codec, text in fits.items() if _TYPICAL[codec](text)]
    if len(typical) == 1:
        return Decoded(fits[typical[0]], typical[0])
    if not typical:  # nothing looks like text: what decoded before, UTF-8 first, then GB18030
        if utf8 is not None:
            return Decoded(utf8, "utf-8")
        fallback = (codec for codec in (GB18030, SHIFT_JIS, LATIN_1) if codec in fits)
        return next((Decoded(fits[codec], codec) for codec in fallback), Decoded("", ""))
    # zxing-cpp renders byte segments as UTF-8, Shift_JIS or ISO-8859-1, never as GB18030: its text
    # in GB18030 means Hanzi-mode segments, GB2312 by definition (GB/T 18284).
    if GB18030 in typical and rendered is not None and rendered(raw) == fits[GB18030]:
        return Decoded(fits[GB18030], GB18030)
    return Decoded("", AMBIGUOUS + "|".join(typical or fits))


def _typical_utf8(text: str) -> bool:
    """UTF-8 text as people write it. Characters of three or four bytes (CJK, most symbols) are
    UTF-8's own: other charsets' bytes seldom form them. Two-byte ones (U+0080–U+07FF: Latin with
    accents and pinyin tones, Greek, Cyrillic, Arabic as Uyghur and Kazakh write it …) are also
    what GBK bytes often form (预约 → ԤԼ), so they count as text when they are letters of one
    script, each beside another letter, as in words, with no symbol among them."""
    wide = [ch for ch in text if not ch.isascii()]
    if any(ord(ch) > 0x7FF for ch in wide):
        return True
    scripts = set()
    for i, ch in enumerate(text):
        if ch.isascii():
            continue
        kind = unicodedata.category(ch)
        if kind.startswith("M"):
            if i == 0 or not text[i - 1].isalpha():
                return False  # a combining mark goes with the letter before it
            continue
        if not kind.startswith("L"):
            if ch not in _WORD_PUNCTUATION:
                return False
            continue
        if not any(other.isalpha() for other in text[max(i - 1, 0) : i] + text[i + 1 : i + 2]):
            return False  # a letter alone is no word
        script = unicodedata.name(ch, "?").split()[0]
        if script == "LATIN" and not any(ord(ch) in block for block in _LATIN_LETTERS):
            return False  # IPA and the like, which GBK bytes form and text hardly holds
        scripts.add(script)
    return len(scripts) <= 1


def _fitting(raw: bytes, codec: str) -> str | None:
    try:
        text = raw.decode(codec)
    except UnicodeDecodeError:
        return None
    if codec == LATIN_1 and _CONTROL.search(text):
        return None
    if codec == SHIFT_JIS and any(0xE000 <= ord(ch) <= 0xF8FF for ch in text):
        return None  # Shift_JIS's user-defined area: no font shows it, and GBK bytes often land there
    return text


def _in_gb2312(ch: str) -> bool:
    try:
        ch.encode("gb2312")
        return True
    except UnicodeEncodeError:
        return False


def _first_rows(ch: str) -> bool:
    """Whether a Shift_JIS double-byte character is a kana, punctuation or a first-level kanji."""
    return ch.encode(SHIFT_JIS)[0] < 0xA0


def _at_least_half(chars: list[str], test: Callable[[str], bool]) -> bool:
    return 2 * sum(map(test, chars)) >= len(chars)


def _typical_chinese(text: str) -> bool:
    """Mostly GB2312's characters, what GBK and GB18030 text is made of (a rare one in a name aside),
    while Shift_JIS's kana and first-level kanji land in GBK's extension (lead bytes 0x81–0xA0)."""
    return _at_least_half([ch for ch in text if not ch.isascii()], _in_gb2312)


def _typical_japanese(text: str) -> bool:
    """Half-width katakana in well-formed words (no small kana, long-vowel or sound mark but after a
    kana, a sound mark only after one that takes it), and double-byte characters mostly kana,
    punctuation and first-level kanji (lead bytes 0x81–0x9F), which GB2312 text read as Shift_JIS
    never gives: its bytes are 0xA1–0xFE, half-width katakana and second-level kanji."""
    previous = ""
    for ch in text:
        after_kana = bool(previous) and ord(previous) in _HALF_KANA and previous >= "ｦ"  # not after ｡｢｣､･
        if ch in _KANA_MARKS and not after_kana:
            return False
        if (ch == "ﾞ" and previous not in _VOICED) or (ch == "ﾟ" and previous not in _SEMI_VOICED):
            return False
        previous = ch
    double = [ch for ch in text if not ch.isascii() and ord(ch) not in _HALF_KANA]
    if not double:
        # Half-width katakana only: GB2312 bytes read as Shift_JIS give that too (0xB0–0xDF), so it
        # takes a sound or long-vowel mark in its place (ﾃﾞｻﾞｲﾝ, ｺｰﾄﾞ), which random bytes rarely hold.
        return any(ch in _WORD_MARKS for ch in text)
    return _at_least_half(double, _first_rows)


def _typical_latin(text: str) -> bool:
    """Latin words: accented letters next to letters, among ASCII ones. GBK text read as
    ISO-8859-1 runs into symbols (° ± ² ¶ ¼ …) and has no ASCII letters between its characters."""
    if not any(ch.isascii() and ch.isalpha() for ch in text):
        return False
    for i, ch in enumerate(text):
        if ch.isascii():
            continue
        neighbours = text[max(i - 1, 0) : i] + text[i + 1 : i + 2]
        if not ch.isalpha() or not any(other.isalpha() for other in neighbours):
            return False
    return True


_TYPICAL = {GB18030: _typical_chinese, SHIFT_JIS: _typical_japanese, LATIN_1: _typical_latin}
