"""The curators' queue: coalition evidence awaiting review, near-duplicates grouped, with merged tags.

Reads only records through the public Node API (evidence.item / evidence.review by kind name), so the
intake plugin needs nothing from the evidence plugin's code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tequio.governance import allowed
from tequio.node import Node, StoredRecord

from .curation import CURATE, QUESTION, TAG, TagEdit, merge_tags, time_differs
from .recordkinds import SUBMISSION

__all__ = [
    "NEAR_BITS",
    "QUEUE_STATES",
    "CurationError",
    "QueueItem",
    "ask",
    "check_curator",
    "find_item",
    "first_accepted",
    "from_drop",
    "queue",
    "tag",
    "witness_refs",
]

ITEM, REVIEW = "evidence.item", "evidence.review"
#: Review states the queue shows; "in-progress" is shown as "being reviewed".
QUEUE_STATES = ("unreviewed", "in-progress")
#: Perceptual hashes this many bits apart or fewer are near-duplicates (the evidence plugin's threshold).
NEAR_BITS = 10


class CurationError(Exception):
    """A curation request that cannot be done, with a message for the curator."""


@dataclass
class QueueItem:
    """One evidence item as a curator sees it in the queue."""

    id: bytes
    scope: str
    title: str
    state: str
    tags: dict[str, Any]
    stated: str
    camera_ms: int | None
    phash: int | None
    group: int = 0
    near: list[bytes] = field(default_factory=list)
    submission: bytes | None = None  # accepted from the public drop: the witness's submission

    @property
    def time_flag(self) -> bool:
        return time_differs(_parse_ms(self.stated), self.camera_ms)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id.hex(),
            "scope": self.scope,
            "title": self.title,
            "state": "being reviewed" if self.state == "in-progress" else self.state,
            "tags": self.tags,
            "stated_time": self.stated,
            "camera_time_ms": self.camera_ms,
            "time_differs": self.time_flag,
            "group": self.group,
            "near_duplicates": [i.hex() for i in self.near],
            "submission": self.submission.hex() if self.submission else None,
        }


def _parse_ms(text: str) -> int | None:
    """A witness's stated time (ISO 8601) in ms since the epoch, or None when it is not one; a time
    without an offset is read as UTC, as the camera's is."""
    try:
        d = datetime.fromisoformat(text.strip()[:40])
    except ValueError:
        return None
    return int((d if d.tzinfo else d.replace(tzinfo=UTC)).timestamp() * 1000)


def item_of(rec: StoredRecord) -> bytes:
    """The one id of the item a (possibly shared) evidence.item record is about.

    A copy names its intake id only when it is the capturing organisation's own copy (``origin.org`` is
    its author): a member cannot make its record collect the tags of another organisation's item.
    """
    origin = (rec.body or {}).get("origin")
    if not isinstance(origin, dict) or origin.get("org") != rec.author:
        return rec.id
    i = origin.get("item")
    return i if isinstance(i, bytes) and len(i) == 32 else rec.id


def from_drop(rec: StoredRecord) -> tuple[bytes, int] | None:
    """(submission id, file index) when this evidence.item was accepted from the public drop."""
    got = (rec.body or {}).get("intake")
    if not isinstance(got, dict):
        return None
    sub, index = got.get("submission"), got.get("file")
    if isinstance(sub, bytes) and len(sub) == 32 and isinstance(index, int):
        return sub, index
    return None


def first_accepted(recs: list[StoredRecord]) -> dict[tuple[bytes, int], bytes]:
    """For each accepted (submission, file), the shared copy every node shows: the earliest by (time, id)."""
    best: dict[tuple[bytes, int], tuple[int, bytes]] = {}
    for r in recs:
        src, order = from_drop(r), (r.record.ts, r.id)
        if src is not None and r.scope.startswith("g:") and (src not in best or order < best[src]):
            best[src] = order
    return {k: v[1] for k, v in best.items()}


def coalition_scopes(node: Node, group: str | None) -> list[str]:
    """The group scopes to read: the one named, or every group this node is a member of."""
    if group is not None:
        scope = group if group.startswith("g:") else "g:" + group
        st = node.governance.state(scope)
        if st is None or not st.is_member(node.key):
            raise CurationError(f"this node is not a member of {scope}")
        return [scope]
    return sorted(s for s, st in node.governance.groups() if st.is_member(node.key))


class ScopeView:
    """One coalition scope's reviews and curators' tag edits, read once (not once per item)."""

    def __init__(self, node: Node, scope: str) -> None:
        st = node.governance.state(scope)
        actions = node.plugins.action_index()
        self.reviews: dict[bytes, tuple[int, str]] = {}
        for r in node.records(scope=scope, kind=REVIEW):
            b = r.body or {}
            target = b.get("item")
            if isinstance(target, bytes) and (
                target not in self.reviews or r.record.ts >= self.reviews[target][0]
            ):
                self.reviews[target] = (r.record.ts, str(b.get("status")))
        self.edits: dict[bytes, list[TagEdit]] = {}
        for r in node.records(scope=scope, kind=TAG):
            b = r.body or {}
            if st is not None and allowed(st, r.author, CURATE, actions) is not None:
                continue  # only the group's curators' edits count, on every node
            item = b.get("item")
            if isinstance(item, bytes):
                edit = TagEdit(r.record.ts, r.author, r.id, dict(b.get("set") or {}))
                self.edits.setdefault(item, []).append(edit)

    def state(self, ids: set[bytes]) -> str:
        """The latest review status recorded for the item, named by its id or a copy's id (as reviews do)."""
        found = [self.reviews[i] for i in ids if i in self.reviews]
        return max(found)[1] if found else "unreviewed"

    def tags(self, item: bytes) -> dict[str, Any]:
        return merge_tags(self.edits.get(item, []))


