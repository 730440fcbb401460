""" "请取走您的卡片": shown when a session ends with a card still on or in a reader."""

from __future__ import annotations

from kiosk.screens.widgets import Overlay


class TakeCardOverlay(Overlay):
    """Opened by the app at the end of a session, closed when the last card is lifted."""
