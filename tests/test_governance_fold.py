"""The governance fold over hand-made records: every numbered rule of docs/governance.md (G1-G16).

No nodes here: records are ``GovRecord`` values built as a node would build them (bootstrap
``gov.keys`` with the salt, a genesis referring to it, acts, proposals, ballots and closes referring
to the heads their author had seen), so each rule can be exercised on its own, failure side included.
"""

from __future__ import annotations

import hashlib
import itertools
import random
from collections.abc import Iterable, Sequence
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as hs

from tequio.governance import (
    ADMIT,
    BALLOT,
    CLOSE_GROUP,
    DEFAULT_RULES,
    ENTRENCHED,
    KIND_ACT,
    KIND_CLOSE,
    KIND_GROUP,
    KIND_KEYS,
    KIND_PROPOSAL,
    REMOVE,
    ROLES,
    RULES,
    Action,
    DecisionMethod,
    GovRecord,
    GroupState,
    MethodError,
    Tally,
    fold,
    group_id,
)

T0 = 1_767_225_600_000


def member_key(n: int) -> bytes:
    """A 32-byte member key; the fold never checks that it is on the curve."""
    return bytes([n]) * 32


A, B, C, D, E, F = (member_key(n) for n in (0xA1, 0xB2, 0xC3, 0xD4, 0xE5, 0xF6))
SALT = b"\x5a" * 16


def low(n: int) -> bytes:
    """An id that sorts before every ``high`` id (and before default ids starting above 0x00)."""
    return b"\x00" + bytes([n]) + b"\x00" * 30


def high(n: int) -> bytes:
    """An id that sorts after every ``low`` id."""
    return b"\xff" + bytes([n]) + b"\xff" * 30


class Majority:
    """A tiny counting method for the tests: passes when yes outnumbers no."""

    counts_ballots = True

    def result(self, ballots: Sequence[tuple[bytes, Any]], tally: Tally) -> dict[str, Any]:
        yes = sum(1 for _, c in ballots if c == "yes")
        no = sum(1 for _, c in ballots if c == "no")
        passed = yes * 2 > yes + no
        return {"passed": passed, "winners": ["yes" if passed else "no"], "yes": yes, "no": no}

    def check_choice(self, choice: Any, tally: Tally) -> str | None:
        return None if choice in ("yes", "no") else "a ballot is yes or no"


class Fussy(Majority):
    """A counting method that refuses to count an odd number of ballots."""

    def result(self, ballots: Sequence[tuple[bytes, Any]], tally: Tally) -> dict[str, Any]:
        if len(ballots) % 2:
            raise MethodError("an odd number of ballots")
        return super().result(ballots, tally)


METHODS: dict[str, DecisionMethod] = {"test-majority": Majority(), "test-fussy": Fussy()}
MAJORITY: dict[str, Any] = {"by": "decision", "method": "test-majority"}
ANY_MEMBER: dict[str, Any] = {"by": "decision", "method": "any-member"}
BY_MEMBER: dict[str, Any] = {"by": "member"}


def coord(role: str = "coord") -> dict[str, Any]:
    return {"by": "role", "role": role}


def keys_body(to: Iterable[bytes], salt: bytes | None = None) -> dict[str, Any]:
    """A gov.keys body as a node writes it: one box per recipient, sorted by recipient."""
    body: dict[str, Any] = {"boxes": [{"to": k, "box": b"x" * 48} for k in sorted(to)], "commit": b"c" * 32}
    if salt is not None:
        body["salt"] = salt
    return body


def group_body(
    members: Sequence[tuple[bytes, str, Sequence[str]]], rules: dict[str, Any], salt: bytes = SALT
) -> dict[str, Any]:
    return {
        "name": "Red de Búsqueda",
        "description": "coalición",
        "salt": salt,
        "members": [{"key": k, "name": n, "roles": list(r)} for k, n, r in sorted(members)],
        "rules": rules,
    }


class Scenario:
    """Records of one group, built in the order their authors wrote them (seq per author, a clock)."""

    def __init__(
        self,
        members: Sequence[tuple[bytes, str, Sequence[str]]] = ((A, "A", ()), (B, "B", ()), (C, "C", ())),
        rules: dict[str, Any] | None = None,
        founder: bytes = A,
        salt: bytes = SALT,
        tag: str = "s",
        genesis: bool = True,
    ) -> None:
        self.gid = group_id(founder, salt)
        self.tag = tag
        self.records: list[GovRecord] = []
        self.seqs: dict[bytes, int] = {}
        self.ts = T0
        self.members = members
        if genesis:
            self.keys = self.add(founder, KIND_KEYS, keys_body([m[0] for m in members], salt), ())
            self.genesis = self.add(
                founder, KIND_GROUP, group_body(members, rules or {}, salt), (self.keys.id,)
            )

    def add(
        self,
        author: bytes,
        kind: str,
        body: dict[str, Any],
        refs: Sequence[bytes] | None = None,
        *,
        id: bytes | None = None,
        ts: int | None = None,
        seq: int | None = None,
    ) -> GovRecord:
        """Append a record; refs default to the current heads (what a node that saw everything refs)."""
        refs = self.heads() if refs is None else tuple(refs)
        self.seqs[author] = self.seqs.get(author, 0) + 1
        self.ts += 1000
        rid = id if id is not None else hashlib.sha256(f"{self.tag}/{len(self.records)}".encode()).digest()
        rec = GovRecord(
            rid,
            author,
            self.seqs[author] if seq is None else seq,
            self.ts if ts is None else ts,
            kind,
            body,
            tuple(refs),
        )
        self.records.append(rec)
        return rec

    def heads(self) -> tuple[bytes, ...]:
        referred = {p for r in self.records for p in r.refs}
        return tuple(sorted(r.id for r in self.records if r.id not in referred))

    def act(self, author: bytes, action: str, args: dict[str, Any], **kw: Any) -> GovRecord:
        return self.add(author, KIND_ACT, {"action": action, "args": args}, **kw)

    def propose(self, author: bytes, action: str, args: dict[str, Any], **kw: Any) -> GovRecord:
        body = {"title": f"{action}", "text": "", "action": {"action": action, "args": args}}
        body.update(kw.pop("extra", {}))
        return self.add(author, KIND_PROPOSAL, body, **kw)

    def ballot(self, author: bytes, proposal: GovRecord, choice: Any, **kw: Any) -> GovRecord:
        return self.add(author, BALLOT, {"proposal": proposal.id, "choice": choice}, **kw)

    def decide(self, author: bytes, proposal: GovRecord, passed: bool, **kw: Any) -> GovRecord:
        """A close of a method that counts no ballots (any-member, role-holder)."""
        result = {"decided_by": author, "passed": passed}
        body: dict[str, Any] = {"proposal": proposal.id, "ballots": [], "result": result, "passed": passed}
        return self.add(author, KIND_CLOSE, body, **kw)

    def close(
        self,
        author: bytes,
        proposal: GovRecord,
        ballots: Sequence[GovRecord],
        result: dict[str, Any],
        **kw: Any,
    ) -> GovRecord:
        body = {"proposal": proposal.id, "ballots": sorted(b.id for b in ballots), "result": result}
        if isinstance(result.get("passed"), bool):
            body["passed"] = result["passed"]
        return self.add(author, KIND_CLOSE, body, **kw)

    def rotate(self, author: bytes, to: Iterable[bytes], **kw: Any) -> GovRecord:
        return self.add(author, KIND_KEYS, keys_body(to), **kw)

    def fold(self, records: Iterable[GovRecord] | None = None, actions: Iterable[Action] = ()) -> GroupState:
        return fold(self.gid, self.records if records is None else records, METHODS, actions)


def majority(yes: int, no: int) -> dict[str, Any]:
    passed = yes * 2 > yes + no
    return {"passed": passed, "winners": ["yes" if passed else "no"], "yes": yes, "no": no}


def reason(state: GroupState, rec: GovRecord) -> str:
    """Why the fold ignored ``rec`` (fails the test if it was not ignored)."""
    assert rec.id in state.ignored, f"{rec.kind} was not ignored (applied={rec.id in state.applied})"
    return state.ignored[rec.id]


def all_orders_agree(s: Scenario, limit: int = 50) -> GroupState:
    """Fold the scenario in several input orders; all must give the same canonical bytes."""
    base = s.fold()
    rng = random.Random(1)
    for _ in range(limit):
        recs = list(s.records)
        rng.shuffle(recs)
        assert s.fold(recs).canonical() == base.canonical()
    return base


# -- G1 waiting --------------------------------------------------------------------------------------


def test_g1_a_record_with_a_missing_ref_waits_and_so_do_its_descendants() -> None:
    """G1: an act referring to a record not held waits, with all after it, until that record arrives."""
    s = Scenario(rules={ADMIT: BY_MEMBER})
    missing = s.act(A, "test.flag", {})
    admit = s.act(B, ADMIT, {"key": D, "name": "D", "roles": []})
    after = s.act(C, ADMIT, {"key": E, "name": "E", "roles": []})
    held = [r for r in s.records if r is not missing]
    st = s.fold(held)
    assert st.waiting == sorted([admit.id, after.id])
    assert set(st.members) == {A, B, C}
    assert admit.id not in st.applied and admit.id not in st.ignored
    st = s.fold()
    assert st.waiting == []
    assert set(st.members) == {A, B, C, D, E}
    assert st.applied[-2:] == [admit.id, after.id]


def test_g1_a_genesis_without_its_keys_waits_and_nothing_applies() -> None:
    """G1: a genesis whose key record is not held waits; the state has no genesis and no members."""
    s = Scenario()
    act = s.act(A, ROLES, {"key": B, "roles": ["x"]})
    st = s.fold([s.genesis, act])
    assert st.genesis is None and st.members == {}
    assert st.waiting == sorted([s.genesis.id, act.id])
    assert s.fold().genesis == s.genesis.id


