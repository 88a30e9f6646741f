"""The handbook's tables: every handbook record projected, and each book's trusted state derived.

A book's state (which revision of each page is served, which are untrusted, pending or stale) is
recomputed from its records whenever one of them arrives: it is a pure function of the records
held (``authority.py``), so the tables can always be rebuilt and every node agrees.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlite_utils import Database

from tequio.node import MigrationSet, Node, StoredRecord
from tequio.schemas import PUBLIC

from .authority import Authority, EditorList, Signed, fold_lists, heads, verdict
from .recordkinds import (
    KIND_APPROVAL,
    KIND_BOOK,
    KIND_EDITION,
    KIND_EDITORS,
    KIND_REVISION,
    KIND_SOURCE,
)

__all__ = ["MIGRATIONS", "BookState", "load_state", "project", "refresh_book"]

MIGRATIONS = MigrationSet("handbook")
HANDBOOK_KINDS = (KIND_BOOK, KIND_EDITORS, KIND_REVISION, KIND_APPROVAL, KIND_SOURCE, KIND_EDITION)


@MIGRATIONS
def m001_tables(db: Database) -> None:
    db.execute(
        """CREATE TABLE hb_books (
            id BLOB PRIMARY KEY, author BLOB NOT NULL, seq INTEGER NOT NULL, ts INTEGER NOT NULL,
            title TEXT NOT NULL, source TEXT NOT NULL, languages TEXT NOT NULL, approvals INTEGER NOT NULL,
            rights TEXT NOT NULL, description TEXT NOT NULL, grp BLOB)"""
    )
    db.execute(
        """CREATE TABLE hb_lists (
            id BLOB PRIMARY KEY, book BLOB NOT NULL, author BLOB NOT NULL, seq INTEGER NOT NULL,
            ts INTEGER NOT NULL, prev BLOB NOT NULL, rights TEXT NOT NULL, revoked TEXT NOT NULL,
            basis TEXT NOT NULL, note TEXT NOT NULL)"""
    )
    db.execute("CREATE INDEX hb_lists_book ON hb_lists (book)")
    db.execute(
        """CREATE TABLE hb_revisions (
            id BLOB PRIMARY KEY, book BLOB NOT NULL, page BLOB NOT NULL, lang TEXT NOT NULL,
            key TEXT NOT NULL, kind TEXT NOT NULL, title TEXT NOT NULL, slug TEXT NOT NULL,
            aliases TEXT NOT NULL, ord INTEGER NOT NULL, section TEXT NOT NULL,
            author BLOB NOT NULL, seq INTEGER NOT NULL, ts INTEGER NOT NULL, prev BLOB,
            translates BLOB, authority BLOB NOT NULL, hash BLOB NOT NULL, removed INTEGER NOT NULL,
            n INTEGER NOT NULL)"""
    )
    db.execute("CREATE INDEX hb_revisions_page ON hb_revisions (book, page, lang)")
    db.execute(
        """CREATE TABLE hb_approvals (
            id BLOB PRIMARY KEY, book BLOB NOT NULL, revision BLOB NOT NULL, author BLOB NOT NULL,
            seq INTEGER NOT NULL, authority BLOB NOT NULL)"""
    )
    db.execute("CREATE INDEX hb_approvals_book ON hb_approvals (book)")
    db.execute(
        """CREATE TABLE hb_sources (
            id BLOB PRIMARY KEY, book BLOB NOT NULL, author BLOB NOT NULL, seq INTEGER NOT NULL,
            ts INTEGER NOT NULL, authority BLOB NOT NULL, name TEXT NOT NULL, format TEXT NOT NULL,
            licence TEXT NOT NULL, licence_file TEXT NOT NULL, licence_hash BLOB)"""
    )
    db.execute(
        """CREATE TABLE hb_images (
            hash BLOB NOT NULL, revision BLOB NOT NULL, book BLOB NOT NULL, size INTEGER NOT NULL,
            role TEXT NOT NULL, PRIMARY KEY (hash, revision)) WITHOUT ROWID"""
    )
    db.execute("CREATE INDEX hb_images_book ON hb_images (book)")
    # Derived, rebuilt by refresh_book: the verdict on every record, and what each page serves.
    db.execute(
        """CREATE TABLE hb_status (
            id BLOB PRIMARY KEY, book BLOB NOT NULL, status TEXT NOT NULL, why TEXT NOT NULL,
            approvals INTEGER NOT NULL DEFAULT 0)"""
    )
    db.execute("CREATE INDEX hb_status_book ON hb_status (book)")
    db.execute(
        """CREATE TABLE hb_served (
            book BLOB NOT NULL, page BLOB NOT NULL, lang TEXT NOT NULL, revision BLOB NOT NULL,
            stale INTEGER NOT NULL, heads INTEGER NOT NULL, PRIMARY KEY (book, page, lang)) WITHOUT ROWID"""
    )
    db.execute(
        """CREATE TABLE hb_follows (
            book BLOB PRIMARY KEY, quota INTEGER NOT NULL, since INTEGER NOT NULL)"""
    )
    db.execute(
        """CREATE TABLE hb_editions (
            code TEXT PRIMARY KEY, book BLOB NOT NULL, lang TEXT NOT NULL, revisions TEXT NOT NULL,
            origin TEXT NOT NULL, at INTEGER NOT NULL)"""
    )
    # Search: the text of each served page, and per-language FTS5 tables created on first use.
    db.execute(
        """CREATE TABLE hb_text (
            book BLOB NOT NULL, page BLOB NOT NULL, lang TEXT NOT NULL, revision BLOB NOT NULL,
            title TEXT NOT NULL, plain TEXT NOT NULL, complete INTEGER NOT NULL,
            PRIMARY KEY (book, page, lang)) WITHOUT ROWID"""
    )


def _rights_json(body: dict[str, Any]) -> str:
    return json.dumps(
        {
            "edit": [k.hex() for k in body.get("editors", [])],
            "approve": [k.hex() for k in body.get("approvers", [])],
            "keep": [k.hex() for k in body.get("keepers", [])],
            "names": body.get("names", {}),
        }
    )


def project(node: Node, db: Database, records: Iterable[StoredRecord]) -> set[bytes]:
    """Insert handbook records into the plugin's tables; returns the books they touch."""
    touched: set[bytes] = set()
    for rec in records:
        if rec.scope != PUBLIC or rec.payload is None or rec.kind not in HANDBOOK_KINDS:
            continue
        b = rec.payload.body
        r = rec.record
        if rec.kind == KIND_BOOK:
            db.execute(
                "INSERT OR IGNORE INTO hb_books VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                [r.id, r.author, r.seq, r.ts, b["title"], b["source"], json.dumps(b["languages"]),
                 b.get("approvals", 0), _rights_json(b["editors"]), b.get("description", ""), b.get("group")],
            )  # fmt: skip
            touched.add(r.id)
        elif rec.kind == KIND_EDITORS:
            revoked = [[x["key"].hex(), x["upto"], x["rights"]] for x in b.get("revoked", [])]
            db.execute(
                "INSERT OR IGNORE INTO hb_lists VALUES (?,?,?,?,?,?,?,?,?,?)",
                [r.id, b["book"], r.author, r.seq, r.ts, b["prev"], _rights_json(b), json.dumps(revoked),
                 json.dumps([x.hex() for x in b.get("basis", [])]), b.get("note", "")],
            )  # fmt: skip
            touched.add(b["book"])
        elif rec.kind == KIND_REVISION:
            db.execute(
                "INSERT OR IGNORE INTO hb_revisions VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                [r.id, b["book"], b["page"], b["lang"], b["key"], b.get("kind", "page"), b["title"],
                 b.get("slug", ""), json.dumps(b.get("aliases", [])), b.get("order", 0), b.get("section", ""),
                 r.author, r.seq, r.ts, b.get("prev"), b.get("translates"), b["authority"], b["hash"],
                 int(bool(b.get("removed"))), rec.n],
            )  # fmt: skip
            roles = {i["hash"]: "image" for i in b.get("images", [])}
            if b.get("text_blob"):
                roles[b["text_blob"]] = "text"
            for blob in rec.payload.blobs:
                if blob.hash in roles:
                    db.execute(
                        "INSERT OR IGNORE INTO hb_images VALUES (?,?,?,?,?)",
                        [blob.hash, r.id, b["book"], blob.size, roles[blob.hash]],
                    )
            touched.add(b["book"])
        elif rec.kind == KIND_APPROVAL:
            db.execute(
                "INSERT OR IGNORE INTO hb_approvals VALUES (?,?,?,?,?,?)",
                [r.id, b["book"], b["revision"], r.author, r.seq, b["authority"]],
            )
            touched.add(b["book"])
        elif rec.kind == KIND_SOURCE:
            db.execute(
                "INSERT OR IGNORE INTO hb_sources VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                [r.id, b["book"], r.author, r.seq, r.ts, b["authority"], b["name"], b["format"],
                 b["licence"], b.get("licence_file", ""), b.get("licence_hash")],
            )  # fmt: skip
            for blob in rec.payload.blobs:
                if blob.hash == b.get("licence_hash"):
                    db.execute(
                        "INSERT OR IGNORE INTO hb_images VALUES (?,?,?,?,?)",
                        [blob.hash, r.id, b["book"], blob.size, "licence"],
                    )
            touched.add(b["book"])
        elif rec.kind == KIND_EDITION:
            db.execute(
                "INSERT OR IGNORE INTO hb_editions VALUES (?,?,?,?,?,?)",
                [
                    b["code"],
                    b["book"],
                    b["lang"],
                    json.dumps([x.hex() for x in b["revisions"]]),
                    "record",
                    r.ts,
                ],
            )
    return touched


