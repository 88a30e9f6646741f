"""``tequio evidence review / clear / redact / share / transfer / ack / export / check / fixity``.

Every action takes ``--json`` and prints what it signed; an error is one line and exit 1.
"""

from __future__ import annotations

from pathlib import Path

import click

from tequio.node import TequioError, resolve_key
from tequio.node.cli import echo_json, open_node

from . import api as ev
from .cli_shared import report, target_scope
from .recordkinds import CHECKS, STATUSES

__all__ = [
    "ack_cmd",
    "check_cmd",
    "clear_cmd",
    "export_cmd",
    "fixity_cmd",
    "redact_cmd",
    "review_cmd",
    "share_cmd",
    "transfer_cmd",
]

_JSON = click.option("--json", "as_json", is_flag=True, help="Print JSON.")


@click.command("review")
@click.argument("item")
@click.option("--status", required=True, type=click.Choice([*STATUSES]))
@click.option("--check", "checks", multiple=True, type=click.Choice([*CHECKS]), help="What was checked.")
@click.option("--note", required=True, help="What the review found.")
@click.option("--scope", help="The group to review in, if the item is shared in several.")
@_JSON
@click.pass_context
def review_cmd(
    ctx: click.Context,
    item: str,
    status: str,
    checks: tuple[str, ...],
    note: str,
    scope: str | None,
    as_json: bool,
) -> None:
    """Sign this organisation's review; 'verified' needs reviewers from distinct organisations."""
    with open_node(ctx) as node:
        sha, rec = ev.resolve(node, item)
        signed = ev.review(node, sha, status, checks, note, target_scope(node, scope) if scope else None)
        ver = [v for v in ev.verification(node, sha) if v.scope == signed.scope]
        item_id = ev.item_id(node, rec).hex()
    now = ver[0].status if ver else status
    report(
        as_json,
        {
            "item": item_id,
            "record": signed.id.hex(),
            "scope": signed.scope,
            "status": status,
            "item_status": now,
        },
        f"reviewed: {status}" + (f"; the item is now {now}" if ver else ""),
    )


@click.command("clear")
@click.argument("item")
@click.option(
    "--note", required=True, help="Why it is safe to share now (consent obtained, faces blurred...)."
)
@click.option("--scope", help="Clear it for this group only (checked against its evidence.clear rule).")
@_JSON
@click.pass_context
def clear_cmd(ctx: click.Context, item: str, note: str, scope: str | None, as_json: bool) -> None:
    """Clear an item with safety flags so that it may leave this node."""
    with open_node(ctx) as node:
        sha, rec = ev.resolve(node, item)
        target = target_scope(node, scope) if scope else None
        signed = ev.clear(node, sha, note, target)
        item_id = ev.item_id(node, rec).hex()
    report(
        as_json,
        {"item": item_id, "record": signed.id.hex(), "scope": target},
        "cleared" + (f" for {target}" if target else ""),
    )


@click.command("redact")
@click.argument("item")
@click.option(
    "--working",
    "working",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The redacted working copy (faces blurred, names cut) made from this item.",
)
@click.option("--note", required=True, help="What was redacted and why.")
@_JSON
@click.pass_context
def redact_cmd(ctx: click.Context, item: str, working: Path, note: str, as_json: bool) -> None:
    """Replace the working copy with a redacted one; the original stays sealed and the chain says so."""
    with open_node(ctx) as node:
        sha, rec = ev.resolve(node, item)
        signed = ev.redact(node, sha, working, note)
        item_id = ev.item_id(node, rec).hex()
    b = signed.body or {}
    lines = [f"redacted: new working copy {b['to'].hex()[:16]}…, recorded in the chain"]
    lines += [f"  NOT stripped: {line}" for line in b.get("not_stripped", [])]
    report(
        as_json,
        {
            "item": item_id,
            "record": signed.id.hex(),
            "working_sha256": b["to"].hex(),
            "removed": b.get("removed", []),
            "not_stripped": b.get("not_stripped", []),
        },
        *lines,
    )


