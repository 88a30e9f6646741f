"""The editor list in force, as readers see it, and a member's audit of it against the coalition."""

from __future__ import annotations

from typing import Any

from tequio.node import Node, TequioError
from tequio.schemas import fingerprint

from .projection import load_authority
from .publish import _RIGHT_ACTION, editors_from_group, find_group

__all__ = ["audit", "editors_json"]


def editors_json(node: Node, book: bytes) -> dict[str, Any]:
    loaded = load_authority(node.db, book)
    if loaded is None:
        raise TequioError("no such book here")
    auth, _ = loaded
    cur = auth.current
    names = auth.names()

    def who(k: bytes) -> dict[str, str]:
        return {"key": k.hex(), "fingerprint": fingerprint(k), "name": names.get(k, "")}

    return {
        "book": book.hex(),
        "list": cur.rec.id.hex(),
        "depth": auth.depth[cur.rec.id],
        "rights": {
            r: [who(k) for k in sorted(cur.rights.get(r, frozenset()))] for r in ("edit", "approve", "keep")
        },
        "revoked": [
            {**who(k), "upto": upto, "rights": [r], "by": lid.hex()} for k, upto, r, lid in auth.revocations
        ],
        "rejected": {k.hex(): v for k, v in auth.rejected.items()},
        "waiting": {k.hex(): v for k, v in auth.waiting.items()},
    }


def audit(node: Node, book: bytes) -> list[str]:
    """What a member of the editors' coalition sees differ between the public list and the rules."""
    row = node.db.execute("SELECT grp FROM hb_books WHERE id = ?", [book]).fetchone()
    if row is None or row[0] is None:
        return []
    found = find_group(node, row[0])
    if found is None:
        return []
    _, state = found
    loaded = load_authority(node.db, book)
    assert loaded is not None
    cur = loaded[0].current
    out = []
    for right, action in _RIGHT_ACTION.items():
        want = editors_from_group(node, state, action, book)
        have = set(cur.rights.get(right, frozenset()))
        for k in sorted(want - have):
            out.append(
                f"the coalition gives {fingerprint(k)} the {right} right;"
                " the public list does not (run --sync)"
            )
        for k in sorted(have - want):
            out.append(
                f"the public list gives {fingerprint(k)} the {right} right;"
                " the coalition does not (run --sync)"
            )
    return out
