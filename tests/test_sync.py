"""Frontier sync between real nodes over the in-memory transport (the real sync and service code)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgpack
import pytest

from tequio.federation.host import SyncHead
from tequio.federation.service import FedError
from tequio.federation.sync import digest, peer_epoch
from tequio.node import Node
from tequio.schemas import Payload, direct_scope, make_record
from tests.conftest import Feed, key, note
from tests.fedkit import make_cluster
from tests.test_ingest import StandInPolicy


async def test_one_way_then_in_sync_in_one_round_trip(make_node: Callable[..., Node]) -> None:
    c = make_cluster(make_node, 2)
    c.trust(0, 1)
    for i in range(5):
        c[0].node.publish("core.note", {"text": f"nota {i}"})
    res = await c[0].syncer.sync(c[1].node.key)
    assert (res.sent, res.accepted_there, res.received) == (5, 5, 0)
    assert c.ids(1) == c.ids(0) and len(c.ids(1)) == 5
    again = await c[0].syncer.sync(c[1].node.key)
    assert again.in_sync and again.round_trips == 1
    back = await c[1].syncer.sync(c[0].node.key)  # the other side agrees, also in one round trip
    assert back.in_sync and back.round_trips == 1


async def test_both_directions_in_one_round(make_node: Callable[..., Node]) -> None:
    c = make_cluster(make_node, 2)
    c.trust(0, 1)
    c[0].node.publish("core.note", {"text": "de A"})
    c[1].node.publish("core.note", {"text": "de B"})
    c[1].node.publish("core.note", {"text": "de B otra vez"})
    res = await c[0].syncer.sync(c[1].node.key)
    assert (res.accepted_there, res.accepted_here) == (1, 2)
    assert c.ids(0) == c.ids(1) and len(c.ids(0)) == 3
    assert res.round_trips == 2


async def test_a_record_crosses_a_chain(make_node: Callable[..., Node]) -> None:
    """A-B-C: C never talks to A, yet gets A's record through B."""
    c = make_cluster(make_node, 3)
    c.trust(0, 1)
    c.trust(1, 2)
    rec = c[0].node.publish("core.note", {"text": "de A para todos"})
    await c[1].syncer.sync(c[0].node.key)
    await c[2].syncer.sync(c[1].node.key)
    assert rec.id in c.ids(2)
    with pytest.raises(FedError) as e:  # C and A do not trust each other
        await c[2].syncer.sync(c[0].node.key)
    assert e.value.status == 401


async def test_partition_heals_with_nothing_lost(make_node: Callable[..., Node]) -> None:
    c = make_cluster(make_node, 3)
    c.trust(0, 1)
    c.trust(1, 2)
    c[0].node.publish("core.note", {"text": "antes"})
    await c[1].gossip.round()
    c.network.down.add(c[1].node.key)  # B goes away; A and C keep writing
    for i in range(3):
        c[0].node.publish("core.note", {"text": f"A durante {i}"})
        c[2].node.publish("core.note", {"text": f"C durante {i}"})
    assert await c[0].gossip.round() == []  # B unreachable: nothing, and back-off recorded
    assert c[0].peers.get(c[1].node.key).fails == 1
    c.network.down.clear()
    for _ in range(2):
        for i in (0, 1, 2):
            for p in c[i].peers.trusted():
                await c[i].gossip.sync_with(p.key)
    assert c.ids(0) == c.ids(1) == c.ids(2) and len(c.ids(0)) == 7


async def test_untrusted_node_gets_nothing(make_node: Callable[..., Node]) -> None:
    c = make_cluster(make_node, 2)
    c[0].node.publish("core.note", {"text": "privado entre conocidos"})
    c[1].peers.trust(c[0].node.key, "A", [])  # B trusts A, but A does not trust B
    with pytest.raises(FedError) as e:
        await c[1].syncer.sync(c[0].node.key)
    assert (e.value.status, e.value.code) == (401, "unknown-key")
    assert c.ids(1) == set()
    for method in ("exchange", "push"):
        with pytest.raises(FedError):
            await c[1].transport.call(c[0].node.key, method, {"wants": [], "records": []})


