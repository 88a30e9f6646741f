"""Frontier sync (docs/protocol.md section 12): cost grows with changed feeds, not with records held.

A round, started by A with B:

1. A sends the digest of the heads of every feed both may read, and the position of B's store it
   last heard of. Equal digests end the round: one round trip, a few hundred bytes.
2. Otherwise B answers with the heads of those feeds that moved since that position (all of them if
   B's store is new to A). A now knows, per feed, who is ahead.
3. A sends what B lacks and asks for what it lacks, in bounded batches, until neither side moves.

A peer only ever sees heads and records of feeds it may read (``SyncHost.may_read``), so it learns
nothing (no id, count or size) of the others: even the position and epoch a responder reports are
the peer's own (rule F12), computed from what that peer may see. Everything received goes through
the host's ingest, and every loop a peer's answers drive is bounded (rules F7-F9).
"""

from __future__ import annotations

import asyncio
import collections
import hashlib
import inspect
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import msgpack

from tequio.schemas import fingerprint

from .host import IngestSummary, SyncHead, SyncHost
from .messages import (
    Limits,
    PeerViolation,
    SyncReply,
    parse_exchange_reply,
    parse_exchange_request,
    parse_push,
    parse_push_reply,
    parse_sync_reply,
    parse_sync_request,
)

__all__ = [
    "PeerView",
    "PositionMemo",
    "SyncResult",
    "Syncer",
    "Transport",
    "Unreachable",
    "ViewStore",
    "digest",
    "feed_rank",
    "first_heads",
    "peer_epoch",
]

log = logging.getLogger(__name__)
Feed = tuple[bytes, str]


class Unreachable(Exception):
    """The peer could not be reached, or did not answer in time."""


class Transport(Protocol):
    """Carries one request to a peer and returns its decoded reply (HTTP on a network, or in memory)."""

    async def call(self, peer: bytes, method: str, message: Any) -> Any: ...


@dataclass
class PeerView:
    """What a node believes about a peer's store: its epoch and position, and its heads."""

    epoch: bytes | None = None
    position: int = 0
    heads: dict[Feed, int] = field(default_factory=dict)
    #: Our own position when the last sync with this peer completed.
    sent: int = 0


class ViewStore(Protocol):
    def load(self, peer: bytes) -> PeerView: ...

    def save(self, peer: bytes, view: PeerView) -> None: ...


@dataclass
class SyncResult:
    """What one round moved, for the operator and the benchmarks."""

    peer: bytes
    round_trips: int = 0
    in_sync: bool = False
    sent: int = 0  # records sent
    received: int = 0  # records received
    accepted_here: int = 0
    accepted_there: int = 0
    rejected_here: int = 0
    rejected_there: int = 0


def digest(heads: Iterable[SyncHead]) -> bytes:
    """SHA-256 over ``author || len(scope) || scope || seq (8 bytes, big-endian) || head`` of sorted heads."""
    h = hashlib.sha256()
    for author, scope, seq, head in heads:
        s = scope.encode()
        h.update(author + bytes([len(s)]) + s + seq.to_bytes(8, "big") + head)
    return h.digest()


EPOCH_DOMAIN = b"tequio/sync-epoch/v1\n"


def peer_epoch(store_epoch: bytes, peer: bytes, groups: Iterable[str]) -> bytes:
    """The epoch a responder reports to ``peer`` (F12): its store's, bound to the peer and to the
    groups the peer may read, so that it changes (and the next sync is full) when those change."""
    h = hashlib.sha256(EPOCH_DOMAIN + store_epoch + peer)
    for scope in sorted(groups):
        h.update(scope.encode() + b"\n")
    return h.digest()[:16]


class PositionMemo:
    """Which store position each per-peer position was reported at (F12), so that a peer's
    ``since`` can be turned back into "what changed after"; a position not remembered (after a
    restart, say) makes the reply full. Bounded: ``per_peer`` entries for each of ``peers`` peers."""

    def __init__(self, per_peer: int = 16, peers: int = 4096) -> None:
        self._memo: collections.OrderedDict[bytes, collections.OrderedDict[tuple[bytes, int], int]] = (
            collections.OrderedDict()
        )
        self.per_peer = per_peer
        self.peers = peers

    def note(self, peer: bytes, epoch: bytes, position: int, at: int) -> None:
        memo = self._memo.get(peer)
        if memo is None:
            memo = self._memo[peer] = collections.OrderedDict()
            if len(self._memo) > self.peers:
                self._memo.popitem(last=False)
        self._memo.move_to_end(peer)
        key = (epoch, position)
        if key in memo:  # keep the first store position it was reported at: a superset is safe
            memo.move_to_end(key)
            return
        memo[key] = at
        if len(memo) > self.per_peer:
            memo.popitem(last=False)

    def find(self, peer: bytes, epoch: bytes, position: int) -> int | None:
        memo = self._memo.get(peer)
        return None if memo is None else memo.get((epoch, position))


