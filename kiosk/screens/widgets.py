"""Widgets shared by the screens: buttons, wrapping labels, the touch keyboard, overlays.
How they look is in widgets.kv, from the theme's roles (theme.py)."""

from __future__ import annotations

from kivy.properties import BooleanProperty, StringProperty
from kivy.uix.behaviors import ButtonBehavior
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.button import Button
from kivy.uix.gridlayout import GridLayout
from kivy.uix.label import Label
from kivy.uix.modalview import ModalView
from kivy.uix.togglebutton import ToggleButton

# Keys of the touch keyboard: digits and Latin letters (Chinese input comes later).
KEY_ROWS = ("1234567890", "QWERTYUIOP", "ASDFGHJKL-", "ZXCVBNM")
DELETE, CLEAR = "\b", "\x7f"


class WrapLabel(Label):
    """A label that wraps to its width and grows in height."""


class SectionHeading(WrapLabel):
    """The heading of a section of running text (`[b]…[/b]` markup)."""


class KButton(Button):
    """The standard big touch button."""

    primary = BooleanProperty(False)


class KToggle(ToggleButton):
    value = StringProperty("")


class Tile(ButtonBehavior, BoxLayout):
    """A home-screen service tile."""

    title = StringProperty("")
    subtitle = StringProperty("")
    item_id = StringProperty("")


class TouchKeyboard(GridLayout):
    """Dispatches `on_key` with a character, DELETE or CLEAR."""

    __events__ = ("on_key",)

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.cols = 1
        for row_keys in KEY_ROWS:
            row = BoxLayout(spacing="6dp")
            for key in row_keys:
                row.add_widget(self._key(key, key))
            if row_keys == KEY_ROWS[-1]:
                row.add_widget(self._key("delete", DELETE, width=2))
                row.add_widget(self._key("clear", CLEAR, width=2))
            self.add_widget(row)

    def _key(self, label: str, value: str, width: float = 1) -> Button:
        button = KeyButton(key_label=label, size_hint_x=width)
        button.bind(on_release=lambda *_: self.dispatch("on_key", value))
        return button

    def on_key(self, key: str) -> None:
        pass


class KeyButton(Button):
    key_label = StringProperty("")


class ChoiceToggle(KToggle):
    """A toggle as wide as its text, for rows of choices that wrap."""


class Overlay(ModalView):
    """A notice over the whole screen, opened and closed at once; a touch beside it does not close it."""

    def show(self) -> None:
        if self._window is None:
            self.open(animation=False)

    def hide(self) -> None:
        if self._window is not None:
            self.dismiss(animation=False)
