"""The handbook's web pages: the book per language, pages with checklists, forms, banners and
provenance, search, history and diffs, images from blobs and export downloads (docs/handbook.md).

Every page here is public (no login): a book and its trusted revisions are public records. Only
trusted revisions are ever rendered; an untrusted one is named in the history, never shown.
"""

from __future__ import annotations

import html
import io
import re
import shutil
import tempfile
import zipfile
from pathlib import Path
from typing import Any

from aiohttp import web

from tequio.node import Node, TequioError
from tequio.node.web import N_, MenuItem, WebRoute, _, error_page, in_worker, lang_of, render

__all__ = ["MENU", "ROUTES"]

_HEX64 = re.compile(r"[0-9a-f]{64}")  # books, revisions, blobs
_HEX32 = re.compile(r"[0-9a-f]{32}")  # pages (16 bytes, derived from the book and the page's key)
_LANG = re.compile(r"[a-z]{2,3}(-[A-Za-z0-9]{2,8})?")
PREFIX = "/handbook"
TRUSTED = ("current", "superseded", "conflict")


def _ids(request: web.Request, *names: str) -> list[bytes] | None:
    got = [request.match_info.get(n, "") for n in names]
    ok = all((_HEX32 if n == "page" else _HEX64).fullmatch(g) for n, g in zip(names, got, strict=True))
    return [bytes.fromhex(g) for g in got] if ok else None


def _lang(request: web.Request) -> str | None:
    lang = request.match_info.get("lang", "")
    return lang if _LANG.fullmatch(lang) else None


def _book_row(node: Node, book: bytes) -> dict[str, Any] | None:
    from .reading import books

    return next((b for b in books(node) if b["book"] == book.hex()), None)


def page_href(book: bytes, lang: str, page: bytes, anchor: str = "") -> str:
    from .markdown import ANCHOR_PREFIX, slugify

    return f"{PREFIX}/{book.hex()}/{lang}/p/{page.hex()}" + (
        f"#{ANCHOR_PREFIX}{slugify(anchor)}" if anchor else ""
    )


# -- work done on the worker (never on the event loop) ------------------------------------------------------


def _books(node: Node) -> list[dict[str, Any]]:
    from .reading import books

    return books(node)


def _toc(node: Node, book: bytes, lang: str) -> dict[str, Any] | None:
    from .reading import toc

    row = _book_row(node, book)
    if row is None:
        return None
    try:
        entries = toc(node, book, lang)
    except TequioError:
        entries = []
    return {"book": row, "entries": entries}


def _page(node: Node, book: bytes, lang: str, page: bytes, rev: bytes | None, ui: str) -> dict[str, Any]:
    from .export_html import page_fragment
    from .reading import lang_name, page_view

    row = _book_row(node, book)
    if row is None:
        raise LookupError(_("This node holds no such book."))
    try:
        view = page_view(node, book, page, lang, revision=rev, ui=ui)
    except TequioError as e:
        raise LookupError(_("This book has no such page here.")) from e
    if not view.trusted:
        # Untrusted (forged, revoked, waiting) or pending approval: never served as the book.
        raise PermissionError(_("That revision is not signed by an editor of the book; it is not shown."))
    known = {bytes.fromhex(e) for e in _known_pages(node, book)}

    def page_url(target: bytes, anchor: str) -> str | None:
        return page_href(book, lang, target, anchor) if target in known else None

    def image_url(h: bytes) -> str:
        return f"{PREFIX}/{book.hex()}/img/{h.hex()}"

    other = [
        {"code": code, "name": lang_name(code, ui), "href": page_href(book, code, page)}
        for code in view.available
        if code != view.shown
    ]
    return {
        "book": row,
        "blang": lang,
        "title": view.title,
        "article": page_fragment(view, ui, page_url, image_url),
        "others": other,
        "untranslated": view.shown != lang,
        "stale": view.stale,
        "page": page.hex(),
        "revision": view.revision.hex(),
    }


def _known_pages(node: Node, book: bytes) -> list[str]:
    return [p.hex() for (p,) in node.db.execute("SELECT DISTINCT page FROM hb_served WHERE book = ?", [book])]


def _search(node: Node, book: bytes, lang: str, query: str) -> dict[str, Any] | None:
    from .search import catch_up, search

    row = _book_row(node, book)
    if row is None:
        return None
    catch_up(node, node.db)
    hits = search(node.db, book, lang, query)
    for h in hits:
        h["href"] = page_href(book, lang, bytes.fromhex(h["page"]))
        # The snippet marks matched words in **bold**: escape first, then bold, nothing else passes.
        parts = html.escape(h["snippet"]).split("**")
        h["snippet_html"] = "".join(f"<mark>{p}</mark>" if i % 2 else p for i, p in enumerate(parts))
    return {"book": row, "hits": hits}


