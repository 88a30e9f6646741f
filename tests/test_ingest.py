"""The ingest pipeline on a real store: every reason code from a crafted record, and batch behaviour."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable

import msgpack
import pytest

from tequio.node import Node
from tequio.node.ingest import IngestReport
from tequio.schemas import PUBLIC, Payload, Record, direct_scope, encode, make_record, parse_wire
from tequio.schemas.record import signed_bytes
from tequio.schemas.testvectors import VECTOR_DIR
from tests.conftest import Feed, key, note


def reasons(report) -> list[str]:
    return [str(r.reason) for r in report.rejected]


class StandInPolicy:
    """What governance will decide, stood in: a banned author, a banned kind, and readable scopes."""

    def __init__(
        self, banned_author: bytes = b"", banned_kind: str = "", readable: tuple[str, ...] = ()
    ) -> None:
        self.banned_author = banned_author
        self.banned_kind = banned_kind
        self.readable = {PUBLIC, *readable}
        self.calls: list[tuple[bytes, str, str | None]] = []

    def may_write(self, record: Record, kind: str | None) -> str | None:
        self.calls.append((record.author, record.scope, kind))
        if record.author == self.banned_author:
            return f"author may not write to {record.scope}"
        return f"author may not write {kind} to {record.scope}" if kind == self.banned_kind else None

    def open_payload(self, record: Record) -> bytes | None:
        return record.payload if record.scope in self.readable else None

    def refresh(self, stored: list) -> bool:
        return False


# -- steps 1-7, through the node (the vectors hold one crafted record per reason) ----------------------


@pytest.mark.parametrize(
    "vector", json.loads((VECTOR_DIR / "invalid.json").read_text()), ids=lambda v: v["name"]
)
def test_stateless_reason_through_node(node: Node, vector: dict) -> None:
    report = node.ingest([bytes.fromhex(vector["wire"])])
    assert reasons(report) == [vector["reason"]]
    assert report.accepted == 0 and node.count() == 0
    # Every rejection is logged with its reason for the operator.
    assert node.store.rejections(1)[0][2] == vector["reason"]


# -- steps 8-13 -----------------------------------------------------------------------------------------


def test_accept_then_duplicate(node: Node) -> None:
    r1 = Feed(key(1)).next()
    first = node.ingest([r1.wire])
    assert first.accepted == 1 and first.ids == [r1.id] and not first.rejected
    again = node.ingest([r1.wire, r1.wire])
    assert (again.accepted, again.duplicates, again.rejected) == (0, 2, [])
    assert node.count() == 1


def test_redacted_copy_is_a_duplicate_of_the_full_record(node: Node) -> None:
    r1 = Feed(key(1)).next()
    node.ingest([r1.wire])
    assert node.ingest([r1.redacted().wire]).duplicates == 1
    assert node.get(r1.id).body == {"text": "n1"}


def test_redacted_record_is_accepted_without_payload(node: Node) -> None:
    f = Feed(key(1))
    r1, r2 = f.take(2)
    report = node.ingest([r1.wire, r2.redacted().wire])
    assert report.accepted == 2
    stored = node.get(r2.id)
    assert stored.redacted and stored.kind is None and stored.body is None


def test_gap_is_retryable_and_heals(node: Node) -> None:
    r1, r2, r3 = Feed(key(1)).take(3)
    report = node.ingest([r3.wire])
    assert reasons(report) == ["gap"] and report.rejected[0].retryable
    assert "needs seq 1" in report.rejected[0].detail
    node.ingest([r1.wire, r2.wire])
    assert node.ingest([r3.wire]).accepted == 1


def test_batch_out_of_order_chains_up(node: Node) -> None:
    recs = Feed(key(1)).take(5)
    report = node.ingest([r.wire for r in reversed(recs)])
    assert report.accepted == 5 and not report.rejected
    assert [r.seq for r in node.records()] == [1, 2, 3, 4, 5]
    assert node.store.head(recs[0].author, PUBLIC).head == recs[-1].id


def test_fork_same_seq_is_proved_kept_and_freezes_the_feed(node: Node) -> None:
    f = Feed(key(1))
    r1, r2 = f.take(2)
    node.ingest([r1.wire, r2.wire])
    evil2 = make_record(key(1), PUBLIC, 2, r1.id, 7, note("the other story"))
    report = node.ingest([evil2.wire])
    assert reasons(report) == ["fork"]
    assert "two different records at seq 2" in report.rejected[0].detail
    (author, scope, seq, held, incoming, _, source) = node.store.forks()[0]
    assert (author, scope, seq, held, incoming, source) == (r1.author, PUBLIC, 2, r2.wire, evil2.wire, "api")
    # The feed is frozen: its honest next record is refused too, and the head did not move.
    r3 = f.next()
    assert reasons(node.ingest([r3.wire])) == ["fork"]
    head = node.store.head(r1.author, PUBLIC)
    assert head.forked and head.seq == 2 and head.head == r2.id
    # Duplicates of held records are still just duplicates, and other feeds are unaffected.
    assert node.ingest([r2.wire]).duplicates == 1
    assert node.ingest([Feed(key(2)).next().wire]).accepted == 1


def test_fork_by_wrong_predecessor(node: Node) -> None:
    r1 = Feed(key(1)).next()
    node.ingest([r1.wire])
    other1 = make_record(key(1), PUBLIC, 1, None, 1, note("alt first"))
    child_of_other = make_record(key(1), PUBLIC, 2, other1.id, 2, note("alt second"))
    report = node.ingest([child_of_other.wire])
    assert reasons(report) == ["fork"]
    assert "different predecessor" in report.rejected[0].detail


def test_fork_within_one_batch(node: Node) -> None:
    r1 = Feed(key(1)).next()
    twin = make_record(key(1), PUBLIC, 1, None, 99, note("twin"))
    report = node.ingest([r1.wire, twin.wire])
    assert report.accepted == 1 and reasons(report) == ["fork"]
    assert len(node.store.forks()) == 1
    assert node.store.check() == []


def test_not_permitted_by_author_before_the_payload_is_opened(node: Node) -> None:
    policy = StandInPolicy(banned_author=bytes(key(1).verify_key))
    node.access = policy
    report = node.ingest([Feed(key(1)).next().wire, Feed(key(2)).next().wire])
    assert reasons(report) == ["not-permitted"] and report.accepted == 1
    assert (bytes(key(1).verify_key), PUBLIC, None) in policy.calls


def test_not_permitted_by_kind_once_the_payload_is_readable(node: Node) -> None:
    node.access = StandInPolicy(banned_kind="core.note")
    report = node.ingest([Feed(key(1)).next().wire])
    assert reasons(report) == ["not-permitted"]
    assert "core.note" in report.rejected[0].detail


def test_undecryptable_and_then_readable(node: Node) -> None:
    scope = direct_scope(node.key)
    rec = make_record(key(1), scope, 1, None, 1, b"\x00ciphertext we hold no key for")
    report = node.ingest([rec.wire])
    assert reasons(report) == ["undecryptable"] and report.rejected[0].retryable
    # The stand-in "receives the key": the same record now opens (here its plaintext is a note).
    readable = make_record(key(1), scope, 1, None, 1, note("para ti"))
    node.access = StandInPolicy(readable=(scope,))
    assert node.ingest([readable.wire]).accepted == 1


def test_malformed_payload_map_once_readable(node: Node) -> None:
    bad = encode({"kind": "core.note", "body": {}, "extra": True})
    report = node.ingest([make_record(key(1), PUBLIC, 1, None, 1, bad).wire])
    assert reasons(report) == ["malformed"] and "unknown keys" in report.rejected[0].detail


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"text": 5}, "valid string"),
        ({"text": ""}, "at least 1"),
        ({"text": "x" * 10_001}, "at most 10000"),
        ({}, "Field required"),
    ],
)
def test_invalid_body_for_a_known_kind(node: Node, body: dict, fragment: str) -> None:
    payload = Payload("core.note", body).encode()
    report = node.ingest([make_record(key(1), PUBLIC, 1, None, 1, payload).wire])
    assert reasons(report) == ["invalid-body"] and fragment in report.rejected[0].detail


def test_unknown_kind_is_stored_and_relayed_not_validated(node: Node) -> None:
    payload = Payload("someone.else", {"anything": [1, b"\x00"]}).encode()
    rec = make_record(key(1), PUBLIC, 1, None, 1, payload)
    assert node.ingest([rec.wire]).accepted == 1
    assert list(node.export()) == [rec.wire]
    assert node.get(rec.id).kind == "someone.else"


def test_order_of_checks_first_failure_wins(node: Node) -> None:
    """A record failing several checks reports the earliest in the pipeline's order."""
    sk = key(1)
    author = bytes(sk.verify_key)
    payload = note()
    ph = hashlib.sha256(payload).digest()
    # bad scope and bad signature and bad chain: bad-scope comes first.
    w = msgpack.packb([1, author, "nope", 2, None, 1, ph, b"\x00" * 64, payload], use_bin_type=True)
    # too large and bad scope: too-large first.
    big = b"\x00" * 70_000
    w2 = msgpack.packb([1, author, "nope", 1, None, 1, ph, b"\x00" * 64, big], use_bin_type=True)
    # bad signature and bad chain: bad-signature first.
    w3 = msgpack.packb([1, author, PUBLIC, 2, None, 1, ph, b"\x00" * 64, payload], use_bin_type=True)
    # a gap that would also be invalid-body: gap first (the body is never looked at).
    bad_body = Payload("core.note", {"text": 1}).encode()
    r1 = make_record(sk, PUBLIC, 1, None, 1, note())
    gap_and_bad = make_record(sk, PUBLIC, 2, r1.id, 2, bad_body)
    report = node.ingest([w, w2, w3, gap_and_bad.wire])
    assert reasons(report) == ["bad-scope", "too-large", "bad-signature", "gap"]


