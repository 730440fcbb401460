""" "请取走您的卡片": shown when a session ends with a card still on or in a reader."""

from __future__ import annotations

from typing import TYPE_CHECKING

from kiosk.screens.widgets import Overlay

if TYPE_CHECKING:
    from kiosk.screens.host import Host


class TakeCardOverlay(Overlay):
    """Opened by the app at the end of a session, closed when the last card is lifted."""

    def take_demo_cards(self, host: Host) -> None:
        """The demo control: the dock lifts the simulated cards (a real citizen lifts a real one)."""
        dock = host.kiosk.dock
        if dock is not None:
            dock.take_cards()
