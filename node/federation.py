"""The node's federation: the store and policy offered to ``federation`` as a SyncHost, and the
peer book, invites, sync, service and gossip assembled for one node.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import ifaddr
import msgpack
from aiohttp import web

from tequio.federation.blobfetch import BlobFetcher
from tequio.federation.gossip import Gossip, GossipConfig
from tequio.federation.host import IngestSummary, SyncHead
from tequio.federation.http import HttpTransport
from tequio.federation.invites import Invite, InviteBook, check_identity, parse_invite
from tequio.federation.listener import ConnectionGuard, ListenerLimits, RefusalLog, start_listener
from tequio.federation.messages import Limits, MessageError
from tequio.federation.peers import PeerBook, Penalties
from tequio.federation.service import FedService
from tequio.federation.sync import Syncer, Transport
from tequio.federation.wire import SigningKeyring
from tequio.schemas import PUBLIC

from .blobread import waited_blobs
from .errors import is_disk_full
from .ingest import IngestReport
from .node import Node

__all__ = ["Federation", "NodeSyncHost", "listener_limits", "local_addresses"]

log = logging.getLogger(__name__)
#: Where ``serve`` records the addresses it bound, for CLI commands in other processes (invites).
LISTEN_NOTE = "listen"


#: Runs ``fn(node)`` somewhere other than the event loop (a worker thread with the node's own
#: sibling connection, say) and returns its result to the loop.
OffLoopRunner = Callable[[Callable[[Node], IngestReport]], Awaitable[IngestReport]]


class NodeSyncHost:
    """A node's store and read policy, as federation sees it.

    ``off_loop``, when given, runs the ingest of records from peers away from the event loop: a
    2,000-record push otherwise holds the loop (and the local API) for about a second here."""

    def __init__(self, node: Node, off_loop: OffLoopRunner | None = None) -> None:
        self.node = node
        self.store = node.store
        self.off_loop = off_loop

    @property
    def key(self) -> bytes:
        return self.node.key

    def epoch(self) -> bytes:
        return self.store.epoch()

    def position(self) -> int:
        return self.store.position()

    def may_read(self, reader: bytes, author: bytes, scope: str) -> bool:
        """Public feeds, direct feeds addressed to the reader, the reader's own feeds, and the feeds
        of groups the reader is a member of now (as this node's folded state says)."""
        if scope == PUBLIC or author == reader:
            return True
        if scope.startswith("g:"):
            return self.node.governance.may_read(reader, scope)
        return scope == "d:" + reader.hex()

    def visible_heads(self, peer: bytes, since: int = 0) -> list[SyncHead]:
        cuts = self.node.governance.relay_cuts()  # E6: hidden records are never relayed
        out = []
        for a, s, q, h in self.store.changed_feeds(since):
            if not self.may_read(peer, a, s):
                continue
            cut = cuts.get((a, s))
            if cut is not None and q > cut[0]:
                if cut[1] is None:
                    continue  # nothing of this feed is relayed: a feed we do not hold, as peers see it
                q, h = cut[0], cut[1]
            out.append(SyncHead(a, s, q, h))
        return out

    def relayable(self, author: bytes, scope: str, wire: bytes) -> bool:
        """E6: whether a held record may be handed on (not past its feed's relay cut)."""
        cut = self.node.governance.relay_cuts().get((author, scope))
        return cut is None or int(msgpack.unpackb(wire)[3]) <= cut[0]

    def own_heads(self, feeds: Sequence[tuple[bytes, str]]) -> dict[tuple[bytes, str], int]:
        """Our seq for each feed, as advertised: a feed with hidden records stops at its relay cut."""
        cuts = self.node.governance.relay_cuts()
        held = self._held_heads(feeds)
        for feed, cut in cuts.items():
            if feed in held and held[feed] > cut[0]:
                if cut[0]:
                    held[feed] = cut[0]
                else:
                    del held[feed]
        return held

    def _held_heads(self, feeds: Sequence[tuple[bytes, str]]) -> dict[tuple[bytes, str], int]:
        if not feeds:
            return {}
        wanted = set(feeds)
        if len(wanted) > 200:
            rows = self.store.conn.execute("SELECT author, scope, seq FROM feeds WHERE seq > 0")
            return {(a, s): q for a, s, q in rows if (a, s) in wanted}
        out = {}
        for a, s in wanted:
            head = self.store.head(a, s)
            if head is not None and head.seq:
                out[(a, s)] = head.seq
        return out

    def feed_records(
        self, author: bytes, scope: str, from_seq: int, max_count: int, max_bytes: int
    ) -> list[bytes]:
        cut = self.node.governance.relay_cuts().get((author, scope))
        if cut is not None:  # E6: never past the relay cut
            if from_seq > cut[0]:
                return []
            max_count = min(max_count, cut[0] - from_seq + 1)
        wires = self.store.feed_records(author, scope, from_seq, max_count, max_bytes)
        return wires if cut is None else [w for w in wires if self.relayable(author, scope, w)]

    def waiting_in_feed(self, author: bytes, scope: str, after_seq: int) -> tuple[int, int, int, int]:
        """Records of one feed after ``after_seq`` (up to its relay cut), their bytes, and the
        distinct files they refer to with their sizes: what waits for a peer (``syncwait``)."""
        cut = self.node.governance.relay_cuts().get((author, scope))
        top = cut[0] if cut is not None else 1 << 62
        n, size = self.store.conn.execute(
            "SELECT COUNT(*), COALESCE(SUM(LENGTH(r.wire)), 0) FROM records r JOIN feeds f ON f.id = r.feed"
            " WHERE f.author = ? AND f.scope = ? AND r.seq > ? AND r.seq <= ?",
            (author, scope, after_seq, top),
        ).fetchone()
        files, fbytes = self.store.conn.execute(
            "SELECT COUNT(*), COALESCE(SUM(size), 0) FROM (SELECT DISTINCT b.hash, b.size FROM blob_refs b"
            " JOIN records r ON r.id = b.record JOIN feeds f ON f.id = r.feed"
            " WHERE f.author = ? AND f.scope = ? AND r.seq > ? AND r.seq <= ?)",
            (author, scope, after_seq, top),
        ).fetchone()
        return int(n), int(size), int(files), int(fbytes)

    def records_since(self, position: int, limit: int) -> list[tuple[bytes, str, bytes, int]]:
        return self.store.records_since(position, limit)

    def visible_groups(self, peer: bytes) -> list[str]:
        scopes = self.store.conn.execute("SELECT DISTINCT scope FROM feeds WHERE scope LIKE 'g:%'")
        return sorted(s for (s,) in scopes if self.node.governance.may_read(peer, s))

    def visible_since(self, peer: bytes, position: int, limit: int) -> list[tuple[bytes, str, bytes, int]]:
        """Records after ``position`` in exactly the feeds ``may_read`` lets ``peer`` see, in SQL:
        public ones, the peer's own, direct ones to it, and those of groups it is a member of."""
        scopes = [PUBLIC, "d:" + peer.hex(), *self.visible_groups(peer)]
        marks = ",".join("?" * len(scopes))
        while True:
            rows = self.store.conn.execute(
                "SELECT f.author, f.scope, r.wire, r.n FROM records r JOIN feeds f ON f.id = r.feed"
                f" WHERE r.n > ? AND (f.scope IN ({marks}) OR f.author = ?) ORDER BY r.n LIMIT ?",
                (position, *scopes, peer, limit),
            ).fetchall()
            if not self.node.governance.relay_cuts():
                return rows
            kept = [r for r in rows if self.relayable(r[0], r[1], r[2])]  # E6: never pushed
            if kept or len(rows) < limit:  # an empty answer means "nothing after", so never for a skip
                return kept
            position = rows[-1][3]

    def wanted_blobs(self, limit: int) -> list[tuple[bytes, int]]:
        """Blobs to fetch: those someone waited for (``blobread.note_waited``) first, then smaller
        before larger (many small files before one video on a thin link); plugins may reorder
        (evidence awaiting review, a followed book's images) with ``prepare_wanted_blobs``."""
        wanted = [(h, size) for h, size in self.store.blob_refs(limit * 4) if not self.node.blobs.has(h)]
        waited = {bytes.fromhex(x): i for i, x in enumerate(waited_blobs(self.node))}
        wanted.sort(key=lambda hs: (waited.get(hs[0], len(waited)), hs[1]))
        self.node.plugins.pm.hook.prepare_wanted_blobs(node=self.node, wanted=wanted)
        return wanted[:limit]

    def may_fetch(self, peer: bytes, h: bytes) -> bool:
        if not self.node.governance.relay_cuts():
            return any(self.may_read(peer, a, s) for a, s in self.store.blob_scopes(h))
        hidden = self.node.governance.hidden()  # E6: a blob only hidden records refer to is not handed on
        refs = self.store.blob_records(h)
        return any(rid not in hidden and self.may_read(peer, a, s) for rid, a, s in refs)

    def ingest(self, wires: Sequence[bytes], source: str) -> IngestSummary | Awaitable[IngestSummary]:
        if self.off_loop is not None:
            return self._ingest_off_loop(list(wires), source)
        if len(wires) <= SMALL_BATCH and sum(map(len, wires)) <= SMALL_BATCH_BYTES:
            return _summary(self.node.ingest(wires, source))
        return self._ingest_sliced(list(wires), source)

    async def _ingest_off_loop(self, wires: list[bytes], source: str) -> IngestSummary:
        assert self.off_loop is not None
        return _summary(await self.off_loop(lambda node: node.ingest(wires, source)))

    async def _ingest_sliced(self, wires: list[bytes], source: str) -> IngestSummary:
        """A large batch from a peer without holding the event loop: steps 1-7 (signatures) on a
        worker thread, which touches no store, then steps 8-13 in slices on the loop, each its own
        transaction, with the loop free between them (issue 9 §5: the local API answers meanwhile)."""
        ingestor = self.node.ingestor
        parsed = await asyncio.to_thread(lambda: ingestor.submit(wires)())
        report = IngestReport()
        try:
            for _ in ingestor.write_steps(parsed, source, report, SLICE):
                await asyncio.sleep(0)
        finally:
            if report.accepted:
                self.node._changed()
        return _summary(report)


#: Batches from peers up to this size are ingested at once on the loop (a few milliseconds)...
SMALL_BATCH = 64
SMALL_BATCH_BYTES = 256 * 1024
#: ...larger ones in transactions of this many records, the loop free between them.
SLICE = 128


def _summary(report: IngestReport) -> IngestSummary:
    return IngestSummary(
        report.accepted, report.duplicates, [(r.index, str(r.reason)) for r in report.rejected]
    )


def listener_limits(node: Node) -> ListenerLimits:
    """The ``[federation]`` keys that bound what strangers can make the listener hold."""
    cfg = node.config.federation
    return ListenerLimits(
        max_connections=cfg.max_connections,
        max_per_host=cfg.max_connections_per_host,
        fd_reserve=cfg.fd_reserve,
        header_timeout_s=cfg.header_timeout_s,
        body_timeout_s=cfg.body_timeout_s,
        max_unauthenticated_body=cfg.max_unauthenticated_body,
        inflight_bytes=max(cfg.inflight_body_mb * 1024 * 1024, cfg.max_body),
        unauthenticated_per_minute=cfg.handshakes_per_minute,
    )


def local_addresses(port: int) -> list[str]:
    """``host:port`` for every IPv4 address of this machine, loopback last."""
    ips = []
    for adapter in ifaddr.get_adapters():
        for ip in adapter.ips:
            if isinstance(ip.ip, str) and not ip.ip.startswith("169.254."):
                ips.append(ip.ip)
    ips.sort(key=lambda ip: (ip.startswith("127."), ip))
    return [f"{ip}:{port}" for ip in dict.fromkeys(ips)] or [f"127.0.0.1:{port}"]


class Federation:
    """Federation for one open, unlocked node. ``transport`` defaults to HTTP."""

    def __init__(
        self,
        node: Node,
        transport: Transport | None = None,
        seed: int | None = None,
        off_loop: OffLoopRunner | None = None,
    ) -> None:
        cfg = node.config.federation
        self.node = node
        self.keyring = SigningKeyring(node._signing_key())
        self.limits = Limits(max_body=cfg.max_body, max_records=cfg.max_records)
        self.listener_limits = listener_limits(node)
        self.peers = PeerBook(
            node.store.conn,
            node.store.write,
            node.clock,
            Penalties(quarantine_ms=cfg.quarantine_minutes * 60_000),
        )
        self.invites = InviteBook(self.peers, node.clock, node.rng)
        self.host = NodeSyncHost(node, off_loop)
        self.http: HttpTransport | None = None
        if transport is None:
            self.http = HttpTransport(
                self.keyring, self._addresses_of, node.clock, node.rng, self.limits, peer_kbit=cfg.peer_kbit
            )
            transport = self.http
        self.transport = transport
        self.syncer = Syncer(self.host, transport, self.peers, self.limits)
        rng = random.Random(seed if seed is not None else int.from_bytes(node.rng(8), "big"))
        self.blobs = BlobFetcher(
            node.blobs, self.host, transport, self.peers, node.config.blobs.quota_mb * 1024 * 1024, rng
        )
        self.service = FedService(
            self.syncer,
            self.peers,
            self.invites,
            lambda: (node.name, self.addresses()),
            extra={"blob": self.blobs.on_blob},
            storage_full=lambda e: is_disk_full(e, node.home),
        )
        self.gossip = Gossip(
            self.syncer,
            self.peers,
            self.host,
            GossipConfig(
                interval_ms=cfg.interval_ms,
                jitter=cfg.jitter_percent / 100,
                fanout=cfg.fanout,
                backoff_max_ms=cfg.backoff_max_ms,
            ),
            rng,
            node.clock,
            storage_full=lambda e: is_disk_full(e, node.home),
        )
        node.listeners.append(self.gossip.wake)
        self.blobs.gate = self.gossip._lock  # a peer's records before its files

    def _addresses_of(self, peer: bytes) -> list[str]:
        known = self.peers.get(peer)
        return known.addrs if known else []

    def addresses(self) -> list[str]:
        """Where peers can reach this node: configured, else where ``serve`` listens (every interface)."""
        cfg = self.node.config.federation
        if cfg.advertise:
            return list(cfg.advertise)
        listen = self.peers.get_note(LISTEN_NOTE)
        if not listen:
            return []
        out: list[str] = []
        for host, port in listen:
            out += local_addresses(port) if host in ("0.0.0.0", "::", "") else [f"{host}:{port}"]
        return list(dict.fromkeys(out))

    def record_listen(self, bound: list[tuple[str, int]]) -> None:
        self.peers.put_note(LISTEN_NOTE, [[h, p] for h, p in bound])

    def invite(self, ttl_ms: int, uses: int) -> Invite:
        return self.invites.issue(self.node.key, self.node.name, self.addresses(), ttl_ms, uses)

    async def join(self, code: str) -> dict[str, Any]:
        """Complete a handshake with the node that issued ``code``; both then trust each other."""
        invite = parse_invite(code, self.node.clock())
        if invite.key == self.node.key:
            raise ValueError("this is this node's own invite")
        assert self.http is not None, "joining needs the HTTP transport"
        reply = await self.http.call_at(
            invite.addrs,
            invite.key,
            "handshake",
            {"token": invite.token, "name": self.node.name, "addrs": self.addresses()},
        )
        # F11: a reply that is not exactly {name, addrs} in bounds is ignored, for the invite's own
        # (signed) name and addresses; the handshake itself succeeded, so the inviter trusts us.
        name, addrs = invite.name, []
        try:
            if type(reply) is not dict or set(reply) != {"name", "addrs"}:
                raise MessageError("handshake reply: expected exactly name and addrs")
            check_identity(reply["name"], reply["addrs"], "handshake reply")
            name, addrs = reply["name"], reply["addrs"]
        except MessageError as e:
            log.info("the inviting node's reply was ignored: %s", e)
        self.peers.trust(invite.key, name, list(dict.fromkeys(invite.addrs + addrs))[:16])
        return {"key": invite.key, "name": name, "addrs": invite.addrs}

    def guard(self) -> ConnectionGuard:
        """A connection guard for one federation listener, with this node's limits."""
        return ConnectionGuard(self.listener_limits, RefusalLog("federation listener", time.monotonic))

    def app(self, guard: ConnectionGuard) -> web.Application:
        from tequio.federation.http import make_fed_app

        budget = self.http.budget if self.http is not None else None
        return make_fed_app(self.service, self.keyring, self.node.clock, self.limits, guard, budget)

    async def listen(self, host: str = "127.0.0.1", port: int = 0) -> tuple[web.AppRunner, str]:
        """Start this node's federation listener, behind its connection guard; returns its runner
        (to clean up) and ``host:port``."""
        guard = self.guard()
        runner, bound = await start_listener(self.app(guard), host, port, guard)
        bound_host, bound_port = bound[0]
        self.record_listen([(bound_host, bound_port)])
        return runner, f"{bound_host}:{bound_port}"

    async def aclose(self) -> None:
        if self.http is not None:
            await self.http.close()
