"""1,000 simulated nodes: rounds until 99.9% hold a new record, with 0% and 20% message loss; idle bytes.

    python bench/gossip.py [--nodes 1000] [--degree 8] [--seeds 5] [--history 50]

Every node is a real ``Node`` (its own SQLite file, the real ingest pipeline) with the real
``Federation`` assembly: PeerBook, Syncer, FedService and Gossip, talking over
``federation.memory.MemoryNetwork`` (messages canonically encoded both ways, lost at the given rate
with a seeded random source). 1,000 of them take about 25 s to create and about 0.5 GB of memory, and
a round of 1,000 nodes about 2 s here, so a lighter stand-in host was not needed (the JSON says
``"host": "node"``).

Trust graph: a random ``degree``-regular graph (a ring lattice rewired by random degree-preserving
edge swaps, then checked connected), seeded. Every node starts holding the same ``history`` records
(so digests and positions are not trivial), created before its Gossip so that Gossip.pushed starts
past them.

A round: every node runs ``gossip.push_new()`` then ``gossip.round()`` (anti-entropy with fanout 3),
all gathered concurrently; the simulated clock then moves on by the anti-entropy interval, so the
real back-off of unreachable peers (5 s doubling) is counted in rounds. One node publishes one new
record (``Node.publish``) before round 1.

Lockstep. In one process the "concurrent" syncs of a round run one after the other, so without care a
record received early in a round is passed on by later syncs of the same round, in an order set by
node numbering: one round then reaches most of the network. The ``spread`` figures instead model the
round as simultaneous: each node's peers see its store as it was when the round began (``RoundView``
below hides from ``visible_heads``, ``feed_records``, ``records_since``, ``visible_since`` and
``position`` whatever was accepted during the round; what the node itself holds, ``own_heads`` and
``ingest``, is real).
A record then moves at most one hop per round, as in the usual epidemic round model (Serf's
convergence simulator among them). ``spread_unsynchronised`` shows the same run without the
lockstep view, for one seed, for comparison.

Idle bytes: once every node holds the record and a round passed with no push and every sync in
sync, one more round is run and the MemoryTransport meters are read (canonical message bytes; the
HTTP transport adds boxes, Tequio-Auth and HTTP framing to each call: see bench/sync.py ``in_sync``).

Prints one JSON object per figure; progress goes to stderr. Nothing is asserted on a timing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nacl.signing import SigningKey

from tequio.federation.host import IngestSummary, SyncHead
from tequio.federation.memory import MemoryNetwork
from tequio.node import Node
from tequio.node.federation import Federation, NodeSyncHost
from tequio.schemas import Payload, make_record

T0 = 1_767_225_600_000
INTERVAL_MS = 5000  # the default anti-entropy interval: one round of the simulation
TARGETS = {0.0: 8, 0.2: 10}
SERF_MODEL = {0.0: 10, 0.2: 12}


def log(msg: str) -> None:
    print(f"[gossip] {msg}", file=sys.stderr, flush=True)


class SimClock:
    """Every node's clock: fixed during a round, moved on by the interval between rounds."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> int:
        return self.now