def test_g1_a_reference_cycle_waits_instead_of_looping() -> None:
    """G1: records referring to each other (impossible when signed, possible here) wait; the fold ends."""
    s = Scenario(rules={ADMIT: BY_MEMBER})
    x, y = low(1), low(2)
    s.records.append(
        GovRecord(x, B, 1, T0, KIND_ACT, {"action": ADMIT, "args": {"key": D}}, (s.genesis.id, y))
    )
    s.records.append(GovRecord(y, C, 1, T0, KIND_ACT, {"action": ADMIT, "args": {"key": E}}, (x,)))
    st = s.fold()
    assert st.waiting == [x, y]
    assert set(st.members) == {A, B, C}


def test_g1_a_redundant_ref_does_not_make_held_records_wait() -> None:
    """G1: with every referred record held nothing waits, even refs naming a record and its descendant."""
    s = Scenario(rules={ADMIT: BY_MEMBER})
    p = s.act(B, ADMIT, {"key": D, "name": "D", "roles": []}, id=bytes([0x30]) * 32)
    q = s.act(B, ADMIT, {"key": E, "name": "E", "roles": []}, id=bytes([0x40]) * 32, refs=[p.id])
    r = s.act(B, ADMIT, {"key": F, "name": "F", "roles": []}, id=bytes([0x50]) * 32, refs=[q.id])
    # refs (p, r): r descends from p. Legal (a record may name more of its past than its heads) and
    # signed by a member; its id sorts first, so the depth walk starts from it.
    x = s.act(C, "test.flag", {}, id=bytes([0x01]) * 32, refs=[p.id, r.id])
    st = s.fold()
    assert st.waiting == []
    assert set(st.members) == {A, B, C, D, E, F}
    assert x.id in st.ignored  # test.flag is no declared action: nobody may


# -- G2 order ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("first_wins", ["D1", "D2"])
def test_g2_concurrent_records_apply_in_id_order(first_wins: str) -> None:
    """G2: of two concurrent admits of one key the lower id applies; the other changes nothing."""
    s = Scenario(rules={ADMIT: BY_MEMBER})
    heads = s.heads()
    ids = (low(1), high(1)) if first_wins == "D1" else (high(1), low(1))
    one = s.act(B, ADMIT, {"key": D, "name": "D1", "roles": []}, refs=heads, id=ids[0])
    two = s.act(C, ADMIT, {"key": D, "name": "D2", "roles": []}, refs=heads, id=ids[1])
    st = all_orders_agree(s)
    assert st.members[D].name == first_wins
    winner, loser = (one, two) if first_wins == "D1" else (two, one)
    assert st.members[D].since == winner.id
    assert (loser.id, f"admit {D.hex()[:16]}: already a member") in st.history
    assert st.applied[-2:] == sorted([one.id, two.id])


def test_g2_depth_comes_before_id() -> None:
    """G2: a deeper record applies after a shallower one even when its id sorts first."""
    s = Scenario(rules={RULES: BY_MEMBER})
    first = s.act(B, RULES, {"set": {"group.publish": coord("early")}}, id=high(1))
    second = s.act(C, RULES, {"set": {"group.publish": coord("late")}}, id=low(1))
    st = all_orders_agree(s)
    assert st.applied == [s.keys.id, s.genesis.id, first.id, second.id]
    assert st.rules["group.publish"] == coord("late")


# -- G3 genesis ---------------------------------------------------------------------------------------


def test_g3_the_genesis_founds_the_group_at_epoch_one() -> None:
    """G3: a well-formed genesis gives the members, their roles, the rules with overrides, and epoch 1."""
    s = Scenario(
        members=((A, "A", ["coord"]), (B, "B", []), (C, "C", ["scribe", "coord"])),
        rules={REMOVE: BY_MEMBER},
    )
    st = s.fold()
    assert st.genesis == s.genesis.id and st.creator == A
    assert st.name == "Red de Búsqueda" and st.description == "coalición"
    assert {k: (m.name, m.roles, m.since) for k, m in st.members.items()} == {
        A: ("A", ("coord",), s.genesis.id),
        B: ("B", (), s.genesis.id),
        C: ("C", ("scribe", "coord"), s.genesis.id),
    }
    assert st.rules[REMOVE] == BY_MEMBER
    assert st.rules[ADMIT] == DEFAULT_RULES[ADMIT]
    assert st.epoch == 1 and st.current_keys == s.keys.id and not st.stale
    assert st.epochs == {s.keys.id: (1, tuple(sorted([A, B, C])))}
    assert st.applied == [s.keys.id, s.genesis.id]
    assert st.ignored == {} and st.waiting == []


def test_g3_a_genesis_by_another_author_does_not_fold_for_the_group() -> None:
    """G3: B cannot write the genesis of A's group id, not even with A's salt and A's key record."""
    s = Scenario(genesis=False)
    keys = s.add(A, KIND_KEYS, keys_body([A, B, C], SALT), ())
    forged = s.add(B, KIND_GROUP, group_body([(A, "A", ()), (B, "B", ()), (C, "C", ())], {}), (keys.id,))
    st = s.fold()
    assert st.genesis is None and st.members == {}
    assert reason(st, forged) == "G3: the group id is not bound to this author and salt"
    assert reason(st, keys) == "G3: a first key record that no genesis refers to"


def test_g3_a_forged_genesis_with_its_own_keys_is_ignored_beside_the_real_one() -> None:
    """G3: B's own key record and genesis in A's group are ignored; A's genesis stands."""
    s = Scenario()
    bkeys = s.add(B, KIND_KEYS, keys_body([B, D], b"\x01" * 16), (), id=low(1))
    bgen = s.add(
        B, KIND_GROUP, group_body([(B, "B", ()), (D, "D", ())], {}, b"\x01" * 16), (bkeys.id,), id=low(2)
    )
    st = all_orders_agree(s)
    assert st.genesis == s.genesis.id and set(st.members) == {A, B, C}
    assert reason(st, bgen) == "G3: the group id is not bound to this author and salt"
    assert reason(st, bkeys) == "G3: a first key record that no genesis refers to"


def test_g3_a_genesis_with_the_wrong_salt_is_ignored() -> None:
    """G3: the founder's genesis with another salt does not give this group id."""
    s = Scenario(genesis=False)
    other = b"\x07" * 16
    keys = s.add(A, KIND_KEYS, keys_body([A, B], other), ())
    gen = s.add(A, KIND_GROUP, group_body([(A, "A", ()), (B, "B", ())], {}, other), (keys.id,))
    st = s.fold()
    assert st.genesis is None
    assert reason(st, gen) == "G3: the group id is not bound to this author and salt"


@pytest.mark.parametrize("order", ["real-first", "second-first"])
def test_g3_a_second_genesis_is_ignored(order: str) -> None:
    """G3: of two geneses by the founder, the first in G2's order founds the group; the other is ignored."""
    s = Scenario(genesis=False)
    keys = s.add(A, KIND_KEYS, keys_body([A, B], SALT), ())
    ids = (low(1), high(1)) if order == "real-first" else (high(1), low(1))
    one = s.add(A, KIND_GROUP, group_body([(A, "A", ()), (B, "B", ())], {}), (keys.id,), id=ids[0])
    two = s.add(
        A, KIND_GROUP, group_body([(A, "A", ()), (B, "B", ())], {REMOVE: BY_MEMBER}), (keys.id,), id=ids[1]
    )
    st = all_orders_agree(s)
    first, second = (one, two) if order == "real-first" else (two, one)
    assert st.genesis == first.id
    assert reason(st, second) == "G3: the group already has a genesis"
    assert st.rules[REMOVE] == (DEFAULT_RULES[REMOVE] if order == "real-first" else BY_MEMBER)


def test_g3_a_first_key_record_after_the_genesis_is_ignored() -> None:
    """G3: a second bootstrap key record (with a salt) written after the genesis opens no epoch."""
    s = Scenario()
    late = s.add(A, KIND_KEYS, keys_body([A, B, C], SALT))
    st = s.fold()
    assert reason(st, late) == "G3: a first key record after the genesis"
    assert st.epoch == 1 and st.current_keys == s.keys.id


@pytest.mark.parametrize(
    ("refs_of", "why"),
    [
        ("none", "G3: a genesis refers to exactly its first key record"),
        ("two", "G3: a genesis refers to exactly its first key record"),
        ("other-author", "G3: the genesis does not refer to its author's first key record"),
        ("other-salt", "G3: the genesis does not refer to its author's first key record"),
        ("not-keys", "G3: the genesis does not refer to its author's first key record"),
    ],
)
def test_g3_a_genesis_must_refer_to_exactly_its_first_key_record(refs_of: str, why: str) -> None:
    """G3: a genesis referring to nothing, to two records, or to the wrong key record is ignored."""
    s = Scenario(genesis=False)
    mine = s.add(A, KIND_KEYS, keys_body([A, B], SALT), ())
    theirs = s.add(B, KIND_KEYS, keys_body([A, B], SALT), ())
    salted = s.add(A, KIND_KEYS, keys_body([A, B], b"\x09" * 16), ())
    act = s.add(A, KIND_ACT, {"action": "test.flag", "args": {}}, ())
    refs = {
        "none": (),
        "two": (mine.id, salted.id),
        "other-author": (theirs.id,),
        "other-salt": (salted.id,),
        "not-keys": (act.id,),
    }[refs_of]
    gen = s.add(A, KIND_GROUP, group_body([(A, "A", ()), (B, "B", ())], {}), refs)
    st = s.fold()
    assert st.genesis is None and st.members == {}
    assert reason(st, gen) == why


