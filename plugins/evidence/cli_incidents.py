"""``tequio evidence incident create / add / show / list``: cases that group items."""

from __future__ import annotations

import click

from tequio.node.cli import echo_json, echo_listing, open_node

from . import api as ev
from .cli_shared import safe

__all__ = ["incident"]


@click.group("incident")
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
    inc = (rec.body or {})["incident"].hex()
    if as_json:
        echo_json({"incident": inc})
    else:
        click.echo(f"incident {inc}  {title}")


@incident.command("add")
@click.argument("incident_id", metavar="INCIDENT")
@click.argument("items", nargs=-1, required=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def incident_add(ctx: click.Context, incident_id: str, items: tuple[str, ...], as_json: bool) -> None:
    """Add items to an incident."""
    with open_node(ctx) as node:
        inc = ev.find_incident(node, incident_id)
        added = []
        for i in items:
            sha, rec = ev.resolve(node, i)
            ev.add_to_incident(node, sha, (inc.body or {})["incident"])
            added.append(ev.item_id(node, rec).hex())
    if as_json:
        echo_json({"incident": (inc.body or {})["incident"].hex(), "items": added})
    else:
        click.echo(f"added {len(added)} items")


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
            rec = ev.my_intake(node, sha)
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
    click.echo(f"{safe(data['title'])}  ({data['incident']})")
    for m in members:
        click.echo(f"  {m['id'][:16] if m['id'] else '?'}  {m['status']:<18} {safe(m['title'])}")


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
    echo_listing(
        rows,
        as_json,
        lambda row: f"{row['incident']}  {row['items']} items  {safe(row['title'])}",
        "no incidents",
    )
