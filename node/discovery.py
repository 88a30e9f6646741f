"""LAN discovery for ``tequio serve``: advertise this node, list what is seen as candidates, and keep
the addresses of trusted peers current (a mesh node's address changes). It never trusts anyone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import TYPE_CHECKING

from tequio.federation.discovery import (
    MAX_CANDIDATES,
    Discovery,
    advertised_ips,
    answers_as,
    merged_addrs,
    record_candidate,
    refresh_trusted,
)
from tequio.schemas import fingerprint

if TYPE_CHECKING:
    from .federation import Federation

__all__ = ["run_discovery"]

log = logging.getLogger(__name__)

#: A trusted peer's advertised addresses that did not prove to be its own are not probed again
#: before this long (an advert is re-resolved often; a stranger must not make us probe in a loop).
REPROBE_S = 60.0
_WILDCARDS = ("", "0.0.0.0", "::")


class _Refresher:
    """Checks a trusted peer's advertised addresses (it must answer signed) before storing them."""

    def __init__(self, fed: Federation) -> None:
        self.fed = fed
        self.tasks: dict[bytes, asyncio.Task[None]] = {}
        self.tried: dict[bytes, tuple[tuple[str, ...], float]] = {}

    def offer(self, key: bytes, name: str, addrs: list[str]) -> None:
        peer = self.fed.peers.get(key)
        if peer is None or peer.state != "trusted" or key in self.tasks:
            return
        if merged_addrs(addrs, peer.addrs) == peer.addrs:
            return  # nothing new
        tried = self.tried.get(key)
        if tried and tried[0] == tuple(addrs) and time.monotonic() - tried[1] < REPROBE_S:
            return
        self.tried[key] = (tuple(addrs), time.monotonic())
        task = asyncio.get_running_loop().create_task(self._check(key, name, addrs))
        self.tasks[key] = task
        task.add_done_callback(lambda _t: self.tasks.pop(key, None))

    async def _check(self, key: bytes, name: str, addrs: list[str]) -> None:
        fed = self.fed
        proven = await asyncio.gather(
            *(answers_as(fed.keyring, key, a, fed.node.clock, fed.node.rng) for a in addrs)
        )
        good = [a for a, ok in zip(addrs, proven, strict=True) if ok]
        if not good:
            log.debug("discovery: %s advertised %s, none answered as that peer", fingerprint(key), addrs)
            return
        if refresh_trusted(fed.peers.conn, key, good):
            peer = fed.peers.get(key)
            log.info(
                "discovery: trusted peer %r (%s) is at %s",
                peer.name if peer else name,
                fingerprint(key),
                ", ".join(peer.addrs if peer else good),
            )

    async def close(self) -> None:
        for t in list(self.tasks.values()):
            t.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t


async def run_discovery(fed: Federation, bound: list[tuple[str, int]], stop: asyncio.Event) -> None:
    """Until ``stop`` is set: advertise the federation listener at ``bound`` on the LAN, record every
    node seen as a candidate, refresh trusted peers' addresses. A LAN without multicast only costs a
    warning: the node serves on without discovery."""
    node = fed.node
    bound = [(h, p) for h, p in bound if h in _WILDCARDS or ":" not in h]  # IPv4 and wildcards
    port = bound[0][1] if bound else None
    wildcard = any(h in _WILDCARDS for h, _ in bound)
    specific = advertised_ips(bound)
    refresher = _Refresher(fed)
    seen: set[bytes] = set()  # nodes already logged in this run, bounded like the candidate table

    def found(key: bytes, name: str, addrs: list[str]) -> None:
        record_candidate(fed.peers.conn, key, name, addrs, node.clock())
        if key not in seen and len(seen) < MAX_CANDIDATES:
            seen.add(key)  # once per node: a LAN re-announces all the time (the name is only a claim)
            log.info("discovery: %s seen on the LAN at %s", fingerprint(key), ", ".join(addrs))
        refresher.offer(key, name, addrs)

    disc = Discovery(
        node.key,
        node.name,
        found,
        port,
        lambda: advertised_ips(bound),
        # Bound to given LAN addresses only: use those interfaces only.
        interfaces=specific if specific and not wildcard else None,
    )
    try:
        await disc.start()
    except Exception as e:
        log.warning("discovery is off: cannot use multicast DNS here (%s)", e)
        await stop.wait()
        return
    try:
        await stop.wait()
    finally:
        await refresher.close()
        await disc.close()
