"""The pages' languages: Vietnamese by default, English a click away.

Messages live in TOML catalogs, one per language: ``messages_vi.toml`` and ``messages_en.toml``.
The layer's own (``shared/pages``) hold the layout's words; each service adds its own beside its
pages (``services/<service>/pages/messages_*.toml``), whose keys win. A TOML table is a prefix:
``[catalog]`` then ``title = "…"`` is the key ``catalog.title``.

``t(key, **values)`` looks the key up in the reader's language, then in Vietnamese, and shows the
key itself when neither has it (a missing Vietnamese message is a bug the unit tests catch).
``{name}`` in a message is filled from ``values``; the result is plain text, escaped by the template.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, Final, Literal

from shared.vietnam_time import en_datetime, in_vietnam, vn_datetime

Language = Literal["vi", "en"]
LANGUAGES: Final[tuple[Language, ...]] = ("vi", "en")
DEFAULT_LANGUAGE: Final[Language] = "vi"
# The layout's own catalogs, under every service's.
SHARED_MESSAGES: Final = Path(__file__).parent
# The cookie the language switch sets, read on every page.
LANGUAGE_COOKIE: Final = "lang"


def language_of(value: str | None) -> Language | None:
    """``value`` when it names a language the pages speak, else ``None``."""
    for language in LANGUAGES:
        if value == language:
            return language
    return None


def _flatten(table: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    flat: dict[str, str] = {}
    for name, value in table.items():
        key = f"{prefix}{name}"
        if isinstance(value, Mapping):
            flat.update(_flatten(value, f"{key}."))
        elif isinstance(value, str):
            flat[key] = value
        else:
            raise ValueError(f"message {key} is not text")
    return flat


def read_catalog(path: Path) -> dict[str, str]:
    """The messages of one TOML file, keyed by their dotted names; an absent file holds none."""
    if not path.is_file():
        return {}
    with path.open("rb") as file:
        return _flatten(tomllib.load(file))


class Messages:
    """The messages of every language, from the catalogs in ``folders`` (later folders win)."""

    def __init__(self, folders: Iterable[Path]) -> None:
        self.catalogs: dict[Language, dict[str, str]] = {language: {} for language in LANGUAGES}
        for folder in folders:
            for language in LANGUAGES:
                self.catalogs[language].update(read_catalog(folder / f"messages_{language}.toml"))

    def text(self, language: Language, key: str, **values: object) -> str:
        message = self.catalogs[language].get(key) or self.catalogs[DEFAULT_LANGUAGE].get(key)
        if message is None:
            return key
        return message.format_map(values) if values else message

    def missing(self, language: Language) -> set[str]:
        """Keys Vietnamese has and ``language`` lacks (the unit tests keep this empty)."""
        return set(self.catalogs[DEFAULT_LANGUAGE]) - set(self.catalogs[language])


def shown_at(moment: datetime | None, language: Language) -> str:
    """An instant as the reader reads it, on Vietnam's clock; empty for ``None``."""
    if moment is None:
        return ""
    return vn_datetime(moment) if language == "vi" else en_datetime(moment)


def shown_on(moment: datetime | None, language: Language) -> str:
    """The day of an instant in Vietnam, ``03/11/2023``; empty for ``None``."""
    return "" if moment is None else in_vietnam(moment).strftime("%d/%m/%Y")


def safe_next(target: str | None, default: str = "/") -> str:
    """``target`` when it is a path on this site (``/…``), else ``default``: a redirect after the
    language switch or a sign-in never leads off the site (``//host``, ``/\\host``, ``https:``)."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return default
    if any(ord(character) < 0x20 or character in "\\\x7f" for character in target):
        return default
    return target
