"""What an editor's node signs: books, editor lists (from the coalition's state or by hand), imports,
approvals. Every check here is the node asking the same trust rules readers apply (``authority.py``)
before it signs, so an editor learns at once what every reader would conclude.
"""

from __future__ import annotations

import hashlib
import mimetypes
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tequio.governance import GroupState, allowed, rule_for
from tequio.node import Node, TequioError
from tequio.schemas import PUBLIC, BlobRef

from .layouts import read_tree
from .projection import derive, load_authority, refresh_book
from .recordkinds import (
    APPROVE,
    EDIT,
    EDITORS,
    KIND_APPROVAL,
    KIND_BOOK,
    KIND_EDITORS,
    KIND_REVISION,
    KIND_SOURCE,
    LANG_RE,
    MAX_INLINE_TEXT,
    content_hash,
    group_commitment,
    page_id,
)
from .source import IMAGE_EXTS, SourcePage

__all__ = ["approve", "create_book", "editors_from_group", "find_group", "import_dir", "publish_editors"]

_RIGHT_ACTION = {"edit": EDIT, "approve": APPROVE, "keep": EDITORS}


def editors_from_group(node: Node, state: GroupState, action: str, book: bytes | None = None) -> set[bytes]:
    """The members that hold ``action`` under the coalition's rules: by role, any member, or the
    editors named by the latest passed decision on that action (args ``{"editors": [keys]}``)."""
    actions = node.plugins.action_index()
    rule = rule_for(state, action, actions)
    if rule.get("by") in ("member", "role"):
        return {k for k in state.members if allowed(state, k, action, actions) is None}
    if rule.get("by") == "decision":
        order = {rid: i for i, rid in enumerate(state.applied)}
        best: tuple[int, set[bytes]] | None = None
        for prop in state.proposals.values():
            act = prop.action or {}
            args = act.get("args", {})
            if prop.status != "passed" or act.get("action") != action or prop.close is None:
                continue
            if "book" in args and book is not None and args["book"] != book:
                continue
            keys = {k for k in args.get("editors", []) if isinstance(k, bytes) and k in state.members}
            pos = order.get(prop.close, -1)
            if best is None or pos > best[0]:
                best = (pos, keys)
        return best[1] if best else set()
    return set()


def find_group(node: Node, commitment: bytes | None) -> tuple[str, GroupState] | None:
    """The coalition (this node is a member of) whose id the book's commitment names."""
    if commitment is None:
        return None
    for scope, state in node.governance.groups():
        if group_commitment(state.gid) == commitment:
            return scope, state
    return None


def _names(node: Node, keys: set[bytes], state: GroupState | None) -> dict[str, str]:
    out = {}
    for k in sorted(keys):
        if state is not None and k in state.members:
            out[k.hex()] = state.members[k].name[:100]
        elif k == node.key:
            out[k.hex()] = node.name[:100]
    return out


def create_book(
    node: Node,
    title: str,
    languages: Sequence[str],
    source: str | None = None,
    editors: Sequence[bytes] = (),
    group: str | None = None,
    approvals: int = 0,
    description: str = "",
) -> bytes:
    """Sign a ``handbook.book``; with ``group`` the editor list follows that coalition's rules."""
    langs = [x.strip().lower() for x in languages if x.strip()]
    if not langs or any(not LANG_RE.fullmatch(x) for x in langs) or len(set(langs)) != len(langs):
        raise TequioError("--languages takes distinct language codes, e.g. es,en")
    source = (source or langs[0]).lower()
    if source not in langs:
        raise TequioError(f"the source language {source} is not one of --languages ({', '.join(langs)})")
    state = None
    commitment = None
    if group is not None:
        scope = group if group.startswith("g:") else "g:" + group.lower()
        state = node.governance.state(scope)
        if state is None or not state.is_member(node.key):
            raise TequioError(
                f"this node is not a member of the group {scope[2:18]}…: it cannot read its rules"
            )
        rights = {r: editors_from_group(node, state, a) for r, a in _RIGHT_ACTION.items()}
        if node.key not in rights["keep"]:
            why = allowed(state, node.key, EDITORS, node.plugins.action_index())
            raise TequioError(f"this node may not publish the coalition's editor list ({EDITORS}: {why})")
        commitment = group_commitment(state.gid)
    else:
        keys = list(dict.fromkeys(editors))
        rights = {"edit": set(keys), "approve": set(keys), "keep": {node.key}}
    if approvals > len(rights["approve"]):
        raise TequioError(f"--approvals {approvals} is more than the {len(rights['approve'])} approvers")
    body: dict[str, Any] = {
        "title": title,
        "languages": langs,
        "source": source,
        "approvals": approvals,
        "description": description,
        "editors": {
            "editors": sorted(rights["edit"]),
            "approvers": sorted(rights["approve"]),
            "keepers": sorted(rights["keep"]),
            "names": _names(node, rights["edit"] | rights["approve"] | rights["keep"], state),
        },
    }
    if commitment is not None:
        body["group"] = commitment
    rec = node.publish(KIND_BOOK, body)
    follow(node, rec.id)
    return rec.id


