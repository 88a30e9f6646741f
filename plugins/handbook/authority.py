"""Who may write a book, judged from public records alone (rules H1-H12 in docs/handbook.md).

A reader's node cannot read the editors' coalition (its records are encrypted), so a book carries
its own chain of public editor lists: the book names the first, each later list names the one it
replaces and is signed by a keeper of that one. There is no trusted clock: "at that point" is a
position in the signer's own public feed, a hash chain whose order nobody can rewrite, and a
revocation names the last position of the revoked key that keeps its rights. Everything here is a
pure function of the records, so every node, member or not, reaches the same verdicts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

__all__ = [
    "RIGHTS",
    "Authority",
    "EditorList",
    "Signed",
    "fold_lists",
    "heads",
    "verdict",
]

RIGHTS = ("edit", "approve", "keep")


@dataclass(frozen=True)
class Signed:
    """What the rules read of any handbook record: its id, author and place in the author's feed."""

    id: bytes
    author: bytes
    seq: int


@dataclass(frozen=True)
class EditorList:
    """A book's first list (its ``handbook.book``) or a later ``handbook.editors``."""

    rec: Signed
    prev: bytes | None  # None for the book itself
    rights: Mapping[str, frozenset[bytes]]  # "edit" / "approve" / "keep" -> keys
    revoked: tuple[tuple[bytes, int, frozenset[str]], ...] = ()  # (key, upto, rights)
    names: Mapping[str, str] = field(default_factory=dict)


@dataclass
class Authority:
    """The folded editor lists of one book."""

    book: bytes
    accepted: dict[bytes, EditorList] = field(default_factory=dict)
    depth: dict[bytes, int] = field(default_factory=dict)
    #: list id -> ids of itself and every list before it on its chain
    lineage: dict[bytes, frozenset[bytes]] = field(default_factory=dict)
    rejected: dict[bytes, str] = field(default_factory=dict)
    waiting: dict[bytes, str] = field(default_factory=dict)
    #: (key, upto, right, id of the list that says so)
    revocations: list[tuple[bytes, int, str, bytes]] = field(default_factory=list)

    @property
    def current(self) -> EditorList:
        """H4. The list in force: the deepest accepted list, ties broken by the smallest id."""
        best = min(self.accepted, key=lambda i: (-self.depth[i], i))
        return self.accepted[best]

    def names(self) -> dict[bytes, str]:
        """Display names of keys, later lists overriding earlier ones."""
        out: dict[bytes, str] = {}
        for lid in sorted(self.accepted, key=lambda i: (self.depth[i], i)):
            for hexkey, name in self.accepted[lid].names.items():
                try:
                    out[bytes.fromhex(hexkey)] = name
                except ValueError:
                    continue
        return out


def _revoked(auth: Authority, key: bytes, seq: int, right: str, relying_on: bytes) -> str | None:
    """H5. A revocation of ``key``'s ``right`` up to seq U, in a list that is not on the chain of the
    list a record relies on (a list can re-grant what an earlier one revoked), makes every record of
    that key needing that right with a feed position after U untrusted."""
    lineage = auth.lineage.get(relying_on, frozenset())
    for k, upto, r, lid in auth.revocations:
        if k == key and r == right and seq > upto and lid not in lineage:
            return (
                f"H5: signed at seq {seq} of its author's feed, after its {right} right was revoked"
                f" (up to seq {upto}) by list {lid.hex()[:16]}"
            )
    return None