class RoundView:
    """A node's SyncHost as its peers see it during a lockstep round: as it was when the round began.

    ``cut`` is the store position at the start of the round (None: no cut, the store as it is).
    Feeds that moved past the cut are shown with their head as of the cut; records past the cut are
    neither served nor pushed, and ``position`` answers the cut so that a peer's next ``since`` asks
    again for what was hidden. Everything else is the node's real NodeSyncHost.
    """

    def __init__(self, inner: NodeSyncHost) -> None:
        self.inner = inner
        self.conn = inner.store.conn
        self.cut: int | None = None

    @property
    def key(self) -> bytes:
        return self.inner.key

    def epoch(self) -> bytes:
        return self.inner.epoch()

    def position(self) -> int:
        return self.inner.position() if self.cut is None else self.cut

    def may_read(self, reader: bytes, author: bytes, scope: str) -> bool:
        return self.inner.may_read(reader, author, scope)

    def own_heads(self, feeds: Sequence[tuple[bytes, str]]) -> dict[tuple[bytes, str], int]:
        return self.inner.own_heads(feeds)

    def ingest(self, wires: Sequence[bytes], source: str) -> IngestSummary:
        return self.inner.ingest(wires, source)

    def _head_at_cut(self, feed: int) -> tuple[int, bytes, int] | None:
        """(seq, id, position) of the feed's newest record at or before the cut."""
        return self.conn.execute(
            "SELECT seq, id, n FROM records WHERE feed = ? AND n <= ? ORDER BY seq DESC LIMIT 1",
            (feed, self.cut),
        ).fetchone()

    def visible_heads(self, peer: bytes, since: int = 0) -> list[SyncHead]:
        if self.cut is None:
            return self.inner.visible_heads(peer, since)
        out = []
        # The same selection as Store.changed_feeds, with the feed's number and change position.
        for fid, a, s, q, h, changed in self.conn.execute(
            "SELECT id, author, scope, seq, head, changed FROM feeds"
            " WHERE changed > ? AND seq > 0 AND forked = 0 ORDER BY author, scope",
            (since,),
        ):
            if changed > self.cut:
                at = self._head_at_cut(fid)
                if at is None or at[2] <= since:
                    continue
                q, h = at[0], at[1]
            if self.may_read(peer, a, s):
                out.append(SyncHead(a, s, q, h))
        return out

    def feed_records(
        self, author: bytes, scope: str, from_seq: int, max_count: int, max_bytes: int
    ) -> list[bytes]:
        wires = self.inner.feed_records(author, scope, from_seq, max_count, max_bytes)
        if self.cut is None or not wires:
            return wires
        row = self.conn.execute("SELECT id FROM feeds WHERE author = ? AND scope = ?", (author, scope))
        at = self._head_at_cut(row.fetchone()[0])
        top = at[0] if at else 0
        return wires[: max(0, top - from_seq + 1)]  # the feed's records are consecutive from from_seq

    def records_since(self, position: int, limit: int) -> list[tuple[bytes, str, bytes, int]]:
        rows = self.inner.records_since(position, limit)
        return rows if self.cut is None else [r for r in rows if r[3] <= self.cut]

    def visible_since(self, peer: bytes, position: int, limit: int) -> list[tuple[bytes, str, bytes, int]]:
        rows = self.inner.visible_since(peer, position, limit)
        return rows if self.cut is None else [r for r in rows if r[3] <= self.cut]

    def visible_groups(self, peer: bytes) -> list[str]:
        return self.inner.visible_groups(peer)


# -- the trust graph -----------------------------------------------------------------------------------------