@click.command("share")
@click.argument("item")
@click.option("--scope", required=True, help="The group (g:… or its id).")
@click.option("--original", is_flag=True, help="Share the original too, not only the working copy.")
@click.option(
    "--share-unstripped", is_flag=True, help="Share a working copy whose format could not be stripped."
)
@_JSON
@click.pass_context
def share_cmd(
    ctx: click.Context, item: str, scope: str, original: bool, share_unstripped: bool, as_json: bool
) -> None:
    """Share an item with a group: the working copy (and the original if asked), re-encrypted for it."""
    with open_node(ctx) as node:
        sha, rec = ev.resolve(node, item)
        target = target_scope(node, scope)
        if not target.startswith("g:"):
            raise TequioError(
                "share is for groups; to hand an item to one organisation use 'evidence transfer'"
            )
        signed = ev.share(node, sha, target, with_original=original, share_unstripped=share_unstripped)
        item_id = ev.item_id(node, rec).hex()
    report(
        as_json,
        {"item": item_id, "record": signed.id.hex(), "scope": target, "original": original},
        f"shared item {item_id[:16]} in {target} (record {signed.id.hex()[:16]})",
    )


@click.command("transfer")
@click.argument("item")
@click.option("--to", "to", required=True, help="The receiving organisation: its key or a known peer.")
@_JSON
@click.pass_context
def transfer_cmd(ctx: click.Context, item: str, to: str, as_json: bool) -> None:
    """Hand an item (original and working copy) to another organisation; it acknowledges what it got."""
    with open_node(ctx) as node:
        sha, rec = ev.resolve(node, item)
        key = resolve_key(node, to)
        signed = ev.share(node, sha, "d:" + key.hex())
        item_id = ev.item_id(node, rec).hex()
    report(
        as_json,
        {"item": item_id, "record": signed.id.hex(), "to": key.hex()},
        f"transferred item {item_id[:16]}; the receiver signs 'tequio evidence ack {item_id[:16]}'"
        " once it has the files",
    )


@click.command("ack")
@click.argument("item")
@_JSON
@click.pass_context
def ack_cmd(ctx: click.Context, item: str, as_json: bool) -> None:
    """As the receiver of a transfer: check the files' hashes and sign an acknowledgement for the sender."""
    with open_node(ctx) as node:
        sha, rec = ev.resolve(node, item)
        signed = ev.ack(node, sha)
        item_id = ev.item_id(node, rec).hex()
    b = signed.body or {}
    report(
        as_json,
        {
            "item": item_id,
            "record": signed.id.hex(),
            "original_sha256": b["original"].hex() if b.get("original") else None,
            "working_sha256": b["working"].hex() if b.get("working") else None,
        },
        "acknowledged: the hashes received match what the sender signed",
    )


@click.command("export")
@click.argument("items", nargs=-1)
@click.option("--incident", help="Export every item of this incident.")
@click.option(
    "--out", required=True, type=click.Path(dir_okay=False, path_type=Path), help="The .zip to write."
)
@_JSON
@click.pass_context
def export_cmd(
    ctx: click.Context, items: tuple[str, ...], incident: str | None, out: Path, as_json: bool
) -> None:
    """Write a court package anyone can check offline: files, signed records, keys, custody, VERIFY.md."""
    if bool(items) == bool(incident):
        raise click.UsageError("name items, or give --incident (not both)")
    with open_node(ctx) as node:
        if incident:
            inc = ev.find_incident(node, incident)
            shas = ev.incident_items(node, (inc.body or {})["incident"])
        else:
            shas = list(dict.fromkeys(ev.resolve(node, i)[0] for i in items))
        manifest = ev.export(node, shas, out)
    report(
        as_json,
        {
            "file": str(out),
            "package": manifest["package"],
            "items": [i["id"] for i in manifest["items"]],
            "records": len(manifest["records"]),
        },
        f"wrote {out}: {len(manifest['items'])} items, {len(manifest['records'])} signed records",
        f"  check it with: tequio evidence check {out}",
    )


@click.command("check")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@_JSON
def check_cmd(file: Path, as_json: bool) -> None:
    """Verify a court package offline: every signature, hash, chain link and view, and who signed it;
    exit 1 naming what is wrong."""
    report_ = ev.check_package(file)
    if as_json:
        echo_json(report_.to_json())
    else:
        click.echo(f"{file.name}: " + report_.summary())
    if not report_.ok:
        raise TequioError(f"{file}: {len(report_.problems)} problems; the package cannot be trusted as it is")


@click.command("fixity")
@_JSON
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
