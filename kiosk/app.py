"""The composition root of the terminal's UI: the Kivy app, its screens, idle watch and workers.

Concurrency model (README, "Concurrency"): Kivy runs inside asyncio (`App.async_run`). The UI
thread is the asyncio loop's thread. Blocking work (HTTP, printing, camera, card reads) runs in
the loop's thread pool through `KioskApp.blocking`; device events from driver threads reach the
UI only through `loop.call_soon_threadsafe`, and there only the screens that declared an interest in
them (`KioskScreen.device_events`) get them, through one EventRouter.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

from kivy.app import App
from kivy.clock import Clock
from kivy.core.text import DEFAULT_FONT, LabelBase
from kivy.core.window import Window
from kivy.lang import Builder
from kivy.properties import BooleanProperty, StringProperty
from kivy.uix.screenmanager import NoTransition, ScreenManager

from kiosk.core.devices import DeviceEvent, DeviceEventKind, EventInterest, EventRouter
from kiosk.core.session import IdlePhase, Session, Step
from kiosk.fonts import sc_font_file
from kiosk.screens.base import KioskScreen
from kiosk.screens.idle import IdleOverlay
from kiosk.screens.registry import SCREENS
from kiosk.screens.take_card import TakeCardOverlay
from kiosk.screens.theme import LARGE_TEXT_SCALE, Theme, install
from kiosk.wiring import Kiosk

log = logging.getLogger(__name__)
T = TypeVar("T")
SCREENS_DIR = Path(__file__).parent / "screens"


class KioskApp(App):
    lang = StringProperty("zh-CN")
    demo = BooleanProperty(False)
    hall_name = StringProperty("")
    hall_offline = BooleanProperty(False)  # the header's offline indicator

    def __init__(self, kiosk: Kiosk, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.kiosk = kiosk
        self.lang = kiosk.messages.language
        self.theme = Theme(text_scale=LARGE_TEXT_SCALE if kiosk.config.ui.large_text else 1.0)
        self.demo = kiosk.dock is not None  # built by the demo configuration only
        self.hall_name = kiosk.config.terminal.hall_name
        self.title = kiosk.messages.t("app.title")
        self.manager: ScreenManager | None = None
        self.idle_overlay: IdleOverlay | None = None
        self.take_card_overlay: TakeCardOverlay | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.device_router = EventRouter()  # device events, on the UI thread, to whoever declared an interest
        self._tasks: set[asyncio.Task[Any]] = set()

    # -- text -------------------------------------------------------------------------------
    def t(self, code: str, *_bindings: Any, **params: Any) -> str:
        """Translate; kv passes `app.lang` so bound labels re-translate."""
        return self.kiosk.messages.t(code, **params)

    def toggle_language(self) -> None:
        self.kiosk.messages.language = "en" if self.lang == "zh-CN" else "zh-CN"
        self.lang = self.kiosk.messages.language
        self._refresh_current()

    def toggle_large_text(self) -> None:
        self.theme.text_scale = 1.0 if self.theme.text_scale > 1.0 else LARGE_TEXT_SCALE

    # -- work off the UI thread -------------------------------------------------------------
    async def blocking(self, fn: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, fn, *args)

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)  # keep a reference: asyncio only holds weak ones
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("UI task failed", exc_info=task.exception())

    # -- build ------------------------------------------------------------------------------
    def build(self) -> ScreenManager:
        fonts = self.kiosk.config.data_dir / "fonts"
        LabelBase.register(DEFAULT_FONT, str(sc_font_file(fonts)), fn_bold=str(sc_font_file(fonts, "bold")))
        install(self.theme)
        Builder.load_file(str(SCREENS_DIR / "widgets.kv"))
        Builder.load_file(str(SCREENS_DIR / "idle.kv"))
        Builder.load_file(str(SCREENS_DIR / "take_card.kv"))
        self.manager = ScreenManager(transition=NoTransition())
        for name, screen_class in SCREENS.items():
            Builder.load_file(str(SCREENS_DIR / f"{name}.kv"))
            screen = screen_class(name=name)
            screen.kiosk_app = self
            self.manager.add_widget(screen)
        self.idle_overlay = IdleOverlay()
        self.take_card_overlay = TakeCardOverlay()
        self.device_router.add(EventInterest(frozenset({DeviceEventKind.CARD_REMOVED})), self._on_card_removed)
        for screen in self.screens():
            if screen.device_events is not None:
                self.device_router.add(screen.device_events, screen.on_device_event)
        self.kiosk.journey.listeners.append(self._on_session)
        Window.bind(on_touch_down=self._on_any_touch)
        self.theme.bind(background=self._paint_background)
        self._paint_background()
        return self.manager

    def _paint_background(self, *_: Any) -> None:
        Window.clearcolor = self.theme.background

    def on_start(self) -> None:
        self._loop = asyncio.get_running_loop()
        for device in self.kiosk.devices.by_role().values():
            device.subscribe(self._from_device_thread)
        self.kiosk.link.subscribe(self._from_link_thread)
        self.hall_offline = self.kiosk.link.online is False
        Clock.schedule_interval(self._tick, 0.5)

    def on_stop(self) -> None:
        self.kiosk.close()

    # -- events -----------------------------------------------------------------------------
    def _from_device_thread(self, event: DeviceEvent) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self.device_router.deliver, event)

    def _from_link_thread(self, online: bool) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(setattr, self, "hall_offline", not online)

    def _on_card_removed(self, _event: DeviceEvent) -> None:
        if self.take_card_overlay is not None and not self.cards_present():
            self.take_card_overlay.hide()

    def _on_any_touch(self, *_: Any) -> bool:
        self.kiosk.journey.touch()
        return False  # let the touch go on to its widget

    def _on_session(self, session: Session) -> None:
        if session.step is Step.ENDED:
            return
        if session.step is Step.HOME and not session.history:
            for screen in self.screens():
                screen.wipe()
            if self.idle_overlay is not None:
                self.idle_overlay.hide()
            if self.take_card_overlay is not None and self.cards_present():
                self.take_card_overlay.show()
        self.show(session.step.value)

    def _tick(self, _dt: float) -> None:
        phase, left = self.kiosk.journey.tick()
        if self.idle_overlay is None:
            return
        if phase is IdlePhase.WARNING:
            self.idle_overlay.show(int(left + 0.999))
        else:
            self.idle_overlay.hide()

    # -- cards ------------------------------------------------------------------------------
    def cards_present(self) -> bool:
        return any(reader.card_present() for reader in self.kiosk.devices.card_readers())

    # -- navigation -------------------------------------------------------------------------
    def screens(self) -> list[KioskScreen]:
        return list(self.manager.screens) if self.manager else []  # type: ignore[arg-type]

    def show(self, name: str) -> None:
        if self.manager is None:
            return
        if self.manager.current == name:
            self._refresh_current()
        else:
            self.manager.current = name

    def _refresh_current(self) -> None:
        if self.manager is not None:
            self.manager.current_screen.refresh()  # type: ignore[attr-defined]

    def open_help(self) -> None:
        self.kiosk.journey.open_help()

    def go_home(self) -> None:
        from kiosk.core.session import EndReason

        self.kiosk.journey.end(EndReason.CANCELLED)
