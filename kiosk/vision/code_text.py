"""A code's bytes to text: honour the ECI the code declares, else UTF-8, else GB18030.

Codes made in China often hold GBK or GB18030 without saying so, and decoders that guess a
charset garble them (zbar takes GBK for Shift-JIS). So the raw bytes are kept, and the text is
decoded here, strictly: a charset that does not fit every byte is not used.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

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
GUESSES = ("utf-8", "gb18030")  # GBK and GB2312 are subsets of GB18030

_IDENTIFIER = re.compile(rb"^\][A-Za-z][0-9A-Za-z]")
_ECI = re.compile(rb"\\(\d{6})")


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


def decode_text(raw: bytes, blocks: Sequence[tuple[int, bytes]] = ()) -> tuple[str, str]:
    """(text, how it was decoded): "eci:<codec>", "utf-8", "gb18030", or ("", "") when nothing fits."""
    if blocks and all(eci in ECI_CODECS for eci, _ in blocks):
        codecs = [ECI_CODECS[eci] for eci, _ in blocks]
        try:
            text = "".join(chunk.decode(codec) for (_, chunk), codec in zip(blocks, codecs, strict=True))
            return text, "eci:" + "+".join(dict.fromkeys(codecs))
        except UnicodeDecodeError:
            pass  # a wrong declaration: decode as if there were none
    for codec in GUESSES:
        try:
            return raw.decode(codec), codec
        except UnicodeDecodeError:
            continue
    return "", ""