@pytest.mark.parametrize("to", [[A, B], [A, B, C, D], [A, B, B]])
def test_g3_the_first_keys_must_be_sealed_to_exactly_the_members(to: list[bytes]) -> None:
    """G3: first keys sealed to one member too few, one too many, or twice to one member: no genesis."""
    s = Scenario(genesis=False)
    body = keys_body(to, SALT)
    keys = s.add(A, KIND_KEYS, body, ())
    gen = s.add(A, KIND_GROUP, group_body([(A, "A", ()), (B, "B", ()), (C, "C", ())], {}), (keys.id,))
    st = s.fold()
    assert st.genesis is None
    assert reason(st, gen) == "G3: the first keys are not sealed to the members"


@pytest.mark.parametrize(
    ("members", "rules", "why"),
    [
        ([(B, "B", ())], {}, "G3: the creator is not among the members"),
        ([(A, "A", ["Not A Role"])], {}, "G3: roles are a list"),
        ([(A, "A", ())], {ADMIT: {"by": "sometimes"}}, "G3: group.admit: a rule's 'by'"),
        ([(A, "A", ())], {"Bad Name": BY_MEMBER}, "G3: 'Bad Name' is not an action name"),
        ([], {}, "G3: members is a non-empty list"),
    ],
)
def test_g3_a_malformed_genesis_is_ignored(
    members: list[tuple[bytes, str, Sequence[str]]], rules: dict[str, Any], why: str
) -> None:
    """G3: a genesis whose creator is not a member, or with malformed roles, rules or members, is ignored."""
    s = Scenario(genesis=False)
    keys = s.add(A, KIND_KEYS, keys_body([m[0] for m in members] or [A], SALT), ())
    gen = s.add(A, KIND_GROUP, group_body(members, rules), (keys.id,))
    st = s.fold()
    assert st.genesis is None
    assert reason(st, gen).startswith(why)


def test_g3_a_member_listed_twice_is_refused() -> None:
    """G3: a genesis listing a member twice is ignored."""
    s = Scenario(genesis=False)
    keys = s.add(A, KIND_KEYS, keys_body([A], SALT), ())
    body = group_body([(A, "A", ())], {})
    body["members"] = body["members"] * 2
    gen = s.add(A, KIND_GROUP, body, (keys.id,))
    assert reason(s.fold(), gen) == "G3: a member is listed twice"


# -- G4 / G5 authority as of refs and now ----------------------------------------------------------------


def test_g4_a_member_promoted_concurrently_cannot_use_the_role_it_had_not_seen() -> None:
    """G4: B's admit, written before B saw its promotion, is ignored though the promotion is ordered first."""
    s = Scenario(
        members=((A, "A", ["coord"]), (B, "B", ()), (C, "C", ())), rules={ADMIT: coord(), ROLES: coord()}
    )
    heads = s.heads()
    promote = s.act(A, ROLES, {"key": B, "roles": ["coord"]}, refs=heads, id=low(1))
    admit = s.act(B, ADMIT, {"key": D, "name": "D", "roles": []}, refs=heads, id=high(1))
    st = all_orders_agree(s)
    assert promote.id in st.applied and st.members[B].roles == ("coord",)
    assert reason(st, admit) == "G4: group.admit: needs the role coord"
    assert D not in st.members
    # Once B has seen its promotion, the same act applies.
    again = s.act(B, ADMIT, {"key": D, "name": "D", "roles": []})
    st = s.fold()
    assert again.id in st.applied and D in st.members and st.members[D].since == again.id


def test_g5_a_member_demoted_concurrently_loses_the_role() -> None:
    """G5: B's admit, written while B held the role, is ignored when B's demotion is ordered before it."""
    s = Scenario(
        members=((A, "A", ["coord"]), (B, "B", ["coord"]), (C, "C", ())),
        rules={ADMIT: coord(), ROLES: coord()},
    )
    heads = s.heads()
    s.act(A, ROLES, {"key": B, "roles": []}, refs=heads, id=low(1))
    admit = s.act(B, ADMIT, {"key": D, "name": "D", "roles": []}, refs=heads, id=high(1))
    st = all_orders_agree(s)
    assert st.members[B].roles == ()
    assert reason(st, admit) == "G5: group.admit: needs the role coord"
    assert D not in st.members


def test_g5_the_same_act_ordered_before_the_demotion_applies() -> None:
    """G5/G2: had B's admit sorted before its concurrent demotion, it applies."""
    s = Scenario(
        members=((A, "A", ["coord"]), (B, "B", ["coord"]), (C, "C", ())),
        rules={ADMIT: coord(), ROLES: coord()},
    )
    heads = s.heads()
    s.act(A, ROLES, {"key": B, "roles": []}, refs=heads, id=high(1))
    admit = s.act(B, ADMIT, {"key": D, "name": "D", "roles": []}, refs=heads, id=low(1))
    st = s.fold()
    assert admit.id in st.applied and D in st.members and st.members[B].roles == ()


def test_g4_g5_a_removed_members_acts_are_ignored() -> None:
    """G4/G5: after its removal C's acts are ignored, whether it saw the removal (G4) or not (G5)."""
    s = Scenario(rules={REMOVE: BY_MEMBER, ADMIT: BY_MEMBER})
    heads = s.heads()
    removal = s.act(A, REMOVE, {"key": C}, refs=heads, id=low(5))
    unaware = s.act(C, ADMIT, {"key": D, "name": "D", "roles": []}, refs=heads, id=high(5))
    aware = s.act(C, ADMIT, {"key": E, "name": "E", "roles": []})
    st = all_orders_agree(s)
    assert removal.id in st.applied and C not in st.members
    assert reason(st, unaware) == "G5: the author is no longer a member"
    assert reason(st, aware) == "G4: the author was not a member as of its refs"
    assert set(st.members) == {A, B}
    assert (removal.id, f"removed {C.hex()[:16]}") in st.history


def test_g5_an_act_ordered_before_its_authors_removal_applies() -> None:
    """G5/G2: C's concurrent admit that sorts before C's removal still applies; C is removed after it."""
    s = Scenario(rules={REMOVE: BY_MEMBER, ADMIT: BY_MEMBER})
    heads = s.heads()
    s.act(A, REMOVE, {"key": C}, refs=heads, id=high(5))
    admit = s.act(C, ADMIT, {"key": D, "name": "D", "roles": []}, refs=heads, id=low(5))
    st = s.fold()
    assert admit.id in st.applied
    assert set(st.members) == {A, B, D}


def test_g4_an_outsider_cannot_act() -> None:
    """G4: a record by a key that never was a member is ignored."""
    s = Scenario(rules={ADMIT: BY_MEMBER})
    act = s.act(E, ADMIT, {"key": E, "name": "E", "roles": []})
    st = s.fold()
    assert reason(st, act) == "G4: the author was not a member as of its refs"
    assert E not in st.members


# -- G6 before the genesis, after dissolution --------------------------------------------------------


def test_g6_nothing_applies_before_the_genesis() -> None:
    """G6: an act that does not have the genesis in its past is ignored, even by the founder."""
    s = Scenario(rules={ADMIT: BY_MEMBER})
    early = s.act(A, ADMIT, {"key": D, "name": "D", "roles": []}, refs=[s.keys.id])
    root = s.act(A, ADMIT, {"key": E, "name": "E", "roles": []}, refs=[])
    st = s.fold()
    assert reason(st, early) == "G6: before the genesis"
    assert reason(st, root) == "G6: before the genesis"
    assert set(st.members) == {A, B, C}


def test_g6_nothing_applies_after_dissolution() -> None:
    """G6: once the group is dissolved (here by any member alone), later records are ignored."""
    s = Scenario(rules={CLOSE_GROUP: BY_MEMBER, ADMIT: BY_MEMBER})
    end = s.act(B, CLOSE_GROUP, {})
    admit = s.act(A, ADMIT, {"key": D, "name": "D", "roles": []})
    keys = s.rotate(A, [A, B, C])
    st = s.fold()
    assert st.dissolved and end.id in st.applied
    assert (end.id, "group dissolved") in st.history
    assert reason(st, admit) == "G6: the group was dissolved"
    assert reason(st, keys) == "G6: the group was dissolved"
    assert D not in st.members and st.epoch == 1


def test_g6_dissolution_by_decision() -> None:
    """G6/G13: a passed group.close proposal dissolves the group at its close."""
    s = Scenario(rules={CLOSE_GROUP: ANY_MEMBER})
    p = s.propose(B, CLOSE_GROUP, {})
    s.decide(C, p, True)
    late = s.propose(A, ADMIT, {"key": D})
    st = s.fold()
    assert st.dissolved and st.proposals[p.id].status == "passed"
    assert reason(st, late) == "G6: the group was dissolved"


# -- G7 keys ------------------------------------------------------------------------------------------


def test_g7_a_key_sealed_to_exactly_the_members_opens_the_next_epoch() -> None:
    """G7: a member's gov.keys sealed to exactly the members becomes epoch 2 and the current key."""
    s = Scenario()
    k2 = s.rotate(B, [A, B, C])
    st = s.fold()
    assert st.epoch == 2 and st.current_keys == k2.id
    assert st.epochs[k2.id] == (2, tuple(sorted([A, B, C])))
    assert st.epochs[s.keys.id] == (1, tuple(sorted([A, B, C])))


@pytest.mark.parametrize("to", [[A, B], [A, B, C, D], []])
def test_g7_a_key_sealed_to_another_set_is_ignored(to: list[bytes]) -> None:
    """G7: a key leaving a member out, adding a non-member, or sealed to nobody opens no epoch."""
    s = Scenario()
    bad = s.rotate(B, to)
    st = s.fold()
    assert reason(st, bad) == "G7: the key is not sealed to exactly the members"
    assert st.epoch == 1 and st.current_keys == s.keys.id and bad.id not in st.epochs