async def test_direct_scope_is_invisible_to_everyone_but_its_ends(make_node: Callable[..., Node]) -> None:
    """A holds a direct feed to B; C, a trusted peer of A, learns nothing of it, even by asking."""
    c = make_cluster(make_node, 3)
    a, b, third = c[0], c[1], c[2]
    scope = direct_scope(b.node.key)
    for fed in (a, b):  # stand in for the keys governance will provide to the two ends
        fed.node.access = StandInPolicy(readable=(scope,))
    c.trust(0, 1)
    c.trust(0, 2)
    a_feed = Feed(key(50), scope=scope)
    secret = [a_feed.next(Payload("core.note", {"text": f"solo para B {i}"}).encode()) for i in range(3)]
    assert a.node.ingest([r.wire for r in secret]).accepted == 3
    a.node.publish("core.note", {"text": "público"})
    # What A answers C: neither the digest input, nor the changes, nor a direct ask reveal the feed.
    reply = await a.syncer.on_sync(third.node.key, {"digest": bytes(32), "epoch": None, "since": 0})
    assert all(ch[1] == "public" for ch in reply["changes"]) and len(reply["changes"]) == 1
    asked = await a.syncer.on_exchange(
        third.node.key, {"wants": [[secret[0].author, scope, 1]], "records": []}
    )
    assert asked["records"] == [] and asked["heads"] == []
    await third.syncer.sync(a.node.key)
    assert [r.scope for r in third.node.records(limit=None)] == ["public"]
    assert not any(r.id in c.ids(2) for r in secret)
    # The recipient gets them.
    await b.syncer.sync(a.node.key)
    assert all(r.id in c.ids(1) for r in secret)
    # And the digest A computes for C equals C's own once in sync: the hidden feed never entered it.
    mine_for_c = a.host.visible_heads(third.node.key)
    assert digest(mine_for_c) == digest(third.host.visible_heads(a.node.key))


async def test_many_records_move_in_bounded_batches(make_node: Callable[..., Node]) -> None:
    c = make_cluster(make_node, 2)
    c.trust(0, 1)
    feeds = [Feed(key(300 + i)) for i in range(5)]
    wires = [f.next().wire for _ in range(120) for f in feeds]
    assert c[0].node.ingest(wires).accepted == 600
    c[1].syncer.limits = c[0].syncer.limits = type(c[0].syncer.limits)(max_records=50)
    res = await c[1].syncer.sync(c[0].node.key)
    assert res.accepted_here == 600 and res.round_trips >= 1 + 600 // 50
    assert c.ids(1) == c.ids(0)


async def test_a_replaced_store_is_resynced_in_full(make_node: Callable[..., Node]) -> None:
    c = make_cluster(make_node, 2)
    c.trust(0, 1)
    for i in range(3):
        c[0].node.publish("core.note", {"text": str(i)})
    await c[1].syncer.sync(c[0].node.key)
    view = c[1].peers.load(c[0].node.key)
    # F12: the epoch and position A reports to B are B's own: A's store epoch bound to B and the
    # groups B reads (none), and the count of records B may see.
    assert view.epoch == peer_epoch(c[0].host.epoch(), c[1].node.key, []) and view.position == 3
    # Pretend B's memory of A is of another store (A was restored from a backup, say).
    view.epoch = b"\x01" * 16
    view.position = 10**6
    c[1].peers.save(c[0].node.key, view)
    c[0].node.publish("core.note", {"text": "después"})
    res = await c[1].syncer.sync(c[0].node.key)
    assert res.accepted_here == 1 and c.ids(0) == c.ids(1)


