"""Calls for evidence as functions of a Node: open, list, find, host, and a witness's submissions."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from tequio.node import Node, StoredRecord, TequioError, group_state

from .recordkinds import ANSWER, CALL, HOST, SUBMISSION

__all__ = ["Call", "calls", "find_call", "host", "hour_of", "open_call", "status_of", "submissions"]


@dataclass
class Call:
    id: bytes
    scope: str
    body: dict[str, Any]
    hosted_here: bool
    hosts: int

    def open_at(self, now_ms: int) -> bool:
        until = self.body.get("until") or ""
        return not until or dt.datetime.fromtimestamp(now_ms / 1000, dt.UTC).strftime("%Y-%m-%d") <= until

    def to_json(self) -> dict[str, Any]:
        b = self.body
        return {
            "id": self.id.hex(),
            "scope": self.scope,
            "title": b.get("title"),
            "until": b.get("until") or None,
            "max_mb": b.get("max_mb"),
            "max_files": b.get("max_files"),
            "hosted_here": self.hosted_here,
            "hosts": self.hosts,
        }


def hour_of(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).strftime("%Y-%m-%dT%H:00Z")


def open_call(
    node: Node,
    group: str,
    title: str,
    text_es: str,
    text_en: str,
    *,
    until: str = "",
    max_mb: int = 100,
    max_files: int = 20,
) -> StoredRecord:
    """Publish a signed call in the coalition's scope (every member node receives it)."""
    scope, _ = group_state(node, group)
    if until:
        try:
            until = dt.date.fromisoformat(until).isoformat()
        except ValueError:
            raise TequioError(f"--until {until!r} is not a date (YYYY-MM-DD)") from None
    body = {
        "title": title,
        "text_es": text_es,
        "text_en": text_en,
        "until": until,
        "max_mb": max_mb,
        "max_files": max_files,
    }
    return node.publish(CALL, body, scope=scope)


def calls(node: Node) -> list[Call]:
    hosts: dict[bytes, set[bytes]] = {}
    for r in node.records(kind=HOST):
        if r.body:
            hosts.setdefault(r.body["call"], set()).add(r.record.author)
    out = []
    for r in node.records(kind=CALL):
        if r.body is None:
            continue
        h = hosts.get(r.id, set())
        out.append(Call(r.id, r.record.scope, r.body, node.key in h, len(h)))
    return out


def find_call(node: Node, text: str) -> Call:
    t = text.strip().lower()
    found = [c for c in calls(node) if t and c.id.hex().startswith(t)]
    if not found:
        raise TequioError(f"no call {text!r} here (see 'tequio intake list')")
    if len(found) > 1:
        raise TequioError(f"{text!r} matches several calls; give more of the id")
    return found[0]


def host(node: Node, text: str) -> Call:
    """Serve this call's public page from this node (a signed record: members see who hosts it)."""
    c = find_call(node, text)
    if not c.hosted_here:
        node.publish(HOST, {"call": c.id}, scope=c.scope, refs=[c.id])
        c.hosted_here, c.hosts = True, c.hosts + 1
    return c


def submissions(node: Node, call: Call) -> list[StoredRecord]:
    return [
        r for r in node.records(scope=call.scope, kind=SUBMISSION) if r.body and r.body["call"] == call.id
    ]


def find_submission(node: Node, call: Call, codename_hash: bytes) -> StoredRecord | None:
    for r in submissions(node, call):
        if r.body and r.body["codename"] == codename_hash and r.body.get("follows") is None:
            return r
    return None


def status_of(
    node: Node, call: Call, sub: StoredRecord
) -> tuple[str, list[StoredRecord], list[StoredRecord]]:
    """("received" | "reviewing" | "used", questions, answers) from the records that name the submission."""
    state = "received"
    questions, answers = [], []
    for r in node.records(scope=call.scope):
        if r.payload is None or (sub.id not in r.payload.refs and (r.body or {}).get("submission") != sub.id):
            continue
        kind = r.payload.kind
        if kind == ANSWER:
            answers.append(r)
        elif kind in (SUBMISSION, HOST, CALL):
            continue
        elif "incident" in kind or "link" in kind:
            state = "used"
        else:
            if kind.endswith("question"):
                questions.append(r)
            state = "reviewing" if state == "received" else state
    return state, questions, answers