def regular_graph(n: int, degree: int, rnd: random.Random) -> list[set[int]]:
    """A random connected ``degree``-regular graph: a ring lattice, rewired by double-edge swaps."""
    edges: set[tuple[int, int]] = set()
    for i in range(n):
        for k in range(1, degree // 2 + 1):
            j = (i + k) % n
            edges.add((min(i, j), max(i, j)))
    while True:
        listed = sorted(edges)
        for _ in range(20 * len(listed)):
            i, j = rnd.randrange(len(listed)), rnd.randrange(len(listed))
            a, b = listed[i]
            c, d = listed[j] if rnd.random() < 0.5 else listed[j][::-1]
            if len({a, b, c, d}) < 4:
                continue
            e1, e2 = (min(a, d), max(a, d)), (min(c, b), max(c, b))
            if e1 in edges or e2 in edges:
                continue
            edges -= {listed[i], listed[j]}
            edges |= {e1, e2}
            listed[i], listed[j] = e1, e2
        adj: list[set[int]] = [set() for _ in range(n)]
        for a, b in edges:
            adj[a].add(b)
            adj[b].add(a)
        if len(hops(adj, 0)) == n:
            return adj


def hops(adj: list[set[int]], start: int) -> dict[int, int]:
    """Breadth-first distance of every reachable node from ``start``."""
    dist = {start: 0}
    todo = deque([start])
    while todo:
        u = todo.popleft()
        for v in adj[u]:
            if v not in dist:
                dist[v] = dist[u] + 1
                todo.append(v)
    return dist


# -- the simulated network -----------------------------------------------------------------------------------


@dataclass
class Sim:
    clock: SimClock
    network: MemoryNetwork
    feds: list[Federation]
    views: list[RoundView]
    adj: list[set[int]]
    home: Path
    lockstep: bool = True
    rounds_run: int = 0
    log: list[str] = field(default_factory=list)

    @property
    def n(self) -> int:
        return len(self.feds)

    def close(self) -> None:
        for fed in self.feds:
            fed.node.close()
        shutil.rmtree(self.home, ignore_errors=True)

    def meters(self) -> tuple[int, int, dict[str, int]]:
        """Bytes (sent + received, by callers) and calls by method, summed over every node."""
        total, calls = 0, 0
        methods: dict[str, int] = {}
        for fed in self.feds:
            m = fed.transport.meter  # type: ignore[attr-defined]
            total += m.sent + m.received
            calls += m.calls
            for k, v in m.by_method.items():
                methods[k] = methods.get(k, 0) + v
        return total, calls, methods

    async def round(self) -> tuple[int, bool]:
        """One round; returns the records pushed and whether every sync found its peer in sync."""
        for v in self.views:
            v.cut = v.inner.position() if self.lockstep else None

        async def step(fed: Federation) -> tuple[int, bool]:
            pushed = await fed.gossip.push_new()
            results = await fed.gossip.round()
            return pushed, all(r.in_sync for r in results)

        outcomes = await asyncio.gather(*(step(f) for f in self.feds))
        for v in self.views:
            v.cut = None
        self.clock.now += INTERVAL_MS
        self.rounds_run += 1
        return sum(p for p, _ in outcomes), all(ok for _, ok in outcomes)

    def holders(self, record_id: bytes) -> int:
        return sum(1 for f in self.feds if f.node.store.get(record_id) is not None)


def build(n: int, degree: int, seed: int, history: int, home: Path) -> Sim:
    rnd = random.Random(seed)
    adj = regular_graph(n, degree, rnd)
    clock = SimClock()
    network = MemoryNetwork(loss=0.0, seed=seed)
    # The common history: ``history`` notes in history // 5 feeds (at least one).
    hist_feeds = max(1, history // 5)
    keys = [SigningKey(rnd.randbytes(32)) for _ in range(hist_feeds)]
    heads: list[tuple[int, bytes | None]] = [(0, None)] * hist_feeds
    wires = []
    for i in range(history):
        f = i % hist_feeds
        seq, prev = heads[f]
        rec = make_record(
            keys[f], "public", seq + 1, prev, T0 + i, Payload("core.note", {"text": f"historia {i}"}).encode()
        )
        heads[f] = (seq + 1, rec.id)
        wires.append(rec.wire)
    feds, views = [], []
    for i in range(n):
        node_rnd = random.Random(f"{seed}:{i}")
        node = Node.create(
            home / f"n{i}", name=f"Org {i}", kdf_profile="interactive", clock=clock, rng=node_rnd.randbytes
        )
        if wires and node.ingest(wires, "bench").accepted != len(wires):
            raise SystemExit("a node refused the common history")
        fed = Federation(node, transport=network.transport(node.key), seed=seed * n + i)
        view = RoundView(fed.host)
        fed.syncer.host = view
        fed.gossip.host = view
        network.attach(node.key, fed.service)
        feds.append(fed)
        views.append(view)
        if (i + 1) % 250 == 0:
            log(f"seed {seed}: {i + 1} nodes")
    for i, peers in enumerate(adj):
        for j in peers:
            feds[i].peers.trust(feds[j].node.key, feds[j].node.name, [])
    return Sim(clock, network, feds, views, adj, home)


@dataclass
class Spread:
    seed: int
    loss: float
    publisher: int
    rounds_to_999: int | None
    rounds_to_all: int | None
    coverage: list[int]
    graph_hops_999: int  # hops from the publisher within which 99.9% of nodes lie
    spread_bytes_per_node: float
    idle: dict[str, Any] | None
    seconds_per_round: float


async def spread(sim: Sim, loss: float, seed: int, max_rounds: int) -> Spread:
    """Publish one record at a random node; run rounds until all hold it, then settle, then one idle round."""
    sim.network.loss = loss
    sim.network.random = random.Random(f"loss:{seed}:{loss}")
    pick = random.Random(f"publisher:{seed}:{loss}").randrange(sim.n)
    dist = sorted(hops(sim.adj, pick).values())
    need = -(-sim.n * 999 // 1000)  # 99.9% of the nodes, rounded up
    text = f"aviso urgente de la semilla {seed}, pérdida {loss:.0%}"
    rec = sim.feds[pick].node.publish("core.note", {"text": text})
    bytes0, _, _ = sim.meters()
    coverage: list[int] = []
    r999 = r_all = None
    t = time.perf_counter()
    rounds = 0
    quiet = False
    while rounds < max_rounds:
        pushed, all_in_sync = await sim.round()
        rounds += 1
        if r_all is None:
            have = sim.holders(rec.id)
            coverage.append(have)
            if r999 is None and have >= need:
                r999 = rounds
            if have == sim.n:
                r_all = rounds
        elif pushed == 0 and all_in_sync:
            quiet = True
            break
        log(f"seed {seed} loss {loss:.0%}: round {rounds}: {coverage[-1]} hold it, {pushed} pushed")
    per_round = (time.perf_counter() - t) / max(rounds, 1)
    spent, _, _ = sim.meters()
    idle = None
    if quiet:
        b0, c0, m0 = sim.meters()
        await sim.round()
        b1, c1, m1 = sim.meters()
        idle = {
            "bytes_per_node_per_round": round((b1 - b0) / sim.n, 1),
            "calls_per_node_per_round": round((c1 - c0) / sim.n, 3),
            "calls_by_method": {k: v - m0.get(k, 0) for k, v in m1.items() if v - m0.get(k, 0)},
        }
    return Spread(
        seed,
        loss,
        pick,
        r999,
        r_all,
        coverage,
        dist[need - 1],
        round((spent - bytes0) / sim.n, 1),
        idle,
        round(per_round, 3),
    )


async def run(a: argparse.Namespace, tmp: Path) -> None:
    common = {"nodes": a.nodes, "degree": a.degree, "fanout": 3, "host": "node", "history": a.history}
    results: dict[float, list[Spread]] = {0.0: [], 0.2: []}
    for seed in range(a.seeds):
        t = time.perf_counter()
        sim = build(a.nodes, a.degree, seed, a.history, tmp / f"s{seed}")
        log(f"seed {seed}: {a.nodes} nodes built in {time.perf_counter() - t:.1f} s")
        try:
            for loss in (0.0, 0.2):
                results[loss].append(await spread(sim, loss, seed, a.max_rounds))
        finally:
            sim.close()

    for loss, runs in results.items():
        got = [r.rounds_to_999 for r in runs]
        done = [g for g in got if g is not None]
        median = statistics.median(done) if done else None
        worst = None if None in got or not done else max(done)
        print(
            json.dumps(
                {
                    "figure": "spread",
                    **common,
                    "model": "lockstep",
                    "loss": loss,
                    "seeds": len(runs),
                    "rounds_to_99_9_median": median,
                    "rounds_to_99_9_max": worst,
                    "rounds_to_99_9": got,
                    "rounds_to_all": [r.rounds_to_all for r in runs],
                    "graph_hops_to_99_9": [r.graph_hops_999 for r in runs],
                    "coverage_by_round_first_seed": runs[0].coverage,
                    "bytes_per_node_until_quiet": [r.spread_bytes_per_node for r in runs],
                    "seconds_per_round": statistics.median(r.seconds_per_round for r in runs),
                    "target": TARGETS[loss],
                    "serf_model": SERF_MODEL[loss],
                    "meets_target": worst is not None and worst <= TARGETS[loss],
                }
            ),
            flush=True,
        )
    for loss, runs in results.items():
        idles = [r.idle for r in runs if r.idle is not None]
        print(
            json.dumps(
                {
                    "figure": "idle",
                    **common,
                    "loss": loss,
                    "seeds": len(idles),
                    "bytes_per_node_per_round_median": statistics.median(
                        i["bytes_per_node_per_round"] for i in idles
                    )
                    if idles
                    else None,
                    "per_seed": idles,
                    "what": "one round after all hold the record and a round passed quiet: bytes sent and "
                    "received by each node as caller (each message once; canonical message bytes, no HTTP)",
                }
            ),
            flush=True,
        )

    if a.unsynchronised:
        sim = build(a.nodes, a.degree, 0, a.history, tmp / "u")
        sim.lockstep = False
        try:
            runs = [await spread(sim, loss, 0, a.max_rounds) for loss in (0.0, 0.2)]
        finally:
            sim.close()
        print(
            json.dumps(
                {
                    "figure": "spread_unsynchronised",
                    **common,
                    "model": "asyncio.gather without the lockstep view (seed 0 only)",
                    "rounds_to_99_9": {str(r.loss): r.rounds_to_999 for r in runs},
                    "coverage_by_round": {str(r.loss): r.coverage for r in runs},
                    "note": "syncs of one round run one after another here, so a record is passed on "
                    "within the round it arrives: an artefact of the simulation, not a target figure",
                }
            ),
            flush=True,
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nodes", type=int, default=1000)
    ap.add_argument("--degree", type=int, default=8, help="peers per node (even)")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--history", type=int, default=50, help="records every node holds at the start")
    ap.add_argument("--max-rounds", type=int, default=60)
    ap.add_argument("--no-unsynchronised", dest="unsynchronised", action="store_false")
    a = ap.parse_args()
    if a.degree % 2 or not 2 <= a.degree < a.nodes:
        ap.error("--degree must be even, at least 2 and below --nodes")
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(run(a, Path(tmp)))


if __name__ == "__main__":
    main()