async def test_hostile_peer_is_slowed_then_quarantined_and_honest_peers_unaffected(
    make_node: Callable[..., Node],
) -> None:
    c = make_cluster(make_node, 3)
    honest, victim, hostile = c[1], c[0], c[2]
    c.trust(0, 1)
    c.trust(0, 2)
    victim.peers.rules = type(victim.peers.rules)(slow_at=20, quarantine_at=60, slow_delay_ms=1)
    forged = []
    for i in range(30):
        r = make_record(key(400 + i), "public", 1, None, i, note("falso"))
        w = bytearray(r.wire)
        w[-1] ^= 1  # breaks the payload hash
        forged.append(bytes(w))
    reply = await hostile.transport.call(victim.node.key, "push", {"records": forged})
    assert reply == {"accepted": 0, "rejected": 30}
    assert victim.peers.get(hostile.node.key).status(victim.node.clock(), victim.peers.rules) == "slowed"
    # A fork of someone's feed and garbage messages push it over the line.
    await hostile.transport.call(victim.node.key, "push", {"records": forged})
    with pytest.raises(FedError) as e:
        await hostile.transport.call(victim.node.key, "exchange", {"wants": "everything", "records": []})
    assert e.value.status == 400
    peer = victim.peers.get(hostile.node.key)
    assert peer.status(victim.node.clock(), victim.peers.rules) == "quarantined"
    assert "invalid records (bad-payload-hash)" in peer.why or "malformed exchange" in peer.why
    with pytest.raises(FedError) as e:
        await hostile.syncer.sync(victim.node.key)
    assert e.value.status == 429 and e.value.code == "quarantined"
    # Meanwhile an honest peer syncs as ever.
    honest.node.publish("core.note", {"text": "sigo aquí"})
    res = await honest.syncer.sync(victim.node.key)
    assert res.accepted_there == 1
    assert victim.peers.get(honest.node.key).status(victim.node.clock(), victim.peers.rules) == "trusted"


async def test_forks_from_a_peer_are_kept_as_proof_and_penalised(make_node: Callable[..., Node]) -> None:
    c = make_cluster(make_node, 2)
    c.trust(0, 1)
    r1 = make_record(key(500), "public", 1, None, 1, note("uno"))
    twin = make_record(key(500), "public", 1, None, 2, note("otro uno"))
    assert c[0].node.ingest([r1.wire]).accepted == 1
    reply = await c[1].transport.call(c[0].node.key, "push", {"records": [twin.wire]})
    assert reply["rejected"] == 1 and len(c[0].node.store.forks()) == 1
    assert c[0].peers.get(c[1].node.key).penalty == pytest.approx(1, rel=1e-3)  # decays slowly


@pytest.mark.parametrize(
    ("method", "message"),
    [
        ("sync", {"digest": b"short", "epoch": None, "since": 0}),
        ("sync", {"digest": bytes(32), "epoch": None, "since": -1}),
        ("sync", "not a map"),
        ("exchange", {"wants": [[b"x", "public", 1]], "records": []}),
        ("exchange", {"wants": [], "records": ["not bytes"]}),
        ("exchange", {"wants": [], "records": [b""] * 3000}),
        ("push", {"records": 5}),
        ("nonsense", {}),
    ],
)
async def test_malformed_messages_are_refused_and_cost(
    make_node: Callable[..., Node], method: str, message: object
) -> None:
    c = make_cluster(make_node, 2)
    c.trust(0, 1)
    with pytest.raises(FedError) as e:
        await c[1].transport.call(c[0].node.key, method, message)
    assert e.value.status in (400, 404)
    if e.value.status == 400:
        assert c[0].peers.get(c[1].node.key).penalty == pytest.approx(20, rel=1e-3)


