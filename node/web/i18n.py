"""Languages of the pages: gettext catalogs (Babel), the request's language, and Babel formatting.

Catalogs are the ``.po`` files under ``locale/<lang>/LC_MESSAGES/``, compiled in memory when the web
app starts (no ``.mo`` build step, nothing generated in the repository). Adding a language is adding
a folder with a complete ``messages.po``. The language of the request being handled lives in a
context variable: every aiohttp request runs in its own task, so pages in different languages never
see each other's.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import io
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from babel import Locale, dates, numbers
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

__all__ = [
    "DEFAULT_LANGUAGE",
    "LOCALE_DIR",
    "N_",
    "Catalogs",
    "Language",
    "_",
    "current",
    "format_count",
    "format_datetime",
    "gettext",
    "ngettext",
    "parse_accept_language",
    "use",
]

LOCALE_DIR = Path(__file__).parent / "locale"
DEFAULT_LANGUAGE = "en"
DOMAIN = "messages"
_LANG = re.compile(r"[a-z]{2,3}(_[A-Z][a-z]{3})?(_[A-Z]{2}|_\d{3})?")


@dataclass(frozen=True)
class Language:
    """One language the pages can be shown in."""

    code: str  # a catalog folder name: es, en, pt_BR, nah
    translations: NullTranslations
    locale: Locale

    @property
    def tag(self) -> str:
        """The BCP 47 tag for ``<html lang>``: pt-BR, not pt_BR."""
        return self.code.replace("_", "-")

    @property
    def native_name(self) -> str:
        return (self.locale.get_display_name(self.locale) or self.code).capitalize()


class Catalogs:
    """Every language found in the locale folders (the node's own, then plugins'), compiled once."""

    def __init__(self, folders: Iterable[Path] = ()) -> None:
        found: dict[str, Translations] = {}
        for folder in [LOCALE_DIR, *folders]:
            if not folder.is_dir():
                continue
            for po in sorted(folder.glob(f"*/LC_MESSAGES/{DOMAIN}.po")):
                code = po.parent.parent.name
                if not _LANG.fullmatch(code):
                    continue
                compiled = _compile(po)
                if code in found:
                    found[code].merge(compiled)  # a plugin's catalog adds to the node's
                else:
                    found[code] = compiled
        self.languages: dict[str, Language] = {}
        for code, tr in sorted(found.items()):
            try:
                loc = Locale.parse(code)
            except (ValueError, LookupError):
                continue  # Babel has no data for it: a catalog we cannot format dates for is skipped
            self.languages[code] = Language(code, tr, loc)
        if DEFAULT_LANGUAGE not in self.languages:
            self.languages[DEFAULT_LANGUAGE] = Language(
                DEFAULT_LANGUAGE, NullTranslations(), Locale.parse(DEFAULT_LANGUAGE)
            )

    def get(self, code: str | None) -> Language | None:
        return self.languages.get(code) if code else None

    def choose(self, asked: str | None, remembered: str | None, accept: str | None) -> Language:
        """``?lang=`` first, then the remembered choice, then Accept-Language, then English."""
        for code in (asked, remembered):
            if code and (lang := self.match(code)) is not None:
                return lang
        for tag in parse_accept_language(accept or ""):
            if (lang := self.match(tag)) is not None:
                return lang
        return self.languages[DEFAULT_LANGUAGE]

    def match(self, tag: str) -> Language | None:
        """The catalog for a language tag: exact (pt-BR), else its primary language (pt)."""
        t = tag.strip().replace("-", "_")
        if not t or len(t) > 20:
            return None
        parts = t.split("_")
        exact = "_".join([parts[0].lower(), *(p.upper() if len(p) == 2 else p.title() for p in parts[1:])])
        if exact in self.languages:
            return self.languages[exact]
        return self.languages.get(parts[0].lower())


def _compile(po: Path) -> Translations:
    with po.open("rb") as f:
        catalog = read_po(f, locale=po.parent.parent.name, domain=DOMAIN)
    buf = io.BytesIO()
    write_mo(buf, catalog, use_fuzzy=False)
    buf.seek(0)
    return Translations(buf, domain=DOMAIN)


def parse_accept_language(header: str, limit: int = 20) -> list[str]:
    """Language tags in order of preference (q-values), at most ``limit`` of them."""
    out: list[tuple[float, int, str]] = []
    for i, part in enumerate(header[:1000].split(",")[:limit]):
        tag, _, params = part.strip().partition(";")
        tag = tag.strip()
        if not tag or tag == "*" or not re.fullmatch(r"[A-Za-z]{1,8}(-[A-Za-z0-9]{1,8})*", tag):
            continue
        q = 1.0
        m = re.search(r"q\s*=\s*([01](\.\d{0,3})?)", params)
        if m:
            q = float(m.group(1))
        if q > 0:
            out.append((-q, i, tag))
    return [t for _, _, t in sorted(out)]


# -- the current request's language ---------------------------------------------------------------------

_current: contextvars.ContextVar[Language | None] = contextvars.ContextVar(
    "tequio_web_language", default=None
)


def use(lang: Language) -> contextvars.Token[Language | None]:
    """Make ``lang`` the language of what runs in this context (the request's task)."""
    return _current.set(lang)


def current() -> Language:
    lang = _current.get()
    if lang is None:
        return Language(DEFAULT_LANGUAGE, NullTranslations(), Locale.parse(DEFAULT_LANGUAGE))
    return lang


def gettext(message: str) -> str:
    lang = _current.get()
    return message if lang is None else lang.translations.gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    lang = _current.get()
    if lang is None:
        return singular if n == 1 else plural
    return lang.translations.ngettext(singular, plural, n)


def _(message: str, **values: Any) -> str:
    """Translate ``message`` into the request's language, then fill in ``%(name)s`` placeholders."""
    text = gettext(message)
    return text % values if values else text


def N_(message: str) -> str:
    """Mark a string for extraction; it is translated where it is shown."""
    return message


def format_datetime(ms: int | None, lang: Language | None = None) -> str:
    if ms is None:
        return ""
    lang = lang or current()
    when = dt.datetime.fromtimestamp(ms / 1000, dt.UTC)
    return dates.format_datetime(when, "medium", tzinfo=dt.UTC, locale=lang.locale)


def format_number(n: int | float, lang: Language | None = None) -> str:
    return numbers.format_decimal(n, locale=(lang or current()).locale)


def format_count(singular: str, plural: str, n: int) -> str:
    """A count with its noun, pluralised by the catalog and the number formatted for the language."""
    return ngettext(singular, plural, n) % {"num": format_number(n)}


def jinja_globals() -> Mapping[str, Any]:
    return {"format_datetime": format_datetime, "format_number": format_number}
