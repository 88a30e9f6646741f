"""``tequio evidence``: intake, listing, custody, review, safety, sharing, court packages, fixity."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import click

from tequio.node import Node, TequioError
from tequio.node.cli import echo_json, open_node

from . import items as ev
from .records import CHECKS, STATUSES

__all__ = ["evidence"]


def _iso(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _scope(node: Node, text: str) -> str:
    """A group by id prefix or scope, or an organisation by key / known peer, as a scope."""
    from tequio.node.cli.groups import node_key
    from tequio.node.groups import group_state

    t = text.strip()
    if t.startswith("d:"):
        return t
    if t.startswith("g:") or len(t) <= 32:
        try:
            return group_state(node, t)[0]
        except TequioError:
            if t.startswith("g:"):
                raise
    return "d:" + node_key(node, t).hex()


@click.group()
def evidence() -> None:
    """Evidence of abuses: originals kept untouched, stripped working copies, custody, review, packages."""


@evidence.command("add")
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
@click.option("--consent", type=click.Choice(["yes", "no", "unknown"]), default="unknown", show_default=True)
@click.option(
    "--faces-at-risk", is_flag=True, help="People at risk can be recognised: it stays here until cleared."
)
@click.option("--keep-location", is_flag=True, help="Keep GPS tags in the working copy (never by default).")
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
    consent: str,
    faces_at_risk: bool,
    keep_location: bool,
    incident: str | None,
    as_json: bool,
) -> None:
    """Take files in: hash the original first and keep it byte-identical; make a stripped working copy."""
    out: list[dict[str, Any]] = []
    with open_node(ctx) as node:
        target = _scope(node, scope) if scope else None
        inc = ev.find_incident(node, incident).body["incident"] if incident else None  # type: ignore[index]
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
                    ev.share(node, got.sha256, target)
                    got.shared = target
                except TequioError as e:
                    got.blocked = str(e)
            out.append(got.to_json() | {"file": str(path)})
    if as_json:
        echo_json(out)
        return
    for item in out:
        if "duplicate_of" in item:
            click.echo(f"{item['file']}: already held, the same bytes as item {item['duplicate_of'][:16]}")
            continue
        click.echo(f"{item['file']}: item {item['id'][:16]}  ({item['mime']})")
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


@evidence.command("list")
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
            wanted = set(ev.incident_items(node, inc.body["incident"]))  # type: ignore[index]
        rows: list[dict[str, Any]] = []
        for sha, rec in ev.items(node):
            if wanted is not None and sha not in wanted:
                continue
            ver = ev.verification(node, sha)
            st = ver[0].status if ver else "unreviewed"
            if status and not (st == status or (status == "verified" and st == "verified")):
                continue
            b = rec.body or {}
            rows.append(
                {
                    "id": rec.id.hex(),
                    "sha256": sha.hex(),
                    "title": b.get("title"),
                    "status": st,
                    "mine": rec.author == node.key,
                    "flags": ev.safety_flags(b) if rec.author == node.key else [],
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
        click.echo(f"{r['id'][:16]}  {r['status']:<18} {r['title']}{flag}")
    if not rows:
        click.echo("no evidence items", err=True)


@evidence.command("show")
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
            "id": rec.id.hex(),
            "sha256": sha.hex(),
            "title": b.get("title"),
            "flags": ev.safety_flags(b) if rec.author == node.key else [],
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
    click.echo(f"{data['title']}  item {rec.id.hex()[:16]}  original sha256 {sha.hex()}")
    for flag in data["flags"]:
        click.echo(f"  safety: {flag}")
    for v in data["verification"]:
        click.echo(f"  {v['scope'][:12]}…: {v['status']}")
    click.echo("chain of custody:")
    for e in events:
        sig = "signature ok" if e["signature_ok"] else "SIGNATURE BROKEN"
        click.echo(f"  {_iso(e['ts'])}  {e['who']}")
        click.echo(f"      {e['what']}  [{sig}]")
        for f in e["files"]:
            state = "hash ok" if f["ok"] else ("not held here" if not f["held"] else "HASH MISMATCH")
            click.echo(f"      {f['role']} file: {state}")


@evidence.command("review")
@click.argument("item")
@click.option("--status", required=True, type=click.Choice([*STATUSES]))
@click.option("--check", "checks", multiple=True, type=click.Choice([*CHECKS]), help="What was checked.")
@click.option("--note", required=True, help="What the review found.")
@click.option("--scope", help="The group to review in, if the item is shared in several.")
@click.pass_context
def review_cmd(
    ctx: click.Context, item: str, status: str, checks: tuple[str, ...], note: str, scope: str | None
) -> None:
    """Sign this organisation's review; 'verified' needs reviewers from distinct organisations."""
    with open_node(ctx) as node:
        sha, _ = ev.resolve(node, item)
        rec = ev.review(node, sha, status, checks, note, _scope(node, scope) if scope else None)
        ver = [v for v in ev.verification(node, sha) if v.scope == rec.scope]
    click.echo(f"reviewed: {status}" + (f"; the item is now {ver[0].status}" if ver else ""))