async def test_a_hostile_announcement_cannot_make_us_want_invisible_feeds(
    make_node: Callable[..., Node],
) -> None:
    """A peer announcing heads of a direct scope not ours is ignored (we could not read it anyway)."""
    c = make_cluster(make_node, 2)
    c.trust(0, 1)
    other = direct_scope(bytes(range(32)))
    fake = SyncHead(key(600).verify_key.encode(), other, 5, bytes(32))

    def lying_sync(peer: bytes, message: object) -> dict:
        return {
            "in_sync": False,
            "epoch": bytes(16),
            "position": 1,
            "full": True,
            "changes": [list(fake)],
            "more": False,
        }

    c[0].service._methods["sync"] = lying_sync
    res = await c[1].syncer.sync(c[0].node.key)
    assert res.received == 0 and c[1].peers.load(c[0].node.key).heads == {}


async def test_a_flooding_peer_is_refused_and_penalised_honest_peers_are_not(
    make_node: Callable[..., Node],
) -> None:
    c = make_cluster(make_node, 3)
    victim, flooder, honest = c[0], c[1], c[2]
    c.trust(0, 1)
    c.trust(0, 2)
    victim.peers.rules = type(victim.peers.rules)(max_requests_per_minute=20, slow_at=50, quarantine_at=100)
    from tequio.federation.sync import digest as dg

    refused = 0
    for _ in range(60):
        try:
            await flooder.transport.call(
                victim.node.key, "sync", {"digest": dg([]), "epoch": None, "since": 0}
            )
        except FedError as e:
            assert e.status == 429
            refused += 1
    assert refused == 40
    peer = victim.peers.get(flooder.node.key)
    assert peer.status(victim.node.clock(), victim.peers.rules) == "quarantined" and "flooding" in peer.why
    honest.node.publish("core.note", {"text": "a mi ritmo"})
    assert (await honest.syncer.sync(victim.node.key)).accepted_there == 1


def test_only_real_keys_can_be_trusted(make_node: Callable[..., Node]) -> None:
    c = make_cluster(make_node, 1)
    with pytest.raises(ValueError, match="not an Ed25519 public key"):
        c[0].peers.trust(bytes(32), "nadie", [])  # the all-zero key is not a usable point
    assert c[0].peers.all() == []


async def test_a_small_delta_moves_in_one_round_trip_either_way(make_node: Callable[..., Node]) -> None:
    c = make_cluster(make_node, 2)
    c.trust(0, 1)
    for i in range(3):
        c[0].node.publish("core.note", {"text": f"base {i}"})
    await c[1].syncer.sync(c[0].node.key)
    # The responder holds the new record: it comes back inside the sync reply.
    c[0].node.publish("core.note", {"text": "nueva en A"})
    res = await c[1].syncer.sync(c[0].node.key)
    assert (res.round_trips, res.accepted_here) == (1, 1)
    # The initiator holds it: it goes inside the sync request.
    c[1].node.publish("core.note", {"text": "nueva en B"})
    res = await c[1].syncer.sync(c[0].node.key)
    assert (res.round_trips, res.accepted_there) == (1, 1)
    assert c.ids(0) == c.ids(1) and (await c[1].syncer.sync(c[0].node.key)).in_sync


async def test_a_large_delta_falls_back_to_the_exchange(make_node: Callable[..., Node]) -> None:
    c = make_cluster(make_node, 2)
    c.trust(0, 1)
    c[0].node.publish("core.note", {"text": "base"})
    await c[1].syncer.sync(c[0].node.key)
    feed = Feed(key(700))
    assert c[0].node.ingest([feed.next().wire for _ in range(150)]).accepted == 150
    res = await c[1].syncer.sync(c[0].node.key)
    assert res.accepted_here == 150 and res.round_trips == 2


async def test_an_oversized_sync_offer_is_malformed(make_node: Callable[..., Node]) -> None:
    c = make_cluster(make_node, 2)
    c.trust(0, 1)
    too_many = [Feed(key(710 + i)).next().wire for i in range(101)]
    with pytest.raises(FedError) as e:
        await c[1].transport.call(
            c[0].node.key, "sync", {"digest": digest([]), "epoch": None, "since": 0, "records": too_many}
        )
    assert e.value.status == 400 and c[0].node.count() == 0


