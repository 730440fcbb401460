"""What every screen has: access to its host (the app, screens/host.py) and the journey, refresh on
entry, wipe on end."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from kivy.app import App
from kivy.uix.screenmanager import Screen

from kiosk.core.catalogue import ServiceItem
from kiosk.core.devices import DeviceEvent, EventInterest
from kiosk.core.documents import Document
from kiosk.core.errors import KioskError

if TYPE_CHECKING:
    from kiosk.core.journey import Journey
    from kiosk.screens.host import Host


class KioskScreen(Screen):
    kiosk_app: Host | None = None  # set by KioskApp.build; outlives get_running_app() at shutdown
    # The device events on_device_event is handed (on the UI thread); None: this screen wants none.
    device_events: ClassVar[EventInterest | None] = None

    @property
    def app(self) -> Host:
        return self.kiosk_app or App.get_running_app()  # type: ignore[return-value]

    @property
    def journey(self) -> Journey:
        return self.app.kiosk.journey

    def t(self, code: str, **params: Any) -> str:
        return self.app.kiosk.messages.t(code, **params)

    def error_text(self, error: KioskError) -> str:
        return self.app.kiosk.messages.error(error)

    def on_pre_enter(self, *_: Any) -> None:
        self.refresh()

    def refresh(self) -> None:
        """Show the journey's current state. Called on entry and after a change."""

    def shown_item(self) -> ServiceItem | None:
        """The session's item, its name put in the header; None between sessions."""
        item = self.journey.session.item
        if item is not None and "header" in self.ids:
            self.ids.header.title = item.name
        return item

    def wipe(self) -> None:
        """Forget anything personal this screen shows. Called at every end of session."""

    async def run_checklist_print(self, status: Any, button: Any, *, only_missing: bool = False) -> None:
        """Print the 一次性告知单 (whole, or only what is missing), reporting on `status`."""
        journey = self.journey
        document = journey.checklist_document(only_missing=only_missing)
        kind = "missing" if only_missing else "checklist"
        job_id = f"{journey.session.session_id}-{kind}-{journey.item.id}-{len(journey.session.history)}"
        await self.run_print(document, job_id, status, button, "guide")

    async def run_print(self, document: Document, job_id: str, status: Any, button: Any, messages: str) -> None:
        """Print a paper with `button` held down, saying `<messages>.printing` / `.printed` on `status`."""
        status.text = self.t(f"{messages}.printing")
        button.disabled = True
        try:
            await self.app.blocking(self.journey.print_document, document, job_id)
            status.text = self.t(f"{messages}.printed")
        except KioskError as exc:
            status.text = self.error_text(exc)
        finally:
            button.disabled = False

    def on_device_event(self, event: DeviceEvent) -> None:
        """A device event of the kinds `device_events` names, already on the UI thread."""