def follow(node: Node, book: bytes, quota: int | None = None) -> None:
    """Mirror a book here: index it for search and fetch its images (within ``quota`` bytes)."""
    from .mirror import DEFAULT_QUOTA

    with node.store.write() as db:
        db.execute(
            "INSERT INTO hb_follows (book, quota, since) VALUES (?, ?, ?)"
            " ON CONFLICT (book) DO UPDATE SET quota = coalesce(?, quota)",
            [book, quota if quota is not None else DEFAULT_QUOTA, node.clock(), quota],
        )
        db.execute("DELETE FROM hb_served WHERE book = ?", [book])  # reindex everything it serves
        refresh_book(node, db, book)


def _head_seq(node: Node, key: bytes) -> int:
    head = node.store.head(key, PUBLIC)
    return head.seq if head is not None else 0


def publish_editors(
    node: Node,
    book: bytes,
    add: Mapping[str, Sequence[bytes]] | None = None,
    remove: Sequence[bytes] = (),
    from_group: bool = False,
    note: str = "",
) -> tuple[bytes, dict[str, Any]]:
    """Sign the next editor list: the coalition's current view (``from_group``), or the list in force
    with keys added to rights and ``remove``d keys revoked. Returns its id and what changed."""
    loaded = load_authority(node.db, book)
    if loaded is None:
        raise TequioError("no such book here")
    auth, _info = loaded
    current = auth.current
    if node.key not in current.rights.get("keep", frozenset()):
        raise TequioError("this node does not keep this book's editor list (H3): ask a keeper")
    rights = {r: set(current.rights.get(r, frozenset())) for r in _RIGHT_ACTION}
    basis: list[bytes] = []
    state = None
    group_commit = None
    if from_group:
        row = node.db.execute("SELECT grp FROM hb_books WHERE id = ?", [book]).fetchone()
        found = find_group(node, row[0] if row else None)
        if found is None:
            raise TequioError("this book does not follow a coalition this node belongs to")
        _scope, state = found
        rights = {r: editors_from_group(node, state, a, book) for r, a in _RIGHT_ACTION.items()}
        basis = [x for x in (state.genesis, state.applied[-1] if state.applied else None) if x][:64]
        group_commit = group_commitment(state.gid)
    for right, keys in (add or {}).items():
        rights[right] |= set(keys)
    for k in remove:
        for r in rights:
            rights[r].discard(k)
    if not rights["keep"]:
        raise TequioError("the editor list would have no keeper left")
    revoked: list[dict[str, Any]] = []
    changes: dict[str, Any] = {"added": {}, "revoked": {}}
    for right in _RIGHT_ACTION:
        old = set(current.rights.get(right, frozenset()))
        gained = rights[right] - old
        lost = old - rights[right]
        if gained:
            changes["added"][right] = sorted(k.hex() for k in gained)
        if lost:
            changes["revoked"][right] = sorted(k.hex() for k in lost)
    by_key: dict[bytes, set[str]] = {}
    for right, hexes in changes["revoked"].items():
        for h in hexes:
            by_key.setdefault(bytes.fromhex(h), set()).add(right)
    for k, rs in sorted(by_key.items()):
        # H5: the key keeps its rights for what this node has seen it sign, nothing after.
        revoked.append({"key": k, "upto": _head_seq(node, k), "rights": sorted(rs)})
    if not changes["added"] and not revoked:
        raise TequioError("the editor list already says that: nothing to publish")
    everyone = rights["edit"] | rights["approve"] | rights["keep"]
    names = {**dict(current.names), **_names(node, everyone, state)}
    body: dict[str, Any] = {
        "book": book,
        "prev": current.rec.id,
        "editors": sorted(rights["edit"]),
        "approvers": sorted(rights["approve"]),
        "keepers": sorted(rights["keep"]),
        "names": {h: n for h, n in names.items() if bytes.fromhex(h) in everyone},
        "revoked": revoked,
        "basis": basis,
        "note": note,
    }
    if group_commit is not None:
        body["group"] = group_commit
    rec = node.publish(KIND_EDITORS, body)
    changes["revocations"] = [
        {"key": r["key"].hex(), "upto": r["upto"], "rights": r["rights"]} for r in revoked
    ]
    return rec.id, changes


