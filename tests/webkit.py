"""Helpers for the web tests: a node's pages on a real aiohttp server on 127.0.0.1, and a browser-like client.

``Site`` runs in the test's own event loop (the HTTP tier); ``tests/browser/`` runs whole nodes
(federation, gossip and pages) in a thread of their own so that Playwright's sync API can drive them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import aiohttp
from aiohttp import web

from tequio.node import Node
from tequio.node.web import CTX, make_web_app
from tequio.node.web.users import UserDB

PASSWORD = "una contraseña larga"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def token_in(html: str) -> str:
    m = _CSRF.search(html)
    assert m, "no CSRF token in the page"
    return m.group(1)


class Site:
    """The web pages of ``node`` on 127.0.0.1, and a client that keeps cookies like a browser."""

    def __init__(self, node: Node, fed: Any = None, **kw: Any) -> None:
        self.node = node
        self.app = make_web_app(node, fed, **kw)
        self.runner: web.AppRunner | None = None
        self.client: aiohttp.ClientSession | None = None
        self.base = ""

    @property
    def users(self) -> UserDB:
        return self.app[CTX].users

    async def __aenter__(self) -> Site:
        self.runner = web.AppRunner(self.app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        port = self.runner.addresses[0][1]
        self.app[CTX].port = port
        self.base = f"http://127.0.0.1:{port}"
        self.client = self.new_client()
        return self

    def new_client(self) -> aiohttp.ClientSession:
        return aiohttp.ClientSession(self.base, cookie_jar=aiohttp.CookieJar(unsafe=True))

    async def __aexit__(self, *exc: object) -> None:
        if self.client is not None:
            await self.client.close()
        if self.runner is not None:
            await self.runner.cleanup()

    def user(self, name: str, role: str) -> None:
        self.users.add(name, role, PASSWORD)

    async def get(self, path: str, client: aiohttp.ClientSession | None = None, **kw: Any) -> tuple[int, str]:
        c = client or self.client
        assert c is not None
        async with c.get(path, **kw) as r:
            return r.status, await r.text()

    async def token(self, path: str = "/", client: aiohttp.ClientSession | None = None) -> str:
        _status, html = await self.get(path, client)
        return token_in(html)

    async def post(
        self,
        path: str,
        data: Mapping[str, Any] | list[tuple[str, str]],
        client: aiohttp.ClientSession | None = None,
        token_from: str = "/",
        headers: Mapping[str, str] | None = None,
        csrf: str | None = None,
    ) -> tuple[int, str, str]:
        """Post a form as the page would (its CSRF token, this origin); returns status, body, final URL."""
        c = client or self.client
        assert c is not None
        tok = csrf if csrf is not None else await self.token(token_from, c)
        fields = list(data.items()) if isinstance(data, Mapping) else list(data)
        fields.append(("csrf_token", tok))
        h = {"Origin": self.base, **(headers or {})}
        async with c.post(path, data=fields, headers=h) as r:
            return r.status, await r.text(), str(r.url)

    async def login(
        self, name: str, password: str = PASSWORD, client: aiohttp.ClientSession | None = None
    ) -> tuple[int, str, str]:
        return await self.post(
            "/login", {"name": name, "password": password, "next": "/"}, client, token_from="/login"
        )