async def test_a_first_sync_offers_nothing_speculatively(make_node: Callable[..., Node]) -> None:
    """Two nodes holding the same records meet for the first time: only digests cross."""
    c = make_cluster(make_node, 2)
    c.trust(0, 1)
    shared = [Feed(key(720)).next().wire for _ in range(1)] + Feed(key(721)).take(20)
    wires = [w if isinstance(w, bytes) else w.wire for w in shared]
    assert c[0].node.ingest(wires).accepted == c[1].node.ingest(wires).accepted == 21
    before = c[1].transport.meter.sent
    res = await c[1].syncer.sync(c[0].node.key)
    assert res.in_sync and res.sent == 0 and c[1].transport.meter.sent - before < 200


async def test_a_busy_peer_is_retried_not_failed(make_node: Callable[..., Node]) -> None:
    """`tequio sync` beside `serve`: the peer may be answering our other process; we wait and retry."""
    c = make_cluster(make_node, 2)
    c.trust(0, 1)
    c[0].node.publish("core.note", {"text": "espera tu turno"})
    c[0].service._busy.add(c[1].node.key)  # as if a request from B were in flight at A
    waits: list[float] = []

    async def wait_then_free(seconds: float) -> None:  # no wall time: the retry's wait is injected
        waits.append(seconds)
        if len(waits) == 2:
            c[0].service._busy.discard(c[1].node.key)

    c[1].gossip.sleep = wait_then_free
    res = await c[1].gossip.sync_with(c[0].node.key)
    assert len(waits) == 2 and 0.1 <= waits[0] <= 0.3 and 0.2 <= waits[1] <= 0.6  # backing off
    assert res is not None and res.accepted_here == 1


async def test_phantom_heads_cost_the_peer_and_are_not_kept(make_node: Callable[..., Node]) -> None:
    """F9: a peer announces 3,000 feeds ahead of ours and sends none of them when asked."""
    c = make_cluster(make_node, 2)
    c.trust(0, 1)
    phantoms = [[key(2000 + i).verify_key.encode(), "public", 50, bytes(32)] for i in range(3000)]
    phantoms.sort()

    def lying_sync(peer: bytes, message: object) -> dict:
        return {
            "in_sync": False,
            "epoch": bytes(16),
            "position": 9,
            "full": True,
            "changes": phantoms,
            "more": False,
        }

    c[0].service._methods["sync"] = lying_sync
    res = await c[1].gossip.sync_with(c[0].node.key)
    assert res is None
    peer = c[1].peers.get(c[0].node.key)
    assert peer.penalty == pytest.approx(20, rel=1e-3) and "F9" in peer.why and "3000 feeds" in peer.why
    assert c[1].peers.load(c[0].node.key).heads == {}  # nothing believed that never arrived
    assert c[1].peers.get(c[0].node.key).next_try > 0  # and it waits before trying again


@pytest.mark.parametrize(
    "changes",
    [
        lambda a, b: [a, b, a],  # not sorted
        lambda a, b: [a, a],  # repeated
    ],
)
async def test_pages_out_of_order_are_a_violation(make_node: Callable[..., Node], changes: Callable) -> None:
    c = make_cluster(make_node, 2)
    c.trust(0, 1)
    a = [key(2100).verify_key.encode(), "public", 1, bytes(32)]
    b = [key(2101).verify_key.encode(), "public", 1, bytes(32)]
    a, b = sorted([a, b])

    def lying_sync(peer: bytes, message: object) -> dict:
        return {
            "in_sync": False,
            "epoch": bytes(16),
            "position": 9,
            "full": True,
            "changes": changes(a, b),
            "more": False,
        }

    c[0].service._methods["sync"] = lying_sync
    assert await c[1].gossip.sync_with(c[0].node.key) is None
    assert "F7: changes are not sorted" in c[1].peers.get(c[0].node.key).why


