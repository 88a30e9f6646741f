"""Issue 9 section 2: under the default rules no single member decides alone while the group has
others, and every member has a day to see a proposal, over real sync between real nodes."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable

import pytest
from aiohttp import web

from tequio.federation.http import make_fed_app
from tequio.governance import ADMIT, CORE_ACTIONS, DEFAULT_MIN_OPEN_MS, DEFAULT_RULES, REMOVE, ROLES, RULES
from tequio.node import Node
from tequio.node.federation import Federation
from tequio.node.groups import GroupError, close, close_window_text, create_group, earliest_close, propose
from tequio.plugins.voting.ballot_io import cast
from tests.conftest import FakeClock
from tests.test_governance_nodes import Org, sync_all

DAY = 86_400_000


def _needed(fraction: list[int], n: int) -> int:
    return -(-fraction[0] * n // fraction[1])


@pytest.mark.parametrize("action", [a.name for a in CORE_ACTIONS if a.default.get("by") == "decision"])
def test_no_default_decision_lets_one_member_decide_alone(action: str) -> None:
    """For every group size from 2 to 200, each default decision needs at least two ballots and a day."""
    rule = DEFAULT_RULES[action]
    assert rule["min_open_ms"] == DEFAULT_MIN_OPEN_MS == DAY
    for n in range(2, 201):
        assert _needed(rule["quorum"], n) >= 2, (action, n)
    assert _needed(rule["quorum"], 1) == 1  # a group of one still decides (there is nobody else)


@pytest.fixture
async def pair(make_node: Callable[..., Node]) -> AsyncIterator[tuple[list[Org], FakeClock]]:
    """Two real nodes sharing one hand-moved clock, each serving federation on 127.0.0.1."""
    clock = FakeClock(start=time.time_ns() // 1_000_000, step=1)
    made = []
    for i, name in enumerate(("Casa", "Colectivo", "Defensoras")):
        node = make_node(name=name, seed=70 + i, clock=clock)
        fed = Federation(node)
        runner = web.AppRunner(make_fed_app(fed.service, fed.keyring, node.clock, fed.limits))
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        host, port = runner.addresses[0][:2]
        made.append(Org(node, fed, runner, f"{host}:{port}"))
    for a in made:
        for b in made:
            if a is not b:
                a.fed.peers.trust(b.node.key, b.node.name, [b.addr])
    yield made, clock
    for o in made:
        await o.fed.aclose()
        await o.runner.cleanup()


async def test_in_a_two_member_group_one_member_cannot_admit_alone(pair: tuple[list[Org], FakeClock]) -> None:
    """The attack of issue 9: A proposes and votes alone; neither at once nor after a day does it pass."""
    orgs, clock = pair
    a, b, d = (o.node for o in orgs)
    _, scope = create_group(a, "Red", [(b.key, "B", [])])
    pid = propose(a, scope, "Admitir a D", action={"action": ADMIT, "args": {"key": d.key, "name": "D"}})
    st = a.governance.state(scope)
    assert st is not None
    prop = st.proposals[pid]
    assert earliest_close(prop) == prop.ts + DAY
    assert "open at least 1 day" in close_window_text(prop) and "at the earliest" in close_window_text(prop)
    cast(a, scope, prop, "yes")
    with pytest.raises(GroupError, match="G11: closed before its minimum time"):
        close(a, scope, pid)
    clock.now += DAY + 60_000  # a day later, B still silent: the quorum of 2/3 of 2 is two ballots
    _, result = close(a, scope, pid)
    assert result["passed"] is False
    assert "quorum not met (1 voted, 2 needed)" in result["explanation"]["summary"]
    await sync_all(orgs[:2])
    for n in (a, b):
        st = n.governance.state(scope)
        assert st is not None and d.key not in st.members and st.proposals[pid].status == "rejected"


async def test_when_every_member_has_voted_it_closes_at_once(pair: tuple[list[Org], FakeClock]) -> None:
    """The day is a floor for silence, not a delay for agreement: both members vote yes, it closes."""
    orgs, _ = pair
    a, b, d = (o.node for o in orgs)
    _, scope = create_group(a, "Red", [(b.key, "B", [])])
    pid = propose(a, scope, "Admitir a D", action={"action": ADMIT, "args": {"key": d.key, "name": "D"}})
    await sync_all(orgs[:2])
    for voter in (a, b):
        st = voter.governance.state(scope)
        assert st is not None
        cast(voter, scope, st.proposals[pid], "yes")
    await sync_all(orgs[:2])
    _, result = close(b, scope, pid)
    assert result["passed"] is True
    await sync_all(orgs)
    for n in (a, b, d):
        st = n.governance.state(scope)
        assert st is not None and d.key in st.members


@pytest.mark.parametrize("action", [REMOVE, ROLES, RULES])
async def test_removal_roles_and_rules_are_not_one_members_either(
    pair: tuple[list[Org], FakeClock], action: str
) -> None:
    """The same floor holds for removing a member, setting roles and changing rules."""
    orgs, clock = pair
    a, b, _ = (o.node for o in orgs)
    _, scope = create_group(a, "Red", [(b.key, "B", [])])
    args = {
        REMOVE: {"key": b.key},
        ROLES: {"key": b.key, "roles": ["coordinator"]},
        RULES: {"set": {ADMIT: {"by": "member"}}},
    }[action]
    pid = propose(a, scope, "solo", action={"action": action, "args": args})
    st = a.governance.state(scope)
    assert st is not None
    cast(a, scope, st.proposals[pid], "yes")
    with pytest.raises(GroupError, match="G11"):
        close(a, scope, pid)
    clock.now += DAY + 1
    _, result = close(a, scope, pid)
    assert result["passed"] is False
    st = a.governance.state(scope)
    assert st is not None and b.key in st.members and not st.has_role(b.key, "coordinator")
    assert st.rules.get(ADMIT, DEFAULT_RULES[ADMIT]) == DEFAULT_RULES[ADMIT]
