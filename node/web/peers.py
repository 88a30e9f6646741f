"""The peers page: this node's invite as a QR, adding another node's code, and fingerprints side by side.

Invites and joins are federation work on the serving node (the join waits on the other node over the
network, on the event loop, as federation always does); the listing is read on the worker.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import segno
from aiohttp import web

from tequio.schemas import fingerprint

from .app import WebRoute, audit, ctx_of, flash, redirect, render
from .i18n import _
from .words import message

if TYPE_CHECKING:
    from ..node import Node

__all__ = ["ROUTES", "qr_svg"]

INVITE_TTL_MS = 24 * 3_600_000


def qr_svg(text: str) -> str:
    """A QR code as inline SVG markup (no image request, nothing external)."""
    qr = segno.make(text, error="m")
    return str(qr.svg_inline(scale=3, dark="#000", light="#fff", border=2, title=""))


def _peers(node: Node) -> dict[str, Any]:
    from tequio.federation.syncwait import waiting_for
    from tequio.node.cli.peers import _book
    from tequio.node.federation import NodeSyncHost

    book = _book(node)
    now = node.clock()
    host = NodeSyncHost(node)
    return {
        "me": {"name": node.name, "fingerprint": node.fingerprint, "key": node.key.hex()},
        "peers": [
            {
                "name": p.name,
                "key": p.key.hex(),
                "fingerprint": fingerprint(p.key),
                "status": p.status(now, book.rules),
                "why": p.why,
                "addrs": p.addrs,
                "last_ok": p.last_ok or None,
                "waiting": waiting_for(host, p.key, book.load(p.key)).as_dict(),
            }
            for p in book.all()
        ],
    }


async def peers_page(request: web.Request, invite: str | None = None, status: int = 200) -> web.Response:
    ctx = ctx_of(request)
    data = await ctx.run(_peers)
    return await render(
        request,
        "peers.html",
        {
            **data,
            "invite": invite,
            "invite_qr": qr_svg(invite) if invite else None,
            "serving": ctx.fed is not None,
        },
        status=status,
    )


async def peers(request: web.Request) -> web.Response:
    return await peers_page(request)


async def make_invite(request: web.Request) -> web.StreamResponse:
    ctx = ctx_of(request)
    if ctx.fed is None:
        await flash(request, _("Invites need the node to be serving (tequio serve)."), "error")
        raise redirect("/peers")
    if not ctx.fed.addresses():
        await flash(request, _("This node does not know its federation address yet."), "error")
        raise redirect("/peers")
    code = ctx.fed.invite(INVITE_TTL_MS, 1).encode(ctx.fed.keyring.sign)
    await audit(request, "invite", "one use, valid one day")
    # Shown once, in this response, never stored in a cookie or the log.
    return await peers_page(request, invite=code)


async def add_peer(request: web.Request) -> web.StreamResponse:
    from tequio.federation.invites import InviteError
    from tequio.federation.service import FedError
    from tequio.federation.sync import Unreachable

    ctx = ctx_of(request)
    form = await request.post()
    code = str(form.get("code", "")).strip()
    if ctx.fed is None:
        await flash(request, _("Adding a peer needs the node to be serving (tequio serve)."), "error")
        raise redirect("/peers")
    if not code or len(code) > 4000:
        await flash(request, _("Paste the invite code you were given."), "error")
        raise redirect("/peers")
    try:
        got = await ctx.fed.join(code)
    except (InviteError, ValueError) as e:
        await flash(request, message(str(e)), "error")
        raise redirect("/peers") from None
    except (FedError, Unreachable, OSError) as e:
        await flash(request, _("The other node could not be reached: %(why)s", why=str(e)[:200]), "error")
        raise redirect("/peers") from None
    await audit(request, "peer add", f"{got['name']} {fingerprint(got['key'])}", got["key"].hex())
    await flash(
        request,
        _(
            "Now trusted: %(name)s (%(fp)s). Call them and compare fingerprints before sharing anything.",
            name=got["name"],
            fp=fingerprint(got["key"]),
        ),
    )
    raise redirect("/peers")


ROUTES = [
    WebRoute("GET", "/peers", peers),
    WebRoute("POST", "/peers/invite", make_invite, role="admin"),
    WebRoute("POST", "/peers/add", add_peer, role="admin"),
]
