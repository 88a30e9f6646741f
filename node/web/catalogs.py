"""Keeping the catalogs in step with the code: extract every string, update the ``.po`` files, list gaps.

``python -m tequio.node.web.catalogs update`` extracts the strings of the pages (templates and the
Python of ``node/web`` and the built-in plugins' ``web.py`` and ``web_*.py``) and merges them into
each catalog, new strings empty; ``check`` prints what is untranslated or stale and exits 1 (the
test suite runs the same check).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract
from babel.messages.pofile import read_po, write_po

from .i18n import DOMAIN, LOCALE_DIR

__all__ = ["extract_messages", "problems", "sources", "update"]

_WEB = Path(__file__).parent
_PLUGINS = _WEB.parent.parent / "plugins"
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "N_": None}


def sources() -> Iterator[tuple[str, Path]]:
    """(method, file) of every source whose strings the pages show."""
    for p in sorted(_WEB.glob("*.py")):
        yield "python", p
    for p in sorted((_WEB / "templates").glob("*.html")):
        yield "jinja2", p
    # Every built-in plugin with pages (a web.py or templates/), so a new plugin's strings are checked too.
    for plugin in sorted(
        d.name for d in _PLUGINS.iterdir() if (d / "web.py").exists() or (d / "templates").is_dir()
    ):
        for web in sorted((_PLUGINS / plugin).glob("web*.py")):  # web.py and its web_*.py parts
            yield "python", web
        for p in sorted((_PLUGINS / plugin / "templates").glob("*.html")):
            yield "jinja2", p


def extract_messages() -> Catalog:
    """A template catalog of every string marked in the sources."""
    from jinja2.ext import babel_extract

    catalog = Catalog(domain=DOMAIN, project="Tequio", charset="utf-8")
    for method, path in sources():
        func = babel_extract if method == "jinja2" else "python"
        options = {"extensions": "jinja2.ext.i18n", "newstyle_gettext": "true"} if method == "jinja2" else {}
        with path.open("rb") as f:
            for lineno, message, comments, context in extract(
                func,  # type: ignore[arg-type]
                f,
                keywords=KEYWORDS,
                comment_tags=("TRANSLATORS:",),
                options=options,
            ):
                root = _WEB.parent.parent
                where = str(path.relative_to(root)) if path.is_relative_to(root) else path.name
                catalog.add(message, None, [(where, lineno)], auto_comments=comments, context=context)
    return catalog


def _po(lang: str) -> Path:
    return LOCALE_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.po"


def languages() -> list[str]:
    return sorted(p.parent.parent.name for p in LOCALE_DIR.glob(f"*/LC_MESSAGES/{DOMAIN}.po"))


def read(lang: str) -> Catalog:
    with _po(lang).open("rb") as f:
        return read_po(f, locale=lang, domain=DOMAIN)


def update(langs: list[str] | None = None) -> None:
    """Merge the extracted strings into each catalog (new ones empty, gone ones dropped)."""
    template = extract_messages()
    for lang in langs or languages():
        path = _po(lang)
        if path.exists():
            catalog = read(lang)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            catalog = Catalog(locale=lang, domain=DOMAIN, project="Tequio")
        catalog.update(template, no_fuzzy_matching=True)
        catalog.obsolete.clear()
        with path.open("wb") as f:
            write_po(f, catalog, width=100, omit_header=False, sort_output=True, include_lineno=False)


def problems() -> list[str]:
    """Every string a page can show that some catalog lacks or leaves empty, and stale entries."""
    template = extract_messages()
    wanted = {m.id if isinstance(m.id, str) else m.id[0]: m for m in template if m.id}
    out: list[str] = []
    langs = languages()
    if not {"en", "es"} <= set(langs):
        out.append(f"catalogs es and en are both required; found {', '.join(langs) or 'none'}")
    for lang in langs:
        catalog = read(lang)
        have = {m.id if isinstance(m.id, str) else m.id[0]: m for m in catalog if m.id}
        for key in sorted(wanted.keys() - have.keys()):
            out.append(f"{lang}: missing {key!r}")
        for key in sorted(have.keys() - wanted.keys()):
            out.append(f"{lang}: stale (no longer in the code) {key!r}")
        for key in sorted(wanted.keys() & have.keys()):
            m = have[key]
            strings = m.string if isinstance(m.string, tuple | list) else (m.string,)
            if m.fuzzy or not all(strings):
                out.append(f"{lang}: untranslated {key!r}")
            elif isinstance(wanted[key].id, tuple) and not isinstance(m.id, tuple):
                out.append(f"{lang}: {key!r} is a plural in the code but not in the catalog")
    return out


def main(argv: list[str]) -> int:
    if argv[:1] == ["update"]:
        update()
        return 0
    found = problems()
    for p in found:
        print(p)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
