"""``tequio serve``: run the node's listeners until interrupted."""

from __future__ import annotations

import asyncio
import signal

import click

from ..errors import TequioError
from ..node import Node
from .context import open_node


async def _serve(node: Node, port: int) -> None:
    from aiohttp import web  # here, not at the top: every other command would pay for importing it

    from ..api import PREFIX, make_api_app

    runner = web.AppRunner(make_api_app(node), handle_signals=False, access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", port)
        try:
            await site.start()
        except OSError as e:
            raise TequioError(
                f"cannot listen on 127.0.0.1:{port}: {e.strerror}; choose another --api-port"
            ) from None
        host, bound = runner.addresses[0][:2]
        click.echo(f"serving node {node.name!r} ({node.fingerprint})")
        click.echo(f"local API  http://{host}:{bound}{PREFIX}/  (token: 'tequio info')", nl=True)
        click.echo("Ctrl-C to stop")
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
    finally:
        await runner.cleanup()
    click.echo("stopped")


@click.command()
@click.option(
    "--api-port", type=click.IntRange(0, 65535), help="Local API port (0: any free one) [default: config]."
)
@click.pass_context
def serve(ctx: click.Context, api_port: int | None) -> None:
    """Serve the local API on 127.0.0.1 until Ctrl-C or SIGTERM."""
    with open_node(ctx) as node:
        asyncio.run(_serve(node, node.config.api.port if api_port is None else api_port))


COMMANDS = [serve]
