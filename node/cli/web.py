"""``tequio web``: the pages' address and certificate as a QR for a phone, and the local audit log."""

from __future__ import annotations

import datetime as dt

import click

from ..web.tls import ensure_certificate
from ..web.users import UserDB
from .context import echo_json, open_node
from .users import web_address


@click.group()
def web() -> None:
    """The node's web pages: their address and certificate, and who did what in them."""


@web.command("qr")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def qr(ctx: click.Context, as_json: bool) -> None:
    """Show the pages' address and the TLS certificate's fingerprint as a QR, for a phone to check."""
    with open_node(ctx, unlock=False) as node:
        fp = ensure_certificate(node.home, node.name)
        url = web_address(node)
    if as_json:
        echo_json({"url": url, "certificate_sha256": fp})
        return
    import segno

    text = f"{url}\nSHA-256 {fp}"
    segno.make(text, error="m").terminal(compact=True)
    click.echo(f"{url}")
    click.echo(f"certificate SHA-256 {fp}")
    click.echo("the browser on the phone shows the certificate's SHA-256: it must be exactly this")


@web.command("audit")
@click.option("--user", "who", help="Only this person's actions.")
@click.option("--limit", type=click.IntRange(1, 100_000), default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def audit(ctx: click.Context, who: str | None, limit: int, as_json: bool) -> None:
    """What people did in the pages, newest first (kept on this node only, never synced)."""
    with open_node(ctx, unlock=False) as node:
        entries = UserDB(node.home, node.clock).audit_log(limit, who)
    if as_json:
        echo_json([e.__dict__ for e in entries])
        return
    for e in entries:
        when = dt.datetime.fromtimestamp(e.ts / 1000, dt.UTC).strftime("%Y-%m-%d %H:%M:%S")
        detail = " ".join(e.detail.split())
        click.echo(f"{when}  {e.user}  {e.action}  {detail!r}  {e.record[:16]}")


COMMANDS = [web]
