"""Materials: live preview from the document camera, capture, retake, several pages each."""

from __future__ import annotations

import asyncio
from typing import Any

from kivy.properties import BooleanProperty, NumericProperty, StringProperty
from kivy.uix.behaviors import ButtonBehavior
from kivy.uix.image import Image

from kiosk.core.errors import KioskError
from kiosk.screens.base import KioskScreen
from kiosk.screens.images import texture_from_bytes
from kiosk.screens.widgets import KToggle

PREVIEW_INTERVAL_S = 0.25


class MaterialToggle(KToggle):
    material_id = StringProperty("")


class PageThumb(ButtonBehavior, Image):
    index = NumericProperty(0)
    selected = BooleanProperty(False)


class MaterialsScreen(KioskScreen):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.material_id = ""
        self.page_index = -1
        self._preview: asyncio.Task[Any] | None = None

    def on_enter(self, *_: Any) -> None:
        self._preview = self.app.spawn(self._run_preview())

    def on_leave(self, *_: Any) -> None:
        if self._preview is not None:
            self._preview.cancel()
            self._preview = None

    async def _run_preview(self) -> None:
        camera = self.app.kiosk.devices["camera"]
        while True:
            try:
                frame = await self.app.blocking(camera.preview, 2.0)  # type: ignore[attr-defined]
                self.ids.preview.texture = texture_from_bytes(frame.jpeg)
                self.ids.guidance.text = self.t("materials.instruction")
            except KioskError as exc:
                self.ids.guidance.text = self.error_text(exc)
            await asyncio.sleep(PREVIEW_INTERVAL_S)

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
        camera = self.app.kiosk.devices["camera"]
        self._set_busy(True)
        self.ids.message.text = self.t("materials.capturing")
        try:
            frame = await self.app.blocking(camera.capture, 5.0)  # type: ignore[attr-defined]
            if retake and self.page_index >= 0:
                self.journey.replace_page(self.material_id, self.page_index, frame)
            else:
                self.page_index = self.journey.add_page(self.material_id, frame) - 1
            self.ids.message.text = ""
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
        self.ids.preview.texture = None
