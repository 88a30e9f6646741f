"""Real Tequio nodes on the emulated LAN (``tests/netlink.py``): ``tequio init`` a home, ``tequio
serve`` it inside a host's namespace, trust a peer as a completed invite would, and read what a
running node's store says (candidates, peers) without taking its write lock; or run a node in the
test process, its listener and its client on sockets in hosts' namespaces.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web

from tests.netlink import Host, Proc

if TYPE_CHECKING:
    from tequio.node.federation import Federation

TEQUIO = str(Path(sys.executable).with_name("tequio"))
FED_PORT = 7348


def tequio_env(**extra: str) -> dict[str, str]:
    """The environment for a node under test: none of the caller's TEQUIO_ settings, INFO logs."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TEQUIO_")}
    return {**env, "TEQUIO_LOG": "INFO", **extra}


def tequio_init(home: Path, name: str) -> bytes:
    """``tequio init`` a node home (outside any namespace: it only writes files); its public key."""
    r = subprocess.run(
        [TEQUIO, "--home", str(home), "init", "--name", name, "--json"],
        capture_output=True,
        env=tequio_env(),
        timeout=60,
        check=True,
    )
    return bytes.fromhex(json.loads(r.stdout)["key"])


def tequio_init_all(nodes: list[tuple[Path, str]]) -> list[bytes]:
    """``tequio_init`` of several homes at once (each is a process start: on 2 cores, it adds up)."""
    with ThreadPoolExecutor(len(nodes) or 1) as pool:
        return list(pool.map(lambda hn: tequio_init(*hn), nodes))


def tequio_serve(host: Host, home: Path, *extra: str, port: int = FED_PORT, log: Path | None = None) -> Proc:
    """``tequio serve`` in ``host``'s namespace, federating on every interface at ``port`` with the
    local API on a free port; ``proc.wait_line("Ctrl-C to stop")`` awaits it being up."""
    argv = [TEQUIO, "--home", str(home), "serve", "--fed-host", "0.0.0.0", "--fed-port", str(port)]
    return host.spawn([*argv, "--api-port", "0", *extra], log=log, env=tequio_env())


async def serve_in(host: Host, fed: Federation, port: int = 0) -> tuple[web.AppRunner, str]:
    """Serve an in-process node's federation listener, from the test's event loop, at ``host``'s
    address: the runner (clean it up) and the ``ip:port`` to trust it at."""
    from tequio.federation.http import make_fed_app

    runner = web.AppRunner(make_fed_app(fed.service, fed.keyring, fed.node.clock, fed.limits))
    await runner.setup()
    sock = host.listen(port)
    await web.SockSite(runner, sock).start()
    return runner, host.addr(sock.getsockname()[1])


def dial_from(host: Host, fed: Federation) -> None:
    """Make an in-process node's HTTP client connect from ``host``'s namespace (before its first call).
    The transport's sockets are made by its ``LinkBook``, which reads their ``TCP_INFO`` for progress."""
    from tequio.federation.synclink import LinkBook

    assert fed.http is not None and fed.http._session is None
    fed.http.links = LinkBook(host.socket_factory)


def trust(home: Path, key: bytes, name: str, addrs: list[str]) -> None:
    """What a completed invite leaves in the store (done before ``serve`` starts, as an operator would)."""
    from tequio.federation.peers import PeerBook
    from tequio.node import Node

    node = Node.open(home, unlock=False)
    try:
        PeerBook(node.store.conn, node.store.write, node.clock).trust(key, name, addrs)
    finally:
        node.close()


def candidates(home: Path) -> dict[bytes, dict[str, Any]]:
    """``tequio peer candidates --json``; straight from the table if that command is missing."""
    r = subprocess.run(
        [TEQUIO, "--home", str(home), "peer", "candidates", "--json"],
        capture_output=True,
        env=tequio_env(),
        timeout=60,
    )
    if r.returncode == 0:
        return {bytes.fromhex(c["key"]): c for c in json.loads(r.stdout)}
    with read_only(home) as db:
        rows = db.execute("SELECT key, name, addrs, seen FROM fed_candidates").fetchall()
    return {k: {"key": k.hex(), "name": n, "addrs": json.loads(a), "seen": s} for k, n, a, s in rows}


def peers(home: Path) -> dict[bytes, tuple[str, list[str]]]:
    """Each peer's state and addresses, as the store holds them now."""
    with read_only(home) as db:
        rows = db.execute("SELECT key, state, addrs FROM fed_peers").fetchall()
    return {k: (s, json.loads(a)) for k, s, a in rows}


@contextmanager
def read_only(home: Path) -> Iterator[sqlite3.Connection]:
    conn = sqlite3.connect(f"file:{home / 'tequio.sqlite'}?mode=ro", uri=True, timeout=10)
    try:
        yield conn
    finally:
        conn.close()
