"""Curation records (tags, questions to witnesses) and the deterministic merge of concurrent tag edits.

Two curators on different nodes may tag the same item at the same time; each edit is a signed
``intake.tag`` record, and every node folds them with the same rule so no edit is lost: per field,
last writer wins by (time, author key), ties broken by record id.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from tequio.governance import Action
from tequio.node import Kind, Node

__all__ = [
    "ACTIONS",
    "CURATE",
    "FIELDS",
    "KINDS",
    "TIME_FLAG_MS",
    "TagEdit",
    "current_tags",
    "merge_tags",
    "time_differs",
]

CURATE = "intake.curate"
TAG, QUESTION = "intake.tag", "intake.question"
#: The fields a curator tags; list fields hold several values (people, units, plates).
FIELDS = ("incident", "place", "people", "injuries", "units", "plates", "not_relevant", "duplicate_of")
#: Witness time and camera time further apart than this are flagged (one hour).
TIME_FLAG_MS = 3_600_000
_STRICT = ConfigDict(strict=True, extra="ignore")


class TagBody(BaseModel):
    """intake.tag: the fields one curator set on one item in one edit; absent fields are untouched."""

    model_config = _STRICT
    item: bytes = Field(min_length=32, max_length=32)
    set: dict[str, Any] = Field(default_factory=dict, max_length=len(FIELDS))


class QuestionBody(BaseModel):
    """intake.question: a curator's question to the witness of an item, shown on the drop's status page."""

    model_config = _STRICT
    item: bytes = Field(min_length=32, max_length=32)
    text: str = Field(min_length=1, max_length=4000)


KINDS = [
    Kind(TAG, TagBody, "A curator's tags on an evidence item (merged per field, last writer wins)."),
    Kind(QUESTION, QuestionBody, "A curator's question to the witness of an item."),
]
ACTIONS = [Action(CURATE, {"by": "member"}, "triage and tag public submissions (the curator role)")]


@dataclass(frozen=True)
class TagEdit:
    """One signed tag edit as the merge needs it: when, by whom, which record, what it set."""

    time: int
    author: bytes
    id: bytes
    fields: dict[str, Any]


def merge_tags(edits: Iterable[TagEdit]) -> dict[str, Any]:
    """Fold edits in any order to the same tags: per field the greatest (time, author, id) wins."""
    best: dict[str, tuple[tuple[int, bytes, bytes], Any]] = {}
    for e in edits:
        order = (e.time, e.author, e.id)
        for name, value in e.fields.items():
            if name not in FIELDS:
                continue
            if name not in best or order > best[name][0]:
                best[name] = (order, value)
    return {name: value for name, (_, value) in sorted(best.items())}


def time_differs(witness_ms: int | None, camera_ms: int | None) -> bool:
    """True when both times are known and differ by more than ``TIME_FLAG_MS``."""
    if witness_ms is None or camera_ms is None:
        return False
    return abs(witness_ms - camera_ms) > TIME_FLAG_MS


def current_tags(
    node: Node, item: bytes, scope: str | None = None, may: Callable[[bytes], bool] | None = None
) -> dict[str, Any]:
    """An item's merged tags from the readable ``intake.tag`` records this node holds, counting only
    authors ``may`` accepts (the group's curators) when it is given."""
    edits = [
        TagEdit(r.record.ts, r.author, r.id, dict(r.body.get("set") or {}))
        for r in node.records(scope=scope, kind=TAG)
        if r.body is not None and r.body.get("item") == item and (may is None or may(r.author))
    ]
    return merge_tags(edits)