def test_bad_records_never_block_good_ones_beside_them(node: Node) -> None:
    good = Feed(key(1)).take(3)
    other = Feed(key(2)).take(2)
    junk = [b"\xc1", b"", Feed(key(3)).take(2)[1].wire, parse_wire(good[0].wire).redacted().wire[:-1]]
    mixed = [
        junk[0],
        good[0].wire,
        junk[1],
        other[0].wire,
        good[1].wire,
        junk[2],
        other[1].wire,
        junk[3],
        good[2].wire,
    ]
    report = node.ingest(mixed)
    assert report.accepted == 5
    assert sorted(r.index for r in report.rejected) == [0, 2, 5, 7]
    assert {r.index: str(r.reason) for r in report.rejected}[5] == "gap"
    assert node.store.check(signatures=True) == []


def test_a_rejected_record_stalls_only_its_own_feed(node: Node) -> None:
    sk = key(1)
    r1 = make_record(sk, PUBLIC, 1, None, 1, note())
    bad2 = make_record(sk, PUBLIC, 2, r1.id, 2, Payload("core.note", {"text": 2}).encode())
    r3 = make_record(sk, PUBLIC, 3, bad2.id, 3, note())
    report = node.ingest([r1.wire, bad2.wire, r3.wire, Feed(key(2)).next().wire])
    assert reasons(report) == ["invalid-body", "gap"] and report.accepted == 2