def _editor_list(rec: Signed, prev: bytes | None, rights: str, revoked: str = "[]") -> EditorList:
    data = json.loads(rights)
    return EditorList(
        rec,
        prev,
        {k: frozenset(bytes.fromhex(x) for x in data[k]) for k in ("edit", "approve", "keep")},
        tuple((bytes.fromhex(k), upto, frozenset(rs)) for k, upto, rs in json.loads(revoked)),
        data.get("names", {}),
    )


@dataclass
class BookState:
    """What refresh_book derives for one book: its authority and the served revision of each page."""

    book: bytes
    auth: Authority
    source: str
    languages: list[str]
    #: (page, lang) -> (revision id, stale, number of heads)
    served: dict[tuple[bytes, str], tuple[bytes, bool, int]]
    #: record id -> (status, why, approvals)
    status: dict[bytes, tuple[str, str, int]]
    #: (page, lang) -> the newest trusted revision, a removal included (what the next edit replaces)
    latest: dict[tuple[bytes, str], bytes] | None = None


def load_authority(db: Database, book: bytes) -> tuple[Authority, dict[str, Any]] | None:
    row = db.execute(
        "SELECT author, seq, rights, source, languages, approvals FROM hb_books WHERE id = ?", [book]
    ).fetchone()
    if row is None:
        return None
    author, seq, rights, source, languages, approvals = row
    first = _editor_list(Signed(book, author, seq), None, rights)
    lists = [
        _editor_list(Signed(i, a, s), p, rg, rv)
        for i, a, s, p, rg, rv in db.execute(
            "SELECT id, author, seq, prev, rights, revoked FROM hb_lists WHERE book = ?", [book]
        )
    ]
    info = {"source": source, "languages": json.loads(languages), "approvals": approvals}
    return fold_lists(first, lists), info


