"""Commands about the node itself: init, info, plugins, check."""

from __future__ import annotations

import os
import sys

import click

from ..config import CONFIG_FILE
from ..errors import TequioError
from ..identity import KDF_PROFILES, key_is_encrypted
from ..names import check_name
from ..node import Node
from ..pluginhost import PluginHost
from ..servelock import running_serve
from .context import counted, echo_json, home_of, open_node


@click.command()
@click.option("--name", required=True, help="Display name of your organisation's node.")
@click.option(
    "--passphrase-env", "passphrase_env", metavar="VAR", help="Encrypt the key with the passphrase in $VAR."
)
@click.option(
    "--passphrase", "prompt", is_flag=True, help="Encrypt the key with a passphrase typed at a prompt."
)
@click.option(
    "--kdf",
    type=click.Choice(list(KDF_PROFILES)),
    default="moderate",
    show_default=True,
    help="Argon2id cost when a passphrase is set.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def init(
    ctx: click.Context, name: str, passphrase_env: str | None, prompt: bool, kdf: str, as_json: bool
) -> None:
    """Create a node: its key, API token, configuration and empty store."""
    check_name(name, "--name")
    passphrase = None
    if passphrase_env and prompt:
        raise click.UsageError("give --passphrase-env or --passphrase, not both")
    if passphrase_env:
        passphrase = os.environ.get(passphrase_env)
        if not passphrase:
            raise TequioError(f"--passphrase-env {passphrase_env}: ${passphrase_env} is not set or empty")
    elif prompt:
        if not sys.stdin.isatty():
            raise TequioError("--passphrase needs a terminal to prompt on; use --passphrase-env VAR instead")
        passphrase = click.prompt("New passphrase", hide_input=True, confirmation_prompt=True, err=True)
    home = home_of(ctx)
    node = Node.create(
        home, name=name, passphrase=passphrase, passphrase_env=passphrase_env or "", kdf_profile=kdf
    )
    if passphrase is None:
        click.echo(
            "warning: the node key is stored unencrypted: whoever copies this folder can sign as"
            " this organisation; create the node with --passphrase-env VAR or --passphrase",
            err=True,
        )
    try:
        if as_json:
            echo_json(
                {
                    "home": str(home),
                    "key": node.key.hex(),
                    "fingerprint": node.fingerprint,
                    "name": node.name,
                    "encrypted": passphrase is not None,
                }
            )
            return
        click.echo(f"Created node {node.name!r} in {home}")
        click.echo(f"  key          {node.key.hex()}")
        click.echo(f"  fingerprint  {node.fingerprint}  (compare it aloud with peers)")
        if passphrase is not None:
            how = f"${passphrase_env}" if passphrase_env else "the prompt"
            click.echo(f"  the key is encrypted; commands that sign read the passphrase from {how}")
        click.echo('  next: tequio publish core.note --body \'{"text": "hola"}\'')
    finally:
        node.close()


def _certificate(node: Node) -> str:
    """SHA-256 of the web listener's certificate (made for older nodes on first look)."""
    from ..web.tls import ensure_certificate

    return ensure_certificate(node.home, node.name)


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def info(ctx: click.Context, as_json: bool) -> None:
    """Show this node's key, fingerprint, name, store and local API token."""
    with open_node(ctx, unlock=False) as node:
        store = node.store
        data = {
            "key": node.key.hex(),
            "fingerprint": node.fingerprint,
            "name": node.name,
            "home": str(node.home),
            "records": node.count(),
            "feeds": len(store.feeds()),
            "forks": len(store.forks()),
            "encrypted": key_is_encrypted(node.home),
            "api_port": node.config.api.port,
            "api_token": node.api_token,
            "web_port": node.config.web.port,
            "web_certificate": _certificate(node),
            "plugins": [p["name"] for p in node.plugins.describe()],
        }
        # The ports a running serve actually bound (it may have been given 0 or other ports than the
        # config's); None when no serve runs on this home.
        live = running_serve(node.home)
        data["serving"] = (
            None
            if live is None
            else {
                "pid": live.get("pid"),
                "api_port": live.get("api_port"),
                "fed_ports": live.get("fed_ports"),
                "web_port": live.get("web_port"),
            }
        )
    if as_json:
        echo_json(data)
        return
    width = max(len(k) for k in data)
    for k, v in data.items():
        if k == "serving":
            v = _serving_line(v if isinstance(v, dict) else None)
        shown = ", ".join(v) if isinstance(v, list) else v
        click.echo(f"{k.replace('_', ' '):<{width}}  {shown}")


def _serving_line(live: dict[str, object] | None) -> str:
    if live is None:
        return "no tequio serve is running on this home"
    fed = live.get("fed_ports") or []
    fed_text = ", ".join(str(p) for p in fed) if isinstance(fed, list) else str(fed)
    web = live.get("web_port")
    return (
        f"PID {live.get('pid')}: local API port {live.get('api_port')}, federation port {fed_text or '-'},"
        f" web port {web if web is not None else '-'}"
    )


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def plugins(ctx: click.Context, as_json: bool) -> None:
    """List the loaded plugins, their hooks and kinds (and, on a node, records not yet projected)."""
    described = PluginHost().describe()
    if (home_of(ctx) / CONFIG_FILE).exists():
        with open_node(ctx, unlock="if-available") as node:
            lag = node.projection_lag()
        for p in described:
            if p["name"] in lag:
                p["lag"] = lag[p["name"]]
    if as_json:
        echo_json(described)
        return
    for p in described:
        origin = f"{p['package']} {p['version']}" if p["package"] else p["module"]
        click.echo(f"{p['name']}  ({origin})")
        click.echo(f"  hooks: {', '.join(p['hooks']) or '-'}")
        click.echo(f"  kinds: {', '.join(p['kinds']) or '-'}")
        if p.get("lag"):
            click.echo(f"  not yet projected: {counted(p['lag'], 'record')} (open the node with its key)")


@click.command()
@click.option("--signatures", is_flag=True, help="Also re-verify every record's signature and id (slower).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def check(ctx: click.Context, signatures: bool, as_json: bool) -> None:
    """Check the store: SQLite integrity, every feed chain and head, forks on record."""
    with open_node(ctx, unlock=False) as node:
        problems = node.store.check(signatures=signatures)
        forks = node.store.forks()
        count = node.count()
    if as_json:
        echo_json({"ok": not problems, "records": count, "problems": problems, "forks": len(forks)})
    else:
        for p in problems:
            click.echo(f"problem: {p}")
        click.echo(
            f"{count} records checked: {'no problems' if not problems else f'{len(problems)} problems'}"
            f"{f'; {len(forks)} fork proofs on record' if forks else ''}"
        )
    if problems:
        raise TequioError(f"the store has {counted(len(problems), 'problem')}")


COMMANDS = [init, info, plugins, check]
