"""Message catalogues: every piece of UI text, zh-CN first, English second.

Catalogues are TOML files in config/messages/, one per language; nested tables flatten to
dotted codes ("form.error.mobile"). A missing translation falls back to zh-CN, then to the code
itself, so a gap shows up on screen as a readable key instead of crashing a citizen's session.
"""

from __future__ import annotations

import logging
import tomllib
from pathlib import Path
from typing import Any

from kiosk.core.errors import KioskError
from kiosk.core.paths import MESSAGES_DIR

log = logging.getLogger(__name__)

PRIMARY = "zh-CN"
LANGUAGES = ("zh-CN", "en")


def _flatten(table: dict[str, Any], prefix: str = "") -> dict[str, str]:
    flat: dict[str, str] = {}
    for key, value in table.items():
        code = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, code + "."))
        else:
            flat[code] = str(value)
    return flat


def load_catalogue(language: str, directory: Path = MESSAGES_DIR) -> dict[str, str]:
    with open(directory / f"{language}.toml", "rb") as fh:
        return _flatten(tomllib.load(fh))


class Messages:
    """Translate message codes; `language` can change while the app runs."""

    def __init__(self, language: str = PRIMARY, directory: Path = MESSAGES_DIR) -> None:
        self._catalogues = {lang: load_catalogue(lang, directory) for lang in LANGUAGES}
        self.language = language

    @property
    def language(self) -> str:
        return self._language

    @language.setter
    def language(self, language: str) -> None:
        if language not in self._catalogues:
            raise KioskError(language, code="error.language", language=language)
        self._language = language

    def has(self, code: str) -> bool:
        return code in self._catalogues[PRIMARY]

    def t(self, code: str, **params: Any) -> str:
        text = self._catalogues[self._language].get(code) or self._catalogues[PRIMARY].get(code)
        if text is None:
            log.warning("missing message code %s", code)
            return code
        try:
            return text.format(**params) if params else text
        except (KeyError, IndexError, ValueError):
            log.warning("message %s does not fit its parameters", code)
            return text

    def error(self, err: KioskError) -> str:
        return self.t(err.code, **err.params)
