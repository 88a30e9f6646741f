"""Review by organisations, and the verification status it adds up to under each group's rule."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from tequio.governance import rule_for
from tequio.node import Node, StoredRecord

from .index import EvidenceError, indexed, my_intake
from .recordkinds import ITEM, REVIEW, VERIFY

__all__ = ["Verification", "review", "verification"]


def review(
    node: Node, sha: bytes, status: str, checks: Sequence[str], note: str, scope: str | None = None
) -> StoredRecord:
    """Sign this organisation's review of an item, in the group where the item is shared."""
    copies = [r for r in indexed(node, sha, [ITEM]) if r.scope.startswith("g:")]
    scopes = sorted(
        {r.scope for r in copies if (st := node.governance.state(r.scope)) and st.is_member(node.key)}
    )
    if scope is None:
        if len(scopes) > 1:
            raise EvidenceError(f"the item is shared in several groups: give --scope ({', '.join(scopes)})")
        if scopes:
            scope = scopes[0]
    if scope is None:  # not shared: a private review in the item's own chain
        rec = my_intake(node, sha)
        if rec is None:
            raise EvidenceError("this node holds no copy of that item it can review")
        target = rec
    else:
        found = [r for r in copies if r.scope == scope]
        if not found:
            raise EvidenceError(f"the item is not shared in {scope}")
        target = found[-1]
    body = {
        "sha256": sha,
        "item": target.id,
        "status": status,
        "checks": sorted(set(checks)),
        "note": note,
        "org": node.name,
    }
    return node.publish(REVIEW, body, scope=target.scope, refs=[target.id])


@dataclass
class Verification:
    scope: str
    required: int
    verified_by: list[bytes]
    latest: dict[bytes, str]  # organisation -> its latest status

    @property
    def status(self) -> str:
        if len(self.verified_by) >= self.required:
            return "verified"
        statuses = set(self.latest.values())
        for s in ("false", "disputed"):
            if s in statuses:
                return s
        if self.verified_by:
            return f"{len(self.verified_by)} of {self.required} verified"
        for s in ("inconclusive", "in-progress"):
            if s in statuses:
                return s
        return "unreviewed"


def verification(node: Node, sha: bytes) -> list[Verification]:
    """Per scope where the item has reviews (or is shared): each organisation's latest review and
    whether enough distinct organisations verified it under that group's evidence.verify rule."""
    out = []
    reviews = indexed(node, sha, [REVIEW])
    scopes = {r.scope for r in indexed(node, sha, [ITEM])} | {r.scope for r in reviews}
    for scope in sorted(scopes):
        latest: dict[bytes, tuple[int, str]] = {}
        for r in reviews:
            if r.scope == scope and (r.author not in latest or latest[r.author][0] < r.seq):
                latest[r.author] = (r.seq, str((r.body or {}).get("status")))
        required, allowed = 1, set(latest)
        st = node.governance.state(scope) if scope.startswith("g:") else None
        if st is not None:
            rule = rule_for(st, VERIFY, node.plugins.action_index())
            orgs = (rule.get("params") or {}).get("orgs", 2)
            required = orgs if isinstance(orgs, int) and orgs >= 1 else 2
            allowed = {k for k in latest if st.is_member(k)}
            if rule.get("by") == "role":
                allowed = {k for k in allowed if st.has_role(k, rule["role"])}
        elif not latest:
            continue
        verified = sorted(k for k in allowed if latest[k][1] == "verified")
        out.append(Verification(scope, required, verified, {k: v for k, (_, v) in latest.items()}))
    return out
