"""Every screen, by name. A screen's name is the session step it shows (kiosk.core.session.Step)."""

from __future__ import annotations

from kiosk.screens.base import KioskScreen
from kiosk.screens.form import FormScreen
from kiosk.screens.guide import GuideScreen
from kiosk.screens.help import HelpScreen
from kiosk.screens.home import HomeScreen
from kiosk.screens.identify import IdentifyScreen
from kiosk.screens.materials import MaterialsScreen
from kiosk.screens.query import QueryScreen
from kiosk.screens.rating import RatingScreen
from kiosk.screens.receipt import ReceiptScreen
from kiosk.screens.review import ReviewScreen
from kiosk.screens.scan import ScanScreen
from kiosk.screens.submitting import SubmittingScreen

SCREENS: dict[str, type[KioskScreen]] = {
    "home": HomeScreen,
    "guide": GuideScreen,
    "identify": IdentifyScreen,
    "form": FormScreen,
    "materials": MaterialsScreen,
    "review": ReviewScreen,
    "submitting": SubmittingScreen,
    "receipt": ReceiptScreen,
    "rating": RatingScreen,
    "help": HelpScreen,
    "query": QueryScreen,
    "scan": ScanScreen,
}
