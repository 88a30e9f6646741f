"""``tequio user``: the accounts of the people who use the node's web pages (add, list, remove, link)."""

from __future__ import annotations

import os

import click

from ..errors import TequioError
from ..node import Node
from ..web.users import ROLES, SETUP_TTL_MS, UserDB
from .context import echo_json, open_node


def web_address(node: Node) -> str:
    """Where the pages are, as configured (``tequio serve`` prints the bound address)."""
    cfg = node.config.web
    loopback = cfg.host in ("127.0.0.1", "localhost", "::1") or cfg.host.startswith("127.")
    scheme = "http" if loopback or cfg.insecure_http else "https"
    host = "127.0.0.1" if cfg.host in ("0.0.0.0", "::", "") else cfg.host
    host = f"[{host}]" if ":" in host else host
    return f"{scheme}://{host}:{cfg.port}/" if cfg.port else f"{scheme}://{host}:PORT/"


def _db(node: Node) -> UserDB:
    return UserDB(node.home, node.clock)


def _link(node: Node, name: str, as_json: bool, qr: bool) -> None:
    token = _db(node).setup_token(name)
    link = f"{web_address(node)}setup/{token}"
    if as_json:
        echo_json({"name": name, "setup_link": link, "expires_in_hours": SETUP_TTL_MS // 3_600_000})
        return
    click.echo(f"one-time set-up link for {name} (valid {SETUP_TTL_MS // 3_600_000} h; give it in person):")
    click.echo(f"  {link}")
    if qr:
        import segno

        segno.make(link, error="m").terminal(compact=True)


@click.group()
def user() -> None:
    """Accounts of the people (not nodes) who use the web pages: admin, member or reader."""


@user.command("add")
@click.argument("name")
@click.option("--role", type=click.Choice(ROLES), required=True, help="What the person may do (docs/web.md).")
@click.option("--password-env", metavar="VAR", help="Set the password from $VAR instead of a set-up link.")
@click.option("--no-qr", is_flag=True, help="Print the set-up link without its QR code.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def add(
    ctx: click.Context, name: str, role: str, password_env: str | None, no_qr: bool, as_json: bool
) -> None:
    """Add a person NAME; without --password-env, print a one-time link (and QR) to choose a password."""
    password = None
    if password_env:
        password = os.environ.get(password_env)
        if not password:
            raise TequioError(f"--password-env {password_env}: ${password_env} is not set or empty")
    with open_node(ctx, unlock=False) as node:
        made = _db(node).add(name, role, password)
        if password is not None:
            if as_json:
                echo_json({"name": made.name, "role": made.role, "password": True})
            else:
                click.echo(f"added {made.name} ({made.role}); they log in at {web_address(node)}login")
            return
        if not as_json:
            click.echo(f"added {made.name} ({made.role})")
        _link(node, made.name, as_json, not no_qr)


@user.command("link")
@click.argument("name")
@click.option("--no-qr", is_flag=True, help="Print the link without its QR code.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def link(ctx: click.Context, name: str, no_qr: bool, as_json: bool) -> None:
    """A new one-time set-up link for NAME (a forgotten password); the old password stays until it is used."""
    with open_node(ctx, unlock=False) as node:
        _link(node, name, as_json, not no_qr)


@user.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def list_(ctx: click.Context, as_json: bool) -> None:
    """The people with an account, their role, and whether they have chosen a password."""
    with open_node(ctx, unlock=False) as node:
        users = _db(node).all()
    if as_json:
        echo_json(
            [
                {"name": u.name, "role": u.role, "password": u.has_password, "created": u.created}
                for u in users
            ]
        )
        return
    for u in users:
        click.echo(f"{u.name}  {u.role}{'' if u.has_password else '  (set-up link not used yet)'}")
    if not users:
        click.echo("no users; add one with 'tequio user add NAME --role admin'", err=True)


@user.command("remove")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def remove(ctx: click.Context, name: str, as_json: bool) -> None:
    """Remove NAME's account; their sessions end at their next request."""
    with open_node(ctx, unlock=False) as node:
        _db(node).remove(name)
    if as_json:
        echo_json({"removed": name})
    else:
        click.echo(f"removed {name}")


COMMANDS = [user]