def derive(db: Database, book: bytes) -> BookState | None:
    """H7-H11 for every record of ``book``: verdicts, approvals, the served revision of each page."""
    loaded = load_authority(db, book)
    if loaded is None:
        return None
    auth, info = loaded
    status: dict[bytes, tuple[str, str, int]] = {}
    for lid in auth.accepted:
        status[lid] = ("accepted", "H3: signed by a keeper of the list it follows", 0)
    for lid, why in auth.rejected.items():
        status[lid] = ("untrusted", why, 0)
    for lid, why in auth.waiting.items():
        status[lid] = ("waiting", why, 0)
    approvals: dict[bytes, set[bytes]] = {}
    rev_author = dict(db.execute("SELECT id, author FROM hb_revisions WHERE book = ?", [book]).fetchall())
    for aid, rid, author, seq, authority in db.execute(
        "SELECT id, revision, author, seq, authority FROM hb_approvals WHERE book = ?", [book]
    ):
        st, why = verdict(auth, Signed(aid, author, seq), authority, "approve")
        status[aid] = (st, why.replace("H7", "H10") if st != "trusted" else "H10: a valid approval", 0)
        if st == "trusted" and rev_author.get(rid) not in (None, author):
            approvals.setdefault(rid, set()).add(author)
    need = info["approvals"]
    eligible: dict[tuple[bytes, str], dict[bytes, bytes | None]] = {}
    removed: set[bytes] = set()
    translates: dict[bytes, bytes | None] = {}
    for rid, page, lang, author, seq, authority, prev, tr, rm in db.execute(
        "SELECT id, page, lang, author, seq, authority, prev, translates, removed"
        " FROM hb_revisions WHERE book = ?",
        [book],
    ):
        st, why = verdict(auth, Signed(rid, author, seq), authority, "edit")
        n = len(approvals.get(rid, ()))
        if st == "trusted" and n < need:
            st, why = "pending", f"H10: {n} of the {need} approvals this book needs"
        status[rid] = (st, why, n)
        if st == "trusted":
            eligible.setdefault((page, lang), {})[rid] = prev
            translates[rid] = tr
            if rm:
                removed.add(rid)
    for sid, author, seq, authority in db.execute(
        "SELECT id, author, seq, authority FROM hb_sources WHERE book = ?", [book]
    ):
        st, why = verdict(auth, Signed(sid, author, seq), authority, "edit")
        status[sid] = (st, why, 0)
    served: dict[tuple[bytes, str], tuple[bytes, bool, int]] = {}
    latest: dict[tuple[bytes, str], bytes] = {}
    for (page, lang), revs in eligible.items():
        tips = heads(revs)
        current = tips[0]
        latest[(page, lang)] = current
        for rid in revs:
            if rid == current:
                status[rid] = ("current", "H9: the newest trusted revision of its page", status[rid][2])
            elif rid in tips:
                status[rid] = (
                    "conflict",
                    "H9: a concurrent edit; the longer history was kept",
                    status[rid][2],
                )
            else:
                status[rid] = ("superseded", "H9: replaced by a later trusted revision", status[rid][2])
        if current not in removed:
            served[(page, lang)] = (current, False, len(tips))
    source = info["source"]
    for (page, lang), (rid, _, n) in list(served.items()):
        if lang == source:
            continue
        src = served.get((page, source))
        # H11: a translation is stale when the source revision it translates is no longer current.
        stale = src is not None and translates.get(rid) != src[0]
        served[(page, lang)] = (rid, stale, n)
    return BookState(book, auth, source, info["languages"], served, status, latest)


