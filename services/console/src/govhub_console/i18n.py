"""The console's words in Chinese (zh-CN, the default) and English: one JSON catalog per
locale under messages/ for the shared words, and one under each domain's messages/ for its
pages' words, with the same keys in both locales (a test keeps them in step). A key is
defined in one catalog only."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Final

LOCALES: Final = ("zh-CN", "en")
DEFAULT_LOCALE: Final = "zh-CN"
PACKAGE: Final = Path(__file__).parent
MESSAGES: Final = PACKAGE / "messages"


@dataclass(frozen=True)
class Catalogs:
    messages: dict[str, dict[str, str]]

    def text(self, locale: str, key: str, **params: object) -> str:
        """The message `key` in `locale` with its `{name}` placeholders filled in. An
        unknown key raises: a page must not show a key instead of words."""
        message = self.messages[locale if locale in self.messages else DEFAULT_LOCALE][key]
        return message.format(**params) if params else message


def catalog_folders(package: Path = PACKAGE) -> list[Path]:
    """messages/ and every domain's messages/ folder."""
    return [package / "messages", *sorted(package.glob("*/messages"))]


def load_catalogs(package: Path = PACKAGE) -> Catalogs:
    merged: dict[str, dict[str, str]] = {locale: {} for locale in LOCALES}
    for folder in catalog_folders(package):
        for locale in LOCALES:
            path = folder / f"{locale}.json"
            if not path.exists():
                continue
            words = json.loads(path.read_text(encoding="utf-8"))
            taken = merged[locale].keys() & words.keys()
            if taken:
                raise ValueError(f"{path} defines keys defined elsewhere: {sorted(taken)}")
            merged[locale].update(words)
    return Catalogs(merged)


def known_locale(value: str | None) -> str | None:
    """`value` if the console speaks it (case-insensitively), in its canonical spelling."""
    if not value:
        return None
    for locale in LOCALES:
        if value.strip().lower() == locale.lower():
            return locale
    return None


def negotiate(accept_language: str | None) -> str:
    """The first locale of an Accept-Language header the console speaks (by q value), or
    zh-CN. `zh`, `zh-Hans` and `zh-CN` mean Chinese; `en-US` and `en-GB` mean English."""
    choices: list[tuple[float, int, str]] = []
    for index, part in enumerate((accept_language or "").split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        language = tag.strip().lower().split("-")[0]
        locale = {"zh": "zh-CN", "en": "en"}.get(language)
        if locale and quality > 0:
            choices.append((-quality, index, locale))
    return min(choices)[2] if choices else DEFAULT_LOCALE