def test_g7_a_key_with_duplicate_boxes_is_ignored() -> None:
    """G7: two boxes to one member (however many the members) are not 'exactly the members'."""
    s = Scenario(members=((A, "A", ()), (B, "B", ())))
    body = keys_body([A, B])
    body["boxes"].append({"to": B, "box": b"y" * 48})
    bad = s.add(A, KIND_KEYS, body)
    assert reason(s.fold(), bad) == "G7: the key is not sealed to exactly the members"


def test_g7_rotating_the_key_can_be_restricted_to_a_role() -> None:
    """G7: with group.keys held by a role, a member without it cannot open an epoch; a holder can."""
    s = Scenario(
        members=((A, "A", ["keeper"]), (B, "B", ()), (C, "C", ())), rules={"group.keys": coord("keeper")}
    )
    bad = s.rotate(B, [A, B, C])
    good = s.rotate(A, [A, B, C])
    st = s.fold()
    assert reason(st, bad) == "G4: not allowed to rotate keys"
    assert st.epoch == 2 and st.current_keys == good.id


def test_g7_an_outsider_cannot_rotate_the_key() -> None:
    """G7/G4: a key record by a non-member is ignored even if sealed to exactly the members."""
    s = Scenario()
    bad = s.rotate(E, [A, B, C])
    st = s.fold()
    assert reason(st, bad) == "G4: the author was not a member as of its refs"
    assert st.epoch == 1


def test_g7_g5_a_keeper_demoted_concurrently_cannot_open_an_epoch() -> None:
    """G7/G5: a key record by a member whose role was removed by a record ordered before it is ignored."""
    s = Scenario(
        members=((A, "A", ["keeper"]), (B, "B", ["keeper"]), (C, "C", ())),
        rules={"group.keys": coord("keeper"), ROLES: coord("keeper")},
    )
    heads = s.heads()
    s.act(A, ROLES, {"key": B, "roles": []}, refs=heads, id=low(1))
    late = s.rotate(B, [A, B, C], refs=heads, id=high(1))
    st = s.fold()
    assert st.members[B].roles == ()
    assert late.id in st.ignored and st.ignored[late.id].startswith("G5")
    assert st.epoch == 1


# -- G8 acts ------------------------------------------------------------------------------------------


def test_g8_acts_under_member_and_role_rules() -> None:
    """G8: any member removes under a member rule; a role holder admits and re-roles under role rules."""
    s = Scenario(
        members=((A, "A", ["coord"]), (B, "B", ()), (C, "C", ())),
        rules={REMOVE: BY_MEMBER, ADMIT: coord(), ROLES: coord()},
    )
    admit = s.act(A, ADMIT, {"key": D, "name": "Centro D", "roles": ["scribe"]})
    roles = s.act(A, ROLES, {"key": B, "roles": ["coord", "scribe"]})
    remove = s.act(C, REMOVE, {"key": D})
    st = s.fold()
    assert st.applied[-3:] == [admit.id, roles.id, remove.id]
    assert set(st.members) == {A, B, C}
    assert st.members[B].roles == ("coord", "scribe")
    assert [h for _, h in st.history] == [
        "founded with 3 members",
        f"admitted {D.hex()[:16]}",
        f"roles of {B.hex()[:16]}: coord, scribe",
        f"removed {D.hex()[:16]}",
    ]


def test_g8_forged_authority_is_ignored_with_a_reason() -> None:
    """G8: a member without the role admitting a friend, promoting itself, or rewriting rules: ignored."""
    s = Scenario(
        members=((A, "A", ["coord"]), (B, "B", ()), (C, "C", ())), rules={ADMIT: coord(), ROLES: coord()}
    )
    friend = s.act(B, ADMIT, {"key": E, "name": "friend", "roles": ["coord"]})
    selfpromo = s.act(B, ROLES, {"key": B, "roles": ["coord"]})
    rewrite = s.act(B, RULES, {"set": {ADMIT: BY_MEMBER}})
    entrench = s.act(B, RULES, {"set": {CLOSE_GROUP: BY_MEMBER}})
    st = s.fold()
    assert reason(st, friend) == "G4: group.admit: needs the role coord"
    assert reason(st, selfpromo) == "G4: group.roles: needs the role coord"
    assert reason(st, rewrite) == "G4: group.rules: needs a decision (open a proposal)"
    assert reason(st, entrench) == "G4: group.rules.entrenched: needs a decision (open a proposal)"
    assert set(st.members) == {A, B, C} and st.members[B].roles == ()
    assert st.rules[ADMIT] == coord() and st.rules[CLOSE_GROUP] == DEFAULT_RULES[CLOSE_GROUP]


def test_g8_an_admission_whose_name_could_forge_a_line_is_ignored() -> None:
    """G8 (issue 9 §7): a member's name from an admission reaches every member's terminal; one with a
    line break, an ANSI escape or a bidi override, or longer than 200 characters, admits nobody."""
    s = Scenario(members=((A, "A", ["coord"]), (B, "B", ())), rules={ADMIT: coord()})
    forged = "Org\n\x1b[32mKBQK-X4OW-CGJE-STVC  trusted"
    bad = [
        s.act(A, ADMIT, {"key": k, "name": n})
        for k, n in ((C, forged), (D, "Fisc\u202ealía"), (E, "x" * 201))
    ]
    good = s.act(A, ADMIT, {"key": F, "name": "Fiscalía (verificada)"})
    st = s.fold()
    for rec in bad:
        assert reason(st, rec).startswith("G8: a member's name is text, one plain line"), reason(st, rec)
    assert set(st.members) == {A, B, F} and good.id in st.applied


def test_g8_nobody_and_decision_rules_refuse_acts() -> None:
    """G8: an action ruled by nobody, or by a decision, cannot be done by an act."""
    s = Scenario(rules={ADMIT: {"by": "nobody"}})
    nobody = s.act(A, ADMIT, {"key": D, "name": "D", "roles": []})
    decision = s.act(A, REMOVE, {"key": B})
    st = s.fold()
    assert reason(st, nobody) == "G4: group.admit: nobody may"
    assert reason(st, decision) == "G4: group.remove: needs a decision (open a proposal)"
    assert set(st.members) == {A, B, C}


@pytest.mark.parametrize(
    ("action", "args", "why"),
    [
        (ADMIT, {"key": b"\x01" * 31, "name": "D", "roles": []}, "G8: group.admit names a 32-byte key"),
        (ADMIT, {"key": "d4" * 32}, "G8: group.admit names a 32-byte key"),
        (ADMIT, {"key": D, "name": 7}, "G8: a member's name is text"),
        (ADMIT, {"key": D, "roles": ["Coord!"]}, "G8: roles are a list"),
        (ADMIT, {"key": D, "roles": ["a", "a"]}, "G8: roles are a list"),
        (REMOVE, {"key": E}, "G8: not a member"),
        (REMOVE, {}, "G8: group.remove names a 32-byte key"),
        (ROLES, {"key": E, "roles": []}, "G8: not a member"),
        (ROLES, {"key": B}, "G8: roles are a list"),
        (RULES, {"set": {ADMIT: {"by": "role"}}}, "G8: group.admit: a role rule names a role"),
        (RULES, {"set": {}, "unset": [3]}, "G8: unset lists action names"),
        (RULES, {"set": {"nope": BY_MEMBER}}, "G8: 'nope' is not an action name"),
    ],
)
def test_g8_invalid_arguments_are_ignored(action: str, args: dict[str, Any], why: str) -> None:
    """G8: an authorised act with invalid arguments is ignored and changes nothing."""
    rules = {a: BY_MEMBER for a in (ADMIT, REMOVE, ROLES, RULES)}
    s = Scenario(rules=rules)
    before = s.fold()
    bad = s.act(A, action, args)
    st = s.fold()
    assert reason(st, bad).startswith(why)
    assert st.members == before.members and st.rules == before.rules


def test_g8_an_act_must_name_an_action_and_args() -> None:
    """G8: an act whose action is not text or whose args are not a map is ignored."""
    s = Scenario(rules={ADMIT: BY_MEMBER})
    one = s.add(A, KIND_ACT, {"action": 5, "args": {}})
    two = s.add(A, KIND_ACT, {"action": ADMIT, "args": [D]})
    st = s.fold()
    assert reason(st, one) == "G8: an act names an action and its args"
    assert reason(st, two) == "G8: an act names an action and its args"


def test_g8_the_last_member_cannot_be_removed() -> None:
    """G8: removing the only member left is ignored; removing oneself while others remain applies."""
    s = Scenario(members=((A, "A", ()), (B, "B", ())), rules={REMOVE: BY_MEMBER})
    leave = s.act(B, REMOVE, {"key": B})
    last = s.act(A, REMOVE, {"key": A})
    st = s.fold()
    assert leave.id in st.applied
    assert reason(st, last) == "G8: the last member cannot be removed"
    assert set(st.members) == {A}


def test_g8_plugin_actions_follow_their_declared_default() -> None:
    """G8: a plugin-declared action (default: any member) can be done by an act; undeclared, nobody may."""
    flag = Action("test.flag", {"by": "member"})
    s = Scenario()
    act = s.act(B, "test.flag", {"n": 1})
    assert s.fold(actions=[flag]).history[-1] == (act.id, "test.flag done")
    assert reason(s.fold(), act) == "G4: test.flag: nobody may"


