"""The intake plugin's pages: members list and open calls; anyone may use a hosted call's drop."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from tequio.node import Node, TequioError
from tequio.node.web import N_, MenuItem, WebRoute, _, flash, in_worker, redirect, render

from . import calls as C
from .web_drop import (
    add_files,
    drop_page,
    status_form,
    status_page,
    submit,
    tus_create,
    tus_head,
    tus_patch,
    witness_page,
)

__all__ = ["MENU", "ROUTES", "TEMPLATES"]

TEMPLATES = Path(__file__).parent / "templates"


async def calls_page(request: web.Request) -> web.StreamResponse:
    def load(n: Node) -> tuple[list[C.Call], list[tuple[str, str]]]:
        return C.calls(n), [(s, s[2:]) for s, _st in n.governance.groups()]

    found, groups = await in_worker(request, load)
    return await render(request, "intake/calls.html", {"calls": found, "groups": groups})


async def open_page(request: web.Request) -> web.StreamResponse:
    form = await request.post()

    def value(k: str) -> str:
        return str(form.get(k, "")).strip()

    try:
        max_mb = int(value("max_mb") or 100)
        max_files = int(value("max_files") or 20)
    except ValueError:
        raise TequioError("the limits must be whole numbers") from None

    def do(n: Node) -> C.Call:
        rec = C.open_call(
            n,
            value("group"),
            value("title"),
            value("text_es"),
            value("text_en"),
            until=value("until"),
            max_mb=max_mb,
            max_files=max_files,
        )
        return C.host(n, rec.id.hex()) if value("host") == "yes" else C.find_call(n, rec.id.hex())

    call = await in_worker(request, do)
    await flash(request, _("Call opened: %(id)s", id=call.id.hex()[:16]))
    raise redirect("/intake/")


ROUTES = [
    WebRoute("GET", "/", calls_page, role="member"),
    WebRoute("POST", "/open", open_page, role="member"),
    WebRoute("GET", "/witness", witness_page, role=None),
    WebRoute("GET", "/c/{cid}", drop_page, role=None),
    WebRoute("POST", "/c/{cid}", submit, role=None),
    WebRoute("GET", "/c/{cid}/status", status_form, role=None),
    WebRoute("POST", "/c/{cid}/status", status_page, role=None),
    WebRoute("POST", "/c/{cid}/add", add_files, role=None),
    WebRoute("POST", "/c/{cid}/tus", tus_create, role=None),
    WebRoute("HEAD", "/c/{cid}/tus/{uid}", tus_head, role=None),
    WebRoute("PATCH", "/c/{cid}/tus/{uid}", tus_patch, role=None),
]
MENU = [MenuItem(N_("Calls for evidence"), "/intake/", role="member", order=60)]
