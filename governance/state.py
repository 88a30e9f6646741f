"""The folded state of one group: members, rules, key epochs, proposals, and what was ignored and why.

``GroupState.canonical()`` is the state as canonical msgpack: two nodes agree exactly when these
bytes are equal, which is what the property tests compare.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from tequio.schemas.canonical import encode

from .methods import Tally
from .rules import DEFAULT_RULES

__all__ = ["GovRecord", "GroupState", "Member", "Proposal"]


@dataclass(frozen=True)
class GovRecord:
    """A governance record as the fold sees it: opened, with the fields the rules read."""

    id: bytes
    author: bytes
    seq: int
    ts: int
    kind: str
    body: dict[str, Any]
    refs: tuple[bytes, ...] = ()


@dataclass
class Member:
    name: str
    roles: tuple[str, ...] = ()
    since: bytes = b""  # id of the record that made it a member

    def to_map(self) -> dict[str, Any]:
        return {"name": self.name, "roles": list(self.roles), "since": self.since}


@dataclass
class Proposal:
    id: bytes
    author: bytes
    ts: int
    title: str
    text: str
    method: str
    options: tuple[str, ...]
    action: dict[str, Any] | None
    rule: dict[str, Any]  # snapshot at opening
    params: dict[str, Any]
    electorate: tuple[bytes, ...]  # snapshot at opening, sorted
    closes_at: int | None
    seal_key: bytes | None = None  # hidden until close: ballots are sealed to this X25519 key
    seal_nonce: bytes | None = None  # with the proposer's node key, derives the secret
    status: str = "open"  # open, passed, rejected, decided
    #: voter -> (seq, ballot id, choice): the voter's latest ballot in feed order
    ballots: dict[bytes, tuple[int, bytes, Any]] = field(default_factory=dict)
    close: bytes | None = None
    result: dict[str, Any] | None = None
    excluded: dict[bytes, str] = field(default_factory=dict)  # ballot id -> why it was not counted

    def tally(self) -> Tally:
        """What a decision method is asked to count for this proposal (the tie seed is its id)."""
        return Tally(self.options, len(self.electorate), self.rule, self.params, self.id)

    def to_map(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "author": self.author,
            "ts": self.ts,
            "title": self.title,
            "text": self.text,
            "method": self.method,
            "options": list(self.options),
            "rule": self.rule,
            "params": self.params,
            "electorate": list(self.electorate),
            "status": self.status,
            "ballots": {v.hex(): b[1] for v, b in sorted(self.ballots.items())},
            "excluded": {k.hex(): v for k, v in sorted(self.excluded.items())},
        }
        if self.action is not None:
            out["action"] = self.action
        if self.closes_at is not None:
            out["closes_at"] = self.closes_at
        if self.seal_key is not None:
            out["seal_key"] = self.seal_key
        if self.close is not None:
            out["close"] = self.close
        if self.result is not None:
            out["result"] = self.result
        return out


@dataclass
class GroupState:
    gid: bytes
    genesis: bytes | None = None
    creator: bytes = b""
    name: str = ""
    description: str = ""
    members: dict[bytes, Member] = field(default_factory=dict)
    rules: dict[str, dict[str, Any]] = field(default_factory=lambda: copy.deepcopy(DEFAULT_RULES))
    epoch: int = 0
    #: keys record id -> (epoch number, recipients): every epoch key ever valid in this group
    epochs: dict[bytes, tuple[int, tuple[bytes, ...]]] = field(default_factory=dict)
    current_keys: bytes | None = None
    stale: bool = False  # membership changed since the current epoch key was issued
    dissolved: bool = False
    proposals: dict[bytes, Proposal] = field(default_factory=dict)
    applied: list[bytes] = field(default_factory=list)
    ignored: dict[bytes, str] = field(default_factory=dict)
    waiting: list[bytes] = field(default_factory=list)
    #: member key -> ids of records that changed its membership or roles (for show)
    history: list[tuple[bytes, str]] = field(default_factory=list)
    #: E6. removed member -> (its feed head seq in the scope as the remover saw it, epoch at removal)
    bounds: dict[bytes, tuple[int, int]] = field(default_factory=dict)

    def beyond_bound(self, author: bytes, seq: int, keys_record: bytes) -> str | None:
        """E6. Why a removed member's record at ``seq`` under ``keys_record`` has no authority, or None."""
        bound = self.bounds.get(author)
        if bound is None or seq <= bound[0]:
            return None
        epoch = self.epochs.get(keys_record)
        if epoch is not None and epoch[0] > bound[1]:
            return None  # under a key issued after the removal: a re-admitted member's
        return f"E6: written after its author's removal (past the feed head {bound[0]} the removal records)"

    def is_member(self, key: bytes) -> bool:
        return key in self.members

    def has_role(self, key: bytes, role: str) -> bool:
        m = self.members.get(key)
        return m is not None and role in m.roles

    def to_map(self) -> dict[str, Any]:
        return {
            "gid": self.gid,
            "genesis": self.genesis,
            "creator": self.creator,
            "name": self.name,
            "description": self.description,
            "members": {k.hex(): m.to_map() for k, m in sorted(self.members.items())},
            "rules": self.rules,
            "epoch": self.epoch,
            "epochs": {k.hex(): [e, list(r)] for k, (e, r) in sorted(self.epochs.items())},
            "current_keys": self.current_keys,
            "stale": self.stale,
            "dissolved": self.dissolved,
            "proposals": {k.hex(): p.to_map() for k, p in sorted(self.proposals.items())},
            "applied": self.applied,
            "ignored": {k.hex(): v for k, v in sorted(self.ignored.items())},
            "waiting": sorted(self.waiting),
            "history": [[rid, what] for rid, what in self.history],
            "bounds": {k.hex(): list(b) for k, b in sorted(self.bounds.items())},
        }

    def canonical(self) -> bytes:
        return encode(self.to_map())
