"""In a real headless Chromium: logging in, Spanish, a cross-site post refused, a vote without JavaScript."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from tequio.node.groups import create_group

from .conftest import login
from .live import LiveNode, nodes


@pytest.fixture
def casa(tmp_path: Path) -> Iterator[LiveNode]:
    with nodes(tmp_path, "Casa de la Memoria") as (n,):
        yield n


def test_log_in_and_switch_to_spanish(phone: Any, casa: LiveNode) -> None:
    page = phone.new_page()
    login(page, casa)
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.get_by_role("heading", name="Needs someone").is_visible()
    page.get_by_role("link", name="Español").click()
    page.wait_for_url("**/?lang=es")
    assert page.locator("html").get_attribute("lang") == "es"
    assert page.get_by_role("heading", name="Requiere atención").is_visible()
    page.get_by_role("link", name="Coaliciones").click()  # remembered on the next page, without ?lang
    assert page.get_by_role("heading", name="Coaliciones").is_visible()
    assert page.locator("html").get_attribute("lang") == "es"
    page.get_by_role("button", name="Salir").click()
    page.wait_for_url("**/login")
    assert page.get_by_role("button", name="Entrar").is_visible()


def test_a_cross_site_form_post_is_refused(phone: Any, casa: LiveNode) -> None:
    """A page on another origin posts a form to the node in the logged-in browser: nothing is signed."""
    page = phone.new_page()
    login(page, casa)
    target = casa.url + "groups"
    evil = (
        f'<html><body><form id="f" method="post" action="{target}">'
        '<input name="name" value="Coalición falsa"><input name="csrf_token" value="guessed"></form>'
        "<script>document.getElementById('f').submit()</script></body></html>"
    )

    async def evil_page(request: web.Request) -> web.Response:
        return web.Response(text=evil, content_type="text/html")

    app = web.Application()
    app.router.add_get("/", evil_page)
    ready = threading.Event()
    holder: dict[str, Any] = {}

    def serve() -> None:
        import asyncio

        loop = asyncio.new_event_loop()
        runner = web.AppRunner(app)
        loop.run_until_complete(runner.setup())
        # Another port on the same address: the same *site*, so the SameSite=Strict cookie is sent,
        # and only the origin check stops the post.
        site = web.TCPSite(runner, "127.0.0.1", 0)
        loop.run_until_complete(site.start())
        holder["url"] = f"http://127.0.0.1:{runner.addresses[0][1]}/"
        holder["stop"] = lambda: loop.call_soon_threadsafe(loop.stop)
        ready.set()
        loop.run_forever()
        loop.run_until_complete(runner.cleanup())

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    ready.wait(10)
    try:
        with page.expect_response(target) as got:
            page.goto(holder["url"])
        assert got.value.status == 403
        page.wait_for_load_state()
        assert "another site" in page.content()
        assert casa.call(lambda n: n.governance.groups()) == []
    finally:
        holder["stop"]()
        t.join(10)


def test_a_ranked_vote_completes_with_javascript_disabled(browser: Any, casa: LiveNode) -> None:
    gid = casa.call(lambda n: create_group(n, "Asamblea", [])[0].hex())
    ctx = browser.new_context(viewport={"width": 360, "height": 640}, java_script_enabled=False)
    try:
        page = ctx.new_page()
        login(page, casa)
        page.goto(f"{casa.url}groups/{gid}")
        page.get_by_role("link", name="Open a proposal").click()
        page.get_by_label("What is being decided").fill("Prioridad del año")
        page.get_by_label("Voting method").select_option("irv")
        page.get_by_label("Options, one per line").fill("Búsqueda\nDocumentación\nFormación")
        page.get_by_role("button", name="Open the proposal").click()
        page.get_by_label("Documentación").select_option("1")
        page.get_by_label("Búsqueda").select_option("2")
        page.get_by_role("button", name="Cast the ballot").click()
        assert "Ballot cast" in page.content()
        page.get_by_role("button", name="Close and count").click()
        assert page.get_by_text("Instant-runoff rounds").is_visible()
        rounds = page.locator("table", has_text="Instant-runoff rounds")
        assert "Documentación wins" in rounds.inner_text()
        pid = page.url.rsplit("/", 1)[1]
        result = casa.call(lambda n: n.governance.state("g:" + gid).proposals[bytes.fromhex(pid)].result)
        assert result["winners"] == ["Documentación"]
    finally:
        ctx.close()
