"""Pages and static files go out compressed: gzip when the browser takes it, the bytes intact, the
stylesheet and the handbook's scripts included; a client that takes no compression gets plain bytes."""

from __future__ import annotations

import gzip
import re
import zlib
from collections.abc import Callable

import aiohttp
import pytest

from tequio.node import Node
from tests.webkit import Site

_STATIC = (
    ("core", "style.css", "text/css"),
    ("handbook", "web.css", "text/css"),
    ("handbook", "checks.js", "javascript"),
    ("handbook", "search.js", "javascript"),
)


@pytest.fixture
def casa(make_node: Callable[..., Node]) -> Node:
    return make_node("Casa")


async def _raw(s: Site, path: str, encoding: str) -> tuple[int, dict[str, str], bytes]:
    """GET without the client's own decompression, so the bytes on the wire are what is checked."""
    async with (
        aiohttp.ClientSession(s.base, auto_decompress=False) as c,
        c.get(path, headers={"Accept-Encoding": encoding}) as r,
    ):
        return r.status, dict(r.headers), await r.read()


@pytest.mark.parametrize(("plugin", "name", "ctype"), _STATIC)
async def test_static_files_are_served_gzipped_and_decompress_to_the_file(
    casa: Node, plugin: str, name: str, ctype: str
) -> None:
    async with Site(casa) as s:
        _st, html = await s.get("/login")
        url = s.app.router[f"static-{plugin}"].url_for(filename=name)  # type: ignore[attr-defined]
        if plugin == "core":  # the page links the stylesheet it names: the same URL
            assert re.search(rf'href="{re.escape(str(url).split("?")[0])}', html)
        plain_status, plain_h, plain = await _raw(s, str(url), "identity")
        status, h, body = await _raw(s, str(url), "gzip, deflate, br")
        assert status == plain_status == 200 and ctype in h["Content-Type"]
        assert h["Content-Encoding"] == "gzip" and "Accept-Encoding" in h.get("Vary", "")
        assert body[:2] == b"\x1f\x8b" and gzip.decompress(body) == plain
        assert "Content-Encoding" not in plain_h and len(plain) > len(body)
        assert "max-age" in h["Cache-Control"]  # static files stay cacheable
        _st, dh, deflated = await _raw(s, str(url), "deflate")
        assert dh["Content-Encoding"] == "deflate" and zlib.decompress(deflated) == plain


async def test_pages_are_gzipped_too_and_a_range_of_a_file_is_its_own_bytes(casa: Node) -> None:
    async with Site(casa) as s:
        status, h, body = await _raw(s, "/login", "gzip")
        assert status == 200 and h["Content-Encoding"] == "gzip"
        assert b"<html" in gzip.decompress(body)
        url = str(s.app.router["static-core"].url_for(filename="style.css"))  # type: ignore[attr-defined]
        async with (
            aiohttp.ClientSession(s.base, auto_decompress=False) as c,
            c.get(url, headers={"Accept-Encoding": "gzip", "Range": "bytes=0-9"}) as r,
        ):
            assert r.status == 206 and "Content-Encoding" not in r.headers and len(await r.read()) == 10
