"""The core pages: login, set-up links, logout, the dashboard and the records browser.

They are registered as ``WebRoute`` and ``MenuItem`` values like a plugin's pages; coalitions and
peers have their own modules (``groups.py``, ``peers.py``) whose routes are collected here.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from aiohttp import web
from aiohttp_session import get_session, new_session

from tequio.schemas import fingerprint, to_json

from . import groups as group_pages
from . import peers as peer_pages
from .app import MenuItem, WebRoute, ctx_of, error_page, redirect, render, safe_next, user_of
from .i18n import N_, _
from .tls import fingerprint_of

if TYPE_CHECKING:
    from ..node import Node

__all__ = ["MENU", "ROUTES"]

PAGE_SIZE = 50


# -- login, set-up, logout ---------------------------------------------------------------------------------


async def login_page(request: web.Request) -> web.Response:
    session = await get_session(request)
    expired = session.pop("expired", False)
    return await render(
        request,
        "login.html",
        {"next": safe_next(request.query.get("next")), "expired": expired, "name": "", "error": None},
    )


async def login(request: web.Request) -> web.StreamResponse:
    ctx = ctx_of(request)
    form = await request.post()
    name = str(form.get("name", ""))[:200]
    password = str(form.get("password", ""))
    nxt = safe_next(str(form.get("next", "/")))
    address = request.remote or "?"
    now = ctx.node.clock()
    wait = ctx.limiter.blocked(address, now)
    if wait:
        minutes = max(1, wait // 60_000)
        return await render(
            request,
            "login.html",
            {
                "next": nxt,
                "expired": False,
                "name": name,
                "error": _("Too many failed attempts. Try again in %(n)s minutes.", n=minutes),
            },
            status=429,
        )
    user = await ctx.auth(ctx.users.verify, name, password)
    if user is None:
        ctx.limiter.failed(address, now)
        return await render(
            request,
            "login.html",
            {"next": nxt, "expired": False, "name": name, "error": _("Wrong name or password.")},
            status=401,
        )
    ctx.limiter.succeeded(address)
    old = await get_session(request)
    lang = old.get("lang")
    session = await new_session(request)  # a fresh session: nothing from before the login carries over
    session.update({"user": user.name, "gen": user.generation, "created": user.created, "last": now})
    if lang:
        session["lang"] = lang
    await ctx.auth(ctx.users.audit, user.name, "login", "")
    raise redirect(nxt)


async def logout(request: web.Request) -> web.StreamResponse:
    ctx = ctx_of(request)
    user = user_of(request)
    session = await get_session(request)
    lang = session.get("lang")
    session.clear()  # the cookie is rewritten empty: nothing of the login survives
    if lang:
        session["lang"] = lang
    if user is not None:
        await ctx.auth(ctx.users.audit, user.name, "logout", "")
    raise redirect("/login")


async def setup_page(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    token = request.match_info["token"]
    name = await ctx.auth(ctx.users.setup_name, token)
    if name is None:
        return await error_page(
            request, 404, _("This set-up link is not valid (used, expired, or mistyped).")
        )
    return await render(request, "setup.html", {"name": name, "token": token, "error": None})


async def setup(request: web.Request) -> web.StreamResponse:
    from .users import UserError

    ctx = ctx_of(request)
    token = request.match_info["token"]
    form = await request.post()
    password, again = str(form.get("password", "")), str(form.get("again", ""))
    name = await ctx.auth(ctx.users.setup_name, token)
    if name is None:
        return await error_page(
            request, 404, _("This set-up link is not valid (used, expired, or mistyped).")
        )
    error = None
    if password != again:
        error = _("The two passwords are not the same.")
    else:
        try:
            user = await ctx.auth(ctx.users.use_setup, token, password)
        except UserError:
            error = _("A password has at least %(n)s characters.", n=10)
    if error is not None:
        return await render(request, "setup.html", {"name": name, "token": token, "error": error}, status=400)
    session = await new_session(request)
    session.update(
        {"user": user.name, "gen": user.generation, "created": user.created, "last": ctx.node.clock()}
    )
    await ctx.auth(ctx.users.audit, user.name, "password set", "by a set-up link")
    raise redirect("/")


# -- dashboard ---------------------------------------------------------------------------------------------


def _dashboard(node: Node) -> dict[str, Any]:
    from tequio.node.cli.peers import _book

    book = _book(node)
    now = node.clock()
    peers = []
    for p in book.all():
        peers.append(
            {
                "name": p.name,
                "fingerprint": fingerprint(p.key),
                "status": p.status(now, book.rules),
                "why": p.why,
                "last_ok": p.last_ok or None,
                "last_error": p.last_error,
            }
        )
    groups = node.governance.groups()
    open_props = []
    ignored = 0
    for _scope, st in groups:
        ignored += len(st.ignored)
        for prop in st.proposals.values():
            if prop.status == "open":
                open_props.append(
                    {
                        "id": prop.id.hex(),
                        "title": prop.title,
                        "group": st.name,
                        "voted": node.key in prop.ballots,
                        "turnout": len(prop.ballots),
                        "electorate": len(prop.electorate),
                    }
                )
    return {
        "fingerprint": node.fingerprint,
        "key": node.key.hex(),
        "records": node.count(),
        "forks": len(node.store.forks()),
        "peers": peers,
        "quarantined": sum(p["status"] in ("quarantined", "blocked") for p in peers),
        "groups": len(groups),
        "proposals": open_props,
        "ignored": ignored,
    }


async def dashboard(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    data = await ctx.run(_dashboard)
    try:
        cert = fingerprint_of(ctx.node.home)
    except OSError:
        cert = ""
    attention: list[dict[str, Any]] = []
    if data["forks"]:
        attention.append(
            {
                "text": _("Forks: an author signed two different records for one place"),
                "count": data["forks"],
                "link": "/records",
            }
        )
    if data["quarantined"]:
        attention.append(
            {"text": _("Peers quarantined or blocked"), "count": data["quarantined"], "link": "/peers"}
        )
    waiting = [p for p in data["proposals"] if not p["voted"]]
    if data["proposals"]:
        attention.append({"text": _("Open proposals"), "count": len(data["proposals"]), "link": "/groups"})
    if waiting:
        attention.append(
            {
                "text": _("Proposals this organisation has not voted on"),
                "count": len(waiting),
                "link": "/groups",
            }
        )
    if data["ignored"]:
        attention.append(
            {"text": _("Records the coalition's rules ignored"), "count": data["ignored"], "link": "/groups"}
        )
    # Plugins add what needs someone in their area through prepare_web_context (page_name "dashboard").
    return await render(
        request, "dashboard.html", {"page_name": "dashboard", "d": data, "cert": cert, "attention": attention}
    )


# -- records -----------------------------------------------------------------------------------------------


def _records(
    node: Node, scope: str | None, kind: str | None, author: bytes | None, after: int
) -> dict[str, Any]:
    rows = node.records(scope=scope, kind=kind, author=author, after=after, limit=PAGE_SIZE + 1)
    names = {node.key: node.name}
    from tequio.node.cli.peers import _book

    for p in _book(node).all():
        names[p.key] = p.name
    groups = node.governance.groups()
    for _s, st in groups:
        for k, m in st.members.items():
            names.setdefault(k, m.name)
    out = []
    for r in rows[:PAGE_SIZE]:
        body = r.body
        text = ""
        if body is not None:
            text = json.dumps(to_json(body), ensure_ascii=False)[:300]
        out.append(
            {
                "n": r.n,
                "id": r.id.hex(),
                "kind": r.kind or "",
                "scope": r.scope,
                "author": names.get(r.author) or fingerprint(r.author),
                "seq": r.seq,
                "ts": r.record.ts,
                "body": text,
                "readable": body is not None,
            }
        )
    kinds = [
        k
        for (k,) in node.store.conn.execute(
            "SELECT DISTINCT kind FROM records WHERE kind IS NOT NULL ORDER BY kind"
        )
    ]
    authors = sorted(
        {
            (k.hex(), names.get(k) or fingerprint(k))
            for (k,) in node.store.conn.execute("SELECT DISTINCT author FROM feeds")
        },
        key=lambda a: a[1].lower(),
    )
    scopes = [("public", "public")] + [(s, st.name) for s, st in groups]
    more = out[-1]["n"] if len(rows) > PAGE_SIZE else None
    return {"records": out, "kinds": kinds, "authors": authors, "scopes": scopes, "more": more}


async def records(request: web.Request) -> web.Response:
    q = request.query
    scope = q.get("scope") or None
    kind = q.get("kind") or None
    author_hex = q.get("author") or ""
    try:
        author = bytes.fromhex(author_hex) if author_hex else None
        after = int(q.get("after") or 0)
    except ValueError:
        return await error_page(request, 400, _("That filter is not valid."))
    if author is not None and len(author) != 32:
        return await error_page(request, 400, _("That filter is not valid."))
    data = await ctx_of(request).run(_records, scope, kind, author, max(0, after))
    return await render(
        request, "records.html", {**data, "scope": scope or "", "kind": kind or "", "author": author_hex}
    )


async def favicon(request: web.Request) -> web.StreamResponse:
    raise web.HTTPNoContent()


async def robots(request: web.Request) -> web.StreamResponse:
    """Search engines stay out, should a node ever be reachable from one."""
    return web.Response(text="User-agent: *\nDisallow: /\n")


ROUTES: list[WebRoute] = [
    WebRoute("GET", "/login", login_page, role=None),
    WebRoute("POST", "/login", login, role=None),
    WebRoute("GET", "/setup/{token}", setup_page, role=None),
    WebRoute("POST", "/setup/{token}", setup, role=None),
    WebRoute("POST", "/logout", logout, role=None),
    WebRoute("GET", "/favicon.ico", favicon, role=None),
    WebRoute("GET", "/robots.txt", robots, role=None),
    WebRoute("GET", "/", dashboard),
    WebRoute("GET", "/records", records),
    *group_pages.ROUTES,
    *peer_pages.ROUTES,
]

MENU: list[MenuItem] = [
    MenuItem(N_("Dashboard"), "/", order=0),
    MenuItem(N_("Coalitions"), "/groups", order=10),
    MenuItem(N_("Records"), "/records", order=40),
    MenuItem(N_("Peers"), "/peers", order=50),
]
