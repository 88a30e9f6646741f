"""Commands about peers: invite, peer add/list/block/unblock/remove/candidates, and sync."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
from typing import Any

import click

from tequio.federation.invites import InviteError
from tequio.federation.peers import Peer, PeerBook, Penalties
from tequio.federation.service import FedError
from tequio.federation.sync import Unreachable
from tequio.schemas import fingerprint, safe_text

from ..errors import TequioError
from ..node import Node
from .context import echo_json, open_node

_UNITS = {"s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 7 * 86_400_000}


def parse_duration(text: str) -> int:
    """``90s``, ``30m``, ``2h``, ``7d``, ``1w`` to milliseconds."""
    m = re.fullmatch(r"\s*(\d+)\s*([smhdw])\s*", text.lower())
    if not m or int(m.group(1)) == 0:
        raise click.BadParameter("a positive number with a unit: 90s, 30m, 2h, 7d or 1w")
    return int(m.group(1)) * _UNITS[m.group(2)]


def _iso(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def _book(node: Node) -> PeerBook:
    minutes = node.config.federation.quarantine_minutes
    return PeerBook(node.store.conn, node.store.write, node.clock, Penalties(quarantine_ms=minutes * 60_000))


def _resolve(book: PeerBook, text: str) -> Peer:
    """A known peer by full key, a unique hex prefix (8+), or its fingerprint."""
    t = text.strip()
    peers = book.all()
    if re.fullmatch(r"[A-Za-z2-7]{4}(-[A-Za-z2-7]{4}){3}", t):
        found = [p for p in peers if fingerprint(p.key) == t.upper()]
    elif re.fullmatch(r"[0-9a-fA-F]{8,64}", t):
        found = [p for p in peers if p.key.hex().startswith(t.lower())]
    else:
        raise TequioError(f"{text!r} is neither a node key (hex) nor a fingerprint")
    if not found:
        raise TequioError(f"no known peer matches {text}")
    if len(found) > 1:
        raise TequioError(f"{text} matches several peers; give more of the key")
    return found[0]


def _federation(node: Node) -> Any:
    from ..federation import Federation

    return Federation(node)


@click.command()
@click.option(
    "--ttl", default="1d", show_default=True, help="How long the invite stays valid (90s, 30m, 2h, 7d)."
)
@click.option(
    "--uses", type=click.IntRange(1, 1000), default=1, show_default=True, help="How many nodes may use it."
)
@click.option("--qr", is_flag=True, help="Also print the code as a QR code.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def invite(ctx: click.Context, ttl: str, uses: int, qr: bool, as_json: bool) -> None:
    """Print a signed, expiring invite for another organisation's node."""
    ttl_ms = parse_duration(ttl)
    with open_node(ctx) as node:
        fed = _federation(node)
        if not fed.addresses():
            raise TequioError(
                "no address to put in the invite: start 'tequio serve' (it records where it listens)"
                " or set federation.advertise in tequio.toml"
            )
        inv = fed.invite(ttl_ms, uses)
        code = inv.encode(fed.keyring.sign)
    if as_json:
        echo_json({"code": code, "expires": inv.expires})
        return
    click.echo(code)
    click.echo(
        f"valid until {_iso(inv.expires)} for {uses} node{'s' if uses > 1 else ''};"
        f" reaches {', '.join(inv.addrs)}",
        err=True,
    )
    click.echo(f"your fingerprint, to confirm by phone or in person: {node.fingerprint}", err=True)
    if qr:
        import segno

        segno.make(code, error="m").terminal(compact=True)


@click.group()
def peer() -> None:
    """Trusted peers: add, list, block, unblock, remove; nodes seen on the LAN."""


@peer.command("add")
@click.argument("code")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def peer_add(ctx: click.Context, code: str, as_json: bool) -> None:
    """Use an invite CODE: contact its node, and trust each other."""
    with open_node(ctx) as node:
        fed = _federation(node)

        async def go() -> dict[str, Any]:
            try:
                return await fed.join(code)
            finally:
                await fed.aclose()

        try:
            joined = asyncio.run(go())
        except InviteError as e:
            raise TequioError(str(e)) from None
        except ValueError as e:
            raise TequioError(str(e)) from None
        except Unreachable as e:
            raise TequioError(f"cannot reach the inviting node: {e}") from None
        except FedError as e:
            raise TequioError(f"the inviting node refused: {e.detail or e.code}") from None
    if as_json:
        echo_json(
            {"key": joined["key"].hex(), "name": joined["name"], "fingerprint": fingerprint(joined["key"])}
        )
    else:
        shown = safe_text(joined["name"])
        click.echo(f"trusted {shown!r} ({fingerprint(joined['key'])}); it trusts this node too")
        click.echo("compare that fingerprint with the one the other organisation sees for itself", err=True)


NAME_WIDTH = 40  # characters of a peer's name shown in a listing line


def _cell(name: str) -> str:
    """A peer's name for a listing column: escaped, then cut to NAME_WIDTH so it stays in its column."""
    shown = safe_text(name)
    return shown if len(shown) <= NAME_WIDTH else shown[: NAME_WIDTH - 1] + "…"


