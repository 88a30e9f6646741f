"""Voting across four real nodes on 127.0.0.1: admission by a yes/no vote, the same tally on every
node, a forged close rejected everywhere, and hidden ballots revealed only at the close."""

from __future__ import annotations

import pytest

from tequio.governance import ADMIT, BALLOT, KIND_CLOSE
from tequio.node.groups import GroupError, close, create_group, propose
from tequio.plugins.voting.ballot_io import cast
from tests.test_governance_nodes import Org, notes, orgs, sync_all

__all__ = ["orgs"]  # the fixture, re-used


async def test_a_coalition_admits_a_member_by_vote(orgs: list[Org]) -> None:
    a, b, c, d = (o.node for o in orgs)
    # Default rules: admission by yes-no, quorum 1/2 of the electorate, at least 2/3 yes.
    _, scope = create_group(a, "Coalición", [(b.key, "B", []), (c.key, "C", [])])
    a.publish("core.note", {"text": "historia"}, scope=scope)
    pid = propose(
        a, scope, "Admitir a Defensoras", action={"action": ADMIT, "args": {"key": d.key, "name": "D"}}
    )
    await sync_all(orgs[:3])
    for voter, choice in ((a, "yes"), (b, "yes"), (c, "no")):
        st = voter.governance.state(scope)
        assert st is not None
        cast(voter, scope, st.proposals[pid], choice)
    await sync_all(orgs[:3])
    _, result = close(b, scope, pid)
    assert result["passed"] is True  # 2 of 3 yes: at least 2/3
    assert result["explanation"]["yes"] == 2 and result["explanation"]["no"] == 1
    await sync_all(orgs)
    results = set()
    for n in (a, b, c, d):
        st = n.governance.state(scope)
        assert st is not None and st.proposals[pid].status == "passed" and d.key in st.members
        results.add(repr(st.proposals[pid].result))
    assert len(results) == 1, "every node recomputed the same tally"
    assert notes(d, scope) == ["historia"]  # the new member receives the group's history


async def test_a_forged_close_is_rejected_everywhere(orgs: list[Org]) -> None:
    a, b, c, d = (o.node for o in orgs[:4])
    _, scope = create_group(a, "Coalición", [(b.key, "B", []), (c.key, "C", [])])
    pid = propose(a, scope, "Admitir a D", action={"action": ADMIT, "args": {"key": d.key, "name": "D"}})
    await sync_all(orgs[:3])
    ballots = []
    for voter, choice in ((a, "no"), (b, "no"), (c, "yes")):
        st = voter.governance.state(scope)
        assert st is not None
        ballots.append(cast(voter, scope, st.proposals[pid], choice))
    await sync_all(orgs[:3])
    st = c.governance.state(scope)
    assert st is not None
    # C signs a close claiming the vote passed; the recount says it did not.
    forged_result = {"method": "yes-no", "winners": ["yes"], "ranking": [], "passed": True, "explanation": {}}
    forged = c.publish(
        KIND_CLOSE,
        {"proposal": pid, "ballots": sorted(ballots), "result": forged_result, "passed": True},
        scope=scope,
        refs=c.governance.heads(scope),
    )
    await sync_all(orgs)
    for n in (a, b, c):
        st = n.governance.state(scope)
        assert st is not None
        assert st.ignored[forged.id].startswith("G12: the close's tally does not match the recount")
        assert st.proposals[pid].status == "open" and d.key not in st.members
    assert d.governance.groups() == []
    # An honest close then records the real outcome.
    _, result = close(a, scope, pid)
    assert result["passed"] is False


async def test_hidden_ballots_are_sealed_until_the_close(orgs: list[Org]) -> None:
    a, b, c = (o.node for o in orgs[:3])
    _, scope = create_group(a, "Coalición", [(b.key, "B", []), (c.key, "C", [])])
    pid = propose(
        a, scope, "¿Qué caso primero?", method="plurality", options=["Ayotzinapa", "Tlatlaya"], hidden=True
    )
    await sync_all(orgs[:3])
    for voter, choice in ((a, "Tlatlaya"), (b, "Ayotzinapa"), (c, "Tlatlaya")):
        st = voter.governance.state(scope)
        assert st is not None
        cast(voter, scope, st.proposals[pid], choice)
    await sync_all(orgs[:3])
    # Other members hold the ballots but cannot read them before the close.
    for r in b.records(scope=scope, kind=BALLOT):
        assert r.body is not None and "choice" not in r.body and isinstance(r.body["sealed"], bytes)
        assert b"Tlatlaya" not in r.body["sealed"] and b"Ayotzinapa" not in r.body["sealed"]
    with pytest.raises(GroupError, match="only the node that opened a hidden vote"):
        close(b, scope, pid)
    _, result = close(a, scope, pid)
    assert result["winners"] == ["Tlatlaya"] and result["explanation"]["totals"] == {
        "Ayotzinapa": 1,
        "Tlatlaya": 2,
    }
    await sync_all(orgs[:3])
    for n in (a, b, c):
        st = n.governance.state(scope)
        assert st is not None and st.proposals[pid].status == "decided"
        assert st.proposals[pid].result == result
        assert sorted(ch for _, _, ch in st.proposals[pid].ballots.values()) == [
            "Ayotzinapa",
            "Tlatlaya",
            "Tlatlaya",
        ]