def test_g8_rule_changes_by_act() -> None:
    """G8: with group.rules open to members, an act sets and unsets non-entrenched rules."""
    s = Scenario(rules={RULES: BY_MEMBER, REMOVE: BY_MEMBER})
    s.act(B, RULES, {"set": {ADMIT: coord("door"), "test.flag": BY_MEMBER}})
    st = s.fold()
    assert st.rules[ADMIT] == coord("door") and st.rules["test.flag"] == BY_MEMBER
    s.act(C, RULES, {"unset": [ADMIT, "test.flag", REMOVE]})
    st = s.fold()
    assert st.rules[ADMIT] == DEFAULT_RULES[ADMIT]
    assert st.rules[REMOVE] == DEFAULT_RULES[REMOVE]
    assert "test.flag" not in st.rules


# -- G9 proposals -------------------------------------------------------------------------------------


def test_g9_a_proposal_snapshots_its_rule_and_electorate() -> None:
    """G9: a rule change and an admission after the opening change neither its rule nor its electorate."""
    s = Scenario(rules={ADMIT: MAJORITY, RULES: BY_MEMBER, REMOVE: BY_MEMBER, ROLES: BY_MEMBER})
    p = s.propose(B, ADMIT, {"key": D, "name": "D", "roles": []})
    # after the proposal: the admit rule becomes any-member, and E is admitted by another route
    s.act(A, RULES, {"set": {ADMIT: BY_MEMBER}})
    s.act(A, ADMIT, {"key": E, "name": "E", "roles": []})
    st = s.fold()
    prop = st.proposals[p.id]
    assert prop.rule == MAJORITY and prop.method == "test-majority"
    assert prop.electorate == tuple(sorted([A, B, C]))
    assert prop.author == B and prop.ts == p.ts and prop.status == "open"
    assert prop.action == {"action": ADMIT, "args": {"key": D, "name": "D", "roles": []}}
    # E, admitted after the opening, cannot vote; the electorate decides by the snapshot method
    late = s.ballot(E, p, "yes")
    yes = [s.ballot(a, p, "yes") for a in (A, B)]
    s.close(C, p, yes, majority(2, 0))
    st = s.fold()
    assert reason(st, late) == "G10: the voter is not in the proposal's electorate"
    assert st.proposals[p.id].status == "passed" and D in st.members


def test_g9_only_members_allowed_to_propose_may_propose() -> None:
    """G9: with group.propose held by a role, a member without it cannot open a proposal."""
    s = Scenario(
        members=((A, "A", ["chair"]), (B, "B", ()), (C, "C", ())), rules={"group.propose": coord("chair")}
    )
    bad = s.propose(B, ADMIT, {"key": D})
    good = s.propose(A, ADMIT, {"key": D})
    st = s.fold()
    assert reason(st, bad) == "G9: not allowed to propose"
    assert good.id in st.proposals and bad.id not in st.proposals


def test_g9_no_longer_allowed_to_propose() -> None:
    """G9/G5: a proposal by a chair demoted by a record ordered before it is ignored."""
    s = Scenario(
        members=((A, "A", ["chair"]), (B, "B", ["chair"]), (C, "C", ())),
        rules={"group.propose": coord("chair"), ROLES: BY_MEMBER},
    )
    heads = s.heads()
    s.act(A, ROLES, {"key": B, "roles": []}, refs=heads, id=low(1))
    p = s.propose(B, ADMIT, {"key": D}, refs=heads, id=high(1))
    assert reason(s.fold(), p) == "G9: no longer allowed to propose"


@pytest.mark.parametrize(
    ("body", "why"),
    [
        ({"action": {"action": REMOVE, "args": {"key": B}}}, "G9: group.remove is not decided by a decision"),
        ({"action": {"action": ADMIT, "args": {"key": b"short"}}}, "G8: group.admit names a 32-byte key"),
        ({"action": {"action": REMOVE, "args": {"key": E}}}, "G8: not a member"),
        ({"action": {"action": "nope.nope", "args": {}}}, "G8: unknown action 'nope.nope'"),
        ({"action": [ADMIT]}, "G9: a proposal's action is a map"),
        ({"action": {"action": 3}}, "G9: the action names an action and args"),
        ({}, "G9: a proposal without an action names its method"),
        ({"method": "test-majority", "params": {"quorum": [3, 2]}}, "G9: quorum must be"),
        ({"method": "test-majority", "params": []}, "G9: params is a map"),
        ({"method": "Not A Method"}, "G9: a decision rule names its method"),
        ({"method": "test-majority", "closes_at": "soon"}, "G9: closes_at is milliseconds"),
    ],
)
def test_g9_malformed_proposals_are_ignored(body: dict[str, Any], why: str) -> None:
    """G9: a proposal whose action is not decided by a decision, or is malformed, opens nothing."""
    s = Scenario(rules={REMOVE: BY_MEMBER})
    p = s.add(B, KIND_PROPOSAL, {"title": "t", **body})
    st = s.fold()
    assert reason(st, p).startswith(why)
    assert st.proposals == {}


def test_g9_a_question_without_an_action_names_its_method_and_parameters() -> None:
    """G9: a proposal without an action takes its rule from its method and params; a close decides it."""
    s = Scenario()
    p = s.add(
        B,
        KIND_PROPOSAL,
        {"title": "¿Publicamos el informe?", "method": "test-majority", "params": {"min_open_ms": 5, "x": 1}},
    )
    votes = [s.ballot(A, p, "no"), s.ballot(C, p, "no")]
    s.close(A, p, votes, majority(0, 2))
    st = s.fold()
    prop = st.proposals[p.id]
    assert prop.rule == {"by": "decision", "method": "test-majority", "min_open_ms": 5}
    assert prop.params == {"min_open_ms": 5, "x": 1}
    assert prop.action is None and prop.status == "rejected" and prop.result == majority(0, 2)


# -- G10 ballots ---------------------------------------------------------------------------------------


def test_g10_ballots_count_only_inside_the_electorate() -> None:
    """G10: an outsider's ballot is excluded with its reason, an elector's is held."""
    s = Scenario(rules={ADMIT: MAJORITY})
    p = s.propose(A, ADMIT, {"key": D, "name": "D", "roles": []})
    outsider = s.ballot(E, p, "yes")
    inside = s.ballot(B, p, "yes")
    st = s.fold()
    prop = st.proposals[p.id]
    assert reason(st, outsider) == "G10: the voter is not in the proposal's electorate"
    assert prop.excluded == {outsider.id: "not in the electorate"}
    assert prop.ballots == {B: (inside.seq, inside.id, "yes")}


def test_g10_a_ballot_after_the_close_is_excluded() -> None:
    """G10: a ballot written after the close (it has the close in its past) is excluded."""
    s = Scenario(rules={ADMIT: MAJORITY})
    p = s.propose(A, ADMIT, {"key": D, "name": "D", "roles": []})
    votes = [s.ballot(A, p, "yes"), s.ballot(B, p, "no")]
    s.close(A, p, votes, majority(1, 1))
    late = s.ballot(C, p, "yes")
    st = s.fold()
    prop = st.proposals[p.id]
    assert prop.status == "rejected" and D not in st.members
    assert reason(st, late) == "G10: the ballot came after the close"
    assert prop.excluded[late.id] == "after the close"
    assert C not in prop.ballots


def test_g10_a_later_ballot_supersedes_by_seq_even_when_ordered_first() -> None:
    """G10: B's ballot with the higher seq wins although it sorts first and carries the earlier timestamp."""
    s = Scenario(rules={ADMIT: MAJORITY})
    p = s.propose(A, ADMIT, {"key": D, "name": "D", "roles": []})
    heads = s.heads()
    later = s.ballot(B, p, "yes", refs=heads, seq=9, ts=T0, id=low(1))
    earlier = s.ballot(B, p, "no", refs=heads, seq=4, ts=T0 + 10**9, id=high(1))
    st = all_orders_agree(s)
    prop = st.proposals[p.id]
    assert prop.ballots[B] == (9, later.id, "yes")
    assert reason(st, earlier) == "G10: superseded by the voter's later ballot"
    assert prop.excluded[earlier.id] == "superseded by a later ballot"
    s.close(C, p, [later], majority(1, 0))
    st = s.fold()
    assert st.proposals[p.id].status == "passed" and D in st.members


def test_g10_a_later_ballot_supersedes_the_one_applied_before() -> None:
    """G10: a voter who changes its mind: the earlier ballot is listed as superseded, the later counts."""
    s = Scenario(rules={ADMIT: MAJORITY})
    p = s.propose(A, ADMIT, {"key": D, "name": "D", "roles": []})
    first = s.ballot(B, p, "no")
    second = s.ballot(B, p, "yes")
    st = s.fold()
    prop = st.proposals[p.id]
    assert prop.ballots == {B: (second.seq, second.id, "yes")}
    assert prop.excluded == {first.id: "superseded by a later ballot"}
    assert first.id in st.applied and second.id in st.applied
    # a close that counts the superseded ballot instead of the latest is ignored
    wrong = s.close(A, p, [first], majority(0, 1))
    assert reason(s.fold(), wrong).startswith("G12: the close does not count exactly the ballots it had seen")


@pytest.mark.parametrize("choice", ["maybe", None, 1, ["yes"], {"yes": True}])
def test_g10_an_invalid_choice_is_excluded(choice: Any) -> None:
    """G10: a choice the method does not accept is excluded with the method's reason."""
    s = Scenario(rules={ADMIT: MAJORITY})
    p = s.propose(A, ADMIT, {"key": D, "name": "D", "roles": []})
    bad = s.ballot(B, p, choice)
    st = s.fold()
    assert reason(st, bad) == "G10: a ballot is yes or no"
    assert st.proposals[p.id].excluded == {bad.id: "a ballot is yes or no"}
    assert st.proposals[p.id].ballots == {}