def feed_rank(scope: str) -> int:
    """What goes first on a thin link (issue 15 §3): group feeds, which carry a coalition's
    governance (members, keys, decisions) that its other records need to be read, then direct
    records, then public ones. Files (blobs) come after records altogether (``BlobFetcher.gate``)."""
    return 0 if scope.startswith("g:") else 1 if scope.startswith("d:") else 2


def first_heads(heads: list[SyncHead]) -> list[SyncHead]:
    """``heads`` in the order their records are sent: by ``feed_rank`` (a stable sort)."""
    return sorted(heads, key=lambda h: feed_rank(h.scope))


#: A reply listing more changed feeds than this is checked on a worker thread, off the event loop.
_PARSE_IN_THREAD = 2000


async def _parse(
    parse: Callable[[Any, Limits, Feed | None], SyncReply], msg: Any, lim: Limits, after: Feed | None
) -> SyncReply:
    changes = msg.get("changes") if type(msg) is dict else None
    if type(changes) is list and len(changes) > _PARSE_IN_THREAD:
        return await asyncio.to_thread(parse, msg, lim, after)
    return parse(msg, lim, after)


def _feed_of(wire: bytes) -> Feed | None:
    """The (author, scope) of a wire record, read without checking the rest (ingest checks it).

    Only called on records a message carried, which are at most ``Limits.max_record`` bytes."""
    try:
        fields = msgpack.unpackb(wire)
        author, scope = fields[1], fields[2]
    except Exception:
        return None
    if type(author) is not bytes or len(author) != 32 or type(scope) is not str:
        return None
    return author, scope


