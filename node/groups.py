"""What a node does in a group: found it, act, propose, close, rotate the key, welcome new members.

Each function signs records through ``Node.publish`` (so they pass the one ingest pipeline) with
``refs`` naming the governance records this node has seen, and says plainly what it did. Whether a
record has authority is still the fold's decision; these functions refuse early only to spare the
operator a record that every node would ignore.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tequio.governance import (
    ADMIT,
    CORE_METHODS,
    KIND_ACT,
    KIND_CLOSE,
    KIND_GROUP,
    KIND_KEYS,
    KIND_PROPOSAL,
    REMOVE,
    ROLES,
    CryptoError,
    GroupState,
    MethodError,
    Proposal,
    RuleError,
    check_rules,
    effective_action,
    encode_key_box,
    group_id,
    key_commitment,
    open_hidden,
    rule_for,
    rule_text,
    seal_to,
    x25519_base,
    x25519_public,
)
from tequio.schemas import direct_scope, group_scope

from .errors import TequioError

if TYPE_CHECKING:
    from .node import Node

__all__ = [
    "KIND_WELCOME",
    "ActOutcome",
    "GroupError",
    "act",
    "close",
    "create_group",
    "find_proposal",
    "group_state",
    "propose",
    "rotate_keys",
]

KIND_WELCOME = "gov.welcome"


class GroupError(TequioError):
    """A group operation this node cannot or may not do."""


@dataclass(frozen=True)
class ActOutcome:
    """What an act led to: done at once, or a proposal opened because the rule needs a decision."""

    record: bytes
    proposal: bool
    rule: Mapping[str, Any]


def group_state(node: Node, gid_or_scope: str) -> tuple[str, GroupState]:
    """The scope and state of a group named by its id (hex, or a unique prefix) or its scope."""
    text = gid_or_scope.strip().lower()
    text = text[2:] if text.startswith("g:") else text
    matches = [(s, st) for s, st in node.governance.groups() if s[2:].startswith(text)] if text else []
    if not matches:
        raise GroupError(f"this node is in no group {gid_or_scope!r} (see 'tequio group list')")
    if len(matches) > 1:
        raise GroupError(f"{gid_or_scope!r} matches several groups; give more of the id")
    return matches[0]


def check_member_key(key: bytes) -> None:
    """A member key must be a usable Ed25519 key: keys are sealed to it."""
    if len(key) != 32:
        raise GroupError("a member is a 32-byte node key (64 hex)")
    try:
        x25519_public(key)
    except CryptoError:
        raise GroupError(f"{key.hex()} is not a valid node key") from None


def _boxes(node: Node, members: Sequence[bytes], key: bytes) -> list[dict[str, Any]]:
    return [{"to": m, "box": seal_to(m, encode_key_box(key, []))} for m in sorted(members)]


def create_group(
    node: Node,
    name: str,
    members: Sequence[tuple[bytes, str, Sequence[str]]],
    rules: Mapping[str, Any] | None = None,
    description: str = "",
) -> tuple[bytes, str]:
    """Found a group with this node and ``members``; returns (gid, scope)."""
    rules = dict(rules or {})
    try:
        check_rules(rules)
    except RuleError as e:
        raise GroupError(f"rules: {e}") from None
    entries: dict[bytes, dict[str, Any]] = {node.key: {"key": node.key, "name": node.name, "roles": []}}
    for key, mname, roles in members:
        check_member_key(key)
        entry = entries.setdefault(key, {"key": key, "name": mname, "roles": []})
        entry["name"] = mname or entry["name"]
        entry["roles"] = sorted(set(entry["roles"]) | set(roles))
    salt = node.rng(16)
    gid = group_id(node.key, salt)
    scope = group_scope(gid)
    epoch_key = node.rng(32)
    keys = node.publish(
        KIND_KEYS,
        {"boxes": _boxes(node, list(entries), epoch_key), "commit": key_commitment(epoch_key), "salt": salt},
        scope=scope,
    )
    node.publish(
        KIND_GROUP,
        {
            "name": name,
            "description": description,
            "salt": salt,
            "members": [entries[k] for k in sorted(entries)],
            "rules": rules,
        },
        scope=scope,
        refs=[keys.id],
        keys=keys.id,
    )
    if node.governance.state(scope) is None:
        raise GroupError("the genesis was written but does not fold: please report this")
    return gid, scope


def rotate_keys(node: Node, scope: str) -> bytes:
    """Issue a new epoch key sealed to exactly the members now; welcome members new since the last."""
    st = node.governance.state(scope)
    if st is None or not st.is_member(node.key):
        raise GroupError("only a member can issue the group's key")
    epoch_key = node.rng(32)
    previous = set(st.epochs[st.current_keys][1]) if st.current_keys in st.epochs else set()
    rec = node.publish(
        KIND_KEYS,
        {"boxes": _boxes(node, list(st.members), epoch_key), "commit": key_commitment(epoch_key)},
        scope=scope,
        refs=node.governance.heads(scope),
    )
    node.governance.scan_keys()
    newcomers = sorted(set(st.members) - previous - {node.key})
    if newcomers:
        # Earlier epochs' keys, so a new member can read the group's history; sent directly so it
        # can be read before any group record (whose feed may hold ciphertext first).
        held = [
            [rid, node.governance.keyring[rid]] for rid in sorted(st.epochs) if rid in node.governance.keyring
        ]
        held.append([rec.id, epoch_key])
        for m in newcomers:
            node.publish(KIND_WELCOME, {"group": scope, "keys": held}, scope=direct_scope(m))
    return rec.id


def act(node: Node, scope: str, action: str, args: dict[str, Any], title: str = "") -> ActOutcome:
    """Do ``action`` now if the rules let this node alone do it, else open a proposal for it."""
    st = node.governance.state(scope)
    if st is None or not st.is_member(node.key):
        raise GroupError("this node is not a member of that group")
    if action == ADMIT and isinstance(args.get("key"), bytes):
        check_member_key(args["key"])
    _check_membership(st, action, args)
    args = removal_head(node, scope, action, args)
    actions = node.plugins.action_index()
    effective = effective_action(st, action, args, actions)
    rule = rule_for(st, effective, actions)
    by = rule.get("by")
    if by == "nobody":
        raise GroupError(f"nobody may {effective} in this group")
    if by == "role" and not st.has_role(node.key, rule["role"]):
        raise GroupError(f"{effective} needs the role {rule['role']}, which this node does not hold")
    if by == "decision":
        pid = propose(
            node, scope, title or f"{action} {_describe(args)}", action={"action": action, "args": args}
        )
        return ActOutcome(pid, True, rule)
    body = {"action": action, "args": args}
    heads = node.governance.heads(scope)
    if (why := node.governance.would_ignore(scope, KIND_ACT, body, heads)) is not None:
        raise GroupError(f"every node would ignore that: {why}")
    done = node.publish(KIND_ACT, body, scope=scope, refs=heads)
    _after_change(node, scope, st)
    return ActOutcome(done.id, False, rule)


def earliest_close(prop: Proposal) -> int:
    """When ``prop`` may close at the earliest (ms) unless every elector votes first (rule G11)."""
    return max(prop.ts + int(prop.rule.get("min_open_ms", 0)), prop.closes_at or 0)


def close_window_text(prop: Proposal) -> str:
    """For people: the rule that applies and the earliest time the proposal can close."""
    when = earliest_close(prop)
    stamp = dt.datetime.fromtimestamp(when / 1000, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    if when <= prop.ts:
        return f"rule: {rule_text(prop.rule)}; it can close as soon as it is decided"
    return (
        f"rule: {rule_text(prop.rule)}; it can close at {stamp} at the earliest,"
        " or once every member has voted"
    )


def _describe(args: Mapping[str, Any]) -> str:
    key = args.get("key")
    return key.hex()[:16] if isinstance(key, bytes) else ""


def _after_change(node: Node, scope: str, before: GroupState) -> None:
    """After a record that may have changed membership: issue the new epoch key if one is due."""
    st = node.governance.state(scope)
    if st is not None and st.stale and st.is_member(node.key) and set(st.members) != set(before.members):
        rotate_keys(node, scope)


def propose(
    node: Node,
    scope: str,
    title: str,
    text: str = "",
    action: dict[str, Any] | None = None,
    method: str | None = None,
    options: Sequence[str] = (),
    params: Mapping[str, Any] | None = None,
    closes_at: int | None = None,
    hidden: bool = False,
) -> bytes:
    """Open a proposal; returns its record id. ``hidden``: ballots stay sealed until the close (G17)."""
    body: dict[str, Any] = {"title": title, "text": text}
    st = node.governance.state(scope)
    if action is not None and st is not None:
        _check_membership(st, str(action.get("action")), action.get("args") or {})
        args = removal_head(node, scope, str(action.get("action")), action.get("args") or {})
        action = {**action, "args": args}
    if hidden:
        nonce = node.rng(16)
        body["seal_nonce"] = nonce
        body["seal_key"] = x25519_base(_seal_secret(node, nonce))
    if action is not None:
        body["action"] = action
    else:
        if not method:
            raise GroupError("a proposal without an action names its method")
        body["method"] = method
    if options:
        body["options"] = list(options)
    if params:
        body["params"] = dict(params)
    if closes_at is not None:
        body["closes_at"] = closes_at
    heads = node.governance.heads(scope)
    if (why := node.governance.would_ignore(scope, KIND_PROPOSAL, body, heads)) is not None:
        raise GroupError(f"every node would ignore that proposal: {why}")
    rec = node.publish(KIND_PROPOSAL, body, scope=scope, refs=heads)
    return rec.id


def removal_head(node: Node, scope: str, action: str, args: Mapping[str, Any]) -> dict[str, Any]:
    """E6. A removal carries the removed member's feed head in the scope as this node sees it."""
    out = dict(args)
    key = out.get("key")
    if action != REMOVE or "head" in out or type(key) is not bytes:
        return out
    head = node.store.head(key, scope)
    out["head"] = [head.seq, head.head] if head is not None and head.seq > 0 and head.head else [0, None]
    return out


