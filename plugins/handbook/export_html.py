"""The static HTML export: a folder that opens from a USB stick (relative links only, no server, no
request leaves the folder) with its search working offline. The page fragments are shared with
the ZIM export and, later, the node's own web pages."""

from __future__ import annotations

import html
import json
import os
import shutil
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

from tequio.node import Node, TequioError
from tequio.schemas import fingerprint

from .editions import Edition
from .reading import PageView, iso, lang_name, rendered_html
from .search import stems

__all__ = ["EXT", "page_fragment", "provenance_html", "toc_html", "write_html"]

MARKER = ".tequio-handbook-export"
EXT = {
    "image/png": "png",
    "image/jpeg": "jpg",
    "image/gif": "gif",
    "image/svg+xml": "svg",
    "image/webp": "webp",
}
UI = {
    "es": {"search": "Buscar", "contents": "Contenido", "editor": "Editor", "signature": "Firma",
           "revision": "Revisión", "date": "Fecha", "trusted": "válida: firmada por un editor del libro",
           "untrusted": "NO válida", "none": "Nada encontrado.", "code": "Código de esta edición",
           "untranslated": "sin traducir", "results": "Resultados", "licence": "Licencia"},
    "en": {"search": "Search", "contents": "Contents", "editor": "Editor", "signature": "Signature",
           "revision": "Revision", "date": "Date", "trusted": "valid: signed by an editor of the book",
           "untrusted": "NOT valid", "none": "Nothing found.", "code": "Code of this edition",
           "untranslated": "not translated", "results": "Results", "licence": "Licence"},
}  # fmt: skip


def ui(lang: str) -> dict[str, str]:
    return UI.get(lang, UI["en"])


def provenance_html(view: PageView, lang: str) -> str:
    """Who signed this page, whether that signature holds, which revision, when (H7)."""
    t = ui(lang)
    state = t["trusted"] if view.trusted else f"{t['untrusted']} ({html.escape(view.why)})"
    who = html.escape(view.author_name or "") + f" <code>{fingerprint(view.author)}</code>"
    return (
        '<dl class="provenance">'
        f"<dt>{t['editor']}</dt><dd>{who}</dd>"
        f"<dt>{t['signature']}</dt><dd>{state}</dd>"
        f"<dt>{t['revision']}</dt><dd><code>{view.revision.hex()[:16]}</code></dd>"
        f"<dt>{t['date']}</dt><dd>{iso(view.ts)}</dd></dl>"
    )


def banners_html(view: PageView) -> str:
    return "".join(
        f'<p class="banner {html.escape(b["kind"])}">{html.escape(b["text"])}</p>' for b in view.banners
    )


def page_fragment(
    view: PageView,
    lang: str,
    page_url: Callable[[bytes, str], str | None],
    image_url: Callable[[bytes], str | None],
) -> str:
    """A page's article: title, banners, sanitised body, provenance."""
    body, _broken = rendered_html(view, page_url, image_url)
    # Most pages open with their own top heading; the title is added only when one does not.
    title = "" if body.lstrip().startswith("<h1") else f"<h1>{html.escape(view.title)}</h1>"
    return (
        f'<article class="page {html.escape(view.kind)}" lang="{html.escape(view.shown)}"'
        f' id="p-{view.page.hex()}">'
        f"{banners_html(view)}{title}{body}{provenance_html(view, lang)}</article>"
    )


def toc_html(ed: Edition, href: Callable[[str], str]) -> str:
    t = ui(ed.lang)
    rows = []
    for e in ed.entries:
        extra = (
            ""
            if e["translated"]
            else f' <span class="untranslated">({t["untranslated"]}: {e["lang"]})</span>'
        )
        cls = ' class="section"' if e["kind"] == "section" else ""
        rows.append(f'<li{cls}><a href="{href(e["page"])}">{html.escape(e["title"])}</a>{extra}</li>')
    return f'<nav class="toc"><h2>{t["contents"]}</h2><ul>{"".join(rows)}</ul></nav>'


