"""Four real nodes on 127.0.0.1 over HTTP: a coalition forms, admits a fourth, removes one, and
access follows membership end to end; forged authority is ignored everywhere."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import msgpack
import pytest
from aiohttp import web

from tequio.federation.http import make_fed_app
from tequio.governance import ADMIT, REMOVE, ROLES, RULES
from tequio.node import Node
from tequio.node.federation import Federation
from tequio.node.groups import act, close, create_group
from tests.test_ingest import reasons


@dataclass
class Org:
    node: Node
    fed: Federation
    runner: web.AppRunner
    addr: str


class Recorder:
    """Wraps a transport and keeps every reply, to show what a peer was told."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.replies: list[bytes] = []

    async def call(self, peer: bytes, method: str, message: Any) -> Any:
        reply = await self.inner.call(peer, method, message)
        self.replies.append(msgpack.packb(reply, use_bin_type=True))
        return reply


@pytest.fixture
async def orgs(make_node: Callable[..., Node]) -> AsyncIterator[list[Org]]:
    made = []
    for i, name in enumerate(("Casa", "Colectivo", "Centro", "Defensoras")):
        node = make_node(name=name, seed=10 + i, clock=lambda: time.time_ns() // 1_000_000)
        fed = Federation(node)
        runner = web.AppRunner(make_fed_app(fed.service, fed.keyring, node.clock, fed.limits))
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        host, port = runner.addresses[0][:2]
        made.append(Org(node, fed, runner, f"{host}:{port}"))
    for a in made:  # every organisation trusts every other: trust is not membership
        for b in made:
            if a is not b:
                a.fed.peers.trust(b.node.key, b.node.name, [b.addr])
    yield made
    for o in made:
        await o.fed.aclose()
        await o.runner.cleanup()


async def sync_all(orgs: list[Org], rounds: int = 2) -> None:
    for _ in range(rounds):
        for a in orgs:
            for b in orgs:
                if a is not b:
                    await a.fed.syncer.sync(b.node.key)


def notes(node: Node, scope: str) -> list[str]:
    return [r.body["text"] for r in node.records(scope=scope, kind="core.note") if r.body]


async def test_access_follows_membership_over_real_sync(orgs: list[Org]) -> None:
    a, b, c, d = (o.node for o in orgs)
    recorder = Recorder(orgs[3].fed.syncer.transport)
    orgs[3].fed.syncer.transport = recorder
    rules = {ADMIT: {"by": "decision", "method": "any-member"}, REMOVE: {"by": "member"}}
    gid, scope = create_group(a, "Red de Búsqueda", [(b.key, "Colectivo", []), (c.key, "Centro", [])], rules)
    a.publish("core.note", {"text": "primer informe"}, scope=scope)
    await sync_all(orgs)

    # Members read; the non-member D, a trusted peer of all three, learns nothing of the group.
    for n in (b, c):
        assert notes(n, scope) == ["primer informe"]
    assert d.governance.groups() == [] and d.records(scope=scope) == []
    assert not any(s.startswith("g:") for (s,) in d.store.conn.execute("SELECT scope FROM feeds"))
    assert recorder.replies and not any(gid.hex().encode() in r for r in recorder.replies)
    assert not any(gid in r for r in recorder.replies)

    # Admit D by decision: B proposes, B closes (any-member); D receives the history and reads it.
    outcome = act(b, scope, ADMIT, {"key": d.key, "name": "Defensoras", "roles": []})
    assert outcome.proposal
    _, result = close(b, scope, outcome.record, passed=True)
    assert result["passed"] is True
    await sync_all(orgs)
    assert notes(d, scope) == ["primer informe"]
    states = {n.name: n.governance.state(scope) for n in (a, b, c, d)}
    assert all(st is not None and set(st.members) == {a.key, b.key, c.key, d.key} for st in states.values())
    canon = {st.canonical() for st in states.values() if st is not None}
    assert len(canon) == 1, "every node folds the same state"

    # Remove C; what follows is encrypted under a key C never receives.
    act(a, scope, REMOVE, {"key": c.key})
    later = a.publish("core.note", {"text": "después de C"}, scope=scope)
    await sync_all(orgs)
    for n in (a, b, d):
        assert notes(n, scope) == ["primer informe", "después de C"]
    assert notes(c, scope) == ["primer informe"]
    assert later.id not in {r.id for r in c.records(scope=scope)}
    # Even handed A's whole feed, C reads the removal and the new key record (not sealed to it), but
    # cannot open what was encrypted after it.
    handed = c.ingest([r.record.wire for r in a.records(scope=scope, author=a.key)])
    assert reasons(handed) == ["undecryptable"] and handed.rejected[0].id == later.id
    final = {n.governance.state(scope).canonical() for n in (a, b, d)}  # type: ignore[union-attr]
    assert len(final) == 1
    st = a.governance.state(scope)
    assert st is not None and c.key not in st.members and st.epoch == 3


async def test_forged_authority_is_ignored_everywhere(orgs: list[Org]) -> None:
    a, b, c, d = (o.node for o in orgs)
    rules = {ROLES: {"by": "role", "role": "coord"}, ADMIT: {"by": "role", "role": "coord"}}
    members = [(a.key, "A", ["coord"]), (b.key, "B", []), (c.key, "C", [])]
    _, scope = create_group(a, "Coalición", members, rules)
    await sync_all(orgs[:3])
    heads = c.governance.heads(scope)
    # C, a plain member, signs acts it has no authority for (bypassing the CLI's own refusal).
    forged = [
        c.publish(
            "gov.act", {"action": ADMIT, "args": {"key": d.key, "name": "amiga"}}, scope=scope, refs=heads
        ),
        c.publish(
            "gov.act", {"action": ROLES, "args": {"key": c.key, "roles": ["coord"]}}, scope=scope, refs=heads
        ),
        c.publish(
            "gov.act",
            {"action": RULES, "args": {"set": {ADMIT: {"by": "member"}}}},
            scope=scope,
            refs=heads,
        ),
    ]
    await sync_all(orgs[:3])
    for n in (a, b, c):
        st = n.governance.state(scope)
        assert st is not None
        assert set(st.members) == {a.key, b.key, c.key}
        assert st.members[c.key].roles == ()
        assert st.rules[ADMIT] == {"by": "role", "role": "coord"}
        for rec in forged:
            assert st.ignored[rec.id].startswith("G4: "), st.ignored[rec.id]
    assert len({n.governance.state(scope).canonical() for n in (a, b, c)}) == 1  # type: ignore[union-attr]
    assert d.governance.groups() == []  # the "admitted friend" was never sent anything
    # A coordinator's act is applied: A gives C the role; now C may admit.
    a.publish(
        "gov.act",
        {"action": ROLES, "args": {"key": c.key, "roles": ["coord"]}},
        scope=scope,
        refs=a.governance.heads(scope),
    )
    await sync_all(orgs[:3])
    assert c.governance.state(scope).members[c.key].roles == ("coord",)  # type: ignore[union-attr]
