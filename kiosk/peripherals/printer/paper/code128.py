"""A small Code 128 encoder (ISO/IEC 15417), independent of the decoders under test.

Code set B for text and code set C for runs of digits, so scenes exercise both and a switch
between them. Only printable ASCII: the kiosk's codes (receipt numbers, ID numbers,
appointment codes) need nothing else.
"""

from __future__ import annotations

import numpy as np

# Bar and space widths of symbol values 0..105, then the stop pattern (with its final bar).
_WIDTHS = (
    "212222 222122 222221 121223 121322 131222 122213 122312 132212 221213 221312 231212 112232 122132 122231 113222 "
    "123122 123221 223211 221132 221231 213212 223112 312131 311222 321122 321221 312212 322112 322211 212123 212321 "
    "232121 111323 131123 131321 112313 132113 132311 211313 231113 231311 112133 112331 132131 113123 113321 133121 "
    "313121 211331 231131 213113 213311 213131 311123 311321 331121 312113 312311 332111 314111 221411 431111 111224 "
    "111422 121124 121421 141122 141221 112214 112412 122114 122411 142112 142211 241211 221114 413111 241112 134111 "
    "111242 121142 121241 114212 124112 124211 411212 421112 421211 212141 214121 412121 111143 111341 131141 114113 "
    "114311 411113 411311 113141 114131 311141 411131 211412 211214 211232 2331112"
)
PATTERNS = _WIDTHS.split()
START_B, START_C, CODE_B, CODE_C, STOP = 104, 105, 100, 99, 106
QUIET_MODULES = 10


def _digit_run(text: str, start: int) -> int:
    end = start
    while end < len(text) and text[end].isdigit():
        end += 1
    return end - start


def symbol_values(text: str) -> list[int]:
    """Start, data and check values (no stop): set C for digit runs of 4+ at the ends, 6+ inside."""
    if not text or not all(32 <= ord(ch) < 127 for ch in text):
        raise ValueError("Code 128 here takes printable ASCII only")
    values: list[int] = []
    code_c = False
    i = 0
    while i < len(text):
        run = _digit_run(text, i)
        worth_c = run >= 6 or (run >= 4 and (i == 0 or i + run == len(text)))
        if worth_c and not code_c:
            values.append(CODE_C if values else START_C)
            code_c = True
        elif code_c and run < 2:
            values.append(CODE_B)
            code_c = False
        elif not values:
            values.append(START_B)
        if code_c:
            values.append(int(text[i : i + 2]))
            i += 2
        else:
            values.append(ord(text[i]) - 32)
            i += 1
    check = (values[0] + sum(position * value for position, value in enumerate(values[1:], 1))) % 103
    return [*values, check]


def modules(text: str) -> np.ndarray:
    """One row of modules, 1 = bar, with the quiet zones on both sides."""
    widths = "".join(PATTERNS[value] for value in symbol_values(text)) + PATTERNS[STOP]
    row = [0] * QUIET_MODULES
    for index, width in enumerate(widths):
        row += [1 - index % 2] * int(width)
    row += [0] * QUIET_MODULES
    return np.array(row, dtype=np.uint8)
