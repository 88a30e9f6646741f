"""The governance fold: a group's records in, its state out, the same on every node.

The rules are numbered as in docs/governance.md (G1-G17); each check names its rule in the reason
it gives, so ``tequio group show`` can say why a record was ignored. Everything here is a pure
function of the records, the decision methods and the declared actions.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from typing import Any

from tequio.schemas.canonical import encode
from tequio.schemas.text import unsafe_chars

from .authority import action_index, allowed, effective_action, rule_for
from .crypto import group_id, x25519_base
from .hidden import open_hidden
from .methods import CORE_METHODS, DecisionMethod, MethodError, Tally
from .rules import (
    ADMIT,
    CLOSE_GROUP,
    DEFAULT_RULES,
    ENTRENCHED,
    KEYS,
    PROPOSE,
    REMOVE,
    ROLES,
    RULES,
    Action,
    RuleError,
    check_roles,
    check_rule,
    check_rules,
)
from .state import GovRecord, GroupState, Member, Proposal

__all__ = [
    "BALLOT",
    "GOV_KINDS",
    "KIND_ACT",
    "KIND_CLOSE",
    "KIND_GROUP",
    "KIND_KEYS",
    "KIND_PROPOSAL",
    "fold",
]

#: The longest member name an admission may give (as in a genesis, ``MemberEntry``).
MAX_NAME = 200
KIND_GROUP = "gov.group"
KIND_KEYS = "gov.keys"
KIND_ACT = "gov.act"
KIND_PROPOSAL = "gov.proposal"
KIND_CLOSE = "gov.close"
BALLOT = "vote.ballot"
GOV_KINDS = frozenset({KIND_GROUP, KIND_KEYS, KIND_ACT, KIND_PROPOSAL, KIND_CLOSE})
#: The record kinds the fold reads (ballots are defined by the voting plugin; the fold counts them).
FOLDED_KINDS = GOV_KINDS | {BALLOT}


class _Ignore(Exception):
    """A record the fold keeps but does not apply; the message is the reason shown to people."""


def _ignore_unless(ok: bool, reason: str) -> None:
    if not ok:
        raise _Ignore(reason)


def fold(
    gid: bytes,
    records: Iterable[GovRecord],
    methods: Mapping[str, DecisionMethod] | None = None,
    actions: Iterable[Action] = (),
) -> GroupState:
    """The state of group ``gid`` from its governance records and ballots, in any order."""
    return _Folder(gid, records, {**CORE_METHODS, **(methods or {})}, actions).run()


class _Folder:
    def __init__(
        self,
        gid: bytes,
        records: Iterable[GovRecord],
        methods: Mapping[str, DecisionMethod],
        actions: Iterable[Action],
    ) -> None:
        self.gid = gid
        self.methods = methods
        self.actions = action_index(actions)
        self.by_id = {r.id: r for r in records if r.kind in FOLDED_KINDS}
        self.waiting: list[bytes] = []
        depth: dict[bytes, int] = {}
        # G1. A record waits (is not applied) while any record it refers to is missing, and so
        # does everything that refers to it.
        for rid in sorted(self.by_id):
            self._depth(rid, depth)
        ready = [rid for rid in self.by_id if depth.get(rid, -1) >= 0]
        self.waiting = sorted(rid for rid in self.by_id if depth.get(rid, -1) < 0)
        # G2. Topological order: causal depth (1 + the deepest record referred to), then id.
        self.order = sorted(ready, key=lambda rid: (depth[rid], rid))
        self.index = {rid: i for i, rid in enumerate(self.order)}
        # Ancestors as bitsets over ``order``: the causal past of each record.
        self.anc: dict[bytes, int] = {}
        for rid in self.order:
            mask = 0
            for p in self.by_id[rid].refs:
                mask |= self.anc[p] | (1 << self.index[p])
            self.anc[rid] = mask
        self.memo: dict[int, GroupState] = {}

    def _depth(self, rid: bytes, depth: dict[bytes, int]) -> int:
        """Causal depth of ``rid`` (-1: waits). Iterative, so a long chain cannot exhaust the stack."""
        path: set[bytes] = set()  # records on the current path only: a ref back into it is a cycle
        stack: list[tuple[bytes, int]] = [(rid, 0)]
        while stack:
            top, i = stack[-1]
            if i == 0:
                if top in depth:
                    stack.pop()
                    continue
                if top not in self.by_id:
                    depth[top] = -1
                    stack.pop()
                    continue
                path.add(top)
            refs = self.by_id[top].refs
            if i < len(refs):
                stack[-1] = (top, i + 1)
                p = refs[i]
                if p in path:  # a cycle cannot be signed (ids are hashes), but never loop on one
                    depth[p] = -1
                elif p not in depth:
                    stack.append((p, 0))
                continue
            parents = [depth[p] for p in refs]
            depth[top] = -1 if any(d < 0 for d in parents) else 1 + max(parents, default=-1)
            path.discard(top)
            stack.pop()
        return depth[rid]

    def run(self) -> GroupState:
        state = self._run((1 << len(self.order)) - 1)
        state.waiting = self.waiting
        return state

    def _run(self, mask: int) -> GroupState:
        """The state folded from the records in ``mask`` (a set of positions in ``order``)."""
        if mask in self.memo:
            return self.memo[mask]
        state = GroupState(self.gid)
        seen = 0
        claimed: set[bytes] = set()
        for i, rid in enumerate(self.order):
            if not mask >> i & 1:
                continue
            rec = self.by_id[rid]
            # G4. Authority is judged against the state as of the record's refs (what its author had
            # seen), and G5 again against the folded state as it is applied.
            at_refs = state if self.anc[rid] == seen else self._run(self.anc[rid])
            try:
                self._apply(state, at_refs, rec, claimed)
            except _Ignore as e:
                state.ignored[rid] = str(e)
            seen |= 1 << i
        for rid in self.order:  # G3: a bootstrap key record no genesis claimed
            r = self.by_id[rid]
            if (
                mask >> self.index[rid] & 1
                and r.kind == KIND_KEYS
                and r.body.get("salt") is not None
                and rid not in claimed
                and rid not in state.ignored
            ):
                state.ignored[rid] = "G3: a first key record that no genesis refers to"
        self.memo[mask] = state
        return state

    # -- one record ------------------------------------------------------------------------------------

    def _apply(self, state: GroupState, at_refs: GroupState, rec: GovRecord, claimed: set[bytes]) -> None:
        if rec.kind == KIND_KEYS and rec.body.get("salt") is not None:
            _ignore_unless(state.genesis is None, "G3: a first key record after the genesis")
            return  # held until the genesis that refers to it claims it
        if rec.kind == KIND_GROUP:
            self._genesis(state, rec, claimed)
            return
        # G6. Nothing but the genesis applies before the genesis; nothing at all after dissolution.
        _ignore_unless(at_refs.genesis is not None and state.genesis is not None, "G6: before the genesis")
        _ignore_unless(not state.dissolved, "G6: the group was dissolved")
        if rec.kind == BALLOT:
            self._ballot(state, at_refs, rec)
            return
        # G5. The author must be a member both as of its refs and now.
        _ignore_unless(at_refs.is_member(rec.author), "G4: the author was not a member as of its refs")
        _ignore_unless(state.is_member(rec.author), "G5: the author is no longer a member")
        if rec.kind == KIND_KEYS:
            self._keys(state, at_refs, rec)
        elif rec.kind == KIND_ACT:
            self._act(state, at_refs, rec)
        elif rec.kind == KIND_PROPOSAL:
            self._proposal(state, at_refs, rec)
        elif rec.kind == KIND_CLOSE:
            self._close(state, at_refs, rec)
        state.applied.append(rec.id)

    def _genesis(self, state: GroupState, rec: GovRecord, claimed: set[bytes]) -> None:
        b = rec.body
        # G3. One genesis per group: by the key the group id is bound to, referring to its first keys.
        _ignore_unless(state.genesis is None, "G3: the group already has a genesis")
        salt = b.get("salt")
        _ignore_unless(
            type(salt) is bytes and group_id(rec.author, salt) == self.gid,
            "G3: the group id is not bound to this author and salt",
        )
        members = _members(b.get("members"))
        _ignore_unless(rec.author in members, "G3: the creator is not among the members")
        rules = copy.deepcopy(DEFAULT_RULES)
        try:
            check_rules(b.get("rules", {}))
        except RuleError as e:
            raise _Ignore(f"G3: {e}") from None
        rules.update(copy.deepcopy(b.get("rules", {})))
        _ignore_unless(len(rec.refs) == 1, "G3: a genesis refers to exactly its first key record")
        keys = self.by_id.get(rec.refs[0])
        _ignore_unless(
            keys is not None
            and keys.kind == KIND_KEYS
            and keys.author == rec.author
            and keys.body.get("salt") == salt,
            "G3: the genesis does not refer to its author's first key record",
        )
        assert keys is not None
        recipients = _recipients(keys.body)
        _ignore_unless(
            recipients == tuple(sorted(members)), "G3: the first keys are not sealed to the members"
        )
        state.genesis, state.creator = rec.id, rec.author
        state.name, state.description = str(b.get("name", "")), str(b.get("description", ""))
        state.members = {k: Member(n, r, rec.id) for k, (n, r) in members.items()}
        state.rules = rules
        state.epoch, state.current_keys = 1, keys.id
        state.epochs[keys.id] = (1, recipients)
        state.applied += [keys.id, rec.id]
        state.history += [(rec.id, f"founded with {len(members)} members")]
        claimed.add(keys.id)

    def _keys(self, state: GroupState, at_refs: GroupState, rec: GovRecord) -> None:
        # G7. A new epoch key: by a member, sealed to exactly the members, none left out, none added.
        _ignore_unless(self._allowed(at_refs, rec.author, KEYS) is None, "G4: not allowed to rotate keys")
        _ignore_unless(self._allowed(state, rec.author, KEYS) is None, "G5: no longer allowed to rotate keys")
        recipients = _recipients(rec.body)
        _ignore_unless(
            recipients == tuple(sorted(state.members)), "G7: the key is not sealed to exactly the members"
        )
        state.epoch += 1
        state.epochs[rec.id] = (state.epoch, recipients)
        state.current_keys, state.stale = rec.id, False

    def _act(self, state: GroupState, at_refs: GroupState, rec: GovRecord) -> None:
        action, args = rec.body.get("action"), rec.body.get("args", {})
        _ignore_unless(type(action) is str and type(args) is dict, "G8: an act names an action and its args")
        assert isinstance(action, str) and isinstance(args, dict)
        # G8. A direct act needs a rule that lets its author act alone (a role or any member), both
        # as of its refs and now; an action ruled by a decision needs a proposal (G10-G12). G14:
        # if the change touches an entrenched rule in either state, it is judged as entrenched.
        judged = {self._effective_action(at_refs, action, args), self._effective_action(state, action, args)}
        effective = ENTRENCHED if ENTRENCHED in judged else judged.pop()
        for when, st in (("G4", at_refs), ("G5", state)):
            why = self._allowed(st, rec.author, effective)
            _ignore_unless(why is None, f"{when}: {effective}: {why}")
        self._effect(state, action, args, rec.id)

    def _proposal(self, state: GroupState, at_refs: GroupState, rec: GovRecord) -> None:
        b = rec.body
        _ignore_unless(self._allowed(at_refs, rec.author, PROPOSE) is None, "G9: not allowed to propose")
        _ignore_unless(self._allowed(state, rec.author, PROPOSE) is None, "G9: no longer allowed to propose")
        action = b.get("action")
        params: dict[str, Any] = {}
        raw_options = b.get("options", [])
        _ignore_unless(
            type(raw_options) is list
            and all(type(o) is str for o in raw_options)
            and len(set(raw_options)) == len(raw_options),
            "G9: options is a list of distinct texts",
        )
        options: tuple[str, ...] = tuple(raw_options)
        if action is not None:
            _ignore_unless(type(action) is dict, "G9: a proposal's action is a map")
            name, args = action.get("action"), action.get("args", {})
            _ignore_unless(
                type(name) is str and type(args) is dict, "G9: the action names an action and args"
            )
            self._check_args(at_refs, name, args)
            effective = self._effective_action(at_refs, name, args)
            rule = copy.deepcopy(at_refs.rules.get(effective) or self._default(effective))
            _ignore_unless(rule.get("by") == "decision", f"G9: {effective} is not decided by a decision")
            method = str(rule["method"])
            params = dict(rule.get("params", {}))
        else:
            named = b.get("method")
            _ignore_unless(type(named) is str, "G9: a proposal without an action names its method")
            method = str(named)
            params = b.get("params", {})
            _ignore_unless(type(params) is dict, "G9: params is a map")
            rule = {"by": "decision", "method": method}
            for k in ("quorum", "threshold", "strict", "min_open_ms"):
                if k in params:
                    rule[k] = params[k]
            try:
                check_rule(rule)
            except RuleError as e:
                raise _Ignore(f"G9: {e}") from None
        closes_at = b.get("closes_at")
        _ignore_unless(closes_at is None or type(closes_at) is int, "G9: closes_at is milliseconds")
        seal_key = b.get("seal_key")
        _ignore_unless(
            seal_key is None or (type(seal_key) is bytes and len(seal_key) == 32),
            "G17: a hidden vote's seal_key is a 32-byte X25519 key",
        )
        # G9. The rule and the electorate are snapshots taken as of the proposal's refs.
        state.proposals[rec.id] = Proposal(
            rec.id,
            rec.author,
            rec.ts,
            str(b.get("title", "")),
            str(b.get("text", "")),
            method,
            options,
            copy.deepcopy(action) if action is not None else None,
            rule,
            copy.deepcopy(params),
            tuple(sorted(at_refs.members)),
            closes_at,
            seal_key,
            b.get("seal_nonce") if type(b.get("seal_nonce")) is bytes else None,
        )

    def _ballot(self, state: GroupState, at_refs: GroupState, rec: GovRecord) -> None:
        pid = rec.body.get("proposal")
        prop = state.proposals.get(pid) if type(pid) is bytes else None
        _ignore_unless(prop is not None and pid in at_refs.proposals, "G10: a ballot for no known proposal")
        assert prop is not None
        # G10. Ballots come from the electorate snapshot, while the proposal is open, valid for its
        # method; a voter's later ballot (by its feed order, never its clock) supersedes the earlier.
        if rec.author not in prop.electorate:
            prop.excluded[rec.id] = "not in the electorate"
            raise _Ignore("G10: the voter is not in the proposal's electorate")
        if prop.status != "open":
            prop.excluded[rec.id] = "after the close"
            raise _Ignore("G10: the ballot came after the close")
        method = self.methods.get(prop.method)
        if prop.seal_key is not None:
            # G17. A hidden vote's ballot carries only its sealed choice; it is checked at the close.
            sealed = rec.body.get("sealed")
            if type(sealed) is not bytes or ("choice" in rec.body and rec.body["choice"] is not None):
                prop.excluded[rec.id] = "a hidden vote's ballot carries only a sealed choice"
                raise _Ignore("G17: a hidden vote's ballot carries only a sealed choice")
            choice: Any = {"sealed": sealed}
        else:
            choice = rec.body.get("choice")
            if method is not None:
                why = method.check_choice(choice, self._tally(prop))
                if why is not None:
                    prop.excluded[rec.id] = why
                    raise _Ignore(f"G10: {why}")
        held = prop.ballots.get(rec.author)
        if held is not None and held[0] > rec.seq:
            prop.excluded[rec.id] = "superseded by a later ballot"
            raise _Ignore("G10: superseded by the voter's later ballot")
        if held is not None:
            prop.excluded[held[1]] = "superseded by a later ballot"
        prop.ballots[rec.author] = (rec.seq, rec.id, choice)
        state.applied.append(rec.id)

    def _close(self, state: GroupState, at_refs: GroupState, rec: GovRecord) -> None:
        b = rec.body
        pid = b.get("proposal")
        prop = state.proposals.get(pid) if type(pid) is bytes else None
        seen = at_refs.proposals.get(pid) if type(pid) is bytes else None
        _ignore_unless(prop is not None and seen is not None, "G11: a close of no known proposal")
        assert prop is not None and seen is not None
        _ignore_unless(prop.status == "open", "G11: the proposal is already closed")
        method = self.methods.get(prop.method)
        _ignore_unless(method is not None, f"G11: the method {prop.method!r} is not available on this node")
        assert method is not None
        # G11. Who may close: an elector; for role-holder, a holder of the rule's role (as of the
        # close's refs, G4, and now).
        if not method.counts_ballots and getattr(method, "needs_role", False):
            role = str(prop.rule.get("role", ""))
            for when, st in (("G11", state), ("G4", at_refs)):
                _ignore_unless(
                    st.has_role(rec.author, role), f"{when}: only a holder of the role {role!r} decides"
                )
        else:
            _ignore_unless(rec.author in prop.electorate, "G11: only an elector may close")
        counted = b.get("ballots", [])
        _ignore_unless(
            type(counted) is list and all(type(x) is bytes for x in counted), "G11: ballots is a list of ids"
        )
        expected = sorted(v[1] for v in seen.ballots.values())
        all_voted = len(seen.ballots) == len(prop.electorate)
        # G11. Not before its minimum open time or its closing time, unless every elector has voted.
        if not all_voted:
            _ignore_unless(
                rec.ts >= prop.ts + int(prop.rule.get("min_open_ms", 0)),
                "G11: closed before its minimum time",
            )
            _ignore_unless(prop.closes_at is None or rec.ts >= prop.closes_at, "G11: closed before closes_at")
        if method.counts_ballots:
            # G12. The close counts exactly the latest ballot of each voter it had seen, and its
            # result is what every node recomputes from them.
            missing = sorted(set(expected) - set(counted))
            extra = sorted(set(counted) - set(expected))
            _ignore_unless(
                not missing and not extra and len(counted) == len(set(counted)),
                f"G12: the close does not count exactly the ballots it had seen "
                f"(missing {len(missing)}, extra {len(extra)})",
            )
            ballots = [(v, seen.ballots[v][2]) for v in sorted(seen.ballots)]
            revealed: dict[bytes, str] = {}
            if prop.seal_key is not None:
                ballots, revealed = self._reveal(prop, seen, b.get("reveal"), method)
            try:
                result = method.result(ballots, self._tally(prop))
            except MethodError as e:
                raise _Ignore(f"G12: the ballots cannot be counted: {e}") from None
            _ignore_unless(
                encode(b.get("result")) == encode(result),
                f"G12: the close's tally does not match the recount (recount: {_short(result)})",
            )
            _ignore_unless(
                b.get("passed") is None or b.get("passed") == result.get("passed"),
                "G12: the close's passed does not match its result",
            )
        else:
            passed = b.get("passed")
            _ignore_unless(type(passed) is bool, "G12: the closer says whether it passed")
            _ignore_unless(not counted, "G12: this method counts no ballots")
            result = {"decided_by": rec.author, "passed": passed}
            _ignore_unless(encode(b.get("result")) == encode(result), "G12: the result is not the decision")
        passed = result.get("passed")
        prop.status = "decided" if passed is None else ("passed" if passed else "rejected")
        prop.result, prop.close = copy.deepcopy(result), rec.id
        for voter, (_, bid, _) in prop.ballots.items():
            if seen.ballots.get(voter, (0, b""))[1] != bid:
                prop.excluded[bid] = "not seen by the closer"
        prop.ballots = copy.deepcopy(seen.ballots)
        if method.counts_ballots and prop.seal_key is not None:
            opened = dict(ballots)
            for voter, (seq, bid, _) in list(prop.ballots.items()):
                if voter in opened:
                    prop.ballots[voter] = (seq, bid, opened[voter])
                else:
                    prop.excluded[bid] = revealed.get(voter, "could not be opened")
                    del prop.ballots[voter]
        # G13. A passed action takes effect at the close, against the state as it is then.
        if passed and prop.action is not None:
            name, args = prop.action["action"], prop.action.get("args", {})
            try:
                self._check_args(state, name, args)
            except _Ignore as e:
                state.history.append((rec.id, f"{name} passed but could not apply: {e}"))
                return
            self._effect(state, name, args, rec.id)

    # -- actions ----------------------------------------------------------------------------------------

    def _default(self, action: str) -> dict[str, Any]:
        return rule_for(GroupState(self.gid, rules={}), action, self.actions)

    def _allowed(self, state: GroupState, author: bytes, action: str) -> str | None:
        return allowed(state, author, action, self.actions)

    def _effective_action(self, state: GroupState, action: str, args: dict[str, Any]) -> str:
        return effective_action(state, action, args, self.actions)

    def _check_args(self, state: GroupState, action: Any, args: Any) -> None:
        _ignore_unless(type(action) is str and action in self.actions, f"G8: unknown action {action!r}")
        _ignore_unless(type(args) is dict, "G8: args is a map")
        if action in (ADMIT, REMOVE, ROLES):
            key = args.get("key")
            _ignore_unless(type(key) is bytes and len(key) == 32, f"G8: {action} names a 32-byte key")
        if action == ADMIT:
            name = args.get("name", "")
            ok = type(name) is str and len(name) <= MAX_NAME and not unsafe_chars(name)
            _ignore_unless(
                ok, f"G8: a member's name is text, one plain line of at most {MAX_NAME} characters"
            )
            try:
                check_roles(args.get("roles", []))
            except RuleError as e:
                raise _Ignore(f"G8: {e}") from None
        elif action == REMOVE:
            _ignore_unless(args["key"] in state.members, "G8: not a member")
            _ignore_unless(len(state.members) > 1, "G8: the last member cannot be removed")
            head = args.get("head", [0, None])
            _ignore_unless(
                type(head) is list
                and len(head) == 2
                and type(head[0]) is int
                and 0 <= head[0] < 2**63
                and (head[1] is None if head[0] == 0 else type(head[1]) is bytes and len(head[1]) == 32),
                "G8: a removal's head is [seq, record id] of the removed member's feed",
            )
        elif action == ROLES:
            _ignore_unless(args["key"] in state.members, "G8: not a member")
            try:
                check_roles(args.get("roles"))
            except RuleError as e:
                raise _Ignore(f"G8: {e}") from None
        elif action == RULES:
            sets, unset = args.get("set", {}), args.get("unset", [])
            _ignore_unless(type(sets) is dict and type(unset) is list, "G8: rules changes are set and unset")
            try:
                check_rules(sets)
            except RuleError as e:
                raise _Ignore(f"G8: {e}") from None
            _ignore_unless(all(type(a) is str for a in unset), "G8: unset lists action names")

    def _effect(self, state: GroupState, action: str, args: dict[str, Any], rid: bytes) -> None:
        """Apply an authorised action (by a direct act or a passed decision)."""
        self._check_args(state, action, args)
        if action == ADMIT:
            key = args["key"]
            if key in state.members:
                state.history.append((rid, f"admit {key.hex()[:16]}: already a member"))
                return
            state.members[key] = Member(str(args.get("name", "")), tuple(args.get("roles", [])), rid)
            state.stale = True  # G15: membership changed; a new epoch key is due
            state.history.append((rid, f"admitted {key.hex()[:16]}"))
        elif action == REMOVE:
            del state.members[args["key"]]
            if "head" in args:  # E6: what the removed member may still have added is bounded
                state.bounds[args["key"]] = (args["head"][0], state.epoch)
            state.stale = True
            state.history.append((rid, f"removed {args['key'].hex()[:16]}"))
        elif action == ROLES:
            m = state.members[args["key"]]
            m.roles = tuple(args["roles"])
            state.history.append((rid, f"roles of {args['key'].hex()[:16]}: {', '.join(m.roles) or '-'}"))
        elif action == RULES:
            for a, rule in (args.get("set") or {}).items():
                state.rules[a] = copy.deepcopy(rule)
            for a in args.get("unset") or []:
                state.rules.pop(a, None)
                if a in DEFAULT_RULES:
                    state.rules[a] = copy.deepcopy(DEFAULT_RULES[a])
            state.history.append((rid, "rules changed"))
        elif action == CLOSE_GROUP:
            state.dissolved = True
            state.history.append((rid, "group dissolved"))
        else:
            state.history.append((rid, f"{action} done"))

    def _reveal(
        self, prop: Proposal, seen: Proposal, reveal: Any, method: DecisionMethod
    ) -> tuple[list[tuple[bytes, Any]], dict[bytes, str]]:
        """G17. Open a hidden vote's ballots with the secret the close reveals; drop those that fail."""
        _ignore_unless(
            type(reveal) is bytes and len(reveal) == 32 and x25519_base(reveal) == prop.seal_key,
            "G17: the close of a hidden vote reveals the secret of its seal_key",
        )
        assert isinstance(reveal, bytes)
        return open_hidden(seen.ballots, reveal, method, self._tally(prop))

    def _tally(self, prop: Proposal) -> Tally:
        return prop.tally()


def _members(value: Any) -> dict[bytes, tuple[str, tuple[str, ...]]]:
    if type(value) is not list or not value:
        raise _Ignore("G3: members is a non-empty list")
    out: dict[bytes, tuple[str, tuple[str, ...]]] = {}
    for m in value:
        if type(m) is not dict or type(m.get("key")) is not bytes or len(m["key"]) != 32:
            raise _Ignore("G3: each member has a 32-byte key")
        try:
            check_roles(m.get("roles", []))
        except RuleError as e:
            raise _Ignore(f"G3: {e}") from None
        if m["key"] in out:
            raise _Ignore("G3: a member is listed twice")
        out[m["key"]] = (str(m.get("name", "")), tuple(m.get("roles", [])))
    return out


def _recipients(body: dict[str, Any]) -> tuple[bytes, ...]:
    boxes = body.get("boxes")
    if type(boxes) is not list:
        return ()
    keys = [b["to"] for b in boxes if type(b) is dict and type(b.get("to")) is bytes]
    if len(keys) != len(boxes) or len(set(keys)) != len(keys):
        return ()
    return tuple(sorted(keys))


def _short(result: dict[str, Any]) -> str:
    return f"passed={result.get('passed')}, winners={result.get('winners')}"
