"""``tequio serve``: the local API on 127.0.0.1, federation, gossip and the web pages, until interrupted."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import signal
import socket
import time
from typing import Any

import click

from ..errors import TequioError, disk_full_message, is_disk_full
from ..node import Node
from ..servelock import ServeLock
from .context import open_node


def _bind_error(host: str, port: int, what: str, e: OSError) -> TequioError:
    """Why a listener could not bind, and what to change."""
    where = f"cannot listen on {host}:{port} for the {what}"
    if e.errno == errno.EADDRINUSE:
        return TequioError(f"{where}: the port is in use (another tequio serve?); choose another port")
    if e.errno == errno.EACCES:
        return TequioError(
            f"{where}: permission denied (ports below 1024 are privileged); choose another port"
        )
    if isinstance(e, socket.gaierror) or e.errno in (errno.EADDRNOTAVAIL, errno.EAFNOSUPPORT):
        option = "--fed-host or federation.host" if "federation" in what else "the address"
        return TequioError(f"{where}: {host!r} is not an address of this machine; check {option}")
    return TequioError(f"{where}: {e.strerror or e}")


async def _listen(app: Any, host: str, port: int, what: str, guard: Any) -> tuple[Any, list[tuple[str, int]]]:
    from tequio.federation.listener import start_listener

    try:
        return await start_listener(app, host, port, guard)
    except OSError as e:
        raise _bind_error(host, port, what, e) from None


def forget_env(var: str) -> None:
    """Remove ``var`` from this process's environment, including the copy the kernel shows in
    /proc/PID/environ (the block the process started with), which unsetenv alone leaves in place."""
    value = os.environ.get(var)
    if value is None:
        return
    with contextlib.suppress(OSError, AttributeError, ValueError):
        import ctypes

        libc = ctypes.CDLL(None)
        libc.getenv.restype = ctypes.c_void_p
        where = libc.getenv(var.encode())
        if where:
            size = len(os.fsencode(value))
            start = where - len(var.encode()) - 1  # "VAR=" precedes the value
            ctypes.memset(start, 0, len(var.encode()) + 1 + size)
    os.environ.pop(var, None)


def _port_of(url: str) -> int | None:
    from urllib.parse import urlsplit

    try:
        return urlsplit(url).port
    except ValueError:
        return None


class _Quieter(logging.Filter):
    """Lets through at most one record per minute for each message of a noisy logger (asyncio's
    "socket.accept() out of system resource" came once per loop iteration, traceback included)."""

    def __init__(self, every_s: float = 60.0) -> None:
        super().__init__()
        self.every = every_s
        self._last: dict[str, float] = {}
        self._dropped: dict[str, int] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        key = str(record.msg)[:80]
        now = time.monotonic()
        if now - self._last.get(key, -self.every) < self.every:
            self._dropped[key] = self._dropped.get(key, 0) + 1
            return False
        self._last[key] = now
        dropped = self._dropped.pop(key, 0)
        if dropped:
            record.msg = f"{record.msg} (and {dropped} more like it in the last minute)"
        record.exc_info = None  # the first line says it; a traceback per refusal says nothing more
        record.exc_text = None
        return True


async def _serve(
    node: Node,
    api_port: int,
    fed_host: str,
    fed_port: int,
    discovery: bool,
    web_port: int | None = None,
    web_explicit: bool = False,
    lock: ServeLock | None = None,
) -> None:
    # Imported here, not at the top: every other command would pay for importing aiohttp.
    from tequio.federation.listener import ConnectionGuard, ListenerLimits, RefusalLog

    from ..api import PREFIX, make_api_app
    from ..federation import Federation

    fed = Federation(node)
    runners = []
    stop = asyncio.Event()
    tasks: list[asyncio.Task[Any]] = []
    # Before any listener: a SIGTERM during start-up (a supervisor, a test) still shuts down cleanly.
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    quieter = _Quieter()
    for name in ("asyncio", "aiohttp.server", "aiohttp.web"):
        logging.getLogger(name).addFilter(quieter)
    try:
        # The local API is for this machine's own tools: a guard of its own, so that its connections
        # never eat into the federation listener's, and the reserve keeps descriptors for both.
        api_limits = ListenerLimits(max_connections=64, max_per_host=64, fd_reserve=16, header_timeout_s=60)
        api_guard = ConnectionGuard(api_limits, RefusalLog("local API", time.monotonic))
        api_runner, api_bound = await _listen(
            make_api_app(node), "127.0.0.1", api_port, "local API", api_guard
        )
        runners.append(api_runner)
        guard = fed.guard()
        fed_runner, fed_bound = await _listen(
            fed.app(guard), fed_host, fed_port, "federation listener", guard
        )
        runners.append(fed_runner)
        try:
            fed.record_listen(fed_bound)
        except Exception as e:
            if not is_disk_full(e, node.home):
                raise
            # Invites made meanwhile fall back to the configured address; reads go on being served.
            click.echo(
                f"warning: {disk_full_message(node.home)} (serving reads; writes are refused)", err=True
            )
        bound: dict[str, Any] = {
            "api_port": api_bound[0][1],
            "fed_ports": sorted({p for _, p in fed_bound}),
            "web_port": None,
        }
        click.echo(f"serving node {node.name!r} ({node.fingerprint})")
        host, port = api_bound[0]
        click.echo(f"local API  http://{host}:{port}{PREFIX}/  (token: 'tequio info')")
        trusted = len(fed.peers.trusted())
        for host, port in fed_bound:
            peers = f"{trusted} trusted peer{'' if trusted == 1 else 's'}"
            click.echo(f"federation http://{host}:{port}/fed/v1/  ({peers}; at most {guard.cap} connections)")
        if web_port is not None:
            from ..web import start_web

            wcfg = node.config.web
            try:
                web_runner, url = await start_web(
                    node, fed, wcfg.host, web_port, insecure_http=wcfg.insecure_http
                )
            except Exception as e:
                if is_disk_full(e, node.home):
                    # The pages keep their users and sessions in a store of their own that a full
                    # disk will not open: federation and the local API go on serving reads.
                    click.echo(f"warning: web pages not served: {disk_full_message(node.home)}", err=True)
                elif web_explicit or not isinstance(e, TequioError):
                    raise
                else:
                    # The configured port is taken (another node on this machine): federation still
                    # serves, and the operator picks a port for the pages.
                    click.echo(f"warning: web pages not served: {e} (--web-port PORT or web.port)", err=True)
            else:
                runners.append(web_runner)
                bound["web_port"] = _port_of(url)
                click.echo(f"web  {url}")
                if url.startswith("http:") and wcfg.insecure_http and not wcfg.host.startswith("127."):
                    click.echo(
                        "  warning: web.insecure_http: passwords and pages cross the network unencrypted"
                    )
        tasks.append(asyncio.create_task(fed.gossip.run(stop), name="gossip"))
        tasks.append(asyncio.create_task(fed.blobs.run(stop), name="blobs"))
        if discovery:
            from ..discovery import run_discovery

            tasks.append(asyncio.create_task(run_discovery(fed, fed_bound, stop), name="discovery"))
        if lock is not None:
            lock.publish(bound)
        click.echo("Ctrl-C to stop")
        await stop.wait()
    finally:
        stop.set()
        if tasks:  # a task waiting on a slow peer is not worth a slow shutdown: grace, then cancel
            _, late = await asyncio.wait(tasks, timeout=2)
            for t in late:
                t.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.gather(*late, return_exceptions=True)
        for runner in reversed(runners):
            await runner.cleanup()
        await fed.aclose()
        for name in ("asyncio", "aiohttp.server", "aiohttp.web"):
            logging.getLogger(name).removeFilter(quieter)
    click.echo("stopped")


@click.command()
@click.option(
    "--api-port", type=click.IntRange(0, 65535), help="Local API port (0: any free one) [default: config]."
)
@click.option("--fed-host", help="Federation listener address [default: config, 0.0.0.0].")
@click.option(
    "--fed-port", type=click.IntRange(0, 65535), help="Federation port (0: any free one) [default: config]."
)
@click.option("--no-discovery", is_flag=True, help="Do not advertise or browse the LAN (zeroconf).")
@click.option(
    "--web-port", type=click.IntRange(0, 65535), help="Web pages port (0: any free one) [default: config]."
)
@click.option("--no-web", is_flag=True, help="Do not serve the web pages.")
@click.pass_context
def serve(
    ctx: click.Context,
    api_port: int | None,
    fed_host: str | None,
    fed_port: int | None,
    no_discovery: bool,
    web_port: int | None,
    no_web: bool,
) -> None:
    """Serve the local API, the federation listener and gossip until Ctrl-C or SIGTERM."""
    with open_node(ctx) as node, ServeLock(node.home) as lock:
        cfg = node.config
        # The key is open: the passphrase has no further use here, and no child (verifiers, plugins'
        # helpers) nor a reader of /proc/PID/environ should find it.
        if cfg.identity.passphrase_env:
            forget_env(cfg.identity.passphrase_env)
        asyncio.run(
            _serve(
                node,
                cfg.api.port if api_port is None else api_port,
                cfg.federation.host if fed_host is None else fed_host,
                cfg.federation.port if fed_port is None else fed_port,
                cfg.federation.discovery and not no_discovery,
                None if no_web else (cfg.web.port if web_port is None else web_port),
                web_port is not None,  # a port asked for on the command line must be had
                lock,
            )
        )


COMMANDS = [serve]
