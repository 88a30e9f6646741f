"""Finding an item's records on this node: by its one id, by its original's hash, or as this node's own.

The index (``evidence_index``, see recordkinds.py) never holds an original's SHA-256: only ``tag(sha)``,
a keyed BLAKE2b under a key derived from the node secret, so a seized store without the passphrase
cannot be asked whether it holds a given photo. Lookups by hash compute the tag; a hash prefix is
matched against the decrypted records instead.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any

from nacl.signing import SigningKey

from tequio.node import Node, NodeKey, StoredRecord, TequioError, org_name
from tequio.schemas import BlobRef, fingerprint

from .recordkinds import ITEM, index_records

__all__ = [
    "EvidenceError",
    "indexed",
    "item_id",
    "item_key",
    "items",
    "my_intake",
    "my_items",
    "org",
    "resolve",
    "role_refs",
    "scope_key",
    "tag",
]

_TAG_KEY: NodeKey[bytes] = NodeKey("evidence.tag-key", bytes)
_CONVERTED: NodeKey[bool] = NodeKey("evidence.converted", bool)


class EvidenceError(TequioError):
    """An evidence operation that cannot be done, with the reason for the operator."""


def tag(node: Node, sha: bytes) -> bytes:
    """The keyed hash under which the index holds the item whose original has SHA-256 ``sha``."""
    key = node.state.get(_TAG_KEY)
    if key is None:
        key = node.state[_TAG_KEY] = node.derive_key(b"tequio/evidence-index/v1\n")
    return hashlib.blake2b(sha, key=key, digest_size=32, person=b"tequio-evidence").digest()


def _ready(node: Node) -> None:
    """Move the plain-hash rows an older version wrote into the keyed index, once, then erase them."""
    if node.state.get(_CONVERTED):
        return
    tables = {t for (t,) in node.db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if "evidence_index_plain" in tables:
        node.db.execute("PRAGMA secure_delete = ON")  # overwrite the freed pages, not only unlink them
        with node.store.write() as db:
            rids = [rid for (rid,) in db.execute("SELECT record FROM evidence_index_plain ORDER BY n")]
            index_records(node, db, [r for rid in rids if (r := node.get(rid)) is not None])
            db.execute("DROP TABLE evidence_index_plain")
    node.state[_CONVERTED] = True


def _rows(node: Node, sql: str, args: Iterable[Any] = ()) -> list[tuple[Any, ...]]:
    _ready(node)
    return [tuple(r) for r in node.db.execute(sql, list(args))]


def item_key(node: Node, nonce: bytes) -> bytes:
    """The public key naming an item's private scope."""
    return bytes(SigningKey(node.derive_key(b"tequio/evidence-item/v1\n" + nonce)).verify_key)


def scope_key(node: Node, rec: StoredRecord) -> bytes | None:
    """The key that opens ``rec``'s payload (what a court package reveals for it), if this node has it."""
    if rec.scope == "public":
        return None
    return node.governance.blob_key(rec)


def indexed(node: Node, sha: bytes, kinds: Iterable[str] | None = None) -> list[StoredRecord]:
    """Every evidence record about the item ``sha`` that this node holds, in arrival order."""
    sql = "SELECT record FROM evidence_index WHERE tag = ?"
    args: list[Any] = [tag(node, sha)]
    if kinds is not None:
        ks = list(kinds)
        sql += f" AND kind IN ({','.join('?' * len(ks))})"
        args += ks
    out = []
    for (rid,) in _rows(node, sql + " ORDER BY n", args):
        rec = node.get(rid)
        # The tag names the item; the body's hash must too (a tag collision is not an item's record).
        if rec is not None and rec.body is not None and rec.body.get("sha256") == sha:
            out.append(rec)
    return out


def my_intake(node: Node, sha: bytes) -> StoredRecord | None:
    """This node's intake record of the item, if this node took it in."""
    for rec in indexed(node, sha, [ITEM]):
        if rec.author == node.key and rec.body and rec.body.get("nonce"):
            return rec
    return None


def my_items(node: Node) -> list[StoredRecord]:
    """This node's own intake records, oldest first."""
    out = []
    for (rid,) in _rows(
        node,
        "SELECT record FROM evidence_index WHERE kind = ? AND author = ? AND item = record ORDER BY n",
        (ITEM, node.key),
    ):
        rec = node.get(rid)
        if rec is not None and rec.body is not None and rec.body.get("nonce"):
            out.append(rec)
    return out


def items(node: Node) -> list[tuple[bytes, StoredRecord]]:
    """Every item this node holds (its own, then copies received), one entry per original hash."""
    seen: dict[bytes, StoredRecord] = {}
    for rec in my_items(node):
        seen[(rec.body or {})["sha256"]] = rec
    for (rid,) in _rows(node, "SELECT record FROM evidence_index WHERE kind = ? ORDER BY n", (ITEM,)):
        got = node.get(rid)
        if got is not None and got.body is not None and got.body.get("sha256") not in seen:
            seen[got.body["sha256"]] = got
    return list(seen.items())


def item_id(node: Node, rec: StoredRecord) -> bytes:
    """The one id of the item ``rec`` (an evidence.item record) is about, as every node shows it."""
    rows = _rows(node, "SELECT item FROM evidence_index WHERE record = ?", (rec.id,))
    return bytes(rows[0][0]) if rows and rows[0][0] else rec.id


def resolve(node: Node, text: str) -> tuple[bytes, StoredRecord]:
    """An item by its id (or a unique prefix of 8+ hex), a record of it, or its original's SHA-256."""
    t = text.strip().lower()
    if len(t) < 8:
        raise EvidenceError("give at least 8 hex characters of the item id or hash")
    try:
        prefix = bytes.fromhex(t[: len(t) // 2 * 2])
    except ValueError:
        raise EvidenceError(f"{text!r} is not an item id or hash (hex)") from None
    n = len(prefix)
    found = {
        bytes(tg)
        for tg, rid, item in _rows(
            node,
            "SELECT tag, record, item FROM evidence_index WHERE kind = ? AND"
            " (substr(item, 1, ?) = ? OR substr(record, 1, ?) = ?)",
            (ITEM, n, prefix, n, prefix),
        )
        if bytes(item).hex().startswith(t) or bytes(rid).hex().startswith(t)
    }
    shas = {sha for sha, _ in items(node) if tag(node, sha) in found}
    if len(t) == 64:
        shas |= {sha for sha, _ in items(node) if sha == prefix}
    elif not shas:  # a prefix of an original's hash: only the decrypted records can say
        shas = {sha for sha, _ in items(node) if sha.hex().startswith(t)}
    if not shas:
        raise EvidenceError(f"no evidence item {text} on this node (see 'tequio evidence list')")
    if len(shas) > 1:
        raise EvidenceError(f"{text} matches several items; give more characters")
    sha = shas.pop()
    mine = my_intake(node, sha)
    return sha, mine or indexed(node, sha, [ITEM])[0]


def org(node: Node, key: bytes) -> str:
    """A person-readable name for a node key: ``Name (FINGERPRINT)``, or the fingerprint alone."""
    if key == node.key:
        return f"{node.name} (this node)"
    name = org_name(node, key)
    return f"{name} ({fingerprint(key)})" if name else fingerprint(key)


def role_refs(rec: StoredRecord) -> dict[str, BlobRef]:
    """The blobs of an item record by role: the original first (when present), then the working copy."""
    b = rec.body or {}
    roles = [r for r in ("original", "working") if b.get(r)]
    blobs = rec.payload.blobs if rec.payload else ()
    return dict(zip(roles, blobs, strict=False))