def _my_authority(node: Node, book: bytes, right: str) -> bytes:
    loaded = load_authority(node.db, book)
    if loaded is None:
        raise TequioError("no such book here: create it, or follow it and sync first")
    auth, _ = loaded
    cur = auth.current
    if node.key not in cur.rights.get(right, frozenset()):
        word = {"edit": "an editor", "approve": "an approver"}[right]
        raise TequioError(f"this node is not {word} of this book in its editor list in force (H7)")
    return cur.rec.id


def approve(node: Node, revision: bytes) -> bytes:
    row = node.db.execute("SELECT book, author FROM hb_revisions WHERE id = ?", [revision]).fetchone()
    if row is None:
        raise TequioError("no such revision here")
    book, author = row
    if author == node.key:
        raise TequioError("an editor's approval of their own revision does not count (H10)")
    authority = _my_authority(node, book, "approve")
    rec = node.publish(KIND_APPROVAL, {"book": book, "revision": revision, "authority": authority})
    return rec.id


_COMPARED = (
    "kind",
    "title",
    "slug",
    "aliases",
    "summary",
    "author",
    "date",
    "order",
    "section",
    "meta",
    "hash",
    "images",
    "links",
)


def _fingerprint(body: dict[str, Any]) -> bytes:
    from tequio.schemas import encode

    return hashlib.sha256(encode({k: body.get(k) for k in _COMPARED if body.get(k) is not None})).digest()


def _body(
    node: Node,
    book: bytes,
    page: SourcePage,
    authority: bytes,
    blobs: list[BlobRef],
    images: list[dict[str, Any]],
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "book": book,
        "page": page_id(book, page.key),
        "key": page.key[:300],
        "lang": page.lang,
        "kind": page.kind,
        "title": page.title[:300],
        "path": page.path[:500],
        "slug": page.slug[:300],
        "aliases": [a[:300] for a in page.aliases][:64],
        "summary": page.summary[:4000],
        "author": page.author[:300],
        "date": page.date[:40],
        "order": page.order,
        "section": page.section[:300],
        "meta": dict(list(page.meta.items())[:32]),
        "hash": content_hash(page.text),
        "images": images,
        "links": [
            {"target": t[:1000], "page": page_id(book, k), "anchor": a[:300]}
            if k
            else {"target": t[:1000], "anchor": a[:300]}
            for t, (k, a, _why) in list(page.links.items())[:1000]
        ],
        "authority": authority,
    }
    data = page.text.encode("utf-8")
    if len(data) > MAX_INLINE_TEXT:
        h, size = node.blobs.put_chunks(iter([data]))
        blobs.append(BlobRef(h, size, "text/markdown; charset=utf-8"))
        body["text_blob"] = h
        body["text"] = ""
    else:
        body["text"] = page.text
    return body


