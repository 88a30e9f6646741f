"""Only members write into a group, in any delivery order (issue 9 §1; rules E5 and E6).

Real nodes on real SQLite: an outsider's own key record and note, a member's rogue key record sealed to
the outsider with the outsider's note, and a removed member writing past the head its removal recorded,
delivered to a fresh member node in 200 random orders and batchings. Every order gives the same folded
state and the same visible set, and no attacker's note is ever listed.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path

from tequio.governance import ADMIT, REMOVE, ROLES, RULES
from tequio.node import Node
from tequio.node.groups import act, create_group
from tequio.schemas import parse_wire
from tests.conftest import FakeClock, seeded_rng
from tests.test_governance_fold import ANY_MEMBER, BY_MEMBER
from tests.test_governance_property import ingest_in_random_order
from tests.test_group_authority import _keys_record, _note

ORDERS = 200


def _scenario(make_node: Callable[..., Node]) -> tuple[list[Node], str, dict[str, bytes]]:
    """A founds a group with B and C; D is an outsider; A removes B, who goes on writing."""
    na, nb, nc, nd = (make_node(f"Org {x}", seed=200 + i) for i, x in enumerate("ABCD"))
    rules = {ADMIT: ANY_MEMBER, REMOVE: BY_MEMBER, ROLES: BY_MEMBER, RULES: BY_MEMBER}
    _gid, scope = create_group(na, "Red", [(nb.key, "B", []), (nc.key, "C", [])], rules)
    for n in (nb, nc):
        n.ingest(list(na.export(scope)))
    ids: dict[str, bytes] = {}
    ids["a1"] = na.publish("core.note", {"text": "de A"}, scope=scope).id
    ids["b1"] = nb.publish("core.note", {"text": "de B antes"}, scope=scope).id
    na.ingest(list(nb.export(scope)))
    # an outsider's own plain key record (no salt) and a note under it
    dkeys, dkey = _keys_record(nd._signing_key(), scope, 1, None, [na.key, nb.key, nc.key, nd.key])
    dnote = _note(nd._signing_key(), scope, 2, dkeys.id, dkeys, dkey)
    # a member's rogue key record sealed to the outsider too (G7), and the outsider's note under it
    head = nc.store.head(nc.key, scope)
    ckeys, ckey = _keys_record(
        nc._signing_key(),
        scope,
        head.seq + 1 if head else 1,
        head.head if head else None,
        [na.key, nb.key, nc.key, nd.key],
        tuple(nc.governance.heads(scope)),
    )
    ids["c-rogue"] = ckeys.id
    dnote2 = _note(nd._signing_key(), scope, 3, dnote.id, ckeys, ckey)
    # A removes B, recording B's head as A sees it; B, not told, writes on under its old key
    out = act(na, scope, REMOVE, {"key": nb.key})
    assert not out.proposal
    ids["removal"] = out.record
    ids["b2"] = nb.publish("core.note", {"text": "de B después"}, scope=scope).id
    ids["a2"] = na.publish("core.note", {"text": "de A sin B"}, scope=scope).id
    for n in (nb, nc):
        n.ingest(list(na.export(scope)))
    nc.ingest([dkeys.wire, dnote.wire, ckeys.wire, dnote2.wire])
    nc.ingest(list(nb.export(scope)))
    ids["d1"], ids["d2"] = dnote.id, dnote2.id
    return [na, nb, nc, nd], scope, ids


def test_removal_records_the_removed_members_head(make_node: Callable[..., Node]) -> None:
    """E6: the removal carries B's feed head; the fold keeps it as B's bound, the same on every node."""
    (na, nb, nc, _), scope, _ids = _scenario(make_node)
    st = na.governance.state(scope)
    assert st is not None and nb.key not in st.members
    b_head = nb.store.head(nb.key, scope)
    assert b_head is not None
    assert st.bounds[nb.key][0] == b_head.seq - 1  # the note B wrote after its removal is past it
    na.ingest(list(nc.export(scope)))  # A now holds what C holds (the attackers' records too)
    st, stc = na.governance.state(scope), nc.governance.state(scope)
    assert st is not None and stc is not None and stc.canonical() == st.canonical()


def test_a_removed_members_note_past_its_head_is_refused_or_hidden(make_node: Callable[..., Node]) -> None:
    """Refused when the removal came first; hidden, never listed, and shown as ignored when it came after."""
    (na, nb, nc, _), scope, ids = _scenario(make_node)
    # C got the removal first, then B's note: refused with E6
    assert nc.get(ids["b2"]) is None
    assert nc.get(ids["b1"]) is not None
    # A node that got B's note first keeps it, then hides it once the removal arrives
    late = Node.create(nc.home.parent / "late", name="Org C", clock=FakeClock(), rng=seeded_rng(202))
    try:
        assert late.key == nc.key
        cut = parse_wire(next(w for w in na.export(scope) if parse_wire(w).id == ids["removal"])).seq
        every = [parse_wire(w) for w in na.export(scope)]
        removal = [r.wire for r in every if r.author == na.key and r.seq >= cut]
        early = [r.wire for r in every if not (r.author == na.key and r.seq >= cut)]
        late.ingest(early)
        late.ingest([w for w in nb.export(scope) if parse_wire(w).author == nb.key])
        assert late.get(ids["b2"]) is not None
        assert ids["b2"] in {r.id for r in late.records(scope=scope)}
        late.ingest(removal)
        listed = {r.id for r in late.records(scope=scope)}
        assert ids["b2"] not in listed and ids["b1"] in listed
        why = late.governance.ignored_content(scope)
        assert why[ids["b2"]].startswith("E6")
        assert listed == {r.id for r in nc.records(scope=scope) if r.author in (na.key, nb.key)}
    finally:
        late.close()


def test_outsiders_rogue_keys_and_removed_members_give_one_verdict_in_200_orders(
    make_node: Callable[..., Node], tmp_path: Path
) -> None:
    """200 delivery orders of every record to a fresh C-key node: same state and visible set as C."""
    nodes, scope, ids = _scenario(make_node)
    nc = nodes[2]
    union: dict[bytes, bytes] = {}
    for n in nodes:
        for w in n.export(scope):
            union[parse_wire(w).id] = w
    union[ids["b2"]] = next(w for w in nodes[1].export(scope) if parse_wire(w).id == ids["b2"])
    expected = nc.governance.state(scope)
    assert expected is not None
    visible = {r.id for r in nc.records(scope=scope, limit=None)}
    for bad in ("d1", "d2", "b2"):
        assert ids[bad] not in visible
    assert ids["a2"] in visible and ids["b1"] in visible
    assert expected.ignored.get(ids["c-rogue"], "").startswith("G7")
    wires = list(union.values())
    seen: set[tuple[bytes, ...]] = set()
    for i in range(ORDERS):
        fresh = Node.create(tmp_path / f"f{i}", name="Org C", clock=FakeClock(), rng=seeded_rng(202))
        try:
            assert fresh.key == nc.key
            order, _ = ingest_in_random_order(fresh, wires, random.Random(i))
            seen.add(order)
            got = fresh.governance.state(scope)
            assert got is not None and got.canonical() == expected.canonical(), f"order {i}"
            assert {r.id for r in fresh.records(scope=scope, limit=None)} == visible, f"order {i}"
        finally:
            fresh.close()
    assert len(seen) == ORDERS
