"""Non-members learn nothing, not even a count (issue 9, section 6; docs/protocol.md rule F12).

Two worlds are built from the same seeds, with the same store epochs and a clock that stands still:
in one, the node A shares a group with C and both write in it (and keep writing); in the other there
is no group. A third node N, a trusted peer of A but no member, syncs, is synced, pushed to, and asks
for the hidden feed by name. Everything N is told (every reply to its requests and every request
made to it, as canonical bytes through the real sync and service code) must be identical in both.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tequio.federation.memory import MemoryNetwork
from tequio.node import Node
from tequio.node.groups import create_group
from tequio.schemas import decode, encode
from tests.conftest import FakeClock
from tests.fedkit import make_cluster

EPOCHS = (b"\x11" * 16, b"\x22" * 16, b"\x33" * 16)


@dataclass
class Told:
    """What N was told, in order: ("reply", method, bytes) and ("request", method, bytes)."""

    items: list[tuple[str, str, bytes]] = field(default_factory=list)


class RecordingTransport:
    def __init__(self, inner: Any, told: Told) -> None:
        self.inner = inner
        self.told = told
        self.meter = inner.meter

    async def call(self, peer: bytes, method: str, message: Any) -> Any:
        reply = await self.inner.call(peer, method, message)
        self.told.items.append(("reply", method, encode(reply)))
        return reply


class RecordingService:
    def __init__(self, inner: Any, told: Told) -> None:
        self.inner = inner
        self.told = told

    def known(self, key: bytes) -> bool:
        return bool(self.inner.known(key))

    async def handle(self, sender: bytes, method: str, message: Any) -> Any:
        self.told.items.append(("request", method, encode(message)))
        return await self.inner.handle(sender, method, message)


async def _world(make_node: Callable[..., Node], hidden: bool, scope: str = "") -> tuple[Told, str]:
    c = make_cluster(make_node, 3, clock=FakeClock(step=0))
    a, member, n = c[0], c[1], c[2]
    for fed, epoch in zip(c.feds, EPOCHS, strict=True):  # SQLite draws store epochs itself
        fed.node.store.conn.execute("UPDATE meta SET value = ? WHERE key = 'epoch'", (epoch,))
    c.trust(0, 1)
    c.trust(0, 2)
    told = Told()
    n.syncer.transport = RecordingTransport(n.syncer.transport, told)
    network: MemoryNetwork = c.network
    network.services[n.node.key] = RecordingService(network.services[n.node.key], told)  # type: ignore[assignment]

    async def n_syncs() -> None:
        await n.syncer.sync(a.node.key)

    for i in range(2):
        a.node.publish("core.note", {"text": f"público {i}"})
    await n_syncs()
    if hidden:
        _, scope = create_group(a.node, "Oculto", [(member.node.key, "Centro", [])])
        for i in range(5):
            a.node.publish("core.note", {"text": f"secreto {i}"}, scope=scope)
    await a.syncer.sync(member.node.key)  # A hands C the group (a node reads only groups it holds)
    if hidden:
        for i in range(3):
            member.node.publish("core.note", {"text": f"de C {i}"}, scope=scope)
    await member.syncer.sync(a.node.key)
    await n_syncs()  # the position N hears must not have moved by the 5 + 3 + key records
    a.node.publish("core.note", {"text": "otra pública"})
    await n_syncs()  # a small delta inside the reply
    n.node.publish("core.note", {"text": "de N"})
    await n_syncs()  # a small delta inside the request
    a.node.publish("core.note", {"text": "para empujar"})
    await a.gossip.push_new()  # pushes only what N may read, the same in both worlds
    await a.syncer.sync(n.node.key)  # A starts a round with N: what it asks N
    a.node.publish("core.note", {"text": "antes del aluvión"})
    if hidden:  # the group grows past every threshold of a small delta, and of a push batch
        for i in range(600):
            a.node.publish("core.note", {"text": f"más secreto {i}"}, scope=scope)
    a.node.publish("core.note", {"text": "última pública"})
    while await a.gossip.push_new():  # one push of both public records, however much came between
        pass
    await n_syncs()
    await n_syncs()
    # N names the hidden feed outright (it knows A's key, and guesses the group id).
    reply = await n.syncer.transport.call(
        a.node.key, "exchange", {"wants": [[a.node.key, scope, 1]], "records": []}
    )
    assert reply == {"records": [], "more": False, "heads": [], "accepted": 0, "rejected": 0}
    if hidden:  # the group is really there, C's notes included
        assert len(a.node.records(scope=scope, limit=None)) > 600
        assert len(a.node.records(scope=scope, author=member.node.key, limit=None)) == 3
    return told, scope


async def test_a_non_members_whole_view_is_the_same_with_or_without_hidden_groups(
    make_node: Callable[..., Node],
) -> None:
    with_group, scope = await _world(make_node, hidden=True)
    without, _ = await _world(make_node, hidden=False, scope=scope)
    assert [(d, m) for d, m, _ in with_group.items] == [(d, m) for d, m, _ in without.items]
    for (direction, method, mine), (_, _, theirs) in zip(with_group.items, without.items, strict=True):
        if mine != theirs:  # show the first field that differs, decoded
            a, b = decode(mine), decode(theirs)
            diff = {k: (a.get(k), b.get(k)) for k in set(a) | set(b) if a.get(k) != b.get(k)}
            raise AssertionError(f"{direction} {method} differs: {diff}")
    # And what it saw is right: positions count the public records only, and never went back.
    positions = [decode(b)["position"] for d, m, b in with_group.items if d == "reply" and m == "sync"]
    assert positions == sorted(positions) and positions[-1] == 2 + 1 + 1 + 1 + 1 + 1  # A's 6, N's 1
    pushes = [decode(b)["records"] for d, m, b in with_group.items if d == "request" and m == "push"]
    assert [len(p) for p in pushes] == [4, 2]  # everything A had, then the two public ones at once
    assert not any(scope.encode() in b for _, _, b in with_group.items)
