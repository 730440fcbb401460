"""Materials: the live picture with the page's outline and guidance; a page lying still is
photographed by itself (or on the capture button); retake, delete, several pages each."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from kivy.properties import BooleanProperty, NumericProperty, StringProperty
from kivy.uix.behaviors import ButtonBehavior
from kivy.uix.image import Image

from kiosk.core.devices import PageView
from kiosk.core.errors import KioskError
from kiosk.screens.camera_view import CameraScreen
from kiosk.screens.images import texture_from_bytes
from kiosk.screens.widgets import KToggle

WATCH_INTERVAL_S = 0.08  # the watch call itself waits for a new frame
NOTE_S = 2.5  # how long "page n taken" stays before the guidance comes back


class MaterialToggle(KToggle):
    material_id = StringProperty("")


class PageThumb(ButtonBehavior, Image):
    index = NumericProperty(0)
    selected = BooleanProperty(False)


class MaterialsScreen(CameraScreen):
    camera_owner = "materials"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.material_id = ""
        self.page_index = -1
        self._busy = False
        self._note_until = 0.0

    async def use_camera(self) -> None:
        while True:
            try:
                view: PageView = await self.app.blocking(self.camera.watch_page, 2.0)
            except KioskError as exc:
                self._guide(self.error_text(exc))
            else:
                self.ids.preview.show(view.preview, view.outline)
                self._guide(self.fault_text() or self.t(view.advice))
                if view.ready and not self._busy and self._room_for_another():
                    await self._capture(retake=False)
            await asyncio.sleep(WATCH_INTERVAL_S)

    def camera_failed(self, error: KioskError) -> None:
        self._guide(self.error_text(error))

    def _guide(self, text: str) -> None:
        if time.monotonic() >= self._note_until:
            self.ids.guidance.text = text

    def _room_for_another(self) -> bool:
        material = self.journey.item.material(self.material_id)
        return self.journey.page_count(self.material_id) < material.max_pages

    def refresh(self) -> None:
        item = self.shown_item()
        if item is None:
            return
        self.ids.message.text = ""
        if not self.material_id or self.material_id not in {m.id for m in item.materials}:
            missing = self.journey.missing_materials()
            self.material_id = (missing[0] if missing else item.materials[0]).id
            self.page_index = -1
        self._show_materials()
        self._show_pages()

    def _show_materials(self) -> None:
        box = self.ids.material_list
        box.clear_widgets()
        for material in self.journey.item.materials:
            count = self.journey.page_count(material.id)
            state = self.t("materials.pages", n=count) if count else self.t("materials.pages_needed", n=material.pages)
            optional = "" if material.required else self.t("guide.optional")
            toggle = MaterialToggle(
                text=f"{material.name}{optional}\n{state}",
                material_id=material.id,
                group="material",
                allow_no_selection=False,
                state="down" if material.id == self.material_id else "normal",
            )
            toggle.bind(on_release=lambda t: self.choose(t.material_id))
            box.add_widget(toggle)

    def _show_pages(self) -> None:
        box = self.ids.pages
        box.clear_widgets()
        pages = self.journey.session.pages.get(self.material_id, [])
        if self.page_index >= len(pages):
            self.page_index = len(pages) - 1
        for index, page in enumerate(pages):
            thumb = PageThumb(
                texture=texture_from_bytes(bytes(page.jpeg)), index=index, selected=index == self.page_index
            )
            thumb.bind(on_release=lambda t: self.choose_page(t.index))
            box.add_widget(thumb)
        self.ids.print_missing_button.opacity = 1 if self.journey.missing_materials() else 0
        self.ids.print_missing_button.disabled = not self.journey.missing_materials()
        self.ids.retake_button.disabled = self.page_index < 0
        self.ids.delete_button.disabled = self.page_index < 0
        self.ids.page_info.text = (
            self.t("materials.page_label", n=self.page_index + 1)
            if self.page_index >= 0
            else self.t("materials.no_pages")
        )

    def choose(self, material_id: str) -> None:
        self.material_id = material_id
        self.page_index = len(self.journey.session.pages.get(material_id, [])) - 1
        self._show_materials()
        self._show_pages()

    def choose_page(self, index: int) -> None:
        self.page_index = index
        self._show_pages()

    def capture(self, retake: bool = False) -> None:
        self.app.spawn(self._capture(retake))

    async def _capture(self, retake: bool) -> None:
        material = self.journey.item.material(self.material_id)
        self._set_busy(True)
        self.ids.message.text = ""
        self.ids.guidance.text = self.t("materials.capturing")
        try:
            frame = await self.app.blocking(self.camera.capture, 5.0, None, material.size_mm, material.black_white)
            if retake and self.page_index >= 0:
                self.journey.replace_page(self.material_id, self.page_index, frame)
            else:
                self.page_index = self.journey.add_page(self.material_id, frame) - 1
            self.ids.guidance.text = self.t("doc.captured", n=self.page_index + 1)
            self._note_until = time.monotonic() + NOTE_S
        except KioskError as exc:
            self.ids.message.text = self.error_text(exc)
        finally:
            self._set_busy(False)
        self._show_materials()
        self._show_pages()

    def delete_page(self) -> None:
        if self.page_index >= 0:
            self.journey.remove_page(self.material_id, self.page_index)
            self.page_index -= 1
            self._show_materials()
            self._show_pages()

    def _set_busy(self, busy: bool) -> None:
        self._busy = busy
        for name in ("capture_button", "retake_button", "delete_button", "next_button"):
            self.ids[name].disabled = busy

    def print_missing(self) -> None:
        self.app.spawn(self.run_checklist_print(self.ids.message, self.ids.print_missing_button, only_missing=True))

    def next(self) -> None:
        try:
            self.journey.to_review()
        except KioskError as exc:
            names = "、".join(m.name for m in self.journey.missing_materials())
            self.ids.message.text = self.t("materials.missing", names=names) if names else self.error_text(exc)

    def wipe(self) -> None:
        self.material_id = ""
        self.page_index = -1
        self.ids.pages.clear_widgets()
        self.ids.material_list.clear_widgets()
        self.ids.preview.clear()
