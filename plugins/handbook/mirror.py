"""Following a book: its records come by ordinary sync (every public feed does); following decides
that this node indexes it for reading offline and fetches its images, within the book's quota.

The quota counts the blobs (images, long texts) of the book that this node holds. Blobs of books
nobody here follows are not fetched at all; records of such books are still kept and relayed.
"""

from __future__ import annotations

from typing import Any

from sqlite_utils import Database

from tequio.node import Node

__all__ = ["DEFAULT_QUOTA", "filter_wanted", "follow_status"]

DEFAULT_QUOTA = 256 * 1024 * 1024


def _held(node: Node, book: bytes) -> int:
    total = 0
    for h, size in node.db.execute("SELECT DISTINCT hash, size FROM hb_images WHERE book = ?", [book]):
        if node.blobs.has(h):
            total += size
    return total


def filter_wanted(node: Node, wanted: list[tuple[bytes, int]]) -> None:
    """Keep, of the blobs about to be fetched, those of followed books that fit their quota (text
    before images, current revisions before old ones); leave every other plugin's blobs alone."""
    if not wanted:
        return
    db: Database = node.db
    follows = {b: q for b, q in db.execute("SELECT book, quota FROM hb_follows")}
    used = {b: _held(node, b) for b in follows}
    served = {r for (r,) in db.execute("SELECT revision FROM hb_served")}
    keep: list[tuple[int, int, tuple[bytes, int]]] = []
    for pos, (h, size) in enumerate(wanted):
        rows = db.execute("SELECT book, revision, role FROM hb_images WHERE hash = ?", [h]).fetchall()
        if not rows:
            keep.append((2, pos, (h, size)))  # not a handbook blob
            continue
        books = [b for b, _r, _role in rows if b in follows]
        if not books:
            continue  # only books nobody here follows refer to it
        book = books[0]
        if used[book] + size > follows[book]:
            continue
        used[book] += size
        current = any(r in served for _b, r, _role in rows)
        text = any(role == "text" for _b, _r, role in rows)
        keep.append((0 if text else (1 if current else 3), pos, (h, size)))
    keep.sort()
    wanted[:] = [item for _, _, item in keep]


def follow_status(node: Node, book: bytes) -> dict[str, Any]:
    """What a follower holds of a book: pages, images held and missing, bytes against the quota."""
    db = node.db
    row = db.execute("SELECT quota, since FROM hb_follows WHERE book = ?", [book]).fetchone()
    blobs = db.execute(
        "SELECT DISTINCT i.hash, i.size FROM hb_images i JOIN hb_served s ON s.revision = i.revision"
        " WHERE i.book = ?",
        [book],
    ).fetchall()
    held = [size for h, size in blobs if node.blobs.has(h)]
    pages = db.execute("SELECT count(*) FROM hb_served WHERE book = ?", [book]).fetchone()[0]
    untrusted = db.execute(
        "SELECT count(*) FROM hb_status s JOIN hb_revisions r ON r.id = s.id"
        " WHERE s.book = ? AND s.status = 'untrusted'",
        [book],
    ).fetchone()[0]
    return {
        "book": book.hex(),
        "following": row is not None,
        "quota": row[0] if row else 0,
        "pages": pages,
        "images": {"held": len(held), "missing": len(blobs) - len(held), "bytes": _held(node, book)},
        "untrusted": untrusted,
    }