async def test_a_long_catch_up_goes_on_next_round_without_penalty(make_node: Callable[..., Node]) -> None:
    """F8: a round stops after ``round_exchanges`` exchanges; the next round picks up from there."""
    c = make_cluster(make_node, 2)
    c.trust(0, 1)
    feed = Feed(key(2200))
    assert c[0].node.ingest([feed.next().wire for _ in range(300)]).accepted == 300
    c[1].syncer.limits = c[0].syncer.limits = type(c[0].syncer.limits)(max_records=50, round_exchanges=2)
    first = await c[1].gossip.sync_with(c[0].node.key)
    assert first is not None and first.accepted_here == 100 and first.round_trips == 3
    for _ in range(2):
        await c[1].gossip.sync_with(c[0].node.key)
    assert c.ids(1) == c.ids(0)
    assert c[1].peers.get(c[0].node.key).penalty == 0


async def test_the_sync_epoch_changes_when_the_peers_groups_change(make_node: Callable[..., Node]) -> None:
    """F12: a responder's epoch for a peer is bound to the groups that peer may read, so a peer let
    into a group gets a full list next time (older feeds of the group had not "changed")."""
    from tequio.node.groups import create_group

    c = make_cluster(make_node, 2)
    c.trust(0, 1)
    a, n = c[0], c[1]
    a.node.publish("core.note", {"text": "antes"})
    await n.syncer.sync(a.node.key)
    view = n.peers.load(a.node.key)
    ask = {"digest": bytes(32), "epoch": view.epoch, "since": view.position}
    assert (await a.syncer.on_sync(n.node.key, ask))["full"] is False  # known epoch and position: a delta
    _, scope = create_group(a.node, "Con N", [(n.node.key, "N", [])])
    reply = await a.syncer.on_sync(n.node.key, ask)
    assert reply["epoch"] != view.epoch and reply["full"] is True
    assert {ch[1] for ch in reply["changes"]} == {"public", scope}


async def test_a_host_may_ingest_off_the_event_loop(make_node: Callable[..., Node]) -> None:
    """NodeSyncHost(off_loop=...) hands every ingest of records from peers to the runner given (serve
    passes one that works on a thread of its own); sync and push behave the same."""
    from tequio.federation.memory import MemoryNetwork
    from tequio.node.federation import Federation

    network = MemoryNetwork()
    ran: list[str] = []
    feds = []
    for i in range(2):
        node = make_node(name=f"N{i}", seed=800 + i)

        async def runner(fn: Callable[[Node], object], node: Node = node) -> object:
            ran.append(node.name)
            return await asyncio.to_thread(fn, node)

        fed = Federation(node, transport=network.transport(node.key), seed=i, off_loop=runner)  # type: ignore[arg-type]
        network.attach(node.key, fed.service)
        feds.append(fed)
    a, b = feds
    a.peers.trust(b.node.key, "b", [])
    b.peers.trust(a.node.key, "a", [])
    for i in range(3):
        a.node.publish("core.note", {"text": f"fuera del bucle {i}"})
    res = await b.syncer.sync(a.node.key)
    assert res.accepted_here == 3 and ran == ["N1"]
    b.node.publish("core.note", {"text": "de vuelta"})
    await b.gossip.push_new()  # what B holds goes out; only its own note is new to A
    assert ran == ["N1", "N0"] and len(a.node.records(limit=None)) == 4


# -- what goes first, and what waits (issue 15 §3) ----------------------------------------------------


