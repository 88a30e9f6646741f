"""``tequio evidence add / list / show / get``: taking items in, seeing them, taking their files out."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from tequio.node import TequioError
from tequio.node.cli import echo_json, open_node
from tequio.schemas import TextError, check_display_text

from . import api as ev
from .cli_shared import iso, report, safe, target_scope
from .recordkinds import STATUSES

__all__ = ["add", "get", "list_", "show"]


@click.command("add")
@click.argument(
    "files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option("--title", required=True, help="What it shows.")
@click.option("--description", default="", help="More about it.")
@click.option("--when", default="", help="When it was recorded (free text or ISO time).")
@click.option(
    "--where", "where_", default="", help="Where (free text; GPS in the file is not kept by default)."
)
@click.option("--source", default="", help="Who sent it (kept on this node only unless shared).")
@click.option("--scope", help="Share the working copy with this group (g:… or its id) after intake.")
@click.option(
    "--share-unstripped",
    is_flag=True,
    help="With --scope: share even a working copy whose format cannot be stripped (video, PDF…).",
)
@click.option("--consent", type=click.Choice(["yes", "no", "unknown"]), default="unknown", show_default=True)
@click.option(
    "--faces-at-risk", is_flag=True, help="People at risk can be recognised: it stays here until cleared."
)
@click.option(
    "--keep-location",
    is_flag=True,
    help="Keep the GPS position, altitude, time and datum in the working copy (never by default).",
)
@click.option("--incident", help="Add it to this incident.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def add(
    ctx: click.Context,
    files: tuple[Path, ...],
    title: str,
    description: str,
    when: str,
    where_: str,
    source: str,
    scope: str | None,
    share_unstripped: bool,
    consent: str,
    faces_at_risk: bool,
    keep_location: bool,
    incident: str | None,
    as_json: bool,
) -> None:
    """Take files in: hash the original first and keep it byte-identical; make a stripped working copy."""
    for value, field in ((title, "--title"), (description, "--description"), (where_, "--where")):
        try:
            check_display_text(value, field)
        except TextError as e:
            raise TequioError(str(e)) from None
    out: list[dict[str, Any]] = []
    with open_node(ctx) as node:
        target = target_scope(node, scope) if scope else None
        inc = (ev.find_incident(node, incident).body or {})["incident"] if incident else None
        for path in files:
            got = ev.intake(
                node,
                path,
                title,
                description=description,
                when=when,
                where=where_,
                source=source,
                consent=consent,
                faces_at_risk=faces_at_risk,
                keep_location=keep_location,
                incident=inc,
            )
            if target and got.duplicate_of is None:
                try:
                    ev.share(node, got.sha256, target, share_unstripped=share_unstripped)
                    got.shared = target
                except TequioError as e:
                    got.blocked = str(e)
            out.append(got.to_json() | {"file": str(path)})
    if as_json:
        echo_json(out)
        return
    for item in out:
        name = safe(item["file"])
        if "duplicate_of" in item:
            click.echo(f"{name}: already held, the same bytes as item {item['duplicate_of'][:16]}")
            continue
        click.echo(f"{name}: item {item['id'][:16]}  ({item['mime']})")
        click.echo(f"  original sha256 {item['original_sha256']}  (kept byte-identical, encrypted)")
        click.echo(f"  working  sha256 {item['working_sha256']}")
        click.echo(f"  removed from the working copy: {', '.join(item['removed']) or 'nothing found'}")
        if item["kept"]:
            click.echo(f"  kept: {', '.join(item['kept'])}")
        for line in item["not_stripped"]:
            click.echo(f"  NOT stripped: {line}")
        click.echo(f"  C2PA: {item['c2pa']}")
        for near in item["near_duplicates"]:
            click.echo(f"  looks like item {near['id'][:16]} ({near['bits']} bits apart): not merged")
        if item.get("shared"):
            click.echo(f"  shared with {item['shared']}")
        if item.get("blocked"):
            click.echo(f"  not shared: {item['blocked']}")


@click.command("list")
@click.option("--status", type=click.Choice([*STATUSES]), help="Only items with this review status.")
@click.option("--incident", help="Only items in this incident.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def list_(ctx: click.Context, status: str | None, incident: str | None, as_json: bool) -> None:
    """Items held here: own intake first, then copies shared with this node."""
    with open_node(ctx) as node:
        wanted = None
        if incident:
            inc = ev.find_incident(node, incident)
            wanted = set(ev.incident_items(node, (inc.body or {})["incident"]))
        rows: list[dict[str, Any]] = []
        for sha, rec in ev.items(node):
            if wanted is not None and sha not in wanted:
                continue
            ver = ev.verification(node, sha)
            st = ver[0].status if ver else "unreviewed"
            if status and st != status:
                continue
            b = rec.body or {}
            rows.append(
                {
                    "id": ev.item_id(node, rec).hex(),
                    "sha256": sha.hex(),
                    "title": b.get("title"),
                    "status": st,
                    "mine": rec.author == node.key,
                    "flags": ev.safety_flags(b) if rec.author == node.key else [],
                    "not_stripped": ev.working_not_stripped(node, sha, rec),
                    "verification": [
                        {
                            "scope": v.scope,
                            "status": v.status,
                            "verified_by": len(v.verified_by),
                            "required": v.required,
                        }
                        for v in ver
                    ],
                }
            )
    if as_json:
        echo_json(rows)
        return
    for r in rows:
        flag = "  [stays here until cleared]" if r["flags"] else ""
        raw = "  [working copy NOT stripped]" if r["not_stripped"] else ""
        click.echo(f"{r['id'][:16]}  {r['status']:<18} {safe(r['title'])}{flag}{raw}")
    if not rows:
        click.echo("no evidence items", err=True)


@click.command("show")
@click.argument("item")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def show(ctx: click.Context, item: str, as_json: bool) -> None:
    """The whole chain of custody: who, when, what, and whether each signature and hash still verifies."""
    with open_node(ctx) as node:
        sha, rec = ev.resolve(node, item)
        events = ev.chain(node, sha)
        ver = ev.verification(node, sha)
        b = rec.body or {}
        data: dict[str, Any] = {
            "id": ev.item_id(node, rec).hex(),
            "sha256": sha.hex(),
            "title": b.get("title"),
            "flags": ev.safety_flags(b) if rec.author == node.key else [],
            "not_stripped": ev.working_not_stripped(node, sha, rec),
            "verification": [
                {
                    "scope": v.scope,
                    "status": v.status,
                    "required": v.required,
                    "verified_by": [k.hex() for k in v.verified_by],
                    "latest": {k.hex(): s for k, s in v.latest.items()},
                }
                for v in ver
            ],
            "chain": events,
        }
    if as_json:
        echo_json(data)
        return
    click.echo(f"{safe(data['title'])}  item {data['id'][:16]}  original sha256 {sha.hex()}")
    for flag in data["flags"]:
        click.echo(f"  safety: {flag}")
    for line in data["not_stripped"]:
        click.echo(f"  NOT stripped: {line}; the working copy can locate the witness")
    for v in data["verification"]:
        click.echo(f"  {v['scope'][:12]}…: {v['status']}")
    click.echo("chain of custody:")
    for e in events:
        sig = "signature ok" if e["signature_ok"] else "SIGNATURE BROKEN"
        click.echo(f"  {iso(e['ts'])}  {safe(e['who'])}")
        click.echo(f"      {safe(e['what'])}  [{sig}]")
        for f in e["files"]:
            state = "hash ok" if f["ok"] else ("not held here" if not f["held"] else "HASH MISMATCH")
            click.echo(f"      {f['role']} file: {state}")


@click.command("get")
@click.argument("item")
@click.option("--working", "role", flag_value="working", help="The working copy (the redacted one, if any).")
@click.option("--original", "role", flag_value="original", help="The original, byte for byte as received.")
@click.option(
    "--out", required=True, type=click.Path(dir_okay=False, path_type=Path), help="The file to write."
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def get(ctx: click.Context, item: str, role: str | None, out: Path, as_json: bool) -> None:
    """Write an item's working copy or original to a file (0600), checked against its signed hash."""
    if role is None:
        raise click.UsageError("say which file: --working or --original")
    with open_node(ctx) as node:
        sha, rec = ev.resolve(node, item)
        got = ev.extract(node, sha, rec, role, out)
    report(
        as_json,
        got,
        f"wrote the {role} file of item {got['item'][:16]} to {out}: {got['size']} bytes,"
        f" sha256 {got['sha256']}",
    )
