"""What a reader sees: books, a table of contents per language, a page with its banners and its
provenance, a page's history and the diff of two revisions. Shared by the CLI, the exports and
(later) the node's web pages, so that each shows the same page the same way.
"""

from __future__ import annotations

import datetime as dt
import difflib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tequio.node import Node, TequioError
from tequio.schemas import fingerprint

from .projection import load_state

__all__ = [
    "PageView",
    "books",
    "diff",
    "history",
    "page_view",
    "rendered_html",
    "resolve_book",
    "resolve_page",
    "toc",
]

LANG_NAMES = {
    "es": {"es": "español", "en": "inglés", "fr": "francés", "de": "alemán", "ru": "ruso", "nl": "neerlandés",
           "pt": "portugués"},
    "en": {"es": "Spanish", "en": "English", "fr": "French", "de": "German", "ru": "Russian", "nl": "Dutch",
           "pt": "Portuguese"},
}  # fmt: skip
MESSAGES = {
    "es": {
        "stale": "La versión en {src} cambió después de esta traducción.",
        "untranslated": "Esta página aún no está traducida al {lang}; se muestra la versión en {shown}.",
        "untrusted": "Esta revisión no está firmada por un editor del libro: no es el libro.",
        "pending": "Esta revisión espera aprobaciones: todavía no es el libro.",
    },
    "en": {
        "stale": "The {src} version changed after this translation.",
        "untranslated": "This page is not translated into {lang} yet; showing the {shown} version.",
        "untrusted": "This revision is not signed by an editor of the book: it is not the book.",
        "pending": "This revision awaits approvals: it is not the book yet.",
    },
}


def lang_name(code: str, ui: str) -> str:
    return LANG_NAMES.get(ui, LANG_NAMES["en"]).get(code, code)


def message(ui: str, key: str, **kw: str) -> str:
    return MESSAGES.get(ui, MESSAGES["en"])[key].format(**kw)


def books(node: Node) -> list[dict[str, Any]]:
    out = []
    for bid, title, langs, source, author, approvals in node.db.execute(
        "SELECT id, title, languages, source, author, approvals FROM hb_books ORDER BY title, id"
    ):
        followed = node.db.execute("SELECT 1 FROM hb_follows WHERE book = ?", [bid]).fetchone() is not None
        pages = node.db.execute(
            "SELECT count(DISTINCT page) FROM hb_served WHERE book = ?", [bid]
        ).fetchone()[0]
        licences = sorted(
            {
                lic
                for sid, lic in node.db.execute("SELECT id, licence FROM hb_sources WHERE book = ?", [bid])
                if _status(node, sid)[0] == "trusted"
            }
        )
        out.append(
            {
                "book": bid.hex(),
                "title": title,
                "languages": json.loads(langs),
                "source": source,
                "founder": fingerprint(author),
                "approvals": approvals,
                "following": followed,
                "pages": pages,
                "licences": licences,
            }
        )
    return out


def resolve_book(node: Node, text: str) -> bytes:
    """A book by its id (hex, at least 8 characters) or its exact title."""
    t = text.strip()
    rows = node.db.execute("SELECT id, title FROM hb_books").fetchall()
    hits = [bid for bid, title in rows if len(t) >= 8 and bid.hex().startswith(t.lower())]
    hits = hits or [bid for bid, title in rows if title == t]
    if not hits:
        raise TequioError(f"no book {t[:80]!r} here ('tequio handbook list' shows the books this node holds)")
    if len(hits) > 1:
        raise TequioError(f"{t[:80]!r} names several books; give more of the id")
    return hits[0]


def resolve_page(node: Node, text: str, book: bytes | None = None) -> tuple[bytes, bytes]:
    """(book, page) from a page id (hex prefix), a page key, a slug, a permalink or an alias."""
    t = text.strip()
    where, args = ("", []) if book is None else (" AND book = ?", [book])
    rows = node.db.execute(
        f"SELECT DISTINCT book, page, key, slug, aliases FROM hb_revisions WHERE 1 = 1{where}", args
    ).fetchall()
    found: set[tuple[bytes, bytes]] = set()
    low = t.lower()
    for b, p, key, slug, aliases in rows:
        names = {key, slug, slug.strip("/"), slug.strip("/").split("/")[-1]}
        names |= {a for a in json.loads(aliases)} | {a.strip("/").split("/")[-1] for a in json.loads(aliases)}
        if (len(low) >= 6 and p.hex().startswith(low)) or t in names:
            found.add((b, p))
    if not found:
        raise TequioError(f"no page {t[:80]!r} here ('tequio handbook list BOOK' shows its pages)")
    if len(found) > 1:
        raise TequioError(f"{t[:80]!r} names several pages; give the page id or --book")
    return found.pop()


