"""What the screens need of the app that shows them, and nothing more.

`kiosk.app.KioskApp` is the host. Screens reach it as `KioskScreen.app` in Python and as `app` in
their kv rules; either way they use only what is here, so kiosk/screens does not depend on the app.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

if TYPE_CHECKING:
    from kiosk.screens.theme import Theme
    from kiosk.wiring import Kiosk

T = TypeVar("T")


class Host(Protocol):
    kiosk: Kiosk  # the terminal: its journey, messages, config and devices
    theme: Theme  # kv reads it as `theme`
    lang: str  # the language shown; kv passes it to `t` so that bound labels re-translate
    demo: bool  # whether the demo controls show: the terminal has a demo dock (kiosk.dock)
    hall_name: str
    hall_offline: bool  # the header's offline indicator

    def t(self, code: str, *bindings: Any, **params: Any) -> str:
        """The message `code` in the language shown."""
        ...

    async def blocking(self, fn: Callable[..., T], *args: Any) -> T:
        """Run `fn` off the UI thread and wait for it."""
        ...

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Run `coro` on the UI loop; its failure is logged."""
        ...

    # what the kv rules call
    def toggle_language(self) -> None: ...
    def toggle_large_text(self) -> None: ...
    def open_help(self) -> None: ...
    def go_home(self) -> None: ...
