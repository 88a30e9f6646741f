"""Editions: the revision code printed on every page of an export, and checking a printed copy.

An edition is the set of revisions an export holds (one per page, in one language). Its code is a
hash of that set, so two nodes exporting the same state print the same code, and a node holding
the current state recognises a current copy without having seen the export. To tell *which* pages
changed since an older copy, a node needs the edition's list of revisions: exporting publishes it
as a public ``handbook.edition`` record (unless ``--no-publish``), and keeps it locally.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tequio.node import Node, TequioError

from .reading import PageView, iso, page_view, toc
from .recordkinds import KIND_EDITION

__all__ = ["Edition", "check_code", "edition", "export_book", "normalise_code"]

_DOMAIN = b"tequio/handbook/edition/v1\n"
_CODE = re.compile(r"TQH-?([A-Z2-7]{4})-?([A-Z2-7]{4})-?([A-Z2-7]{4})")


def code_of(book: bytes, lang: str, revisions: list[bytes]) -> str:
    digest = hashlib.sha256(_DOMAIN + book + lang.encode() + b"".join(sorted(revisions))).digest()
    text = base64.b32encode(digest[:10]).decode("ascii")[:12]
    return f"TQH-{text[:4]}-{text[4:8]}-{text[8:12]}"


def normalise_code(text: str) -> str:
    """A code as typed (any case, spaces, with or without dashes) or as its QR code reads."""
    t = re.sub(r"\s+", "", text.upper())
    m = _CODE.search(t)
    if m is None:
        raise TequioError(f"{text[:40]!r} is not a revision code (they look like TQH-ABCD-EFGH-IJKL)")
    return "TQH-" + "-".join(m.groups())


@dataclass
class Edition:
    book: bytes
    title: str
    lang: str
    code: str
    views: list[PageView]
    entries: list[dict[str, Any]]
    licences: list[str]
    date: str


def edition(node: Node, book: bytes, lang: str) -> Edition:
    """What an export of ``book`` in ``lang`` holds now: every page of the table of contents."""
    entries = toc(node, book, lang)
    if not entries:
        raise TequioError("this book has no trusted page here yet")
    views = [page_view(node, book, bytes.fromhex(e["page"]), lang) for e in entries]
    title = node.db.execute("SELECT title FROM hb_books WHERE id = ?", [book]).fetchone()[0]
    code = code_of(book, lang, [v.revision for v in views])
    from .reading import books

    licences: list[str] = next((b["licences"] for b in books(node) if b["book"] == book.hex()), [])
    newest = max(v.ts for v in views)
    return Edition(book, title, lang, code, views, entries, licences, iso(newest))


def _remember(node: Node, ed: Edition, publish: bool) -> bool:
    """Keep the edition here; publish it for other nodes. Returns whether a record was published."""
    revs = [v.revision for v in ed.views]
    with node.store.write() as db:
        db.execute(
            "INSERT OR IGNORE INTO hb_editions VALUES (?,?,?,?,?,?)",
            [ed.code, ed.book, ed.lang, json.dumps([r.hex() for r in revs]), "local", node.clock()],
        )
    if not publish or len(revs) > 1500:
        return False
    node.publish(KIND_EDITION, {"book": ed.book, "lang": ed.lang, "code": ed.code, "revisions": revs})
    return True


def export_book(
    node: Node, book: bytes, lang: str, fmt: str, out: Path, large_type: bool = False, publish: bool = True
) -> dict[str, Any]:
    ed = edition(node, book, lang)
    if fmt == "pdf":
        from .export_pdf import write_pdf

        pages = write_pdf(node, ed, out, large_type)
    elif fmt == "html":
        from .export_html import write_html

        pages = write_html(node, ed, out)
    elif fmt == "zim":
        from .export_zim import write_zim

        pages = write_zim(node, ed, out)
    else:
        raise TequioError(f"unknown format {fmt!r}")
    known = node.db.execute("SELECT origin FROM hb_editions WHERE code = ?", [ed.code]).fetchone()
    published = False
    if known is None or known[0] == "local":
        published = _remember(node, ed, publish and known is None)
    return {
        "book": book.hex(),
        "lang": lang,
        "format": fmt,
        "out": str(out),
        "pages": pages,
        "code": ed.code,
        "published": published,
    }


def check_code(node: Node, text: str) -> dict[str, Any]:
    """current, superseded (with the pages changed since) or unknown."""
    code = normalise_code(text)
    row = node.db.execute("SELECT book, lang, revisions FROM hb_editions WHERE code = ?", [code]).fetchone()
    if row is None:
        # A copy printed elsewhere from the state this node holds now has the same code.
        for (bid,) in node.db.execute("SELECT book FROM hb_follows").fetchall():
            langs = json.loads(
                node.db.execute("SELECT languages FROM hb_books WHERE id = ?", [bid]).fetchone()[0] or "[]"
            )
            for lang in langs:
                try:
                    if (
                        code_of(bid, lang, [bytes.fromhex(e["revision"]) for e in toc(node, bid, lang)])
                        == code
                    ):
                        return {
                            "code": code,
                            "status": "current",
                            "book": bid.hex(),
                            "lang": lang,
                            "changed": [],
                        }
                except TequioError:
                    continue
        return {"code": code, "status": "unknown", "changed": []}
    book, lang, revs = row
    printed = [bytes.fromhex(r) for r in json.loads(revs)]
    now = toc(node, book, lang)
    current = [bytes.fromhex(e["revision"]) for e in now]
    if code_of(book, lang, current) == code:
        return {"code": code, "status": "current", "book": book.hex(), "lang": lang, "changed": []}
    printed_pages = {}
    for rid in printed:
        r = node.db.execute("SELECT page, title FROM hb_revisions WHERE id = ?", [rid]).fetchone()
        if r is not None:
            printed_pages[r[0]] = (rid, r[1])
    now_pages = {bytes.fromhex(e["page"]): (bytes.fromhex(e["revision"]), e["title"]) for e in now}
    changed = []
    for page, (rid, title) in printed_pages.items():
        cur = now_pages.get(page)
        if cur is None:
            changed.append({"page": page.hex(), "title": title, "change": "removed"})
        elif cur[0] != rid:
            changed.append(
                {
                    "page": page.hex(),
                    "title": cur[1],
                    "change": "revised",
                    "printed": rid.hex(),
                    "current": cur[0].hex(),
                }
            )
    for page, (rid, title) in now_pages.items():
        if page not in printed_pages:
            changed.append({"page": page.hex(), "title": title, "change": "added", "current": rid.hex()})
    return {"code": code, "status": "superseded", "book": book.hex(), "lang": lang, "changed": changed}
