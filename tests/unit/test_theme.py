"""The theme (kiosk/screens/theme.py): every colour, font size and repeated size of the screens comes
from its roles, a palette switch changes every colour role at once, one text scale drives the type
and the sizes, and the kv files read roles only."""

from __future__ import annotations

import ast
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from kiosk.kivy_setup import configure_kivy

# Kivy reads the environment when it is imported: fixed metrics, so that dp() and sp() need no window to
# ask for its DPI, and a home of its own. Then the environment is put back as it was, for the processes
# later tests start (the end-to-end driver sets up its own Kivy).
_environment = dict(os.environ)
os.environ.update(KIVY_DPI="96", KIVY_METRICS_DENSITY="1", KIVY_METRICS_FONTSCALE="1")
configure_kivy(Path(tempfile.gettempdir()) / "kiosk-unit-kivy", fullscreen=False, width=800, height=600)

from kivy.event import EventDispatcher  # noqa: E402
from kivy.lang import Builder, global_idmap  # noqa: E402
from kivy.metrics import dp, sp  # noqa: E402
from kivy.properties import ColorProperty, NumericProperty  # noqa: E402

from kiosk.screens.theme import COLOURS, LARGE_TEXT_SCALE, PALETTES, SIZES, TYPE, Theme, install  # noqa: E402

os.environ.clear()
os.environ.update(_environment)

ROOT = Path(__file__).resolve().parents[2]
SCREENS = ROOT / "kiosk" / "screens"
KV_FILES = sorted(SCREENS.glob("*.kv"))
ROLES = [*COLOURS, *TYPE, *SIZES]


def colours(theme: Theme) -> dict[str, list[float]]:
    return {role: list(getattr(theme, role)) for role in COLOURS}


def test_switching_the_palette_changes_every_colour_role_at_once() -> None:
    theme = Theme()
    standard = colours(theme)
    theme.palette = "high_contrast"
    high_contrast = colours(theme)
    assert [role for role in COLOURS if high_contrast[role] == standard[role]] == []
    assert high_contrast == {role: list(pair[1]) for role, pair in COLOURS.items()}
    theme.palette = "standard"
    assert colours(theme) == standard
    assert colours(Theme(palette="high_contrast")) == high_contrast


def test_a_palette_switch_reaches_whoever_is_bound() -> None:
    theme, changed = Theme(), []
    theme.bind(**{role: lambda _theme, _value, role=role: changed.append(role) for role in COLOURS})
    theme.palette = "high_contrast"
    assert sorted(changed) == sorted(COLOURS)


