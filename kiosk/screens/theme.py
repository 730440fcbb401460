"""The look of every screen in one place: colour roles in two palettes, type roles and the sizes
of touch targets, all following one text scale.

kv rules read roles only (`color: theme.text`, `font_size: theme.body`, `height: theme.bar_height`);
`install` makes the app's `Theme` the name `theme` in kv. Every role is a Kivy property, so a change
of palette or of text scale reaches every bound widget at once, without rebuilding a screen.
Colours are named by what they do, never by what they look like: the high-contrast palette gives
each role another value (white and yellow on black, WCAG AAA: at least 7:1 for text).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kivy.event import EventDispatcher
from kivy.lang import global_idmap
from kivy.metrics import dp, sp
from kivy.properties import AliasProperty, ColorProperty, NumericProperty, OptionProperty

Colour = tuple[float, float, float, float]

PALETTES = ("standard", "high_contrast")  # the order of the two colours of each role in COLOURS
LARGE_TEXT_SCALE = 1.3  # the text scale of large-text mode ([ui] large_text, the home screen's toggle)

BLACK, WHITE, YELLOW = (0.0, 0.0, 0.0, 1.0), (1.0, 1.0, 1.0, 1.0), (1.0, 1.0, 0.0, 1.0)
DARK, GREY = (0.12, 0.12, 0.12, 1.0), (0.2, 0.2, 0.2, 1.0)
SOFT_WHITE, SOFT_RED, SOFT_GREEN = (0.88, 0.88, 0.88, 1.0), (1.0, 0.6, 0.6, 1.0), (0.6, 1.0, 0.6, 1.0)

# role: (standard, high contrast). No role is called on_<something>: Kivy would take it for the
# handler of a property's change.
COLOURS: dict[str, tuple[Colour, Colour]] = {
    # what things stand on
    "background": ((0.96, 0.97, 0.98, 1), BLACK),  # the window behind every screen
    "surface": ((1, 1, 1, 1), DARK),  # overlay panels, an input field
    "surface_active": ((1, 1, 0.9, 1), (0.3, 0.3, 0, 1)),  # the input field being typed into
    "scrim": ((0, 0, 0, 0.6), (0, 0, 0, 0.85)),  # over the screen behind an overlay
    "header": ((0.05, 0.25, 0.55, 1), DARK),  # the bar at the top of a screen
    "keyboard": ((0.8, 0.82, 0.86, 1), (0.3, 0.3, 0.3, 1)),  # the touch keyboard's tray
    "key_cap": ((0.93, 0.94, 0.96, 1), BLACK),  # one key of it
    # text
    "text": ((0.1, 0.12, 0.15, 1), WHITE),  # everything not given another role
    "text_muted": ((0.3, 0.33, 0.38, 1), SOFT_WHITE),  # secondary lines: headings on help, the consent text
    "text_note": ((0.4, 0.45, 0.5, 1), SOFT_WHITE),  # a note beside a field's label
    "text_hint": ((0.35, 0.38, 0.42, 1), SOFT_WHITE),  # the hint under the camera picture
    "text_disabled": ((0.5, 0.5, 0.5, 1), (0.6, 0.6, 0.6, 1)),  # a button that cannot be pressed
    "accent": ((0.05, 0.25, 0.55, 1), YELLOW),  # emphasised text (the phone number, guide headings), a tick
    "info": ((0.05, 0.35, 0.7, 1), YELLOW),  # what a scanned code was read as
    "header_text": (WHITE, YELLOW),  # the header's title
    "header_warning": ((1, 0.85, 0.3, 1), WHITE),  # the header's offline indicator
    # controls
    "primary": ((0.08, 0.4, 0.8, 1), YELLOW),  # the button that goes on, a service tile, a chosen toggle
    "primary_pressed": ((0.05, 0.3, 0.6, 1), (0.75, 0.75, 0, 1)),
    "primary_text": (WHITE, BLACK),  # text on primary
    "primary_text_muted": ((0.85, 0.92, 1, 1), GREY),  # a tile's second line
    "primary_tint": ((0.08, 0.4, 0.8, 0.15), (1, 1, 0, 0.2)),  # the card drawn on the identify screen
    "secondary": ((0.88, 0.92, 0.98, 1), GREY),  # every other button, a toggle not chosen
    "secondary_pressed": ((0.75, 0.82, 0.95, 1), (0.4, 0.4, 0.4, 1)),
    "secondary_text": ((0.05, 0.25, 0.55, 1), WHITE),  # text on secondary
    "help": ((0.95, 0.55, 0.1, 1), YELLOW),  # the header's help button
    "help_text": ((0.1, 0.12, 0.15, 1), BLACK),
    "border": ((0.7, 0.72, 0.75, 1), WHITE),  # around an input field or a page thumbnail
    "focus": ((0.08, 0.4, 0.8, 1), YELLOW),  # around the field being typed into, the chosen page
    "detected": ((0.1, 0.85, 0.3, 1), YELLOW),  # the outline of the page the camera sees
    # states
    "danger": ((0.8, 0.1, 0.1, 1), SOFT_RED),  # an error message
    "danger_border": ((0.85, 0.15, 0.15, 1), SOFT_RED),  # around a field in error
    "success": ((0.05, 0.5, 0.2, 1), SOFT_GREEN),  # done: the receipt's title, thanks for rating
    "guidance": ((0.05, 0.45, 0.2, 1), WHITE),  # what to do now: the camera's guidance, print progress
    "warning": ((0.75, 0.35, 0, 1), YELLOW),  # kept on the terminal, to be sent (待上传)
    "attention": ((0.8, 0.35, 0.05, 1), YELLOW),  # take your card
}

# role: font size in sp at text scale 1; the font size is that times the text scale
TYPE: dict[str, float] = {
    "caption": 18,  # a note beside a field, a tile's second line
    "small": 20,  # the consent text, the offline indicator, a small button
    "body": 22,  # running text, messages and errors
    "label": 24,  # a field's label, a toggle, a status line
    "button": 26,  # the standard button
    "lead": 26,  # a screen's main instruction or result line
    "lead_large": 28,  # the same where it stands alone
    "key": 28,  # a key of the touch keyboard
    "input": 30,  # what is typed into a field
    "heading": 30,  # the header's title, the welcome
    "heading_large": 32,  # a tile's title, the review's title
    "title": 40,  # a screen's title where there is no header
    "title_large": 44,  # an overlay's title
    "display": 48,  # the receipt's "done"
    "display_large": 54,  # the phone number on help
}


def _fixed(_scale: float) -> float:
    return 1.0


def _with_text(scale: float) -> float:
    return scale


def _a_little(scale: float) -> float:
    """Buttons grow less than the text in them, and never shrink."""
    return max(1.0, scale * 0.9)


# role: (size in dp at text scale 1, how it grows with the text scale)
SIZES: dict[str, tuple[float, Callable[[float], float]]] = {
    "touch_target": (84, _fixed),  # the smallest button: demo controls, sized apart from the text
    "button_height": (84, _a_little),
    "toggle_height": (72, _a_little),
    "bar_height": (100, _a_little),  # the row of buttons at the bottom of a screen
    "label_row_height": (44, _with_text),  # a field's label and note
    "field_height": (72, _with_text),  # an input field
    "caption_row_height": (32, _with_text),
    "check_row_height": (80, _with_text),  # a tick box and its text
    "material_height": (96, _with_text),  # a material's two-line toggle
    "help_row_height": (130, _with_text),  # a heading and its answer on help
    "tile_height": (190, _with_text),  # a service tile
}


def _follows_scale(compute: Callable[[float], float]) -> Any:
    return AliasProperty(lambda theme: compute(theme.text_scale), None, bind=("text_scale",), cache=True)


def _roles() -> dict[str, Any]:
    """The roles as Kivy properties (Kivy finds a class's properties when the class is made)."""
    colours = {role: ColorProperty(standard) for role, (standard, _) in COLOURS.items()}
    fonts = {role: _follows_scale(lambda scale, size=size: sp(size) * scale) for role, size in TYPE.items()}
    sizes = {
        role: _follows_scale(lambda scale, size=size, grow=grow: dp(size) * grow(scale))
        for role, (size, grow) in SIZES.items()
    }
    return colours | fonts | sizes


_ThemeRoles: Any = type("ThemeRoles", (EventDispatcher,), _roles())


class Theme(_ThemeRoles):
    """The roles of COLOURS, TYPE and SIZES as properties, for the palette and the text scale set."""

    palette = OptionProperty(PALETTES[0], options=PALETTES)
    text_scale = NumericProperty(1.0)  # 1, or LARGE_TEXT_SCALE in large-text mode
    clear = ColorProperty((0, 0, 0, 0))  # no colour at all: not a role, the same in every palette

    def on_palette(self, _theme: Theme, name: str) -> None:
        index = PALETTES.index(name)
        for role, colours in COLOURS.items():
            setattr(self, role, colours[index])


def install(theme: Theme) -> None:
    """Make `theme` the one kv rules read as `theme`; before the kv files are loaded."""
    global_idmap["theme"] = theme
