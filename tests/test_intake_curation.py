"""Curation's records and merge (issue 12 §4): two curators' concurrent tag edits never lose each other."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import pytest

from tequio.node import Node, PublishError
from tequio.plugins.intake.curation import TIME_FLAG_MS, TagEdit, current_tags, merge_tags, time_differs

ITEM = b"\x07" * 32


def test_the_node_loads_the_curation_kinds_and_checks_their_bodies(make_node: Callable[..., Node]) -> None:
    node = make_node()
    rec = node.publish("intake.tag", {"item": ITEM, "set": {"place": "Zócalo", "plates": ["ABC-123"]}})
    assert rec.kind == "intake.tag"
    node.publish("intake.question", {"item": ITEM, "text": "¿A qué hora tomó la foto?"})
    with pytest.raises(PublishError, match="text"):
        node.publish("intake.question", {"item": ITEM, "text": ""})
    with pytest.raises(PublishError, match="item"):
        node.publish("intake.tag", {"item": b"short", "set": {}})


def test_concurrent_edits_merge_the_same_in_every_order_and_keep_both_curators_work() -> None:
    a_fields = {"place": "Zócalo", "units": ["UPM 12"]}
    a = TagEdit(time=100, author=b"\x01" * 32, id=b"\x0a" * 32, fields=a_fields)
    b = TagEdit(time=100, author=b"\x02" * 32, id=b"\x0b" * 32, fields={"place": "Reforma", "people": ["3"]})
    c = TagEdit(time=50, author=b"\x03" * 32, id=b"\x0c" * 32, fields={"place": "old", "injuries": "leve"})
    results = {repr(merge_tags(order)) for order in itertools.permutations([a, b, c])}
    assert len(results) == 1
    merged = merge_tags([a, b, c])
    # The tie at time 100 goes to the greater author key; fields only one curator set are all kept.
    assert merged == {"injuries": "leve", "people": ["3"], "place": "Reforma", "units": ["UPM 12"]}


def test_unknown_fields_are_ignored_by_the_merge() -> None:
    e = TagEdit(time=1, author=b"\x01" * 32, id=b"\x01" * 32, fields={"x" * 5000: "y", "place": "P"})
    assert merge_tags([e]) == {"place": "P"}


def test_times_are_flagged_only_beyond_one_hour() -> None:
    assert not time_differs(0, TIME_FLAG_MS)
    assert time_differs(0, TIME_FLAG_MS + 1)
    assert not time_differs(None, 10**12)


def test_current_tags_folds_the_signed_records_a_node_holds(make_node: Callable[..., Node]) -> None:
    node = make_node()
    node.publish("intake.tag", {"item": ITEM, "set": {"place": "Zócalo"}})
    node.publish("intake.tag", {"item": ITEM, "set": {"plates": ["ABC-123"], "not_relevant": True}})
    node.publish("intake.tag", {"item": b"\x08" * 32, "set": {"place": "elsewhere"}})
    assert current_tags(node, ITEM) == {"not_relevant": True, "place": "Zócalo", "plates": ["ABC-123"]}