def test_g10_a_ballot_needs_its_proposal_in_its_past() -> None:
    """G10: a ballot that does not refer (transitively) to its proposal, or names none, is ignored."""
    s = Scenario(rules={ADMIT: MAJORITY})
    p = s.propose(A, ADMIT, {"key": D, "name": "D", "roles": []})
    blind = s.ballot(B, p, "yes", refs=[s.genesis.id], id=high(1))
    nothing = s.add(C, BALLOT, {"proposal": "x", "choice": "yes"})
    st = s.fold()
    assert reason(st, blind) == "G10: a ballot for no known proposal"
    assert reason(st, nothing) == "G10: a ballot for no known proposal"
    assert st.proposals[p.id].ballots == {}


def test_g10_methods_without_ballots_take_none() -> None:
    """G10: a ballot on an any-member proposal is excluded ("this method takes no ballots")."""
    s = Scenario(rules={ADMIT: ANY_MEMBER})
    p = s.propose(A, ADMIT, {"key": D})
    b = s.ballot(B, p, "yes")
    st = s.fold()
    assert reason(st, b) == "G10: this method takes no ballots"


# -- G11 who closes, and when -------------------------------------------------------------------------


def test_g11_not_before_min_open_ms_unless_everyone_voted() -> None:
    """G11: a close before the minimum open time is ignored; at the time, or once all voted, it applies."""
    rule = {**MAJORITY, "min_open_ms": 60_000}
    s = Scenario(rules={ADMIT: rule})
    p = s.propose(A, ADMIT, {"key": D, "name": "D", "roles": []}, ts=T0 + 100_000)
    v = [s.ballot(B, p, "yes", ts=T0 + 110_000)]
    early = s.close(A, p, v, majority(1, 0), ts=T0 + 159_999)
    st = s.fold()
    assert reason(st, early) == "G11: closed before its minimum time"
    assert st.proposals[p.id].status == "open"
    ontime = s.close(A, p, v, majority(1, 0), ts=T0 + 160_000)
    st = s.fold()
    assert ontime.id in st.applied and st.proposals[p.id].status == "passed" and D in st.members


def test_g11_everyone_voted_closes_early() -> None:
    """G11: once every elector voted, the close needs no waiting period."""
    rule = {**MAJORITY, "min_open_ms": 10**9}
    s = Scenario(rules={ADMIT: rule})
    p = s.propose(A, ADMIT, {"key": D, "name": "D", "roles": []})
    v = [s.ballot(k, p, "yes") for k in (A, B, C)]
    c = s.close(B, p, v, majority(3, 0))
    st = s.fold()
    assert c.id in st.applied and st.proposals[p.id].close == c.id and D in st.members


def test_g11_not_before_closes_at() -> None:
    """G11: a close before the proposal's closes_at is ignored; at closes_at it applies."""
    s = Scenario(rules={ADMIT: MAJORITY})
    p = s.propose(A, ADMIT, {"key": D, "name": "D", "roles": []}, extra={"closes_at": T0 + 500_000})
    v = [s.ballot(B, p, "no")]
    early = s.close(A, p, v, majority(0, 1), ts=T0 + 499_999)
    st = s.fold()
    assert reason(st, early) == "G11: closed before closes_at"
    assert st.proposals[p.id].closes_at == T0 + 500_000
    ok = s.close(A, p, v, majority(0, 1), ts=T0 + 500_000)
    st = s.fold()
    assert ok.id in st.applied and st.proposals[p.id].status == "rejected"


def test_g11_only_an_elector_closes() -> None:
    """G11: a member admitted after the opening is not an elector and cannot close."""
    s = Scenario(rules={ADMIT: BY_MEMBER, REMOVE: MAJORITY})
    p = s.propose(A, REMOVE, {"key": C})
    s.act(A, ADMIT, {"key": D, "name": "D", "roles": []})
    v = [s.ballot(A, p, "yes")]
    bad = s.close(D, p, v, majority(1, 0))
    st = s.fold()
    assert reason(st, bad) == "G11: only an elector may close"
    assert st.proposals[p.id].status == "open" and C in st.members


def test_g11_role_holder_decides() -> None:
    """G11: under role-holder only a holder of the rule's role closes, deciding whether it passed."""
    rule = {"by": "decision", "method": "role-holder", "role": "coord"}
    s = Scenario(members=((A, "A", ()), (B, "B", ["coord"]), (C, "C", ())), rules={ADMIT: rule})
    p = s.propose(A, ADMIT, {"key": D, "name": "D", "roles": []})
    bad = s.decide(A, p, True)
    good = s.decide(B, p, True)
    st = s.fold()
    assert reason(st, bad) == "G11: only a holder of the role 'coord' decides"
    assert good.id in st.applied and D in st.members
    assert st.proposals[p.id].result == {"decided_by": B, "passed": True}


def test_g11_g4_a_role_holder_promoted_concurrently_cannot_decide() -> None:
    """G11/G4: a close by a member who did not hold the role as of its refs is ignored."""
    rule = {"by": "decision", "method": "role-holder", "role": "coord"}
    s = Scenario(
        members=((A, "A", ["coord"]), (B, "B", ()), (C, "C", ())), rules={ADMIT: rule, ROLES: coord()}
    )
    p = s.propose(A, ADMIT, {"key": D, "name": "D", "roles": []})
    heads = s.heads()
    s.act(A, ROLES, {"key": B, "roles": ["coord"]}, refs=heads, id=low(1))
    unseen = s.decide(B, p, True, refs=heads, id=high(1))
    st = s.fold()
    assert st.members[B].roles == ("coord",)
    assert unseen.id in st.ignored and st.ignored[unseen.id].startswith("G4")
    assert D not in st.members


def test_g11_any_member_with_a_role_key_still_needs_an_elector() -> None:
    """G11: a decision rule naming a role but decided by any-member is still closed by an elector only."""
    rule = {"by": "decision", "method": "any-member", "role": "coord"}
    s = Scenario(rules={ADMIT: BY_MEMBER, REMOVE: rule})
    p = s.propose(A, REMOVE, {"key": C})
    s.act(A, ADMIT, {"key": D, "name": "D", "roles": []})
    bad = s.decide(D, p, True)  # D was admitted after the opening: not an elector
    st = s.fold()
    assert reason(st, bad) == "G11: only an elector may close"
    assert C in st.members


def test_g11_closing_an_unknown_or_closed_proposal() -> None:
    """G11: a close of no known proposal, a second close, or a close of an unavailable method is ignored."""
    s = Scenario(rules={ADMIT: ANY_MEMBER, REMOVE: {"by": "decision", "method": "ghost-method"}})
    p = s.propose(A, ADMIT, {"key": D})
    unknown = s.add(B, KIND_CLOSE, {"proposal": high(9), "ballots": [], "result": {}})
    first = s.decide(B, p, False)
    second = s.decide(C, p, True)
    ghost = s.propose(A, REMOVE, {"key": C})
    ghost_close = s.decide(B, ghost, True)
    st = s.fold()
    assert reason(st, unknown) == "G11: a close of no known proposal"
    assert first.id in st.applied and st.proposals[p.id].status == "rejected"
    assert reason(st, second) == "G11: the proposal is already closed"
    assert reason(st, ghost_close) == "G11: the method 'ghost-method' is not available on this node"
    assert st.proposals[ghost.id].status == "open" and D not in st.members and C in st.members


# -- G12 the tally ------------------------------------------------------------------------------------


def _voted() -> tuple[Scenario, GovRecord, list[GovRecord]]:
    s = Scenario(members=((A, "A", ()), (B, "B", ()), (C, "C", ()), (D, "D", ())), rules={REMOVE: MAJORITY})
    p = s.propose(A, REMOVE, {"key": D})
    votes = [s.ballot(A, p, "yes"), s.ballot(B, p, "yes"), s.ballot(C, p, "no")]
    return s, p, votes


def test_g12_a_matching_tally_decides() -> None:
    """G12/G13: a close listing exactly the latest ballots with the recomputed result removes D."""
    s, p, votes = _voted()
    c = s.close(B, p, votes, majority(2, 1))
    st = s.fold()
    prop = st.proposals[p.id]
    assert prop.status == "passed" and prop.close == c.id and prop.result == majority(2, 1)
    assert set(st.members) == {A, B, C} and st.stale
    assert (c.id, f"removed {D.hex()[:16]}") in st.history


@pytest.mark.parametrize("wrong", ["omits", "adds", "duplicates", "result", "winners"])
def test_g12_a_close_whose_tally_does_not_match_is_ignored(wrong: str) -> None:
    """G12: a close that omits a ballot, adds one, lists one twice, or states a wrong result is ignored."""
    s, p, votes = _voted()
    stray = s.ballot(C, p, "yes", refs=[s.genesis.id], id=high(7))  # not for a proposal in its past
    if wrong == "omits":
        c = s.close(B, p, votes[:2], majority(2, 0))
        why = "G12: the close does not count exactly the ballots it had seen (missing 1, extra 0)"
    elif wrong == "adds":
        c = s.close(B, p, [*votes, stray], majority(3, 1))
        why = "G12: the close does not count exactly the ballots it had seen (missing 0, extra 1)"
    elif wrong == "duplicates":
        c = s.add(B, KIND_CLOSE, {"proposal": p.id, "ballots": sorted(v.id for v in [*votes, votes[0]])})
        why = "G12: the close does not count exactly the ballots it had seen (missing 0, extra 0)"
    elif wrong == "result":
        c = s.close(B, p, votes, majority(1, 2))
        why = "G12: the close's tally does not match the recount (recount: passed=True, winners=['yes'])"
    else:
        c = s.close(B, p, votes, {**majority(2, 1), "winners": ["no"]})
        why = "G12: the close's tally does not match the recount"
    st = s.fold()
    assert reason(st, c).startswith(why)
    assert st.proposals[p.id].status == "open" and D in st.members