def _check_membership(st: GroupState, action: str, args: Mapping[str, Any]) -> None:
    key = args.get("key")
    if action == ADMIT and key in st.members:
        raise GroupError("that node is already a member")
    if action in (REMOVE, ROLES) and isinstance(key, bytes) and key not in st.members:
        raise GroupError("that node is not a member")


def _seal_secret(node: Node, nonce: bytes) -> bytes:
    return node.derive_key(b"tequio/ballot-seal/v1\n" + nonce)


def find_proposal(node: Node, text: str) -> tuple[str, GroupState, Proposal]:
    """A proposal by id or unique prefix, across this node's groups."""
    t = text.strip().lower()
    if len(t) < 8:
        raise GroupError("give at least 8 hex characters of the proposal id")
    found = [
        (s, st, p)
        for s, st in node.governance.groups()
        for pid, p in st.proposals.items()
        if pid.hex().startswith(t)
    ]
    if not found:
        raise GroupError(f"no proposal {text} in this node's groups")
    if len(found) > 1:
        raise GroupError(f"{text} matches several proposals; give more of the id")
    return found[0]


def close(
    node: Node, scope: str, proposal: bytes, passed: bool | None = None
) -> tuple[bytes, dict[str, Any]]:
    """Close a proposal with the ballots this node holds; returns the close's id and the result."""
    st = node.governance.state(scope)
    if st is None or proposal not in st.proposals:
        raise GroupError("no such proposal in that group")
    prop = st.proposals[proposal]
    if prop.status != "open":
        raise GroupError(f"the proposal is already {prop.status}")
    method = node.plugins.decision_methods().get(prop.method) or CORE_METHODS.get(prop.method)
    if method is None:
        raise GroupError(f"the method {prop.method!r} is not available on this node (see 'tequio plugins')")
    body: dict[str, Any] = {"proposal": proposal}
    if method.counts_ballots:
        ballots = [(v, prop.ballots[v][2]) for v in sorted(prop.ballots)]
        tally = prop.tally()
        if prop.seal_key is not None:
            if prop.seal_nonce is None or prop.author != node.key:
                raise GroupError("only the node that opened a hidden vote can close it (it holds the secret)")
            secret = _seal_secret(node, prop.seal_nonce)
            body["reveal"] = secret
            ballots, _ = open_hidden(prop.ballots, secret, method, tally)
        try:
            result = method.result(ballots, tally)
        except MethodError as e:
            raise GroupError(f"the ballots cannot be counted by {prop.method}: {e}") from None
        body["ballots"] = sorted(b[1] for b in prop.ballots.values())
    else:
        if passed is None:
            raise GroupError(f"with the method {prop.method} the closer decides: say --passed or --rejected")
        result = {"decided_by": node.key, "passed": passed}
    body["result"] = result
    if isinstance(result.get("passed"), bool):
        body["passed"] = result["passed"]
    heads = node.governance.heads(scope)
    if (why := node.governance.would_ignore(scope, KIND_CLOSE, body, heads)) is not None:
        raise GroupError(f"every node would ignore that close: {why}")
    rec = node.publish(KIND_CLOSE, body, scope=scope, refs=heads)
    if prop.action is not None and prop.action.get("action") in (ADMIT, REMOVE):
        _after_change(node, scope, st)
    return rec.id, result
