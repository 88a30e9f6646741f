"""The committed test vectors are exactly what the code produces, and each says what it claims."""

from __future__ import annotations

import io
import json

import pytest
from nacl.signing import SigningKey

from tequio.schemas import (
    FrameReader,
    PayloadError,
    RecordError,
    StreamError,
    decode,
    fingerprint,
    from_json,
    parse_payload,
    parse_wire,
    signed_bytes,
)
from tequio.schemas.testvectors import VECTOR_DIR, build, render, seed


@pytest.mark.parametrize("name", sorted(build()))
def test_committed_vectors_match_regenerated(name: str) -> None:
    assert (VECTOR_DIR / name).read_text(encoding="utf-8") == render(build()[name])


def _load(name: str) -> list[dict]:
    return json.loads((VECTOR_DIR / name).read_text(encoding="utf-8"))


def test_record_vectors_cover_the_required_cases() -> None:
    names = {v["name"] for v in _load("records.json")}
    assert {
        "first",
        "second",
        "group-scope",
        "direct-scope",
        "redacted",
        "non-ascii",
        "bytes-and-maps",
    } <= names


@pytest.mark.parametrize("vector", _load("records.json"), ids=lambda v: v["name"])
def test_record_vector_rebuilds_from_fields(vector: dict) -> None:
    f = vector["fields"]
    sk = SigningKey(bytes.fromhex(vector["seed"]))
    author = bytes(sk.verify_key)
    assert author.hex() == f["author"]
    prev = bytes.fromhex(f["prev"]) if f["prev"] else None
    sb = signed_bytes(author, f["scope"], f["seq"], prev, f["ts"], bytes.fromhex(vector["payload_hash"]))
    assert sb.hex() == vector["signed_bytes"]
    assert sk.sign(sb).signature.hex() == vector["sig"]
    rec = parse_wire(bytes.fromhex(vector["wire"]))
    assert rec.id.hex() == vector["id"]
    assert (rec.payload.hex() if rec.payload is not None else None) == f["payload"]
    if vector["payload_map"] is not None:
        assert decode(rec.payload) == from_json(vector["payload_map"])


def test_redacted_vector_keeps_the_id_of_the_original() -> None:
    by_name = {v["name"]: v for v in _load("records.json")}
    assert by_name["redacted"]["id"] == by_name["second"]["id"]
    assert by_name["redacted"]["fields"]["payload"] is None
    assert by_name["second"]["fields"]["prev"] == by_name["first"]["id"]


@pytest.mark.parametrize("vector", _load("invalid.json"), ids=lambda v: v["name"])
def test_invalid_vector_gives_its_reason(vector: dict) -> None:
    with pytest.raises(RecordError) as e:
        parse_wire(bytes.fromhex(vector["wire"]))
    assert e.value.reason == vector["reason"]


@pytest.mark.parametrize("vector", _load("payloads.json"), ids=lambda v: v["name"])
def test_payload_vector_is_refused(vector: dict) -> None:
    with pytest.raises(PayloadError):
        parse_payload(bytes.fromhex(vector["payload"]))


def test_every_vector_file_is_tested_here() -> None:
    assert {p.name for p in VECTOR_DIR.glob("*.json")} == set(build())


@pytest.mark.parametrize("vector", _load("fingerprints.json"), ids=lambda v: str(v["seed_number"]))
def test_fingerprint_vector(vector: dict) -> None:
    assert seed(vector["seed_number"]).hex() == vector["seed"]
    key = bytes(SigningKey(bytes.fromhex(vector["seed"])).verify_key)
    assert key.hex() == vector["key"] and fingerprint(key) == vector["fingerprint"]


@pytest.mark.parametrize("vector", _load("streams.json"), ids=lambda v: v["name"])
def test_stream_vector(vector: dict) -> None:
    verdicts: list[str | None] = []
    broke = None
    try:
        for frame in FrameReader(io.BytesIO(bytes.fromhex(vector["stream"]))):
            try:
                parse_wire(frame)
                verdicts.append(None)
            except RecordError as e:
                verdicts.append(str(e.reason))
    except StreamError:
        broke = len(verdicts)
    assert (verdicts, broke) == (vector["values"], vector["break"])