def luminance(colour: list[float]) -> float:
    """WCAG 2 relative luminance of an sRGB colour."""
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in colour[:3]]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(a: list[float], b: list[float]) -> float:
    light, dark = sorted((luminance(a), luminance(b)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


# (text, what it stands on), as the kv files pair them
TEXT_ON = [
    *((role, "background") for role in ("text", "text_muted", "text_note", "text_hint", "accent", "info")),
    *((role, "background") for role in ("danger", "success", "guidance", "warning")),
    ("text", "surface"),
    ("text", "surface_active"),
    ("text", "key_cap"),
    ("attention", "surface"),
    ("header_text", "header"),
    ("header_warning", "header"),
    ("primary_text", "primary"),
    ("primary_text_muted", "primary"),
    ("secondary_text", "secondary"),
    ("help_text", "help"),
]


def test_high_contrast_text_is_at_least_7_to_1() -> None:
    theme = Theme(palette="high_contrast")
    low = {
        f"{text} on {ground}": round(ratio, 1)
        for text, ground in TEXT_ON
        if (ratio := contrast(getattr(theme, text), getattr(theme, ground))) < 7
    }
    assert low == {}


def test_one_text_scale_drives_the_type_and_the_sizes() -> None:
    theme, changed = Theme(), []
    theme.bind(**{role: lambda _theme, _value, role=role: changed.append(role) for role in [*TYPE, *SIZES]})
    assert {role: getattr(theme, role) for role in TYPE} == {role: sp(size) for role, size in TYPE.items()}
    assert theme.button_height == dp(84) and theme.bar_height == dp(100)
    theme.text_scale = LARGE_TEXT_SCALE
    assert {role: getattr(theme, role) for role in TYPE} == pytest.approx(
        {role: sp(size) * LARGE_TEXT_SCALE for role, size in TYPE.items()}
    )
    assert theme.tile_height == pytest.approx(dp(190) * LARGE_TEXT_SCALE)  # grows with the text
    assert theme.button_height == pytest.approx(dp(84) * LARGE_TEXT_SCALE * 0.9)  # grows a little
    assert theme.touch_target == dp(84)  # stays
    assert set(changed) >= {role for role in [*TYPE, *SIZES] if role != "touch_target"}


class ThemeProbe(EventDispatcher):
    """Something a kv rule sets from the theme, as a Label's color and font_size are."""

    cls = ()  # what Builder.apply looks for on a widget
    tint = ColorProperty()
    font_size = NumericProperty()


@pytest.fixture
def installed() -> Iterator[Theme]:
    before = global_idmap.get("theme")
    theme = Theme()
    install(theme)
    Builder.load_string("<ThemeProbe>:\n    tint: theme.text\n    font_size: theme.body\n", filename="probe.kv")
    yield theme
    Builder.unload_file("probe.kv")
    if before is None:
        global_idmap.pop("theme", None)
    else:
        global_idmap["theme"] = before


def test_kv_rules_follow_the_installed_theme(installed: Theme) -> None:
    probe = ThemeProbe()
    Builder.apply(probe)
    assert (list(probe.tint), probe.font_size) == (list(COLOURS["text"][0]), sp(TYPE["body"]))
    installed.palette = "high_contrast"
    installed.text_scale = LARGE_TEXT_SCALE
    assert (list(probe.tint), probe.font_size) == (list(COLOURS["text"][1]), pytest.approx(sp(22) * 1.3))


def test_no_role_is_taken_for_an_event_handler() -> None:
    """Kivy calls `on_<property>` when a property changes: a role named so would be called."""
    assert [role for role in ROLES if role.startswith("on_")] == []
    assert set(PALETTES) == {"standard", "high_contrast"}


# -- the kv files -----------------------------------------------------------------------------------

COLOUR_LINE = re.compile(r"^\s*(\w*colou?r|rgba?)\s*:\s*(.+)$")
COLOUR_TUPLE = re.compile(r"\(\s*[\d.]+\s*,\s*[\d.]+\s*,\s*[\d.]+\s*(,\s*[\d.]+\s*)?\)")


def literal_colours(expression: str) -> list[str]:
    """Tuples or lists of numbers, "#rrggbb" strings and colour functions in a kv value."""
    found = []
    for node in ast.walk(ast.parse(expression.strip(), mode="eval")):
        if isinstance(node, ast.Tuple | ast.List) and any(isinstance(e, ast.Constant) for e in node.elts):
            found.append(ast.unparse(node))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.startswith("#"):
            found.append(repr(node.value))
        elif isinstance(node, ast.Call) and ast.unparse(node.func) in ("rgba", "get_color_from_hex"):
            found.append(ast.unparse(node))
    return found


def kv_lines() -> Iterator[tuple[str, str]]:
    for path in KV_FILES:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            yield f"{path.name}:{number}", line


def test_the_kv_files_hold_no_colour_literal() -> None:
    wrong = []
    for where, line in kv_lines():
        match = COLOUR_LINE.match(line)
        if match:
            wrong += [f"{where}: {found}" for found in literal_colours(match.group(2))]
        wrong += [f"{where}: {found.group(0)}" for found in COLOUR_TUPLE.finditer(line)]
    assert KV_FILES and wrong == []


def test_the_kv_files_take_sizes_from_the_theme_not_from_a_font_scale() -> None:
    wrong = [f"{where}: {line.strip()}" for where, line in kv_lines() if "app.fs" in line or "sp(" in line]
    font_sizes = [(where, line.split(":", 1)[1].strip()) for where, line in kv_lines() if "font_size:" in line]
    wrong += [f"{where}: {value}" for where, value in font_sizes if value.removeprefix("theme.") not in TYPE]
    assert font_sizes and wrong == []


def test_every_role_the_kv_files_read_exists() -> None:
    theme = Theme()
    read = {(where, role) for where, line in kv_lines() for role in re.findall(r"\btheme\.(\w+)", line)}
    assert [f"{where}: theme.{role}" for where, role in sorted(read) if theme.property(role, quiet=True) is None] == []


def test_colours_live_in_the_theme_only() -> None:
    """The Python of the screens and the app set no colour of their own."""
    sources = [path for path in SCREENS.glob("*.py") if path.name != "theme.py"] + [ROOT / "kiosk" / "app.py"]
    wrong = [
        f"{path.name}: {found.group(0)}"
        for path in sources
        for found in COLOUR_TUPLE.finditer(path.read_text(encoding="utf-8"))
    ]
    assert wrong == []


def test_the_screens_do_not_import_the_app() -> None:
    """kiosk/screens knows its host by the Host protocol (screens/host.py), not by kiosk.app."""
    wrong = []
    for path in SCREENS.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            wrong += [f"{path.name}:{node.lineno} {name}" for name in names if name.startswith("kiosk.app")]
    assert wrong == []