def group_tags(node: Node, item: bytes, scope: str) -> dict[str, Any]:
    """Merged tags counting only edits by authors the group's ``intake.curate`` rule allows now."""
    return ScopeView(node, scope).tags(item)


def _hamming(a: int, b: int) -> int:
    return bin(a ^ b).count("1")


def queue(node: Node, group: str | None = None, show_all: bool = False) -> list[QueueItem]:
    """Items awaiting review in the coalition scopes, near-duplicates sharing a group number."""
    out: list[QueueItem] = []
    seen: set[bytes] = set()
    for scope in coalition_scopes(node, group):
        recs, view = node.records(scope=scope, kind=ITEM), ScopeView(node, scope)
        copies: dict[bytes, set[bytes]] = {}
        for rec in recs:
            copies.setdefault(item_of(rec), {item_of(rec)}).add(rec.id)
        first = first_accepted(recs)
        for rec in recs:
            iid, b = item_of(rec), rec.body or {}
            if iid in seen:
                continue
            seen.add(iid)
            src = from_drop(rec)
            if src is not None and first.get(src) not in (None, rec.id):
                continue  # accepted twice at once on two nodes: every node shows the earliest
            state, tags = view.state(copies[iid]), view.tags(iid)
            hidden = tags.get("not_relevant") is True or bool(tags.get("duplicate_of"))
            if state not in QUEUE_STATES or (hidden and not show_all):
                continue
            ph, cam = b.get("phash"), b.get("camera_time")
            out.append(
                QueueItem(
                    iid,
                    scope,
                    str(b.get("title", "")),
                    state,
                    tags,
                    str(b.get("when", "")),
                    cam if isinstance(cam, int) else None,
                    ph if isinstance(ph, int) else None,
                    submission=src[0] if src else None,
                )
            )
    _group(out)
    return sorted(out, key=lambda q: (q.group, q.id))


def _group(items: list[QueueItem]) -> None:
    """Number groups of near-duplicates (union of pairs within ``NEAR_BITS``); singletons get their own."""
    parent = list(range(len(items)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, a in enumerate(items):
        for j in range(i + 1, len(items)):
            b = items[j]
            if a.phash is not None and b.phash is not None and _hamming(a.phash, b.phash) <= NEAR_BITS:
                a.near.append(b.id)
                b.near.append(a.id)
                parent[root(j)] = root(i)
    roots: dict[int, int] = {}
    for q in sorted(range(len(items)), key=lambda k: items[k].id):
        items[q].group = roots.setdefault(root(q), len(roots) + 1)


def find_item(node: Node, text: str) -> tuple[bytes, str]:
    """An item in a coalition scope by its id or a unique prefix of 8+ hex characters: (id, scope)."""
    t = text.strip().lower()
    if len(t) < 8 or any(c not in "0123456789abcdef" for c in t):
        raise CurationError("give the item id, or at least 8 hex characters of it")
    found: dict[bytes, str] = {}
    for scope in coalition_scopes(node, None):
        for rec in node.records(scope=scope, kind=ITEM):
            iid = item_of(rec)
            if iid.hex().startswith(t):
                found.setdefault(iid, scope)
        for rec in node.records(scope=scope, kind=SUBMISSION):  # a submission not yet accepted
            if rec.id.hex().startswith(t):
                found.setdefault(rec.id, scope)
    if not found:
        raise CurationError(f"no evidence item {text[:70]!r} in this node's coalitions")
    if len(found) > 1:
        raise CurationError(f"{text[:70]!r} names {len(found)} items: give more characters")
    return next(iter(found.items()))


def check_curator(node: Node, scope: str) -> None:
    """Raise unless this node may curate in the scope (the group's ``intake.curate`` rule)."""
    st = node.governance.state(scope)
    if st is None or not st.is_member(node.key):
        raise CurationError(f"this node is not a member of {scope}")
    if (why := allowed(st, node.key, CURATE, node.plugins.action_index())) is not None:
        raise CurationError(f"{CURATE} in that group: {why}")


def witness_refs(node: Node, iid: bytes, scope: str) -> list[bytes]:
    """The submission an item (or a submission itself) came from, so the witness's status page sees
    the curators' questions and the item's progress; [] for evidence taken in by hand."""
    got = node.get(iid)
    if got is not None and got.kind == SUBMISSION:
        return [iid]
    for rec in node.records(scope=scope, kind=ITEM):
        if item_of(rec) == iid and (src := from_drop(rec)) is not None:
            return [src[0]]
    return []


def tag(node: Node, item: str, fields: dict[str, Any]) -> tuple[bytes, dict[str, Any]]:
    """Publish one curator edit on an item; returns the item id and its merged tags afterwards."""
    if not fields:
        raise CurationError("nothing to tag: give at least one field")
    dup = fields.get("duplicate_of")
    if dup is not None and not (isinstance(dup, str) and len(dup) == 64):
        raise CurationError("duplicate_of names another item by its full id (64 hex characters)")
    iid, scope = find_item(node, item)
    check_curator(node, scope)
    if dup is not None and dup == iid.hex():
        raise CurationError("an item cannot be a duplicate of itself")
    node.publish(TAG, {"item": iid, "set": fields}, scope=scope, refs=witness_refs(node, iid, scope))
    return iid, group_tags(node, iid, scope)


def ask(node: Node, item: str, text: str) -> bytes:
    """Publish a curator's question to the witness of an item; returns the record id."""
    if not text.strip() or len(text) > 4000:
        raise CurationError("the question must be 1 to 4000 characters")
    iid, scope = find_item(node, item)
    check_curator(node, scope)
    refs = witness_refs(node, iid, scope)
    return node.publish(QUESTION, {"item": iid, "text": text}, scope=scope, refs=refs).id