def import_dir(node: Node, book: bytes, root: Path, fmt: str = "auto", prune: bool = False) -> dict[str, Any]:
    """Import a handbook tree into ``book``: sign a revision for every page that changed, nothing else."""
    row = node.db.execute("SELECT languages, source FROM hb_books WHERE id = ?", [book]).fetchone()
    if row is None:
        raise TequioError("no such book here: create it, or follow it and sync first")
    import json

    languages, source = json.loads(row[0]), row[1]
    authority = _my_authority(node, book, "edit")
    try:
        tree = read_tree(root, fmt, languages, source)
    except ValueError as e:
        raise TequioError(str(e)) from None
    state = derive(node.db, book)
    assert state is not None
    served = {k: v[0] for k, v in state.served.items()}
    current_bodies: dict[bytes, dict[str, Any]] = {}

    def current_body(rid: bytes) -> dict[str, Any] | None:
        if rid not in current_bodies:
            rec = node.get(rid)
            if rec is None or rec.payload is None:
                return None
            current_bodies[rid] = rec.payload.body
        return current_bodies[rid]

    published = unchanged = 0
    new_source: dict[str, bytes] = {}
    image_hashes: set[bytes] = set()
    ordered = sorted(tree.pages, key=lambda p: (p.lang != source, p.lang, p.key))
    for page in ordered:
        pid = page_id(book, page.key)
        blobs: list[BlobRef] = []
        images = []
        for name, path in sorted(page.images.items()):
            h, size = node.blobs.put_file(path)
            mime = (
                IMAGE_EXTS.get(path.suffix.lower())
                or mimetypes.guess_type(path.name)[0]
                or "application/octet-stream"
            )
            blobs.append(BlobRef(h, size, mime))
            images.append({"name": name[:300], "hash": h})
            image_hashes.add(h)
        body = _body(node, book, page, authority, blobs, images)
        existing = served.get((pid, page.lang))
        old = current_body(existing) if existing else None
        replaces = (state.latest or {}).get((pid, page.lang))
        src_rid = new_source.get(page.key) or served.get((pid, source))
        if page.lang != source:
            body["translates"] = src_rid
        if (
            old is not None
            and _fingerprint(old) == _fingerprint(body)
            and old.get("text_blob") == body.get("text_blob")
        ):
            unchanged += 1
            continue
        if replaces:
            body["prev"] = replaces
        body = {k: v for k, v in body.items() if v is not None}
        uniq = {b.hash: b for b in blobs}
        rec = node.publish(KIND_REVISION, body, blobs=list(uniq.values()))
        published += 1
        if page.lang == source:
            new_source[page.key] = rec.id
    removed = 0
    present = {(page_id(book, p.key), p.lang) for p in tree.pages}
    missing = [k for k in served if k not in present]
    if prune:
        for pid, lang in missing:
            old = current_body(served[(pid, lang)])
            if old is None:
                continue
            body = {k: v for k, v in old.items() if k not in ("translates", "text_blob")}
            body.update(removed=True, text="", hash=content_hash(""), images=[], links=[])
            body.update(prev=served[(pid, lang)], authority=authority)
            node.publish(KIND_REVISION, body)
            removed += 1
    _publish_source(node, book, tree, authority)
    counts: dict[str, int] = {}
    for p in tree.pages:
        counts[p.lang] = counts.get(p.lang, 0) + 1
    unresolved = [
        {"path": p.path, "link": _readable(t), "why": why}
        for p in tree.pages
        for t, (k, _a, why) in p.links.items()
        if k is None
    ]
    return {
        "book": book.hex(),
        "format": tree.format,
        "pages": len(tree.pages),
        "languages": counts,
        "images": len(image_hashes),
        "checklists": sum(1 for p in tree.pages if p.kind == "checklist"),
        "forms": sum(1 for p in tree.pages if p.kind == "form"),
        "sections": sum(1 for p in tree.pages if p.kind == "section"),
        "groups": len({p.key for p in tree.pages}),
        "published": published,
        "unchanged": unchanged,
        "removed": removed,
        "missing": len(missing) if not prune else 0,
        "licence": tree.licence,
        "links": {
            "resolved": sum(1 for p in tree.pages for k, _a, _w in p.links.values() if k),
            "unresolved": unresolved,
        },
        "skipped": tree.skipped,
        "notes": tree.notes,
    }


def _readable(target: str) -> str:
    import urllib.parse

    return urllib.parse.unquote(target)


def _publish_source(node: Node, book: bytes, tree: Any, authority: bytes) -> None:
    name = tree.root.resolve().name[:300]
    blobs: list[BlobRef] = []
    lhash = None
    if tree.licence_file is not None:
        h, size = node.blobs.put_file(tree.licence_file)
        blobs.append(BlobRef(h, size, "text/plain; charset=utf-8"))
        lhash = h
    body: dict[str, Any] = {
        "book": book,
        "name": name,
        "format": tree.format,
        "licence": tree.licence[:200],
        "licence_file": tree.licence_file.name if tree.licence_file else "",
        "authority": authority,
    }
    if lhash is not None:
        body["licence_hash"] = lhash
    last = node.db.execute(
        "SELECT format, licence, licence_hash FROM hb_sources WHERE book = ? AND name = ? AND author = ?"
        " ORDER BY seq DESC LIMIT 1",
        [book, name, node.key],
    ).fetchone()
    if last is not None and tuple(last) == (tree.format, body["licence"], lhash):
        return
    node.publish(KIND_SOURCE, body, blobs=blobs)