def _status(node: Node, rid: bytes) -> tuple[str, str, int]:
    row = node.db.execute("SELECT status, why, approvals FROM hb_status WHERE id = ?", [rid]).fetchone()
    return (row[0], row[1], row[2]) if row else ("waiting", "not yet judged", 0)


def toc(node: Node, book: bytes, lang: str) -> list[dict[str, Any]]:
    """Every served page of the book in reading order, each in ``lang`` where translated, else in the
    source language (marked untranslated)."""
    state = load_state(node.db, book)
    if state is None:
        raise TequioError("no such book here")
    by_page: dict[bytes, dict[str, tuple[bytes, bool]]] = {}
    for (page, lng), (rid, stale, _n) in state.served.items():
        by_page.setdefault(page, {})[lng] = (rid, stale)
    out = []
    for page, langs in by_page.items():
        shown = lang if lang in langs else (state.source if state.source in langs else sorted(langs)[0])
        rid, stale = langs[shown]
        row = node.db.execute(
            "SELECT key, kind, title, ord, section, slug FROM hb_revisions WHERE id = ?", [rid]
        ).fetchone()
        key, kind, title, order, section, slug = row
        out.append(
            {
                "page": page.hex(),
                "key": key,
                "title": title,
                "kind": kind,
                "lang": shown,
                "translated": shown == lang,
                "stale": stale,
                "languages": sorted(langs),
                "section": section,
                "order": order,
                "slug": slug,
                "revision": rid.hex(),
            }
        )
    out.sort(key=lambda e: (e["section"] != "", e["section"], e["order"], e["key"]))
    return out


@dataclass
class PageView:
    """One revision of a page as shown to a reader, with its banners and provenance."""

    book: bytes
    page: bytes
    lang: str  # the language asked for
    shown: str  # the language shown (the source when untranslated)
    revision: bytes
    title: str
    kind: str
    key: str
    text: str
    complete: bool
    translates: bytes | None
    stale: bool
    status: str
    why: str
    author: bytes
    author_name: str
    ts: int
    approvals: int
    links: dict[str, tuple[bytes | None, str]]
    images: dict[str, bytes]
    summary: str = ""
    banners: list[dict[str, str]] = field(default_factory=list)
    available: list[str] = field(default_factory=list)

    @property
    def trusted(self) -> bool:
        return self.status in ("current", "superseded", "conflict")

    def to_json(self) -> dict[str, Any]:
        """The shape of ``tequio handbook show --json``."""
        return {
            "page": self.page.hex(),
            "lang": self.shown,
            "title": self.title,
            "revision": self.revision.hex(),
            "text": self.text,
            "translates": self.translates.hex() if self.translates else None,
            "stale": self.stale,
            "signed_by": self.author.hex(),
            "trusted": self.trusted,
            "status": self.status,
            "why": self.why,
            "editor": self.author_name,
            "fingerprint": fingerprint(self.author),
            "date": iso(self.ts),
            "kind": self.kind,
            "asked": self.lang,
            "banners": self.banners,
            "languages": self.available,
            "complete": self.complete,
        }