class Syncer:
    """Both sides of sync for one node: ``sync`` starts a round; ``on_*`` answer a peer's requests."""

    def __init__(
        self,
        host: SyncHost,
        transport: Transport,
        views: ViewStore,
        limits: Limits | None = None,
        on_received: Callable[[bytes, IngestSummary], None] | None = None,
    ) -> None:
        self.host = host
        self.transport = transport
        self.views = views
        self.limits = limits or Limits()
        #: Called with every batch of records a peer sent us and what ingest made of it (penalties).
        self.on_received = on_received or (lambda peer, summary: None)
        self.positions = PositionMemo()

    # -- starting a round -------------------------------------------------------------------------------

    async def sync(self, peer: bytes) -> SyncResult:
        res = SyncResult(peer)
        lim = self.limits
        view = self.views.load(peer)
        started_at = self.host.position()
        mine = self.host.visible_heads(peer)
        # Offer only from knowledge: before a first round we know nothing of the peer's heads, and
        # would send records it most likely holds already.
        offer = self._fresh(peer, view.sent, view.heads) if view.epoch is not None else []
        request: dict[str, Any] = {"digest": digest(mine), "epoch": view.epoch, "since": view.position}
        if offer:
            request["records"] = offer
        reply = await _parse(parse_sync_reply, await self._call(peer, "sync", request, res), lim, None)
        if offer:
            res.sent += len(offer)
            res.accepted_there += reply.accepted
            if reply.accepted == len(offer):  # all taken: it holds them now (else the exchange resends)
                for feed, seq in self._top_seqs(offer).items():
                    view.heads[feed] = max(view.heads.get(feed, 0), seq)
        if reply.records:
            await self._take(peer, reply.records, res)
        if reply.in_sync:
            view.heads = {(h.author, h.scope): h.seq for h in mine}
            view.epoch, view.position, view.sent = reply.epoch, reply.position, started_at
            self.views.save(peer, view)
            res.in_sync = True
            return res
        first = reply
        changes = list(reply.changes)
        request.pop("records", None)  # they went with the first page
        while reply.more:  # very many changed feeds: page through them, within a bound (F7)
            if len(changes) >= lim.round_heads:
                raise PeerViolation("F7", f"more than {lim.round_heads} changed feeds announced in one round")
            after = (changes[-1].author, changes[-1].scope)
            request["after"] = list(after)
            reply = await _parse(parse_sync_reply, await self._call(peer, "sync", request, res), lim, after)
            if reply.in_sync or reply.epoch != first.epoch:
                return res  # its store changed under the paging; the next round starts afresh
            changes += reply.changes
        if len(changes) > lim.round_heads:
            raise PeerViolation("F7", f"more than {lim.round_heads} changed feeds announced in one round")
        if first.full:
            view.heads = {}
        me = self.host.key
        announced: set[Feed] = set()
        for h in changes:
            if self.host.may_read(me, h.author, h.scope):  # a hostile peer may announce anything
                view.heads[(h.author, h.scope)] = h.seq
                announced.add((h.author, h.scope))
        view.epoch, view.position = first.epoch, first.position
        try:
            mine = self.host.visible_heads(peer) if first.records else mine
            await self._exchange(peer, view, mine, announced, res)
            view.sent = started_at
        finally:
            self.views.save(peer, view)
        return res

    def _fresh(
        self, peer: bytes, since: int, theirs: dict[Feed, int], exclude: set[bytes] | None = None
    ) -> list[bytes]:
        """Records accepted after ``since`` that ``peer`` may read and lacks, if few enough to travel
        inside a sync message; otherwise nothing (the exchange that follows moves them). Only
        records the peer may read are counted, so the answer says nothing of the others."""
        lim = self.limits
        scan = self.host.visible_since(peer, since, lim.small_records * 4 + 1)
        if len(scan) > lim.small_records * 4:
            return []
        out: list[bytes] = []
        size = 0
        for author, scope, wire, _ in scan:
            if exclude and wire in exclude:
                continue
            seq = msgpack.unpackb(wire)[3]
            if seq <= theirs.get((author, scope), 0):
                continue
            out.append(wire)
            size += len(wire)
            if len(out) > lim.small_records or size > lim.small_bytes:
                return []
        return out

    async def _exchange(
        self, peer: bytes, view: PeerView, mine: list[SyncHead], announced: set[Feed], res: SyncResult
    ) -> None:
        lim = self.limits
        exchanges = received = 0
        mine = first_heads(mine)
        while exchanges < lim.round_exchanges and received < lim.round_bytes:  # F8: the rest next round
            ours = self.host.own_heads(list(view.heads))
            ahead: list[Feed] = sorted(
                (f for f, seq in view.heads.items() if seq > ours.get(f, 0)), key=lambda f: feed_rank(f[1])
            )[: lim.max_wants]
            wants: list[list[Any]] = [[a, s, ours.get((a, s), 0) + 1] for a, s in ahead]
            give: list[bytes] = []
            room = lim.batch_bytes
            for h in mine:
                theirs = view.heads.get((h.author, h.scope), 0)
                if h.seq <= theirs:
                    continue
                if len(give) >= lim.max_records or room <= 0:
                    break
                batch = self.host.feed_records(
                    h.author, h.scope, theirs + 1, lim.max_records - len(give), room
                )
                give += batch
                room -= sum(len(w) for w in batch)
            if not wants and not give:
                return
            reply = parse_exchange_reply(
                await self._call(peer, "exchange", {"wants": wants, "records": give}, res), lim
            )
            exchanges += 1
            received += sum(map(len, reply.records))
            res.sent += len(give)
            res.accepted_there += reply.accepted
            res.rejected_there += reply.rejected
            for a, s, seq in reply.heads:
                view.heads[(a, s)] = seq
            got = await self._take(peer, reply.records, res)
            if wants and not reply.more:
                delivered = {f for w in reply.records if (f := _feed_of(w)) is not None}
                missed = [f for f in ahead if f not in delivered]
                for feed in missed:  # believe only what arrives: no phantom heads kept
                    if ours.get(feed, 0):
                        view.heads[feed] = ours[feed]
                    else:
                        view.heads.pop(feed, None)
                if not reply.records and any(f in announced for f in missed):
                    raise PeerViolation(
                        "F9", f"announced {len(missed)} feeds ahead of ours but sent none when asked"
                    )
            if not got.accepted and not reply.accepted:
                return  # nothing moved either way: stop rather than ask for the same again
            mine = first_heads(self.host.visible_heads(peer))

    async def _ingest(self, records: Sequence[bytes], peer: bytes) -> IngestSummary:
        """The host's ingest, awaited when it returns an awaitable (a host may ingest on a thread)."""
        summary = self.host.ingest(records, f"peer:{fingerprint(peer)}")
        if inspect.isawaitable(summary):
            summary = await summary
        return summary

    async def _take(self, peer: bytes, records: Sequence[bytes], res: SyncResult) -> IngestSummary:
        if not records:
            return IngestSummary()
        summary = await self._ingest(records, peer)
        res.received += len(records)
        res.accepted_here += summary.accepted
        res.rejected_here += len(summary.rejected)
        self.on_received(peer, summary)
        return summary

    async def push(self, peer: bytes, records: Sequence[bytes]) -> tuple[int, int]:
        """Offer new records at once (gossip); returns what the peer accepted and rejected."""
        reply = await self.transport.call(peer, "push", {"records": list(records)})
        accepted, rejected = parse_push_reply(reply)
        if accepted:
            view = self.views.load(peer)
            for feed, seq in self._top_seqs(records).items():
                if view.heads.get(feed, 0) < seq:
                    view.heads[feed] = seq
            self.views.save(peer, view)
        return accepted, rejected

    async def _call(self, peer: bytes, method: str, message: Any, res: SyncResult) -> Any:
        res.round_trips += 1
        return await self.transport.call(peer, method, message)

    @staticmethod
    def _top_seqs(records: Iterable[bytes]) -> dict[Feed, int]:
        top: dict[Feed, int] = {}
        for wire in records:
            try:
                fields = msgpack.unpackb(wire)
                feed, seq = (fields[1], fields[2]), fields[3]
            except Exception:
                continue
            top[feed] = max(top.get(feed, 0), seq)
        return top

    # -- answering a peer ---------------------------------------------------------------------------------

    async def on_sync(self, peer: bytes, message: Any) -> dict[str, Any]:
        req = parse_sync_request(message, self.limits)
        accepted = (await self._receive(peer, req.records)).accepted if req.records else 0
        at = self.host.position()  # before the heads: never miss a change
        mine = self.host.visible_heads(peer)
        # F12: the peer's own epoch and position, computed from what it may see and nothing else.
        epoch = peer_epoch(self.host.epoch(), peer, self.host.visible_groups(peer))
        position = sum(h.seq for h in mine)
        self.positions.note(peer, epoch, position, at)
        if digest(mine) == req.digest:
            done: dict[str, Any] = {"in_sync": True, "epoch": epoch, "position": position}
            if req.records:
                done["accepted"] = accepted
            return done
        since_at = None
        if req.epoch == epoch and 0 < req.since <= position:
            since_at = self.positions.find(peer, epoch, req.since)
        full = since_at is None
        changes = mine if since_at is None else self.host.visible_heads(peer, since_at)
        if req.after is not None:
            changes = [h for h in changes if (h.author, h.scope) > req.after]
        page = changes[: self.limits.max_changes]
        reply: dict[str, Any] = {
            "in_sync": False,
            "epoch": epoch,
            "position": position,
            "full": full,
            "changes": [list(h) for h in page],
            "more": len(changes) > len(page),
        }
        if req.records:
            reply["accepted"] = accepted
        if since_at is not None and req.after is None:
            # A small delta travels here and then, saving the exchange's round trip. The peer knew
            # everything up to ``since``; the records after it are what it may lack.
            fresh = self._fresh(peer, since_at, {}, exclude=set(req.records))
            if fresh:
                reply["records"] = fresh
        return reply

    async def on_exchange(self, peer: bytes, message: Any) -> dict[str, Any]:
        req = parse_exchange_request(message, self.limits)
        summary = await self._receive(peer, req.records)
        touched = sorted({f for w in req.records if (f := _feed_of(w)) is not None})
        heads = self.host.own_heads(touched)
        out: list[bytes] = []
        room = self.limits.batch_bytes
        more = False
        for author, scope, from_seq in req.wants:
            if not self.host.may_read(peer, author, scope):
                continue  # answered like a feed we do not hold: nothing to learn from the refusal
            if len(out) >= self.limits.max_records or room <= 0:
                more = True
                break
            batch = self.host.feed_records(author, scope, from_seq, self.limits.max_records - len(out), room)
            out += batch
            room -= sum(len(w) for w in batch)
        return {
            "records": out,
            "more": more,
            "heads": [[a, s, heads.get((a, s), 0)] for a, s in touched if self.host.may_read(peer, a, s)],
            "accepted": summary.accepted,
            "rejected": len(summary.rejected),
        }

    async def on_push(self, peer: bytes, message: Any) -> dict[str, Any]:
        summary = await self._receive(peer, parse_push(message, self.limits))
        return {"accepted": summary.accepted, "rejected": len(summary.rejected)}

    async def _receive(self, peer: bytes, records: Sequence[bytes]) -> IngestSummary:
        if not records:
            return IngestSummary()
        summary = await self._ingest(records, peer)
        self.on_received(peer, summary)
        return summary