def test_g12_ballots_the_closer_had_not_seen_are_listed() -> None:
    """G12: a ballot concurrent with the close is not counted and is listed as not seen by the closer."""
    s, p, votes = _voted()
    heads = s.heads()
    unseen = s.ballot(D, p, "no", refs=heads, id=low(3))
    c = s.close(B, p, votes, majority(2, 1), refs=heads, id=high(3))
    st = all_orders_agree(s)
    prop = st.proposals[p.id]
    assert c.id in st.applied and prop.status == "passed"
    assert prop.excluded[unseen.id] == "not seen by the closer"
    assert D not in prop.ballots and set(prop.ballots) == {A, B, C}


def test_g12_a_close_must_count_a_ballot_it_had_seen_even_if_ordered_later() -> None:
    """G12: the closer's causal past decides what it must count, not the global order."""
    s, p, votes = _voted()
    last = s.ballot(D, p, "no")
    c = s.close(B, p, votes, majority(2, 1))  # has D's ballot in its past but does not list it
    st = s.fold()
    assert (
        reason(st, c) == "G12: the close does not count exactly the ballots it had seen (missing 1, extra 0)"
    )
    ok = s.close(A, p, [*votes, last], majority(2, 2))
    st = s.fold()
    assert ok.id in st.applied and st.proposals[p.id].status == "rejected" and D in st.members


def test_g12_a_method_that_cannot_count_the_ballots() -> None:
    """G12: when the method refuses the ballots (MethodError) the close is ignored with its reason."""
    s = Scenario(rules={ADMIT: {"by": "decision", "method": "test-fussy"}})
    p = s.propose(A, ADMIT, {"key": D})
    v = [s.ballot(B, p, "yes")]
    c = s.close(A, p, v, majority(1, 0))
    assert reason(s.fold(), c) == "G12: the ballots cannot be counted: an odd number of ballots"


@pytest.mark.parametrize(
    ("body", "why"),
    [
        ({"ballots": [], "result": {"passed": True}}, "G12: the closer says whether it passed"),
        ({"ballots": [b"\x01" * 32], "passed": True}, "G12: this method counts no ballots"),
        (
            {"ballots": [], "passed": True, "result": {"decided_by": A, "passed": True}},
            "G12: the result is not",
        ),
        ({"ballots": [], "passed": True, "result": {"passed": True}}, "G12: the result is not the decision"),
        ({"ballots": "all", "passed": True}, "G11: ballots is a list of ids"),
    ],
)
def test_g12_without_ballots_the_result_is_the_closers_decision(body: dict[str, Any], why: str) -> None:
    """G12: for any-member the result must be exactly {decided_by: closer, passed}."""
    s = Scenario(rules={ADMIT: ANY_MEMBER})
    p = s.propose(A, ADMIT, {"key": D})
    c = s.add(B, KIND_CLOSE, {"proposal": p.id, **body})
    st = s.fold()
    assert reason(st, c).startswith(why)
    assert st.proposals[p.id].status == "open"


# -- G13 effect ---------------------------------------------------------------------------------------


def test_g13_a_passed_admission_takes_effect_at_the_close() -> None:
    """G13: D becomes a member at the close (not at the proposal), and the key goes stale."""
    s = Scenario(rules={ADMIT: ANY_MEMBER})
    p = s.propose(B, ADMIT, {"key": D, "name": "Centro D", "roles": ["scribe"]})
    assert D not in s.fold().members
    c = s.decide(B, p, True)
    st = s.fold()
    assert st.members[D].name == "Centro D" and st.members[D].roles == ("scribe",)
    assert st.members[D].since == c.id and st.stale
    assert st.proposals[p.id].result == {"decided_by": B, "passed": True}


def test_g13_a_rejected_proposal_changes_nothing() -> None:
    """G13: a rejected admission admits nobody and leaves the key fresh."""
    s = Scenario(rules={ADMIT: ANY_MEMBER})
    p = s.propose(B, ADMIT, {"key": D})
    s.decide(C, p, False)
    st = s.fold()
    assert st.proposals[p.id].status == "rejected" and D not in st.members and not st.stale


def test_g13_admitting_someone_already_a_member_changes_nothing() -> None:
    """G13: a passed admission of a key that became a member meanwhile says so and changes nothing."""
    s = Scenario(rules={ADMIT: ANY_MEMBER, ROLES: BY_MEMBER})
    p = s.propose(B, ADMIT, {"key": D, "name": "second", "roles": []})
    q = s.propose(C, ADMIT, {"key": D, "name": "first", "roles": []})
    s.decide(A, q, True)
    s.rotate(A, [A, B, C, D])
    c = s.decide(A, p, True)
    st = s.fold()
    assert st.members[D].name == "first"
    assert st.history[-1] == (c.id, f"admit {D.hex()[:16]}: already a member")
    assert not st.stale and st.epoch == 2


def test_g13_an_action_that_no_longer_applies_is_recorded() -> None:
    """G13: a removal that passes after its target already left is recorded as not applicable."""
    s = Scenario(rules={REMOVE: ANY_MEMBER, ADMIT: BY_MEMBER})
    p = s.propose(A, REMOVE, {"key": C})
    s.act(A, ADMIT, {"key": D, "name": "D", "roles": []})
    # C is removed by another passed decision first
    q = s.propose(B, REMOVE, {"key": C})
    s.decide(B, q, True)
    c = s.decide(A, p, True)
    st = s.fold()
    assert st.proposals[p.id].status == "passed"
    assert st.history[-1] == (c.id, "group.remove passed but could not apply: G8: not a member")
    assert set(st.members) == {A, B, D}


# -- G14 entrenchment -----------------------------------------------------------------------------------


def test_g14_changing_an_entrenched_rule_needs_the_entrenched_rule() -> None:
    """G14: with group.rules open to members, an entrenched rule still needs group.rules.entrenched."""
    s = Scenario(
        members=((A, "A", ["founder"]), (B, "B", ()), (C, "C", ())),
        rules={RULES: BY_MEMBER, ENTRENCHED: coord("founder")},
    )
    touch = s.act(B, RULES, {"set": {CLOSE_GROUP: BY_MEMBER}})
    make = s.act(B, RULES, {"set": {"group.publish": {"by": "member", "entrenched": True}}})
    drop = s.act(B, RULES, {"unset": [CLOSE_GROUP]})
    plain = s.act(B, RULES, {"set": {"group.publish": coord("editor")}})
    founder = s.act(A, RULES, {"set": {CLOSE_GROUP: {"by": "role", "role": "founder", "entrenched": True}}})
    st = s.fold()
    for rec in (touch, make, drop):
        assert reason(st, rec) == "G4: group.rules.entrenched: needs the role founder"
    assert plain.id in st.applied and st.rules["group.publish"] == coord("editor")
    assert founder.id in st.applied
    assert st.rules[CLOSE_GROUP] == {"by": "role", "role": "founder", "entrenched": True}


def test_g14_a_proposal_touching_an_entrenched_rule_takes_the_entrenched_rule() -> None:
    """G14/G9: a proposal changing an entrenched rule snapshots group.rules.entrenched, not group.rules."""
    s = Scenario(rules={ENTRENCHED: MAJORITY, RULES: ANY_MEMBER})
    p = s.propose(B, RULES, {"set": {CLOSE_GROUP: BY_MEMBER}})
    q = s.propose(B, RULES, {"set": {"group.publish": coord("editor")}})
    st = s.fold()
    assert st.proposals[p.id].rule == MAJORITY
    assert st.proposals[q.id].rule == ANY_MEMBER


def test_g14_unsetting_back_to_an_entrenched_default_needs_the_entrenched_rule() -> None:
    """G14: unsetting group.rules (opened to members) restores its entrenched default: that is entrenched."""
    s = Scenario(rules={RULES: BY_MEMBER, ENTRENCHED: {"by": "nobody"}})
    back = s.act(B, RULES, {"unset": [RULES]})
    st = s.fold()
    assert back.id in st.ignored and st.ignored[back.id].startswith("G4: group.rules.entrenched")
    assert st.rules[RULES] == BY_MEMBER


def test_g14_g4_entrenchment_is_judged_as_of_the_refs_too() -> None:
    """G14/G4: changing a rule that was entrenched as of the act's refs needs the entrenched rule, even if it
    was un-entrenched concurrently."""
    s = Scenario(
        members=((A, "A", ["founder"]), (B, "B", ()), (C, "C", ())),
        rules={
            RULES: BY_MEMBER,
            ENTRENCHED: coord("founder"),
            "group.keys": {"by": "member", "entrenched": True},
        },
    )
    heads = s.heads()
    s.act(A, RULES, {"set": {"group.keys": BY_MEMBER}}, refs=heads, id=low(1))
    sneaky = s.act(B, RULES, {"set": {"group.keys": coord("keeper")}}, refs=heads, id=high(1))
    st = s.fold()
    assert sneaky.id in st.ignored and st.ignored[sneaky.id].startswith("G4: group.rules.entrenched")
    assert st.rules["group.keys"] == BY_MEMBER


# -- G15 epochs -----------------------------------------------------------------------------------------


def test_g15_admission_marks_the_key_stale_and_the_right_key_opens_the_next_epoch() -> None:
    """G15: admission makes the key stale; a key without the newcomer is ignored; one with it is epoch 2."""
    s = Scenario(rules={ADMIT: BY_MEMBER, ROLES: BY_MEMBER})
    s.act(A, ROLES, {"key": B, "roles": ["x"]})
    assert not s.fold().stale  # re-roling changes no membership
    s.act(A, ADMIT, {"key": D, "name": "D", "roles": []})
    st = s.fold()
    assert st.stale and st.epoch == 1
    old = s.rotate(B, [A, B, C])
    st = s.fold()
    assert reason(st, old) == "G7: the key is not sealed to exactly the members"
    assert st.stale and st.epoch == 1
    new = s.rotate(B, [A, B, C, D])
    st = s.fold()
    assert not st.stale and st.epoch == 2 and st.current_keys == new.id
    assert st.epochs[new.id] == (2, tuple(sorted([A, B, C, D])))