def iso(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def page_view(
    node: Node, book: bytes, page: bytes, lang: str, revision: bytes | None = None, ui: str | None = None
) -> PageView:
    """The served revision of a page in ``lang`` (or the source language, with a banner), or a given
    revision of it (shown with its trust state: an untrusted revision is never presented as the book)."""
    state = load_state(node.db, book)
    if state is None:
        raise TequioError("no such book here")
    ui = ui or lang
    available = sorted(lng for (p, lng) in state.served if p == page)
    banners: list[dict[str, str]] = []
    stale = False
    if revision is None:
        if (page, lang) in state.served:
            shown = lang
        elif (page, state.source) in state.served:
            shown = state.source
        elif available:
            shown = available[0]
        else:
            raise TequioError("that page has no trusted revision here (see 'tequio handbook history')")
        rid, stale, _ = state.served[(page, shown)]
        if shown != lang:
            banners.append(
                {
                    "kind": "untranslated",
                    "text": message(ui, "untranslated", lang=lang_name(lang, ui), shown=lang_name(shown, ui)),
                    "available": ",".join(available),
                }
            )
    else:
        rid = revision
        row = node.db.execute(
            "SELECT lang FROM hb_revisions WHERE id = ? AND book = ? AND page = ?", [rid, book, page]
        ).fetchone()
        if row is None:
            raise TequioError("no such revision of that page here")
        shown = row[0]
        cur = state.served.get((page, shown))
        stale = bool(cur and cur[0] == rid and cur[1])
    rec = node.get(rid)
    if rec is None or rec.payload is None:
        raise TequioError("the revision's record is not readable here")
    b = rec.payload.body
    from .search import page_text

    got = page_text(node, rid)
    text, complete = (got[2], got[3]) if got else ("", False)
    st, why, napp = state.status.get(rid, ("waiting", "not yet judged", 0))
    if stale:
        banners.append({"kind": "stale", "text": message(ui, "stale", src=lang_name(state.source, ui))})
    if st in ("untrusted", "waiting"):
        banners.append({"kind": "untrusted", "text": message(ui, "untrusted") + f" ({why})"})
    elif st == "pending":
        banners.append({"kind": "pending", "text": message(ui, "pending") + f" ({why})"})
    names = state.auth.names()
    return PageView(
        book=book,
        page=page,
        lang=lang,
        shown=shown,
        revision=rid,
        title=b["title"],
        kind=b.get("kind", "page"),
        key=b["key"],
        text=text,
        complete=complete,
        translates=b.get("translates"),
        stale=stale,
        status=st,
        why=why,
        author=rec.author,
        author_name=names.get(rec.author, ""),
        ts=rec.record.ts,
        approvals=napp,
        links={x["target"]: (x.get("page"), x.get("anchor", "")) for x in b.get("links", [])},
        images={x["name"]: x["hash"] for x in b.get("images", [])},
        summary=b.get("summary", ""),
        banners=banners,
        available=available,
    )


def rendered_html(
    view: PageView,
    page_url: Callable[[bytes, str], str | None],
    image_url: Callable[[bytes], str | None],
) -> tuple[str, list[str]]:
    """The page body as sanitised HTML: internal links through ``page_url(page, anchor)``, images
    through ``image_url(hash)``; returns the HTML and the links that lead nowhere."""
    from .markdown import ANCHOR_PREFIX, render, slugify

    def link_for(href: str) -> str | None:
        if href.startswith("#"):
            return "#" + ANCHOR_PREFIX + slugify(href[1:])
        hit = view.links.get(href)
        if hit is None:
            return href if href.lower().startswith(("http://", "https://", "mailto:")) else None
        target, anchor = hit
        if target is None:
            return "mailto:" + href if "@" in href and "/" not in href else None
        return page_url(target, anchor)

    def image_for(src: str) -> str | None:
        h = view.images.get(src)
        return image_url(h) if h is not None else None

    out = render(view.text, view.kind, link_for, image_for, check_prefix=view.page.hex()[:12] + "-")
    return out.html, out.broken


def history(node: Node, book: bytes, page: bytes, lang: str | None = None) -> list[dict[str, Any]]:
    state = load_state(node.db, book)
    if state is None:
        raise TequioError("no such book here")
    names = state.auth.names()
    where, args = ("", [book, page]) if lang is None else (" AND lang = ?", [book, page, lang])
    out = []
    for rid, lng, author, seq, ts, prev, tr, title, removed in node.db.execute(
        "SELECT id, lang, author, seq, ts, prev, translates, title, removed FROM hb_revisions"
        f" WHERE book = ? AND page = ?{where} ORDER BY lang, n",
        args,
    ):
        st, why, napp = state.status.get(rid, ("waiting", "not yet judged", 0))
        out.append(
            {
                "revision": rid.hex(),
                "lang": lng,
                "title": title,
                "status": st,
                "trusted": st in ("current", "superseded", "conflict"),
                "why": why,
                "signed_by": author.hex(),
                "editor": names.get(author, ""),
                "seq": seq,
                "date": iso(ts),
                "prev": prev.hex() if prev else None,
                "translates": tr.hex() if tr else None,
                "approvals": napp,
                "removed": bool(removed),
            }
        )
    return out


def diff(node: Node, a: bytes, b: bytes) -> str:
    """A unified diff of two revisions' texts (and titles)."""
    from .search import page_text

    got = []
    for rid in (a, b):
        t = page_text(node, rid)
        if t is None:
            raise TequioError(f"revision {rid.hex()[:16]} is not held here")
        got.append(t)
    (ta, _, xa, _), (tb, _, xb, _) = got
    lines = difflib.unified_diff(
        [f"# {ta}\n", *xa.splitlines(keepends=True)],
        [f"# {tb}\n", *xb.splitlines(keepends=True)],
        fromfile=a.hex()[:16],
        tofile=b.hex()[:16],
    )
    return "".join(lines)