@evidence.command("clear")
@click.argument("item")
@click.option(
    "--note", required=True, help="Why it is safe to share now (consent obtained, faces blurred...)."
)
@click.option("--scope", help="Clear it for this group only (checked against its evidence.clear rule).")
@click.pass_context
def clear_cmd(ctx: click.Context, item: str, note: str, scope: str | None) -> None:
    """Clear an item with safety flags so that it may leave this node."""
    with open_node(ctx) as node:
        sha, _ = ev.resolve(node, item)
        ev.clear(node, sha, note, _scope(node, scope) if scope else None)
    click.echo("cleared" + (f" for {scope}" if scope else ""))


@evidence.command("redact")
@click.argument("item")
@click.option(
    "--working",
    "working",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The redacted working copy (faces blurred, names cut) made from this item.",
)
@click.option("--note", required=True, help="What was redacted and why.")
@click.pass_context
def redact_cmd(ctx: click.Context, item: str, working: Path, note: str) -> None:
    """Replace the working copy with a redacted one; the original stays sealed and the chain says so."""
    with open_node(ctx) as node:
        sha, _ = ev.resolve(node, item)
        rec = ev.redact(node, sha, working, note)
    click.echo(f"redacted: new working copy {rec.body['to'].hex()[:16]}…, recorded in the chain")  # type: ignore[index]


@evidence.command("share")
@click.argument("item")
@click.option("--scope", required=True, help="The group (g:… or its id).")
@click.option("--original", is_flag=True, help="Share the original too, not only the working copy.")
@click.pass_context
def share_cmd(ctx: click.Context, item: str, scope: str, original: bool) -> None:
    """Share an item with a group: the working copy (and the original if asked), re-encrypted for it."""
    with open_node(ctx) as node:
        sha, _ = ev.resolve(node, item)
        target = _scope(node, scope)
        if not target.startswith("g:"):
            raise TequioError(
                "share is for groups; to hand an item to one organisation use 'evidence transfer'"
            )
        rec = ev.share(node, sha, target, with_original=original)
    click.echo(f"shared as {rec.id.hex()[:16]} in {target}")


@evidence.command("transfer")
@click.argument("item")
@click.option("--to", "to", required=True, help="The receiving organisation: its key or a known peer.")
@click.pass_context
def transfer_cmd(ctx: click.Context, item: str, to: str) -> None:
    """Hand an item (original and working copy) to another organisation; it acknowledges what it got."""
    with open_node(ctx) as node:
        sha, _ = ev.resolve(node, item)
        from tequio.node.cli.groups import node_key

        rec = ev.share(node, sha, "d:" + node_key(node, to).hex())
    click.echo(
        f"transferred as {rec.id.hex()[:16]}; the receiver signs 'tequio evidence ack' once it has the files"
    )


@evidence.command("ack")
@click.argument("item")
@click.pass_context
def ack_cmd(ctx: click.Context, item: str) -> None:
    """As the receiver of a transfer: check the files' hashes and sign an acknowledgement for the sender."""
    with open_node(ctx) as node:
        sha, _ = ev.resolve(node, item)
        ev.ack(node, sha)
    click.echo("acknowledged: the hashes received match what the sender signed")


@evidence.command("export")
@click.argument("items", nargs=-1)
@click.option("--incident", help="Export every item of this incident.")
@click.option(
    "--out", required=True, type=click.Path(dir_okay=False, path_type=Path), help="The .zip to write."
)
@click.pass_context
def export_cmd(ctx: click.Context, items: tuple[str, ...], incident: str | None, out: Path) -> None:
    """Write a court package anyone can check offline: files, signed records, keys, custody, VERIFY.md."""
    from .export import export

    if bool(items) == bool(incident):
        raise click.UsageError("name items, or give --incident (not both)")
    with open_node(ctx) as node:
        if incident:
            inc = ev.find_incident(node, incident)
            shas = ev.incident_items(node, inc.body["incident"])  # type: ignore[index]
        else:
            shas = list(dict.fromkeys(ev.resolve(node, i)[0] for i in items))
        manifest = export(node, shas, out)
    click.echo(f"wrote {out}: {len(manifest['items'])} items, {len(manifest['records'])} signed records")
    click.echo(f"  check it with: tequio evidence check {out}")


