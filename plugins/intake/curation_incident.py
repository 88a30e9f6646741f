"""From curation to court (issue 12 §5): an incident's timeline, and its court package.

An incident here is the ``incident`` tag curators give items. The timeline is read from records only;
the package is written by the evidence plugin's own ``tequio evidence export``, reached through the
core's command tree (a plugin never imports another plugin), so it is checked by ``tequio evidence
check`` like any other package.
"""

from __future__ import annotations

from typing import Any

import click

from tequio.node import Node

from .curation_queue import ITEM, ScopeView, _parse_ms, coalition_scopes, item_of

__all__ = ["export_via_evidence", "timeline"]


def timeline(node: Node, incident: str) -> list[dict[str, Any]]:
    """The items tagged with this incident, in time order (stated time, else when first recorded)."""
    rows: dict[bytes, dict[str, Any]] = {}
    for scope in coalition_scopes(node, None):
        recs, view = node.records(scope=scope, kind=ITEM), ScopeView(node, scope)
        copies: dict[bytes, set[bytes]] = {}
        for rec in recs:
            copies.setdefault(item_of(rec), {item_of(rec)}).add(rec.id)
        for rec in recs:
            iid, b = item_of(rec), rec.body or {}
            if iid in rows:
                continue
            tags = view.tags(iid)
            if tags.get("incident") != incident:
                continue
            raw = b.get("origin")
            origin: dict[str, Any] = raw if isinstance(raw, dict) else {}
            org = origin.get("org")
            taker: bytes = org if isinstance(org, bytes) else rec.author
            stated = str(b.get("when", ""))
            rows[iid] = {
                "id": iid.hex(),
                "scope": scope,
                "title": str(b.get("title", "")),
                "stated_time": stated,
                "recorded_ms": rec.record.ts,
                "taken_in_by": str(b.get("org", "")),
                "taken_in_key": taker.hex(),
                "mine": taker == node.key,
                "state": view.state(copies[iid]),
                "not_relevant": tags.get("not_relevant") is True,
                "tags": tags,
                "_order": _parse_ms(stated) or rec.record.ts,
            }
    out = sorted(rows.values(), key=lambda r: (r["_order"], r["id"]))
    for r in out:
        del r["_order"]
    return out


def export_via_evidence(ctx: click.Context, items: list[str], out: str, as_json: bool) -> None:
    """Run ``tequio evidence export ITEMS --out OUT`` in this same invocation (same node home)."""
    root = ctx.find_root()
    group = root.command
    cmd = group.get_command(root, "evidence") if isinstance(group, click.Group) else None
    if cmd is None:
        raise click.ClickException("the evidence plugin is not installed: it writes court packages")
    load = getattr(cmd, "load", None)
    real = load() if callable(load) else cmd
    args = ["export", *items, "--out", out] + (["--json"] if as_json else [])
    with real.make_context("evidence", args, parent=root) as sub:
        real.invoke(sub)