def refresh_book(node: Node, db: Database, book: bytes) -> BookState | None:
    """Recompute a book's derived tables; reindex the pages whose served revision changed."""
    state = derive(db, book)
    if state is None:
        return None
    db.execute("DELETE FROM hb_status WHERE book = ?", [book])
    db.conn.executemany(
        "INSERT INTO hb_status (id, book, status, why, approvals) VALUES (?,?,?,?,?)",
        [(rid, book, st, why, n) for rid, (st, why, n) in state.status.items()],
    )
    before = {
        (p, lang): rid
        for p, lang, rid in db.execute("SELECT page, lang, revision FROM hb_served WHERE book = ?", [book])
    }
    db.execute("DELETE FROM hb_served WHERE book = ?", [book])
    db.conn.executemany(
        "INSERT INTO hb_served VALUES (?,?,?,?,?,?)",
        [(book, p, lang, rid, int(stale), n) for (p, lang), (rid, stale, n) in state.served.items()],
    )
    if is_followed(db, book):
        from .search import index_pages, unindex_pages

        after = {k: v[0] for k, v in state.served.items()}
        gone = [k for k in before if k not in after]
        changed = [k for k, rid in after.items() if before.get(k) != rid]
        unindex_pages(db, book, gone)
        index_pages(node, db, book, changed)
    return state


def is_followed(db: Database, book: bytes) -> bool:
    return db.execute("SELECT 1 FROM hb_follows WHERE book = ?", [book]).fetchone() is not None


def load_state(db: Database, book: bytes) -> BookState | None:
    """The derived state as stored (what readers are shown), without recomputing it."""
    loaded = load_authority(db, book)
    if loaded is None:
        return None
    auth, info = loaded
    served = {
        (p, lang): (rid, bool(stale), n)
        for p, lang, rid, stale, n in db.execute(
            "SELECT page, lang, revision, stale, heads FROM hb_served WHERE book = ?", [book]
        )
    }
    status = {
        rid: (st, why, n)
        for rid, st, why, n in db.execute(
            "SELECT id, status, why, approvals FROM hb_status WHERE book = ?", [book]
        )
    }
    return BookState(book, auth, info["source"], info["languages"], served, status)