def _history(node: Node, book: bytes, page: bytes) -> dict[str, Any] | None:
    from .reading import history

    row = _book_row(node, book)
    if row is None:
        return None
    try:
        revs = history(node, book, page)
    except TequioError:
        return None
    return {"book": row, "revisions": revs} if revs else None


def _diff(node: Node, book: bytes, page: bytes, a: bytes, b: bytes) -> dict[str, Any]:
    from .reading import diff

    rows = {
        rid: status
        for rid, status in node.db.execute(
            "SELECT r.id, s.status FROM hb_revisions r LEFT JOIN hb_status s ON s.id = r.id"
            " WHERE r.book = ? AND r.page = ? AND r.id IN (?, ?)",
            [book, page, a, b],
        )
    }
    if a not in rows or b not in rows:
        raise LookupError(_("This page has no such revision here."))
    if rows[a] not in TRUSTED or rows[b] not in TRUSTED:
        raise PermissionError(_("That revision is not signed by an editor of the book; it is not shown."))
    return {"book": _book_row(node, book), "diff": diff(node, a, b).splitlines()}


def _image(node: Node, book: bytes, h: bytes) -> tuple[str, bytes] | None:
    """An image only when a trusted, served revision of this book shows it: no other blob leaks."""
    row = node.db.execute(
        "SELECT i.revision FROM hb_images i JOIN hb_served s ON s.revision = i.revision"
        " WHERE i.hash = ? AND i.book = ? LIMIT 1",
        [h, book],
    ).fetchone()
    if row is None or not node.blobs.has(h):
        return None
    rec = node.get(row[0])
    mime = "application/octet-stream"
    if rec is not None and rec.payload is not None:
        mime = next((bl.mime for bl in rec.payload.blobs if bl.hash == h), mime)
    if mime not in ("image/png", "image/jpeg", "image/gif", "image/webp"):
        mime = "application/octet-stream"  # SVG may carry script: downloaded, never rendered inline
    return mime, b"".join(node.open_blob(h))


def _export(node: Node, book: bytes, lang: str, fmt: str) -> tuple[str, bytes]:
    from .editions import export_book

    tmp = Path(tempfile.mkdtemp(prefix="tequio-hb-"))
    try:
        if fmt == "pdf":
            out = tmp / "book.pdf"
            export_book(node, book, lang, "pdf", out, publish=False)
            return "application/pdf", out.read_bytes()
        out = tmp / "book"
        export_book(node, book, lang, "html", out, publish=False)
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
            for p in sorted(out.rglob("*")):
                if p.is_file():
                    z.write(p, f"book-{lang}/{p.relative_to(out)}")
        return "application/zip", buf.getvalue()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def pdf_available() -> bool:
    try:
        import weasyprint  # noqa: F401
    except Exception:  # not installed, or its system libraries missing
        return False
    return True


# -- handlers ----------------------------------------------------------------------------------------------


def _not_found(request: web.Request, text: str | None = None) -> Any:
    return error_page(request, 404, text or _("This book has no such page here."))


async def books_page(request: web.Request) -> web.Response:
    return await render(request, "handbook/books.html", {"books": await in_worker(request, _books)})


async def book_page(request: web.Request) -> web.StreamResponse:
    ids, lang = _ids(request, "book"), _lang(request)
    if ids is None:
        return await _not_found(request, _("This node holds no such book."))
    if lang is None:
        got = await in_worker(request, _book_row, ids[0])
        if got is None:
            return await _not_found(request, _("This node holds no such book."))
        ui = lang_of(request)
        lang = ui if ui in got["languages"] else got["languages"][0]
        raise web.HTTPSeeOther(f"{PREFIX}/{ids[0].hex()}/{lang}")
    data = await in_worker(request, _toc, ids[0], lang)
    if data is None:
        return await _not_found(request, _("This node holds no such book."))
    return await render(
        request, "handbook/toc.html", {**data, "blang": lang, "pdf": pdf_available(), "q": ""}
    )


async def page_page(request: web.Request) -> web.Response:
    ids, lang = _ids(request, "book", "page"), _lang(request)
    rev_text = request.query.get("rev", "")
    if ids is None or lang is None or (rev_text and not _HEX64.fullmatch(rev_text)):
        return await _not_found(request)
    rev = bytes.fromhex(rev_text) if rev_text else None
    try:
        data = await in_worker(request, _page, ids[0], lang, ids[1], rev, lang_of(request))
    except LookupError as e:
        return await _not_found(request, str(e))
    except PermissionError as e:
        return await error_page(request, 403, str(e))
    return await render(request, "handbook/page.html", {**data, "q": ""})


