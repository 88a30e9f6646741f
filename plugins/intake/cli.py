"""``tequio intake open / list / host``: calls for evidence from the command line."""

from __future__ import annotations

import click

from tequio.node.cli import echo_json, open_node

from . import calls as C

__all__ = ["intake"]


@click.group()
def intake() -> None:
    """Calls for evidence and the public, anonymous drop for witnesses."""


@intake.command("open")
@click.option("--group", "group", required=True, help="The coalition (group id or prefix).")
@click.option("--title", required=True)
@click.option("--text-es", required=True, help="What happened, what to send, who sees it (Spanish).")
@click.option("--text-en", required=True, help="The same in English.")
@click.option("--until", default="", help="Last day (YYYY-MM-DD) the drop accepts files.")
@click.option("--max-mb", default=100, show_default=True, type=click.IntRange(1, 100_000))
@click.option("--max-files", default=20, show_default=True, type=click.IntRange(1, 1000))
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def open_(
    ctx: click.Context,
    group: str,
    title: str,
    text_es: str,
    text_en: str,
    until: str,
    max_mb: int,
    max_files: int,
    as_json: bool,
) -> None:
    """Open a call: a signed record in the coalition's scope, held by every member node."""
    with open_node(ctx) as node:
        rec = C.open_call(
            node, group, title, text_es, text_en, until=until, max_mb=max_mb, max_files=max_files
        )
        call = C.find_call(node, rec.id.hex())
    if as_json:
        echo_json(call.to_json())
    else:
        cid = call.id.hex()
        click.echo(f"call {cid} opened in {call.scope}; serve it with 'tequio intake host {cid[:16]}'")


@intake.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def list_(ctx: click.Context, as_json: bool) -> None:
    """The calls this node holds, and whether it hosts their public page."""
    with open_node(ctx) as node:
        found = C.calls(node)
    if as_json:
        echo_json([c.to_json() for c in found])
        return
    if not found:
        click.echo("no calls for evidence")
    for c in found:
        mark = "hosted here" if c.hosted_here else f"hosted by {c.hosts} node(s)"
        click.echo(f"{c.id.hex()[:16]}  {c.body['title']!r}  until {c.body.get('until') or '-'}  {mark}")


@intake.command("host")
@click.argument("call")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def host(ctx: click.Context, call: str, as_json: bool) -> None:
    """Serve the call's public drop page from this node at /intake/c/<call id>."""
    with open_node(ctx) as node:
        c = C.host(node, call)
    if as_json:
        echo_json(c.to_json())
    else:
        click.echo(f"this node serves the drop for {c.id.hex()[:16]} at /intake/c/{c.id.hex()}")


def _with_curation() -> None:
    """The curators' commands (queue, tag, ask …) live in curation_cli.py; one ``tequio intake`` group."""
    from .curation_cli import intake as curation

    for name, command in curation.commands.items():
        intake.add_command(command, name)


_with_curation()