def test_rejection_log_is_bounded(make_node: Callable[..., Node]) -> None:
    n = make_node()
    n.ingestor.keep_rejections = 5
    for _ in range(3):
        n.ingest([b"\xc1"] * 4)
    assert len(n.store.rejections(100)) == 5


def test_received_and_author_clock_are_separate(node: Node) -> None:
    rec = make_record(key(1), PUBLIC, 1, None, 42, note())
    node.ingest([rec.wire])
    stored = node.get(rec.id)
    assert stored.record.ts == 42 and stored.received >= 1_767_225_600_000


def test_signed_bytes_are_what_the_id_hashes() -> None:
    rec = Feed(key(1)).next()
    sb = signed_bytes(rec.author, rec.scope, rec.seq, rec.prev, rec.ts, rec.payload_hash)
    assert hashlib.sha256(sb).digest() == rec.id


def test_write_in_slices_gives_what_one_write_gives(make_node: Callable[..., Node]) -> None:
    """``Ingestor.write_steps`` (federation's large batches, one transaction a slice): a group's whole
    history in slices of one record, delivered backwards, is accepted and readable as in one write,
    and a batch's rejections are the same, logged once."""
    from tequio.node.groups import create_group

    a, b, c = make_node(seed=31), make_node(seed=32), make_node(seed=33)
    _, scope = create_group(a, "Sala", [(b.key, "B", []), (c.key, "C", [])])
    for i in range(3):
        a.publish("core.note", {"text": f"nota {i}"}, scope=scope)
    wires = list(reversed(list(a.export())))
    good = Feed(key(5)).take(3)
    broken = bytearray(good[0].wire)
    broken[-1] ^= 1
    extra = [good[2].wire, bytes(broken), b"\xc1"]
    whole = c.ingest([*wires, *extra])
    steps = b.ingestor.write_steps(
        b.ingestor.submit([*wires, *extra])(), "peer:x", report := IngestReport(), 1
    )
    assert sum(1 for _ in steps) >= len(wires)  # it yielded between slices
    assert report.accepted == whole.accepted == len(wires)
    assert [(r.index, r.reason) for r in report.rejected] == [(r.index, r.reason) for r in whole.rejected]
    assert sorted(reasons(report)) == ["bad-payload-hash", "gap", "malformed"]
    assert [r.body["text"] for r in b.records(scope=scope, kind="core.note")] == [
        f"nota {i}" for i in range(3)
    ]
    assert len(b.store.rejections(100)) == len(c.store.rejections(100)) == 3