def fold_lists(book: EditorList, lists: Iterable[EditorList]) -> Authority:
    """H1-H6. Judge a book's editor lists; the result depends only on the set of lists held."""
    auth = Authority(book.rec.id)
    bid = book.rec.id
    pending = {lst.rec.id: lst for lst in lists if lst.rec.id != bid}
    # H2/H3: a list is authentic when a keeper of the authentic list it follows signed it and it is
    # well formed (H6). Authenticity ignores revocations, so it can be computed in any order.
    authentic: dict[bytes, EditorList] = {bid: book}
    depth = {bid: 0}
    frontier = [bid]
    children: dict[bytes, list[EditorList]] = {}
    for lst in pending.values():
        children.setdefault(lst.prev or b"", []).append(lst)
    while frontier:
        nxt = []
        for pid in frontier:
            for lst in sorted(children.get(pid, []), key=lambda x: x.rec.id):
                why = _judge_list(authentic[pid], lst)
                if why is not None:
                    auth.rejected[lst.rec.id] = why
                    continue
                authentic[lst.rec.id] = lst
                depth[lst.rec.id] = depth[pid] + 1
                nxt.append(lst.rec.id)
        frontier = nxt
    # H5: every authentic list's revocations count, accepted or not: a revocation cannot be undone by
    # a rival list, only by a later list on the same chain granting the right again.
    for lid in sorted(authentic, key=lambda i: (depth[i], i)):
        for key, upto, rights in authentic[lid].revoked:
            auth.revocations.extend((key, upto, r, lid) for r in sorted(rights))
    lineage = {bid: frozenset({bid})}
    for lid in sorted(authentic, key=lambda i: (depth[i], i)):
        if lid != bid:
            lineage[lid] = lineage[authentic[lid].prev or b""] | {lid}
    auth.lineage = lineage
    auth.accepted[bid] = book
    auth.depth[bid] = 0
    for lid in sorted(authentic, key=lambda i: (depth[i], i)):
        if lid == bid:
            continue
        lst = authentic[lid]
        prev = lst.prev or b""
        if prev not in auth.accepted:
            auth.rejected[lid] = "H2: follows a list that was not accepted"
            continue
        if (why := _revoked(auth, lst.rec.author, lst.rec.seq, "keep", prev)) is not None:
            auth.rejected[lid] = why
            continue
        auth.accepted[lid] = lst
        auth.depth[lid] = depth[lid]
    for lid, lst in pending.items():
        if lid in auth.accepted or lid in auth.rejected:
            continue
        if lst.prev in auth.rejected:
            auth.rejected[lid] = "H2: follows a list that was not accepted"
        else:
            auth.waiting[lid] = f"H2: waits for the list it follows ({(lst.prev or b'').hex()[:16]})"
    # Lists below a rejected or waiting list wait or fall with it.
    changed = True
    while changed:
        changed = False
        for lid in list(auth.waiting):
            if pending[lid].prev in auth.rejected:
                auth.rejected[lid] = "H2: follows a list that was not accepted"
                del auth.waiting[lid]
                changed = True
    return auth


def _judge_list(prev: EditorList, lst: EditorList) -> str | None:
    if lst.rec.author not in prev.rights.get("keep", frozenset()):
        return "H3: signed by a key that does not keep the list it follows"
    if not lst.rights.get("keep"):
        return "H3: a list names at least one keeper"
    # H6: whoever loses a right says up to where their records keep it.
    for right in RIGHTS:
        dropped = prev.rights.get(right, frozenset()) - lst.rights.get(right, frozenset())
        covered = {k for k, _, rights in lst.revoked if right in rights}
        if missing := dropped - covered:
            who = min(missing).hex()[:16]
            return f"H6: drops {who}… from the {right} right without a revocation saying up to where"
    return None


def verdict(auth: Authority, rec: Signed, relying_on: bytes, right: str) -> tuple[str, str]:
    """H7/H8. ("trusted" | "untrusted" | "waiting", why) for a record needing ``right`` that names the
    editor list ``relying_on``."""
    if relying_on in auth.waiting:
        return (
            "waiting",
            f"H8: the editor list it relies on is not yet valid here ({auth.waiting[relying_on]})",
        )
    if relying_on in auth.rejected:
        return (
            "untrusted",
            f"H7: relies on an editor list that was not accepted ({auth.rejected[relying_on]})",
        )
    lst = auth.accepted.get(relying_on)
    if lst is None:
        return "waiting", f"H8: relies on an editor list this node does not hold ({relying_on.hex()[:16]})"
    if rec.author not in lst.rights.get(right, frozenset()):
        word = {"edit": "an editor", "approve": "an approver", "keep": "a keeper"}[right]
        return "untrusted", f"H7: signed by a key that is not {word} in the list it relies on"
    if (why := _revoked(auth, rec.author, rec.seq, right, relying_on)) is not None:
        return "untrusted", why
    return "trusted", "H7: signed by a key that held the right at that point"


def heads(revisions: Mapping[bytes, bytes | None]) -> list[bytes]:
    """H9. Of trusted revisions {id: prev}, the current one: the end of the longest chain of
    replacements, ties broken by the smallest id (concurrent edits resolve the same everywhere).
    Returns every head, the winner first."""
    depth: dict[bytes, int] = {}

    def d(rid: bytes) -> int:
        seen: list[bytes] = []
        cur: bytes | None = rid
        while cur is not None and cur in revisions and cur not in depth:
            seen.append(cur)
            cur = revisions[cur]
            if len(seen) > len(revisions):  # a cycle cannot be built from hashes; stay bounded anyway
                break
        base = depth.get(cur, -1) if cur is not None else -1
        for s in reversed(seen):
            base += 1
            depth[s] = base
        return depth[rid]

    replaced = {p for p in revisions.values() if p is not None and p in revisions}
    tips = [r for r in revisions if r not in replaced]
    return sorted(tips, key=lambda r: (-d(r), r))