@evidence.command("check")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def check_cmd(file: Path, as_json: bool) -> None:
    """Verify a court package offline: every signature, hash and chain link; exit 1 naming what is wrong."""
    from .package import check_package

    report = check_package(file)
    if as_json:
        echo_json(
            {
                "ok": report.ok,
                "items": report.items,
                "records": report.records,
                "files": report.files,
                "signatures": report.signatures,
                "problems": [{"part": p.part, "what": p.what} for p in report.problems],
            }
        )
    elif report.ok:
        click.echo(
            f"{file}: OK — {report.items} items, {report.files} files, {report.records} records,"
            f" {report.signatures} signatures verified"
        )
    else:
        for p in report.problems:
            click.echo(f"{p.part}: {p.what}")
    if not report.ok:
        raise TequioError(f"{file}: {len(report.problems)} problems; the package cannot be trusted as it is")


@evidence.command("fixity")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def fixity_cmd(ctx: click.Context, as_json: bool) -> None:
    """Re-hash every stored file and record the result in each item's chain of custody."""
    with open_node(ctx) as node:
        results = ev.fixity(node)
    if as_json:
        echo_json(results)
    else:
        for r in results:
            click.echo(
                f"{r['id'][:16]}  original {r.get('original')}  working {r.get('working')}  {r['title']}"
            )
        if not results:
            click.echo("no items taken in on this node", err=True)
    if any(r.get(k) != "ok" for r in results for k in ("original", "working")):
        raise TequioError("some files do not match their recorded hashes (see above)")


@evidence.group("incident")
def incident() -> None:
    """Incidents group items: a demonstration, an arrest, a disappearance."""


@incident.command("create")
@click.argument("title")
@click.option("--description", default="")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def incident_create(ctx: click.Context, title: str, description: str, as_json: bool) -> None:
    """Open an incident."""
    with open_node(ctx) as node:
        rec = ev.create_incident(node, title, description)
    inc = rec.body["incident"].hex()  # type: ignore[index]
    if as_json:
        echo_json({"incident": inc})
    else:
        click.echo(f"incident {inc}  {title}")


@incident.command("add")
@click.argument("incident_id", metavar="INCIDENT")
@click.argument("items", nargs=-1, required=True)
@click.pass_context
def incident_add(ctx: click.Context, incident_id: str, items: tuple[str, ...]) -> None:
    """Add items to an incident."""
    with open_node(ctx) as node:
        inc = ev.find_incident(node, incident_id)
        for i in items:
            sha, _ = ev.resolve(node, i)
            ev.add_to_incident(node, sha, inc.body["incident"])  # type: ignore[index]
    click.echo(f"added {len(items)} items")


@incident.command("show")
@click.argument("incident_id", metavar="INCIDENT")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def incident_show(ctx: click.Context, incident_id: str, as_json: bool) -> None:
    """An incident and its items."""
    with open_node(ctx) as node:
        inc = ev.find_incident(node, incident_id)
        b = inc.body or {}
        shas = ev.incident_items(node, b["incident"])
        members = []
        for sha in shas:
            ver = ev.verification(node, sha)
            rec = ev._my_intake(node, sha)
            members.append(
                {
                    "sha256": sha.hex(),
                    "id": rec.id.hex() if rec else None,
                    "title": (rec.body or {}).get("title") if rec else None,
                    "status": ver[0].status if ver else "unreviewed",
                }
            )
    data = {
        "incident": b["incident"].hex(),
        "title": b.get("title"),
        "description": b.get("description"),
        "items": members,
    }
    if as_json:
        echo_json(data)
        return
    click.echo(f"{data['title']}  ({data['incident']})")
    for m in members:
        click.echo(f"  {m['id'][:16] if m['id'] else '?'}  {m['status']:<18} {m['title']}")


@incident.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def incident_list(ctx: click.Context, as_json: bool) -> None:
    """The incidents on this node, with how many items each holds."""
    with open_node(ctx) as node:
        rows = [
            {
                "incident": (r.body or {})["incident"].hex(),
                "title": (r.body or {}).get("title"),
                "items": len(ev.incident_items(node, (r.body or {})["incident"])),
            }
            for r in ev.incidents(node)
        ]
    if as_json:
        echo_json(rows)
        return
    for row in rows:
        click.echo(f"{row['incident']}  {row['items']} items  {row['title']}")
    if not rows:
        click.echo("no incidents", err=True)