def test_group_feeds_go_first_then_direct_then_public() -> None:
    from tequio.federation.sync import feed_rank, first_heads

    heads = [SyncHead(b"a" * 32, s, 1, b"h" * 32) for s in ("public", "d:" + "00" * 32, "g:" + "ab" * 16)]
    assert [h.scope[:2] for h in first_heads(heads)] == ["g:", "d:", "pu"]
    assert feed_rank("g:x") < feed_rank("d:x") < feed_rank("public")


async def test_direct_records_travel_before_public_ones_on_a_small_batch(
    make_node: Callable[..., Node],
) -> None:
    """With room for five records an exchange, the five direct records go in the first one."""
    from dataclasses import replace

    c = make_cluster(make_node, 2)
    c.trust(0, 1)
    a, b = c[0], c[1]
    await a.syncer.sync(b.node.key)  # a first round: each knows the other's (empty) heads
    for i in range(5):
        a.node.publish("core.note", {"text": f"pública {i}"})
    for i in range(5):
        a.node.publish("core.note", {"text": f"directa {i}"}, scope=direct_scope(b.node.key))
    a.syncer.limits = replace(a.syncer.limits, max_records=5, small_records=1)
    sent: list[list[str]] = []
    inner = a.syncer.transport

    class Spy:
        async def call(self, peer: bytes, method: str, message: Any) -> Any:
            if method == "exchange" and message["records"]:
                sent.append([msgpack.unpackb(w)[2][:2] for w in message["records"]])
            return await inner.call(peer, method, message)

    a.syncer.transport = Spy()
    await a.syncer.sync(b.node.key)
    assert sent[0] == ["d:"] * 5 and sent[1] == ["pu"] * 5


async def test_what_waits_for_a_peer_is_counted_until_it_arrives(
    make_node: Callable[..., Node], tmp_path: Path
) -> None:
    from tequio.federation.syncwait import waiting_for
    from tequio.schemas import BlobRef

    c = make_cluster(make_node, 2)
    c.trust(0, 1)
    a, b = c[0], c[1]
    before = waiting_for(a.host, b.node.key, a.peers.load(b.node.key))
    assert before.records == 0 and not before.known
    src = tmp_path / "f.bin"
    src.write_bytes(b"x" * 300_000)
    h, size = a.node.blobs.put_file(src)
    a.node.publish("core.note", {"text": "con foto"}, blobs=[BlobRef(h, size, "image/jpeg")])
    for i in range(3):
        a.node.publish("core.note", {"text": f"nota {i}"})
    w = waiting_for(a.host, b.node.key, a.peers.load(b.node.key))
    assert (w.records, w.files, w.file_bytes, w.feeds) == (4, 1, 300_000, 1) and w.record_bytes > 400
    assert "to send: 4 records (" in w.line() and "1 file (300 KB)" in w.line()
    await a.syncer.sync(b.node.key)
    after = waiting_for(a.host, b.node.key, a.peers.load(b.node.key))
    assert after.records == 0 and after.known
    assert after.line() == "to send: 0 records (0 B); to receive: 0 records"
    # B's side: A's records arrived, its file is still to fetch.
    assert b.host.wanted_blobs(10) == [(h, size)]


def test_peer_list_shows_what_waits_for_each_peer(make_node: Callable[..., Node]) -> None:
    import json
    import subprocess

    from tests.conftest import TEQUIO

    c = make_cluster(make_node, 2)
    c.trust(0, 1)
    a, b = c[0], c[1]
    for i in range(3):
        a.node.publish("core.note", {"text": f"nota {i}"})
    home = str(a.node.home)
    out = subprocess.run([TEQUIO, "--home", home, "peer", "list"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "to send: 3 records (" in out.stdout and "to receive: 0 records" in out.stdout
    js = subprocess.run(
        [TEQUIO, "--home", home, "peer", "list", "--json"], capture_output=True, text=True, timeout=60
    )
    (peer,) = json.loads(js.stdout)
    assert peer["waiting"]["records"] == 3 and peer["waiting"]["known"] is False
    assert peer["name"] == b.node.name