@peer.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def peer_list(ctx: click.Context, as_json: bool) -> None:
    """Known peers with their status, and why a peer is slowed, quarantined or failing."""
    from tequio.federation.syncwait import waiting_for

    from ..federation import NodeSyncHost

    with open_node(ctx, unlock=False) as node:
        book = _book(node)
        now = node.clock()
        host = NodeSyncHost(node)
        items = [
            p.to_json(now, book.rules)
            | {"fingerprint": fingerprint(p.key), "waiting": waiting_for(host, p.key, book.load(p.key))}
            for p in book.all()
        ]
        wanted = host.wanted_blobs(10_000)
    lines = {id(it): it["waiting"].line() for it in items}
    for it in items:
        it["waiting"] = it["waiting"].as_dict()
    if as_json:
        echo_json(items)
        return
    for it in items:
        addrs = ", ".join(it["addrs"]) or "(no address)"
        # Fingerprint first at a fixed width: no name can move it or paint another (issue 9 §7).
        click.echo(f"{it['fingerprint']}  {it['status']:<11} {_cell(it['name'])}  {safe_text(addrs)}")
        if it["why"]:
            click.echo(f"    {safe_text(it['why'])}")
        if it["last_error"]:
            click.echo(f"    last error: {safe_text(it['last_error'])}")
        click.echo(f"    {lines[id(it)]}")
    if wanted:
        mb = sum(size for _, size in wanted) / 1_000_000
        click.echo(f"files to fetch from peers: {len(wanted)} ({mb:.1f} MB)")
    if not items:
        click.echo("no peers yet: 'tequio invite' here, 'tequio peer add CODE' there", err=True)


def _set_state(ctx: click.Context, key: str, state: str, verb: str) -> None:
    with open_node(ctx, unlock=False) as node:
        book = _book(node)
        p = _resolve(book, key)
        book.set_state(p.key, state)
    click.echo(f"{verb} {safe_text(p.name)!r} ({fingerprint(p.key)})")


@peer.command("block")
@click.argument("key")
@click.pass_context
def peer_block(ctx: click.Context, key: str) -> None:
    """Stop syncing with a peer and refuse its requests (it stays known)."""
    _set_state(ctx, key, "blocked", "blocked")


@peer.command("unblock")
@click.argument("key")
@click.pass_context
def peer_unblock(ctx: click.Context, key: str) -> None:
    """Trust a blocked peer again."""
    _set_state(ctx, key, "trusted", "unblocked")


@peer.command("remove")
@click.argument("key")
@click.pass_context
def peer_remove(ctx: click.Context, key: str) -> None:
    """Forget a peer: its trust, addresses and what we knew of its store."""
    with open_node(ctx, unlock=False) as node:
        book = _book(node)
        p = _resolve(book, key)
        book.remove(p.key)
    click.echo(f"removed {safe_text(p.name)!r} ({fingerprint(p.key)})")


@peer.command("candidates")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def peer_candidates(ctx: click.Context, as_json: bool) -> None:
    """Nodes seen on the LAN (by 'tequio serve'); never trusted until you add them with an invite."""
    with open_node(ctx, unlock=False) as node:
        book = _book(node)
        items: list[dict[str, Any]] = [
            {
                "key": k.hex(),
                "fingerprint": fingerprint(k),
                "name": n,
                "addrs": a,
                "seen": s,
                "trusted": book.is_trusted(k),
            }
            for k, n, a, s in book.candidates()
        ]
    if as_json:
        echo_json(items)
        return
    for it in items:
        mark = "trusted" if it["trusted"] else "not trusted"
        click.echo(
            f"{it['fingerprint']}  {mark:<11}  {_cell(it['name'])}  {safe_text(', '.join(it['addrs']))}"
            f"  seen {_iso(it['seen'])}"
        )
    if not items:
        click.echo("no nodes seen on the LAN (is 'tequio serve' running with discovery on?)", err=True)


@click.command()
@click.argument("key", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def sync(ctx: click.Context, key: str | None, as_json: bool) -> None:
    """Run one sync round now with one peer (KEY) or every trusted peer, and say what moved."""
    with open_node(ctx) as node:
        fed = _federation(node)
        targets = [_resolve(fed.peers, key)] if key else fed.peers.trusted()
        if not targets:
            raise TequioError("no trusted peers: 'tequio invite' here, 'tequio peer add CODE' there")

        async def go() -> list[dict[str, Any]]:
            out = []
            try:
                for p in targets:
                    res = await fed.gossip.sync_with(p.key)
                    entry: dict[str, Any] = {
                        "key": p.key.hex(),
                        "name": p.name,
                        "fingerprint": fingerprint(p.key),
                    }
                    if res is None:
                        entry |= {"ok": False, "error": fed.peers.get(p.key).last_error}
                    else:
                        entry |= {
                            "ok": True,
                            "in_sync": res.in_sync,
                            "round_trips": res.round_trips,
                            "sent": res.sent,
                            "accepted_there": res.accepted_there,
                            "received": res.received,
                            "accepted_here": res.accepted_here,
                        }
                    out.append(entry)
            finally:
                await fed.aclose()
            return out

        results = asyncio.run(go())
    if as_json:
        echo_json(results)
    else:
        for r in results:
            who = f"{safe_text(r['name'])} ({r['fingerprint']})"
            if not r["ok"]:
                click.echo(f"{who}: failed: {r['error']}")
            elif r["in_sync"]:
                click.echo(f"{who}: already in sync ({r['round_trips']} round trip)")
            else:
                click.echo(
                    f"{who}: sent {r['sent']} (accepted {r['accepted_there']}), received {r['received']}"
                    f" (accepted {r['accepted_here']}), {r['round_trips']} round trips"
                )
    if any(not r["ok"] for r in results):
        raise TequioError(f"{sum(not r['ok'] for r in results)} of {len(results)} peers could not be synced")


COMMANDS = [invite, peer, sync]
