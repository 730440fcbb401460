"""The CJK font used everywhere (screen, rendered paper, simulated camera pages).

Debian's fonts-noto-cjk ships one collection (.ttc) whose first face is Japanese. Kivy's SDL2
text provider only opens the first face of a collection, so the Simplified Chinese face is cut
out once into a cache file: Chinese users get Chinese glyph shapes (门, 直, 骨 differ).
"""

from __future__ import annotations

import logging
from pathlib import Path

log = logging.getLogger(__name__)

NOTO_DIR = Path("/usr/share/fonts/opentype/noto")
COLLECTIONS = {"regular": NOTO_DIR / "NotoSansCJK-Regular.ttc", "bold": NOTO_DIR / "NotoSansCJK-Bold.ttc"}
SC_INDEX = 2  # JP, KR, SC, TC, HK in Debian's build; checked by name in sc_font_file
SC_FAMILY = "Noto Sans CJK SC"


class FontMissing(RuntimeError):
    pass


def collection(weight: str = "regular") -> Path:
    path = COLLECTIONS[weight]
    if not path.exists():
        raise FontMissing(f"{path} not found: install Debian's fonts-noto-cjk")
    return path


def sc_font_file(cache_dir: Path, weight: str = "regular") -> Path:
    """A standalone .otf of the Simplified Chinese face, extracted on first use."""
    target = cache_dir / f"NotoSansCJKsc-{weight}.otf"
    if target.exists():
        return target
    from fontTools.ttLib import TTCollection  # only needed once per machine

    cache_dir.mkdir(parents=True, exist_ok=True)
    fonts = TTCollection(str(collection(weight)), lazy=True).fonts
    face = next((f for f in fonts if f["name"].getDebugName(1) == SC_FAMILY), fonts[SC_INDEX])
    tmp = target.with_suffix(".tmp")
    face.save(str(tmp))
    tmp.replace(target)
    log.info("extracted %s to %s", SC_FAMILY, target)
    return target
