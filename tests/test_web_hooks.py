"""The web hooks, tested through the word-count plugin that docs/plugins.md documents (its pages included)."""

from __future__ import annotations

import re
import types
from collections.abc import Callable

import pytest

from tequio.node import Node
from tequio.node.errors import TequioError
from tequio.node.web import WebRoute, make_web_app
from tests.test_hooks import docs_plugin
from tests.webkit import Site


@pytest.fixture
def wc() -> types.ModuleType:
    return docs_plugin()


@pytest.fixture
def wc_node(make_node: Callable[..., Node], wc: types.ModuleType) -> Node:
    node = make_node(plugins=[wc])
    node.publish("core.note", {"text": "verdad y justicia, justicia ya"})
    return node


async def test_hook_register_web_routes(wc_node: Node) -> None:
    async with Site(wc_node) as s:
        s.user("ana", "reader")
        status, html = await s.get("/wordcount_docs/")
        assert 'action="/login"' in html  # guarded like every page
        await s.login("ana")
        status, html = await s.get("/wordcount_docs/")
        assert status == 200 and "<li>justicia: 1</li>" in html and "<li>verdad: 1</li>" in html


async def test_hook_register_web_menu(wc_node: Node) -> None:
    async with Site(wc_node) as s:
        s.user("ana", "reader")
        await s.login("ana")
        _status, html = await s.get("/")
        assert '<a href="/wordcount_docs/">Word counts</a>' in html
        _status, html = await s.get("/?lang=es")
        assert '<a href="/wordcount_docs/">Recuento de palabras</a>' in html  # the plugin's own catalog


async def test_hook_register_web_templates(wc_node: Node) -> None:
    async with Site(wc_node) as s:
        s.user("ana", "reader")
        await s.login("ana")
        _status, html = await s.get("/wordcount_docs/?lang=es")
        # The plugin's template extends the node's base: menu, language switch and its own title.
        assert "<title>Recuento de palabras · Casa</title>" in html and 'href="/records"' in html


async def test_hook_register_web_static(wc_node: Node) -> None:
    async with Site(wc_node) as s:
        s.user("ana", "reader")
        await s.login("ana")
        _status, html = await s.get("/wordcount_docs/")
        href = re.search(r'href="(/static/wordcount_docs/words\.css\?v=[^"]+)"', html)
        assert href
        async with s.client.get(href.group(1)) as r:  # type: ignore[union-attr]
            assert r.status == 200 and "columns: 2" in await r.text()
            assert r.headers["Content-Security-Policy"].startswith("default-src 'self'")


async def test_hook_prepare_web_context(wc_node: Node) -> None:
    async with Site(wc_node) as s:
        s.user("ana", "reader")
        await s.login("ana")
        words = wc_node.db.execute("SELECT count(*) FROM wordcount_words").fetchone()[0]
        _status, html = await s.get("/")
        assert f'<a href="/wordcount_docs/">Words counted</a>: <strong>{words}</strong>' in html


def test_two_routes_for_one_page_is_an_error(make_node: Callable[..., Node]) -> None:
    from tequio.node import hookimpl

    async def page(request: object) -> None:
        return None

    twice = types.ModuleType("twice")
    twice.register_web_routes = hookimpl(  # type: ignore[attr-defined]
        lambda: [WebRoute("GET", "/", page), WebRoute("GET", "/", page)]  # type: ignore[arg-type]
    )
    node = make_node(plugins=[twice])
    with pytest.raises(TequioError, match="two web routes for GET /twice/"):
        make_web_app(node)