def _doc(
    title: str, lang: str, body: str, up: str, ed: Edition, search: bool = False, zim: bool = False
) -> str:
    """A whole page; in a ZIM file links drop the .html and Kiwix's own search replaces the form."""
    t = ui(ed.lang)
    home = f"{up}index" if zim else f"{up}index.html"
    form = (
        ""
        if zim
        else f'<form class="search" action="{up}search.html" method="get">'
        '<input type="search" name="q" id="q"'
        f' aria-label="{t["search"]}"><button>{t["search"]}</button></form>'
    )
    scripts = f'<script src="{up}assets/checks.js"></script>'
    if search:
        scripts += f'<script src="{up}assets/index.js"></script><script src="{up}assets/search.js"></script>'
    return (
        f'<!doctype html><html lang="{html.escape(lang)}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title>"
        f'<link rel="stylesheet" href="{up}assets/style.css"></head><body>'
        f'<header class="book"><a href="{home}">{html.escape(ed.title)}</a>{form}</header>'
        f'{body}<footer class="code">{t["code"]}: <code>{ed.code}</code></footer>{scripts}</body></html>'
    )


def _prepare_out(out: Path) -> None:
    if out.exists():
        if not out.is_dir():
            raise TequioError(f"{out} exists and is not a folder")
        if any(out.iterdir()) and not (out / MARKER).exists():
            raise TequioError(f"{out} is not empty: choose a new folder (nothing was written)")
        for child in out.iterdir():
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child)
            else:
                child.unlink()
    out.mkdir(parents=True, exist_ok=True, mode=0o700)
    (out / MARKER).write_text("made by tequio handbook export\n")


def _write(path: Path, data: str | bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode("utf-8")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def static(name: str) -> str:
    return resources.files("tequio.plugins.handbook").joinpath("static", name).read_text("utf-8")


def images_of(node: Node, views: list[PageView]) -> dict[bytes, str]:
    """The images an edition shows that this node holds: hash -> file name."""
    out: dict[bytes, str] = {}
    for v in views:
        rec = node.get(v.revision)
        if rec is None or rec.payload is None:
            continue
        for blob in rec.payload.blobs:
            if blob.hash in v.images.values() and node.blobs.has(blob.hash):
                out[blob.hash] = f"{blob.hash.hex()[:32]}.{EXT.get(blob.mime, 'bin')}"
    return out


def search_index(ed: Edition, url: Callable[[PageView], str]) -> dict[str, Any]:
    from .markdown import plain_text

    docs: list[dict[str, str]] = []
    terms: dict[str, list[list[int]]] = {}
    for i, v in enumerate(ed.views):
        text = plain_text(v.text, v.kind)
        docs.append({"t": v.title, "u": url(v), "x": text[:4000]})
        counts: dict[str, int] = {}
        for s in stems(v.title + " " + v.title + " " + text, v.shown):
            counts[s] = counts.get(s, 0) + 1
        for s, n in counts.items():
            terms.setdefault(s, []).append([i, n])
    return {"docs": docs, "terms": terms, "none": ui(ed.lang)["none"]}


def write_html(node: Node, ed: Edition, out: Path) -> int:
    _prepare_out(out)
    images = images_of(node, ed.views)
    for h, name in images.items():
        _write(out / "img" / name, b"".join(node.open_blob(h)))
    for name in ("style.css", "checks.js", "search.js"):
        _write(out / "assets" / name, static(name))

    def page_file(page: bytes) -> str:
        return f"{page.hex()[:16]}.html"

    known = {v.page for v in ed.views}

    def page_url(page: bytes, anchor: str) -> str | None:
        if page not in known:
            return None
        from .markdown import ANCHOR_PREFIX, slugify

        return page_file(page) + (f"#{ANCHOR_PREFIX}{slugify(anchor)}" if anchor else "")

    def image_url(h: bytes) -> str | None:
        return f"../img/{images[h]}" if h in images else None

    for v in ed.views:
        body = page_fragment(v, ed.lang, page_url, image_url)
        _write(out / "pages" / page_file(v.page), _doc(v.title, v.shown, body, "../", ed))
    t = ui(ed.lang)
    cover = (
        f'<section class="cover"><h1>{html.escape(ed.title)}</h1>'
        f"<p>{lang_name(ed.lang, ed.lang)} · {ed.date}</p>"
        f"<p>{t['licence']}: {html.escape(', '.join(ed.licences) or '—')}</p></section>"
    )
    _write(
        out / "index.html",
        _doc(ed.title, ed.lang, cover + toc_html(ed, lambda p: f"pages/{p[:16]}.html"), "", ed),
    )
    results = f'<h2>{t["results"]}</h2><ol class="results" id="results"></ol>'
    _write(out / "search.html", _doc(t["search"], ed.lang, results, "", ed, search=True))
    index = search_index(ed, lambda v: f"pages/{page_file(v.page)}")
    _write(out / "assets" / "index.js", "window.HB_INDEX = " + json.dumps(index, ensure_ascii=False) + ";\n")
    return len(ed.views)
