"""Records and fork proofs, below the store."""

from __future__ import annotations

import pytest

from tequio.schemas import (
    ForkProof,
    Payload,
    PayloadError,
    Reason,
    RecordError,
    fingerprint,
    make_record,
    parse_wire,
)
from tequio.schemas.payload import BlobRef
from tests.conftest import Feed, key, note


def test_made_record_parses_back_identically() -> None:
    rec = make_record(key(1), "public", 1, None, 5, note())
    again = parse_wire(rec.wire)
    assert again == rec


def test_redaction_keeps_id_and_signature() -> None:
    rec = Feed(key(1)).next()
    red = rec.redacted()
    assert red.payload is None
    assert parse_wire(red.wire).id == rec.id
    assert len(red.wire) < len(rec.wire)


def test_make_record_refuses_what_it_could_not_verify() -> None:
    with pytest.raises(RecordError) as e:
        make_record(key(1), "nowhere", 1, None, 5, note())
    assert e.value.reason == Reason.BAD_SCOPE
    with pytest.raises(RecordError) as e:
        make_record(key(1), "public", 2, None, 5, note())
    assert e.value.reason == Reason.BAD_CHAIN


def test_payload_encodes_canonically_and_validates() -> None:
    p = Payload(
        "core.note",
        {"z": 1, "a": b"\x00"},
        refs=(b"\x01" * 32,),
        blobs=(BlobRef(b"\x02" * 32, 3, "image/png"),),
    )
    data = p.encode()
    assert data.index(b"body") < data.index(b"kind")
    with pytest.raises(PayloadError):
        Payload("Core.Note", {}).encode()
    with pytest.raises(PayloadError):
        Payload("core.note", {}, refs=(b"short",)).encode()


def test_fork_proof_verifies_both_forms_and_refuses_consistent_pairs() -> None:
    a = Feed(key(1))
    r1, r2 = a.take(2)
    other2 = make_record(key(1), "public", 2, r1.id, 99, note("other"))
    assert "two different records at seq 2" in ForkProof(r2.wire, other2.wire).verify()
    other1 = make_record(key(1), "public", 1, None, 98, note("other first"))
    assert "different predecessor" in ForkProof(other1.wire, r2.wire).verify()
    with pytest.raises(ValueError, match="consistent"):
        ForkProof(r1.wire, r2.wire).verify()
    stranger = make_record(key(2), "public", 2, r1.id, 99, note())
    with pytest.raises(ValueError):
        ForkProof(r2.wire, stranger.wire).verify()
    with pytest.raises(ValueError, match="not a fork proof"):
        ForkProof(b"\xc1", r2.wire).verify()


def test_fingerprint_shape_and_stability() -> None:
    fp = fingerprint(bytes(32))
    assert len(fp) == 19 and fp.count("-") == 3
    assert fp == fingerprint(bytes(32))
    assert fp != fingerprint(b"\x01" + bytes(31))