async def search_page(request: web.Request) -> web.Response:
    ids, lang = _ids(request, "book"), _lang(request)
    if ids is None or lang is None:
        return await _not_found(request, _("This node holds no such book."))
    q = request.query.get("q", "").strip()
    data: dict[str, Any] | None = {"book": None, "hits": []}
    problem = ""
    if q:
        try:
            data = await in_worker(request, _search, ids[0], lang, q)
        except TequioError:
            problem = _("Type one or more words to search for (at most 200 characters).")
    else:
        data = await in_worker(request, _toc, ids[0], lang)
    if data is None:
        return await _not_found(request, _("This node holds no such book."))
    if data.get("book") is None:
        data["book"] = (await in_worker(request, _toc, ids[0], lang) or {}).get("book")
    return await render(
        request,
        "handbook/search.html",
        {"book": data["book"], "hits": data.get("hits", []), "q": q, "blang": lang, "problem": problem},
    )


async def history_page(request: web.Request) -> web.Response:
    ids, lang = _ids(request, "book", "page"), _lang(request)
    if ids is None or lang is None:
        return await _not_found(request)
    data = await in_worker(request, _history, ids[0], ids[1])
    if data is None:
        return await _not_found(request)
    return await render(
        request, "handbook/history.html", {**data, "blang": lang, "page": ids[1].hex(), "q": ""}
    )


async def diff_page(request: web.Request) -> web.Response:
    ids, lang = _ids(request, "book", "page"), _lang(request)
    a, b = request.query.get("a", ""), request.query.get("b", "")
    if ids is None or lang is None or not _HEX64.fullmatch(a) or not _HEX64.fullmatch(b):
        return await _not_found(request, _("Choose two revisions of this page to compare."))
    try:
        data = await in_worker(request, _diff, ids[0], ids[1], bytes.fromhex(a), bytes.fromhex(b))
    except LookupError as e:
        return await _not_found(request, str(e))
    except PermissionError as e:
        return await error_page(request, 403, str(e))
    return await render(
        request,
        "handbook/diff.html",
        {**data, "blang": lang, "page": ids[1].hex(), "a": a, "b": b, "q": ""},
    )


async def image(request: web.Request) -> web.StreamResponse:
    ids = _ids(request, "book", "hash")
    if ids is None:
        return await _not_found(request, _("This book shows no such image."))
    got = await in_worker(request, _image, ids[0], ids[1])
    if got is None:
        return await _not_found(request, _("This book shows no such image."))
    mime, data = got
    headers = {"Cache-Control": "public, max-age=86400, immutable", "X-Content-Type-Options": "nosniff"}
    if mime == "application/octet-stream":
        headers["Content-Disposition"] = "attachment"
    return web.Response(body=data, content_type=mime, headers=headers)


async def export(request: web.Request) -> web.StreamResponse:
    ids, lang = _ids(request, "book"), _lang(request)
    fmt = request.match_info.get("fmt", "")
    if ids is None or lang is None or fmt not in ("html", "pdf"):
        return await _not_found(request, _("This node offers no such download."))
    if fmt == "pdf" and not pdf_available():
        return await error_page(
            request, 404, _("PDF export needs the optional extra: pip install 'tequio[pdf]'.")
        )
    try:
        mime, data = await in_worker(request, _export, ids[0], lang, fmt)
    except TequioError:
        return await _not_found(request, _("This book has no trusted page here yet."))
    name = f"handbook-{ids[0].hex()[:12]}-{lang}.{'zip' if fmt == 'html' else 'pdf'}"
    return web.Response(
        body=data, content_type=mime, headers={"Content-Disposition": f'attachment; filename="{name}"'}
    )


ROUTES = [
    WebRoute("GET", "/", books_page, role=None),
    WebRoute("GET", "/{book}", book_page, role=None),
    WebRoute("GET", "/{book}/img/{hash}", image, role=None),
    WebRoute("GET", "/{book}/{lang}", book_page, role=None),
    WebRoute("GET", "/{book}/{lang}/search", search_page, role=None),
    WebRoute("GET", "/{book}/{lang}/export.{fmt}", export, role=None),
    WebRoute("GET", "/{book}/{lang}/p/{page}", page_page, role=None),
    WebRoute("GET", "/{book}/{lang}/p/{page}/history", history_page, role=None),
    WebRoute("GET", "/{book}/{lang}/p/{page}/diff", diff_page, role=None),
]
MENU = [MenuItem(N_("Handbook"), "/handbook/", role="public", order=40)]
