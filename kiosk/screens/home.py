"""Home: the hall's services as large tiles, plus progress query and help."""

from __future__ import annotations

from typing import Any

from kiosk.screens.base import KioskScreen
from kiosk.screens.widgets import Tile


class HomeScreen(KioskScreen):
    def on_kv_post(self, *_: Any) -> None:
        self._build_tiles()

    def _build_tiles(self) -> None:
        grid = self.ids.tiles
        grid.clear_widgets()
        for item in self.journey.catalogue.items:
            tile = Tile(title=item.short_name, subtitle=item.department, item_id=item.id)
            tile.bind(on_release=lambda tile: self.journey.open_item(tile.item_id))
            grid.add_widget(tile)
        query = Tile(title=self.t("home.query"), subtitle=self.t("home.query_sub"), item_id="_query")
        query.bind(on_release=lambda *_: self.journey.open_query())
        grid.add_widget(query)
        scan = Tile(title=self.t("home.scan"), subtitle=self.t("home.scan_sub"), item_id="_scan")
        scan.bind(on_release=lambda *_: self.journey.open_scan())
        grid.add_widget(scan)
        help_tile = Tile(title=self.t("app.help"), subtitle=self.t("home.help_sub"), item_id="_help")
        help_tile.bind(on_release=lambda *_: self.journey.open_help())
        grid.add_widget(help_tile)

    def refresh(self) -> None:
        self._build_tiles()  # cheap, and picks up a language change

    def tile(self, item_id: str) -> Tile:
        return next(t for t in self.ids.tiles.children if t.item_id == item_id)
