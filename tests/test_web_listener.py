"""The web listener sits behind a ConnectionGuard like the federation listener and the local API:
a flood of idle connections from one address is capped, and the pages still answer afterwards."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import aiohttp

from tequio.node import Node
from tequio.node.web import start_web


async def _alive(reader: asyncio.StreamReader) -> bool:
    """Whether the server keeps the connection open (an immediate reset or EOF means refused)."""
    try:
        data = await asyncio.wait_for(reader.read(1), 0.3)
    except TimeoutError:
        return True
    except (ConnectionResetError, BrokenPipeError):
        return False
    return data != b""


async def test_idle_connections_from_one_address_are_capped_and_the_pages_keep_answering(
    make_node: Callable[..., Node],
) -> None:
    node = make_node("Casa")
    runner, url = await start_web(node, None, "127.0.0.1", 0)
    port = int(url.rsplit(":", 1)[1].strip("/"))
    conns: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
    try:
        for _ in range(40):
            conns.append(await asyncio.open_connection("127.0.0.1", port))
        alive = await asyncio.gather(*(_alive(r) for r, _w in conns))
        assert sum(alive) == 32, f"{sum(alive)} of 40 idle connections kept (cap 32 per address)"
        for _r, w in conns:
            w.close()
        await asyncio.sleep(0.2)
        async with aiohttp.ClientSession() as s, s.get(url + "login") as r:
            assert r.status == 200 and 'name="password"' in await r.text()
    finally:
        await runner.cleanup()