def test_g15_removal_marks_stale_and_the_removed_member_gets_no_new_key() -> None:
    """G15: after a removal a key still sealed to the removed member is ignored; one without it is epoch 2."""
    s = Scenario(rules={REMOVE: BY_MEMBER})
    s.act(A, REMOVE, {"key": C})
    assert s.fold().stale
    leak = s.rotate(A, [A, B, C])
    good = s.rotate(A, [A, B])
    st = s.fold()
    assert reason(st, leak) == "G7: the key is not sealed to exactly the members"
    assert st.epoch == 2 and st.current_keys == good.id and not st.stale
    assert C not in st.epochs[good.id][1]


def test_g15_epochs_accumulate() -> None:
    """G15: every accepted key record is a numbered epoch; the last is current."""
    s = Scenario(rules={ADMIT: BY_MEMBER, REMOVE: BY_MEMBER})
    s.act(A, ADMIT, {"key": D, "name": "D", "roles": []})
    k2 = s.rotate(A, [A, B, C, D])
    s.act(D, REMOVE, {"key": A})
    k3 = s.rotate(D, [B, C, D])
    st = s.fold()
    assert {k: e for k, (e, _) in st.epochs.items()} == {s.keys.id: 1, k2.id: 2, k3.id: 3}
    assert st.current_keys == k3.id and st.epoch == 3


# -- G16 concurrent conflicts ---------------------------------------------------------------------------


@pytest.mark.parametrize("a_first", [True, False])
def test_g16_two_coordinators_removing_each_other(a_first: bool) -> None:
    """G16: of two concurrent mutual removals the first by (depth, id) applies; the other is ignored (G5)."""
    s = Scenario(
        members=((A, "A", ["coord"]), (B, "B", ()), (C, "C", ["coord"])),
        rules={REMOVE: coord()},
    )
    heads = s.heads()
    ids = (low(1), high(1)) if a_first else (high(1), low(1))
    a_removes_c = s.act(A, REMOVE, {"key": C}, refs=heads, id=ids[0])
    c_removes_a = s.act(C, REMOVE, {"key": A}, refs=heads, id=ids[1])
    first, second = (a_removes_c, c_removes_a) if a_first else (c_removes_a, a_removes_c)
    base = s.fold()
    for perm in itertools.permutations(s.records):
        assert s.fold(perm).canonical() == base.canonical()
    assert first.id in base.applied
    assert reason(base, second) == "G5: the author is no longer a member"
    assert set(base.members) == ({A, B} if a_first else {B, C})
    assert base.stale


@pytest.mark.parametrize("rule_first", [True, False])
def test_g16_a_rule_change_racing_a_decision_does_not_change_it(rule_first: bool) -> None:
    """G16: a proposal opened under any-member stays any-member after a concurrent switch to nobody."""
    s = Scenario(rules={ADMIT: ANY_MEMBER, RULES: BY_MEMBER})
    heads = s.heads()
    ids = (low(1), high(1)) if rule_first else (high(1), low(1))
    change = s.act(A, RULES, {"set": {ADMIT: {"by": "nobody"}}}, refs=heads, id=ids[0])
    p = s.propose(B, ADMIT, {"key": D, "name": "D", "roles": []}, refs=heads, id=ids[1])
    c = s.decide(C, p, True)
    st = all_orders_agree(s)
    assert change.id in st.applied and st.rules[ADMIT] == {"by": "nobody"}
    assert st.proposals[p.id].rule == ANY_MEMBER
    assert c.id in st.applied and D in st.members
    # a proposal opened after the change is refused: the action is no longer decided by a decision
    late = s.propose(B, ADMIT, {"key": E})
    assert reason(s.fold(), late) == "G9: group.admit is not decided by a decision"


def test_g16_a_close_racing_a_removal_of_the_closer() -> None:
    """G16: a close by an elector removed by a record ordered before it is ignored, in every order."""
    s = Scenario(rules={REMOVE: BY_MEMBER, ADMIT: ANY_MEMBER})
    p = s.propose(B, ADMIT, {"key": D})
    heads = s.heads()
    s.act(A, REMOVE, {"key": C}, refs=heads, id=low(1))
    c = s.decide(C, p, True, refs=heads, id=high(1))
    st = all_orders_agree(s)
    assert reason(st, c) == "G5: the author is no longer a member"
    assert st.proposals[p.id].status == "open" and D not in st.members


def test_g16_concurrent_admission_and_removal_of_the_admitter() -> None:
    """G16: B admits D while A removes B: the outcome follows (depth, id) and is the same in every order."""
    for b_first in (True, False):
        s = Scenario(rules={REMOVE: BY_MEMBER, ADMIT: BY_MEMBER})
        heads = s.heads()
        ids = (low(1), high(1)) if b_first else (high(1), low(1))
        admit = s.act(B, ADMIT, {"key": D, "name": "D", "roles": []}, refs=heads, id=ids[0])
        s.act(A, REMOVE, {"key": B}, refs=heads, id=ids[1])
        st = all_orders_agree(s)
        assert B not in st.members
        if b_first:
            assert admit.id in st.applied and D in st.members
        else:
            assert reason(st, admit) == "G5: the author is no longer a member" and D not in st.members


# -- garbage never crashes the fold ------------------------------------------------------------------------

_scalars = hs.one_of(
    hs.none(),
    hs.booleans(),
    hs.integers(min_value=-(2**63), max_value=2**64 - 1),
    hs.text(max_size=8),
    hs.binary(max_size=40),
    hs.sampled_from([A, B, C, E, b"\x00" * 32, "group.admit", "group.rules", "yes", "member", "decision"]),
)
_values = hs.recursive(
    _scalars,
    lambda inner: hs.one_of(
        hs.lists(inner, max_size=4),
        hs.dictionaries(hs.text(max_size=8) | hs.sampled_from(["by", "key"]), inner),
    ),
    max_leaves=12,
)
_FIELDS = {
    KIND_KEYS: ["boxes", "commit", "salt"],
    KIND_GROUP: ["name", "description", "salt", "members", "rules"],
    KIND_ACT: ["action", "args"],
    KIND_PROPOSAL: ["title", "text", "action", "method", "options", "params", "closes_at"],
    KIND_CLOSE: ["proposal", "ballots", "result", "passed"],
    BALLOT: ["proposal", "choice"],
}
_ARG_FIELDS = ["key", "name", "roles", "set", "unset"]


@hs.composite
def garbage_body(draw: hs.DrawFn, kind: str) -> dict[str, Any]:
    """A body with the kind's field names (some) and random values of every type."""
    names = draw(hs.lists(hs.sampled_from(_FIELDS[kind]), unique=True))
    body: dict[str, Any] = {n: draw(_values) for n in names}
    if kind in (KIND_ACT, KIND_PROPOSAL) and draw(hs.booleans()):
        action = draw(hs.sampled_from([ADMIT, REMOVE, ROLES, RULES, ENTRENCHED, CLOSE_GROUP, "x.y"]))
        args = {n: draw(_values) for n in draw(hs.lists(hs.sampled_from(_ARG_FIELDS), unique=True))}
        if kind == KIND_ACT:
            body.update(action=action, args=args)
        else:
            body["action"] = {"action": action, "args": args}
    return body


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=hs.data())
def test_garbage_bodies_are_ignored_never_raised(data: hs.DataObject) -> None:
    """The fold never raises on bodies of the wrong shape: each is applied or ignored with a G-reason."""
    s = Scenario(rules={ADMIT: MAJORITY, REMOVE: BY_MEMBER, RULES: BY_MEMBER, ROLES: BY_MEMBER})
    p = s.propose(A, ADMIT, {"key": D, "name": "D", "roles": []})
    s.ballot(B, p, "yes")
    junk = []
    for _ in range(data.draw(hs.integers(1, 4))):
        kind = data.draw(hs.sampled_from(sorted(_FIELDS)))
        body = data.draw(garbage_body(kind))
        if kind in (KIND_CLOSE, BALLOT) and data.draw(hs.booleans()):
            body["proposal"] = p.id
        author = data.draw(hs.sampled_from([A, B, C, E]))
        junk.append(s.add(author, kind, body))
    state = all_orders_agree(s, limit=3)
    for rec in junk:
        assert rec.id in state.applied or rec.id in state.ignored
        if rec.id in state.ignored:
            assert state.ignored[rec.id][:1] == "G" and state.ignored[rec.id][1:3].rstrip(":").isdigit()
    assert state.genesis == s.genesis.id


@pytest.mark.parametrize(
    "args",
    [
        {"set": 5},
        {"set": "ab"},
        {"set": [ADMIT]},
        {"unset": 7},
        {"unset": [[ADMIT]]},
        {"set": {}, "unset": True},
    ],
)
def test_a_rules_act_with_malformed_set_or_unset_is_ignored(args: dict[str, Any]) -> None:
    """G8: a group.rules act with a non-map set or a non-list unset is ignored, not raised."""
    s = Scenario()
    bad = s.act(B, RULES, args)  # any member: the type error comes before the rule (G8) is looked up
    st = s.fold()
    assert bad.id in st.ignored


@pytest.mark.parametrize("options", [None, 3, True])
def test_a_proposal_with_malformed_options_is_ignored(options: Any) -> None:
    """G9: a proposal whose options are not a list of text is ignored."""
    s = Scenario()
    bad = s.add(B, KIND_PROPOSAL, {"title": "t", "method": "test-majority", "options": options})
    assert bad.id in s.fold().ignored
