"""``tequio intake queue / tag / ask``: the curators' side of the intake plugin."""

from __future__ import annotations

from typing import Any

import click

from tequio.node.cli import echo_json, open_node

from .curation_accept import accept, pending
from .curation_incident import export_via_evidence, timeline
from .curation_queue import CurationError, ask, queue, tag

__all__ = ["intake"]


def _safe(text: object) -> str:
    """Text from other nodes, with control characters shown escaped so it cannot drive the terminal."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(text))[:200]


@click.group("intake")
def intake() -> None:
    """Public submissions: the curators' queue, tags, and questions to witnesses."""


@intake.command("queue")
@click.option("--group", "group", help="Only this coalition (g:GID or GID).")
@click.option("--all", "show_all", is_flag=True, help="Also show items tagged not relevant.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def queue_cmd(ctx: click.Context, group: str | None, show_all: bool, as_json: bool) -> None:
    """Evidence awaiting review in the coalition, near-duplicates grouped, with merged tags."""
    with open_node(ctx) as node:
        try:
            rows = [q.to_json() for q in queue(node, group, show_all)]
        except CurationError as e:
            raise click.ClickException(str(e)) from None
    if as_json:
        echo_json(rows)
        return
    for r in rows:
        flag = "  TIME DIFFERS" if r["time_differs"] else ""
        click.echo(f"[{r['group']}] {r['id'][:16]}  {r['state']:<15} {_safe(r['title'])}{flag}")
        if r["stated_time"] or r["camera_time_ms"] is not None:
            click.echo(f"      stated {_safe(r['stated_time']) or '?'}  camera {r['camera_time_ms'] or '?'}")
        if r["tags"]:
            click.echo("      " + "  ".join(f"{k}={_safe(v)}" for k, v in r["tags"].items()))
    if not rows:
        click.echo("the queue is empty", err=True)


@intake.command("tag")
@click.argument("item")
@click.option("--incident")
@click.option("--place")
@click.option("--people", multiple=True, help="Repeat for each person or group present.")
@click.option("--injuries")
@click.option("--units", multiple=True, help="Police units (repeat).")
@click.option("--plates", multiple=True, help="Vehicle plates (repeat).")
@click.option("--not-relevant", "not_relevant", is_flag=True, help="Hide from the queue (kept).")
@click.option("--duplicate-of", "duplicate_of", help="Merge: this item shows the same as that one (full id).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def tag_cmd(
    ctx: click.Context,
    item: str,
    incident: str | None,
    place: str | None,
    people: tuple[str, ...],
    injuries: str | None,
    units: tuple[str, ...],
    plates: tuple[str, ...],
    not_relevant: bool,
    duplicate_of: str | None,
    as_json: bool,
) -> None:
    """Tag an item (needs the group's intake.curate rule); other fields stay as they are."""
    fields: dict[str, Any] = {
        k: v for k, v in (("incident", incident), ("place", place), ("injuries", injuries)) if v is not None
    }
    fields.update({k: list(v) for k, v in (("people", people), ("units", units), ("plates", plates)) if v})
    if not_relevant:
        fields["not_relevant"] = True
    if duplicate_of:
        fields["duplicate_of"] = duplicate_of.strip().lower()
    for k, v in fields.items():
        if any(len(x) > 500 for x in (v if isinstance(v, list) else [v]) if isinstance(x, str)):
            raise click.ClickException(f"--{k}: each value at most 500 characters")
    with open_node(ctx) as node:
        try:
            iid, merged = tag(node, item, fields)
        except CurationError as e:
            raise click.ClickException(str(e)) from None
    if as_json:
        echo_json({"item": iid.hex(), "tags": merged})
    else:
        click.echo(f"tagged {iid.hex()[:16]}: " + "  ".join(f"{k}={_safe(v)}" for k, v in merged.items()))


def _accepted_json(rid: bytes, b: dict[str, Any]) -> dict[str, Any]:
    return {
        "item": b["origin"]["item"].hex(),
        "record": rid.hex(),
        "title": b["title"],
        "removed": b.get("removed", []),
        "not_stripped": b.get("not_stripped", []),
    }


@intake.command("pending")
@click.option("--group", "group", help="Only this coalition (g:GID or GID).")
@click.option("--all", "show_all", is_flag=True, help="Also show submissions marked not relevant.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def pending_cmd(ctx: click.Context, group: str | None, show_all: bool, as_json: bool) -> None:
    """Witnesses' submissions no curator has accepted yet (accept or reject each)."""
    with open_node(ctx) as node:
        try:
            rows = pending(node, group, show_all)
        except CurationError as e:
            raise click.ClickException(str(e)) from None
    if as_json:
        echo_json(rows)
        return
    for r in rows:
        files = ", ".join(_safe(f.get("name", "")) for f in r["files"]) or "no files"
        click.echo(f"{r['id'][:16]}  {r['hour']}  {_safe(r['call_title'])}  [{files}]")
        if r["account"]:
            click.echo("      " + _safe(r["account"])[:120])
    if not rows:
        click.echo("no submission is waiting", err=True)


@intake.command("accept")
@click.argument("submission")
@click.option("--title", default="", help="The items' title (default: the call's title and file name).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def accept_cmd(ctx: click.Context, submission: str, title: str, as_json: bool) -> None:
    """Take a submission's files in as evidence items (unreviewed), working copies stripped."""
    with open_node(ctx) as node:
        try:
            shared = accept(node, submission, title)
        except CurationError as e:
            raise click.ClickException(str(e)) from None
        items = [_accepted_json(r.id, r.body or {}) for r in shared]
    if as_json:
        echo_json({"submission": submission, "items": items})
        return
    for it in items:
        warn = "  (working copy NOT stripped)" if it["not_stripped"] else ""
        click.echo(f"item {it['item'][:16]}  {_safe(it['title'])}{warn}")


@intake.command("reject")
@click.argument("submission")
@click.pass_context
def reject_cmd(ctx: click.Context, submission: str) -> None:
    """Mark a submission not relevant: kept, hidden from the pending list (--all shows it)."""
    with open_node(ctx) as node:
        try:
            sid, _tags = tag(node, submission, {"not_relevant": True})
        except CurationError as e:
            raise click.ClickException(str(e)) from None
    click.echo(f"submission {sid.hex()[:16]} marked not relevant (kept)")


@intake.command("ask")
@click.argument("item")
@click.argument("text")
@click.pass_context
def ask_cmd(ctx: click.Context, item: str, text: str) -> None:
    """Ask the witness of an item a question (shown on the drop's status page)."""
    with open_node(ctx) as node:
        try:
            rid = ask(node, item, text)
        except CurationError as e:
            raise click.ClickException(str(e)) from None
    click.echo(f"question {rid.hex()[:16]} recorded")


@intake.group("incident")
def incident() -> None:
    """Incidents as curators tag them: the timeline, and one court package."""


@incident.command("show")
@click.argument("name", metavar="INCIDENT")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def incident_show(ctx: click.Context, name: str, as_json: bool) -> None:
    """The incident's items in time order: who took each in, and its review state."""
    with open_node(ctx) as node:
        try:
            rows = timeline(node, name)
        except CurationError as e:
            raise click.ClickException(str(e)) from None
    if as_json:
        echo_json({"incident": name, "items": rows})
        return
    click.echo(f"incident {_safe(name)}: {len(rows)} items")
    for r in rows:
        when = _safe(r["stated_time"]) or "?"
        click.echo(
            f"  {when:<20} {r['id'][:16]}  {r['state']:<12} by {_safe(r['taken_in_by'])}  {_safe(r['title'])}"
        )


@incident.command("export")
@click.argument("name", metavar="INCIDENT")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="The .zip to write.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def incident_export(ctx: click.Context, name: str, out: str, as_json: bool) -> None:
    """One court package of the incident's items this node took in (the evidence plugin writes it)."""
    with open_node(ctx) as node:
        try:
            rows = [r for r in timeline(node, name) if not r["not_relevant"]]
        except CurationError as e:
            raise click.ClickException(str(e)) from None
    mine = [r["id"] for r in rows if r["mine"]]
    others = sorted({r["taken_in_by"] or r["taken_in_key"][:16] for r in rows if not r["mine"]})
    if not mine:
        why = f" (taken in by: {', '.join(_safe(o) for o in others)})" if others else ""
        raise click.ClickException(f"no item of incident {_safe(name)!r} was taken in on this node{why}")
    if others:
        names = ", ".join(map(_safe, others))
        click.echo(f"not in this package, exported by the organisation that took them in: {names}", err=True)
    export_via_evidence(ctx, mine, out, as_json)
