"""Check the independent implementation (refimpl.py) against schemas/vectors/*.json and docs/protocol.md."""

import hashlib
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from . import refimpl as R

VECTORS = Path(__file__).parents[2] / "schemas" / "vectors"
RECORDS = json.loads((VECTORS / "records.json").read_text())
INVALID = json.loads((VECTORS / "invalid.json").read_text())
PAYLOADS = json.loads((VECTORS / "payloads.json").read_text())
FINGERPRINTS = json.loads((VECTORS / "fingerprints.json").read_text())
STREAMS = json.loads((VECTORS / "streams.json").read_text())
BY_NAME = {v["name"]: v for v in RECORDS + INVALID}


def test_every_vector_file_is_covered():
    """Section 10 lists five files; a new one must get a test here before this passes."""
    assert sorted(p.name for p in VECTORS.iterdir()) == [
        "fingerprints.json",
        "invalid.json",
        "payloads.json",
        "records.json",
        "streams.json",
    ]
    assert len({v["name"] for v in RECORDS + INVALID + PAYLOADS}) == len(RECORDS + INVALID + PAYLOADS)


def unhex(value):
    return None if value is None else bytes.fromhex(value)


# ---------------------------------------------------------------- records.json


@pytest.mark.parametrize("vec", RECORDS, ids=[v["name"] for v in RECORDS])
def test_record_vector(vec):
    f = vec["fields"]
    seed, author = unhex(vec["seed"]), unhex(f["author"])
    prev, payload = unhex(f["prev"]), unhex(f["payload"])
    payload_hash = unhex(vec["payload_hash"])
    assert f["version"] == 1
    assert R.public_key(seed) == author
    if payload is not None:
        assert R.H(payload) == payload_hash
    sb = R.signed_bytes(author, f["scope"], f["seq"], prev, f["ts"], payload_hash)
    assert sb.hex() == vec["signed_bytes"]
    assert R.H(sb).hex() == vec["id"]
    wire = R.make_wire(
        seed,
        f["scope"],
        f["seq"],
        prev,
        f["ts"],
        payload,
        payload_hash=None if payload is not None else payload_hash,
    )
    assert wire.hex() == vec["wire"]
    assert R.encode(R.decode(wire)) == wire
    got = R.check_wire(unhex(vec["wire"]))
    assert got["sig"].hex() == vec["sig"]
    assert got["id"].hex() == vec["id"]
    assert (got["author"], got["scope"], got["seq"], got["prev"], got["ts"], got["payload"]) == (
        author,
        f["scope"],
        f["seq"],
        prev,
        f["ts"],
        payload,
    )
    assert (vec["payload_map"] is None) == (payload is None or f["scope"] != "public")
    if vec["payload_map"] is not None:
        pm = R.from_json_view(vec["payload_map"])
        rebuilt = R.payload_bytes(pm["kind"], pm["body"], pm.get("refs", ()), pm.get("blobs", ()))
        assert rebuilt == payload
        assert R.parse_payload(payload) == pm
        R.check_body(pm["kind"], pm["body"])


def test_redacted_is_same_record_as_second():
    by_name = {v["name"]: v for v in RECORDS}
    assert by_name["redacted"]["id"] == by_name["second"]["id"]
    assert by_name["redacted"]["sig"] == by_name["second"]["sig"]
    assert by_name["second"]["fields"]["prev"] == by_name["first"]["id"]


def test_worked_example_bytes():
    vec = RECORDS[0]
    wire = bytes.fromhex(vec["wire"])
    assert wire[:4] == bytes.fromhex("9901c420")
    assert bytes.fromhex(vec["signed_bytes"]).startswith(b"tequio/record/v1\n\x97\x01\xc4\x20")
    assert bytes.fromhex("cf0000019b76daa800") in wire  # ts 1,767,225,600,000 as uint64
    assert wire.endswith(b"\xc4\x21" + bytes.fromhex(vec["fields"]["payload"]))


# ---------------------------------------------------------------- invalid.json and payloads.json


@pytest.mark.parametrize("vec", INVALID, ids=[v["name"] for v in INVALID])
def test_invalid_vector(vec):
    with pytest.raises(R.Rejected) as info:
        R.check_wire(bytes.fromhex(vec["wire"]))
    assert info.value.reason == vec["reason"], info.value.detail


@pytest.mark.parametrize("vec", PAYLOADS, ids=[v["name"] for v in PAYLOADS])
def test_payload_vector(vec):
    assert vec["reason"] == "malformed"
    with pytest.raises(R.Rejected) as info:
        R.parse_payload(bytes.fromhex(vec["payload"]))
    assert info.value.reason == "malformed"


SEED = bytes(range(32))


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ([], "malformed"),
        (["x"], "malformed"),
        ([True], "malformed"),  # a boolean is not an integer
        ([2], "unsupported-version"),  # any shape: the version is read first
        ([-1, "anything"], "unsupported-version"),
        ([1], "malformed"),
        ({"version": 1}, "malformed"),
        (1, "malformed"),
        ([0], "unsupported-version"),
        ([2**64 - 1, None], "unsupported-version"),
        ([-(2**63)], "unsupported-version"),
        ([False, *[None] * 8], "malformed"),
    ],
)
def test_version_before_shape(value, reason):
    with pytest.raises(R.Rejected) as info:
        R.check_wire(R.encode(value))
    assert info.value.reason == reason


def test_strict_decoding_before_version():
    """Section 5: a version-2 record that is not canonical msgpack is malformed, not unsupported-version."""
    for hexed in (
        "9202cb3ff8000000000000",
        "92cc02c0",
        "9202c0c0",
        "9202c1",
        "9202d40102",
        "9202a1ff",
        "92028101c0",
        "9102c0",
    ):
        with pytest.raises(R.Rejected) as info:
            R.check_wire(bytes.fromhex(hexed))
        assert info.value.reason == "malformed", hexed
    too_deep = b"\x92\x02" + b"\x91" * 31 + b"\x90"  # 33 nested arrays, the record itself counting as one
    with pytest.raises(R.Rejected) as info:
        R.check_wire(too_deep)
    assert info.value.reason == "malformed"
    with pytest.raises(R.Rejected) as info:
        R.check_wire(b"\x92\x02" + b"\x91" * 30 + b"\x90")  # 32 deep: decodes, so the version decides
    assert info.value.reason == "unsupported-version"


def envelope(**changes):
    """The fields of records.json `first`, with some replaced; re-encoded but not re-signed."""
    rec = R.decode(bytes.fromhex(RECORDS[0]["wire"]))
    names = ["version", "author", "scope", "seq", "prev", "ts", "payload_hash", "sig", "payload"]
    for name, value in changes.items():
        rec[names.index(name)] = value
    return R.encode(rec)


@pytest.mark.parametrize("field", ["seq", "ts", "prev", "author", "scope", "payload_hash", "sig", "payload"])
def test_booleans_are_not_integers_or_anything_else(field):
    for value in (True, False):
        with pytest.raises(R.Rejected) as info:
            R.check_wire(envelope(**{field: value}))
        assert info.value.reason == "malformed"


def test_scope_with_invalid_utf8_alone():
    """In `scope-bad-utf8` bad UTF-8 is the only fault: repaired to valid UTF-8, the reason changes."""
    vec = BY_NAME["scope-bad-utf8"]["wire"]
    with pytest.raises(R.Rejected) as info:
        R.check_wire(bytes.fromhex(vec.replace("a2c328", "a2c3a9", 1)))  # "é": valid UTF-8, not a scope
    assert info.value.reason == "bad-scope"
    wire = envelope(scope="zz")
    assert wire.count(b"\xa2zz") == 1
    for utf8, reason in ((b"\xc3\x28", "malformed"), (b"\xc3\xa9", "bad-scope")):
        with pytest.raises(R.Rejected) as info:
            R.check_wire(wire.replace(b"\xa2zz", b"\xa2" + utf8))
        assert info.value.reason == reason


def test_pipeline_order_and_limits():
    ok = R.make_wire(SEED, "public", 1, None, 0, b"x" * R.MAX_PAYLOAD)
    assert R.check_wire(ok)["seq"] == 1
    assert R.check_wire(R.make_wire(SEED, "public", 2**63 - 1, b"\0" * 32, 2**63 - 1, b""))["ts"] == 2**63 - 1
    cases = [  # too-large beats bad-scope beats bad-payload-hash beats bad-chain
        (R.make_wire(SEED, "nope", 1, b"\0" * 32, 0, b"x" * 65_537, payload_hash=b"\0" * 32), "too-large"),
        (R.make_wire(SEED, "nope", 1, b"\0" * 32, 0, b"x", payload_hash=b"\0" * 32), "bad-scope"),
        (
            R.make_wire(SEED, "g:" + "a" * 32, 1, b"\0" * 32, 0, b"x", payload_hash=b"\0" * 32),
            "bad-payload-hash",
        ),
        (R.make_wire(SEED, "d:" + "0" * 64, 1, b"\0" * 32, 0, b"x"), "bad-chain"),
        (R.make_wire(SEED, "public", 2**63, b"\0" * 32, 0, b"x"), "malformed"),
        (R.make_wire(SEED, "public", 1, None, -1, b"x"), "malformed"),
        (R.make_wire(SEED, "public ", 1, None, 0, b"x"), "bad-scope"),
        (R.make_wire(SEED, "g:" + "a" * 31, 1, None, 0, b"x"), "bad-scope"),
    ]
    for wire, reason in cases:
        with pytest.raises(R.Rejected) as info:
            R.check_wire(wire)
        assert info.value.reason == reason


def test_redaction_keeps_verifying():
    full = R.check_wire(R.make_wire(SEED, "public", 1, None, 5, b"payload"))
    red = R.check_wire(R.make_wire(SEED, "public", 1, None, 5, None, payload_hash=R.H(b"payload")))
    assert red["id"] == full["id"] and red["sig"] == full["sig"] and red["payload"] is None


def test_payload_rules():
    body = {"text": "hi"}
    assert R.parse_payload(R.payload_bytes("a.b", body))["kind"] == "a.b"
    R.payload_bytes(
        "a1_-.b.c-9",
        {},
        refs=[b"\1" * 32] * 256,
        blobs=[{"hash": b"\2" * 32, "mime": "m" * 255, "size": 0}] * 64,
    )
    bad = [
        {"kind": "a", "body": {}},
        {"kind": "1a.b", "body": {}},
        {"kind": "a..b", "body": {}},
        {"kind": "a.b\n", "body": {}},
        {"kind": "A.b", "body": {}},
        {"kind": "a." + "b" * 63, "body": {}},
        {"kind": "a.b"},
        {"body": {}},
        {"kind": "a.b", "body": []},
        {"kind": "a.b", "body": {}, "refs": [b"\1" * 31]},
        {"kind": "a.b", "body": {}, "refs": [b"\1" * 32] * 257},
        {"kind": "a.b", "body": {}, "blobs": []},
        {"kind": "a.b", "body": {}, "blobs": [{"hash": b"\2" * 32, "mime": "", "size": 0}]},
        {"kind": "a.b", "body": {}, "blobs": [{"hash": b"\2" * 32, "mime": "x", "size": -1}]},
        {"kind": "a.b", "body": {}, "blobs": [{"hash": b"\2" * 32, "mime": "x", "size": True}]},
        {"kind": "a.b", "body": {}, "blobs": [{"hash": b"\2" * 32, "mime": "x", "size": 1, "extra": 1}]},
        {"kind": "a.b", "body": {}, "blobs": [{"hash": b"\2" * 32, "mime": "x", "size": 1}] * 65},
        [1, 2],
    ]
    for value in bad:
        with pytest.raises(R.Rejected) as info:
            R.parse_payload(R.encode(value))
        assert info.value.reason == "malformed", value
    with pytest.raises(R.Rejected) as info:
        R.check_body("core.note", {"text": ""})
    assert info.value.reason == "invalid-body"
    R.check_body("core.note", {"text": "x" * 10_000, "other": 1})


@pytest.mark.parametrize(
    ("kind", "ok"),
    [
        ("core.note", True),
        ("a.b", True),
        ("a.b.c", True),
        ("a.1", True),
        ("a._", True),
        ("a.-", True),
        ("a1.b", True),
        ("a-_9.0-_z", True),
        ("a_.b", True),
        ("a-.b", True),
        ("a." + "b" * 62, True),
        ("a." + "b" * 63, False),
        ("a", False),
        ("core", False),
        ("a.", False),
        (".a", False),
        ("a..b", False),
        ("a.b.", False),
        ("1.b", False),
        ("_a.b", False),
        ("-a.b", False),
        ("A.b", False),
        ("a.B", False),
        ("a.b c", False),
        ("a/b", False),
        ("a.b\n", False),
        ("\na.b", False),
        ("á.b", False),
        ("a.é", False),
        ("a.ｂ", False),
        ("", False),
    ],
)
def test_kind_syntax(kind, ok):
    data = R.encode({"kind": kind, "body": {}})
    if ok:
        assert R.parse_payload(data)["kind"] == kind
    else:
        with pytest.raises(R.Rejected) as info:
            R.parse_payload(data)
        assert info.value.reason == "malformed"


def test_lengths_are_code_points():
    """Section 4: mime 1..255 characters and core.note text 1..10,000 characters, counted in code points."""
    blob = {"hash": b"\2" * 32, "mime": "é" * 255, "size": 2**64 - 1}  # 510 bytes of UTF-8
    R.payload_bytes("a.b", {}, blobs=[blob])
    with pytest.raises(R.Rejected):
        R.payload_bytes("a.b", {}, blobs=[{**blob, "mime": "é" * 256}])
    R.payload_bytes("a.b", {}, blobs=[{**blob, "mime": "🌱"}])
    text = "🌱" * 10_000  # 40,000 bytes: still one payload
    payload = R.payload_bytes("core.note", {"text": text})
    assert R.check_wire(R.make_wire(SEED, "public", 1, None, 0, payload))["payload"] == payload
    R.check_body("core.note", {"text": text})
    R.check_body("core.note", {"text": "\u0301"})  # one code point, even if it renders as nothing
    for bad in ("🌱" * 10_001, "", None, b"x", 1):
        with pytest.raises(R.Rejected) as info:
            R.check_body("core.note", {"text": bad})
        assert info.value.reason == "invalid-body"
    with pytest.raises(R.Rejected):
        R.check_body("core.note", {})
    R.check_body("other.kind", {"text": 1})  # kinds a reader does not know are not checked


def test_refs_and_blobs_keep_order_and_duplicates():
    a, b = b"\1" * 32, b"\2" * 32
    blob = {"hash": a, "mime": "text/plain", "size": 0}
    data = R.payload_bytes("a.b", {}, refs=[b, a, b, b], blobs=[blob, blob])
    parsed = R.parse_payload(data)
    assert parsed["refs"] == [b, a, b, b] and parsed["blobs"] == [blob, blob]
    assert R.payload_bytes("a.b", {}, refs=[a, b]) != R.payload_bytes("a.b", {}, refs=[b, a])
    assert "refs" not in R.parse_payload(R.payload_bytes("a.b", {}, refs=[]))  # omitted, never empty
    for key in ("refs", "blobs"):
        with pytest.raises(R.Rejected):
            R.parse_payload(R.encode({"kind": "a.b", "body": {}, key: []}))
    for not_blob in (
        {"hash": a, "mime": "x"},
        {"hash": a[:31], "mime": "x", "size": 0},
        {"hash": a, "mime": b"x", "size": 0},
        {"hash": "x" * 32, "mime": "x", "size": 0},
        [a, "x", 0],
        {"hash": a, "mime": "x", "size": False},
    ):
        with pytest.raises(R.Rejected):
            R.parse_payload(R.encode({"kind": "a.b", "body": {}, "blobs": [not_blob]}))


# ---------------------------------------------------------------- canonical encoding


@pytest.mark.parametrize(
    ("value", "hexed"),
    [
        (0, "00"),
        (127, "7f"),
        (128, "cc80"),
        (255, "ccff"),
        (256, "cd0100"),
        (65535, "cdffff"),
        (65536, "ce00010000"),
        (2**32 - 1, "ceffffffff"),
        (2**32, "cf0000000100000000"),
        (2**64 - 1, "cfffffffffffffffff"),
        (-1, "ff"),
        (-32, "e0"),
        (-33, "d0df"),
        (-128, "d080"),
        (-129, "d1ff7f"),
        (-32768, "d18000"),
        (-32769, "d2ffff7fff"),
        (-(2**31), "d280000000"),
        (-(2**31) - 1, "d3ffffffff7fffffff"),
        (-(2**63), "d38000000000000000"),
        (None, "c0"),
        (False, "c2"),
        (True, "c3"),
        ("", "a0"),
        ("a" * 31, "bf" + "61" * 31),
        ("a" * 32, "d920" + "61" * 32),
        (b"", "c400"),
        (b"\1" * 256, "c50100" + "01" * 256),
        ([], "90"),
        (list(range(16)), "dc0010" + "".join(f"{i:02x}" for i in range(16))),
        ({}, "80"),
        ({"b": 1, "a": 2, "aa": 3, "B": 4}, "84a14204a16102a2616103a16201"),
        ({"ñ": 1, "z": 2}, "82a17a02a2c3b101"),
    ],
)
def test_encode_known(value, hexed):
    assert R.encode(value).hex() == hexed
    assert R.decode(bytes.fromhex(hexed)) == value


@pytest.mark.parametrize(
    "hexed",
    [
        "",
        "c1",
        "0000",
        "cc05",
        "cd0005",
        "d005",
        "d0ff",
        "d1ff80",
        "cb3ff8000000000000",
        "ca3fc00000",
        "d40100",
        "c70101ff",
        "c5000161",
        "d90161",
        "a2c328",
        "a1ff",
        "82a16201a16102",
        "82a16101a16101",
        "8101",
        "dc0000",
        "de0000",
        "91",
        "a5616263",
        "c50003616263",
        "a3eda080",
    ],
)
def test_decode_rejects(hexed):
    with pytest.raises(R.Malformed):
        R.decode(bytes.fromhex(hexed))


def test_depth_limit():
    """Section 2 rule 7: the top-level container counts as one; 32 nested is accepted, 33 refused."""
    value = []
    for _ in range(31):
        value = [value]  # 32 nested arrays
    assert R.decode(R.encode(value)) == value
    with pytest.raises(ValueError):
        R.encode([value])
    assert R.decode(b"\x91" * 31 + b"\x90") == value
    with pytest.raises(R.Malformed):
        R.decode(b"\x91" * 32 + b"\x90")
    with pytest.raises(R.Malformed):
        R.decode(b"\x81\xa1a" * 32 + b"\x80")  # 33 maps
    assert R.decode(b"\x81\xa1a" * 31 + b"\x80") is not None  # 32 maps
    assert R.decode(b"\x81\xa1a\x91" * 16 + b"\xc0") is not None  # 32, maps and arrays alternating
    with pytest.raises(R.Malformed):
        R.decode(b"\x81\xa1a\x91" * 16 + b"\x90")  # 33


@pytest.mark.parametrize(
    "hexed",
    [
        "cb3ff8000000000000",
        "ca3fc00000",  # floats
        "d4010a",
        "d5010a0b",
        "d6ff00000000",
        "d7ff0000000000000000",
        "c70101ff",  # ext types, timestamps
        "c70cff" + "00" * 12,
        "810101",
        "81c0c0",
        "81c401610a",
        "8190c0",  # map keys that are not text
        "a1ff",
        "a2c328",
        "a3eda080",
        "a2c0af",
        "a4f4908080",  # invalid UTF-8 (overlong, surrogate, > U+10FFFF)
        "91" * 32 + "90",  # 33 deep
        "c1",
    ],
)
def test_decoding_refuses_what_has_no_value(hexed):
    """Section 2: these are refused while decoding, before the canonical re-encoding is compared."""
    data = bytes.fromhex(hexed)
    with pytest.raises(R.Malformed):
        R._decode(data, 0, 0)  # the decoding pass alone
    with pytest.raises(R.Malformed):
        R.decode(data)


def test_encode_refuses_non_values():
    for bad in (1.5, 2**64, -(2**63) - 1, {1: 2}, "\ud800", object()):
        with pytest.raises((TypeError, ValueError)):
            R.encode(bad)


values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.text()
    | st.binary(),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(), children, max_size=5),
    max_leaves=30,
).filter(lambda v: depth(v) <= R.MAX_DEPTH)


def depth(value) -> int:
    if isinstance(value, list):
        return 1 + max(map(depth, value), default=0)
    if isinstance(value, dict):
        return 1 + max(map(depth, value.values()), default=0)
    return 0


@given(values)
def test_roundtrip(value):
    data = R.encode(value)
    assert R.decode(data) == value
    assert R.encode(R.decode(data)) == data


@given(st.binary(max_size=64))
@settings(max_examples=3000)
def test_decode_random_bytes(data):
    try:
        value = R.decode(data)
    except R.Malformed:
        return
    assert R.encode(value) == data


@given(values, st.binary(min_size=1, max_size=8))
def test_trailing_bytes_rejected(value, extra):
    with pytest.raises(R.Malformed):
        R.decode(R.encode(value) + extra)


@given(st.integers(min_value=0, max_value=len(RECORDS) - 1), st.data())
def test_check_wire_on_mutations(which, data):
    wire = bytearray.fromhex(RECORDS[which]["wire"])
    i = data.draw(st.integers(min_value=0, max_value=len(wire) - 1))
    wire[i] ^= data.draw(st.integers(min_value=1, max_value=255))
    try:
        R.check_wire(bytes(wire))
    except R.Rejected as e:
        assert e.reason in {
            "malformed",
            "unsupported-version",
            "too-large",
            "bad-scope",
            "bad-payload-hash",
            "bad-signature",
            "bad-chain",
        }
    else:  # only a change inside an opaque payload can survive, and that breaks the hash
        raise AssertionError("a mutated record was accepted")


@given(st.binary(max_size=64))
def test_parse_payload_random(data):
    try:
        R.parse_payload(data)
    except R.Rejected as e:
        assert e.reason == "malformed"


# ---------------------------------------------------------------- section 7: streams

MIB = 1_048_576


def bin32_value(total: int) -> bytes:
    """A bin32 value whose encoding is `total` bytes long (header included)."""
    return b"\xc6" + (total - 5).to_bytes(4, "big") + b"\0" * (total - 5)


def test_stream_split():
    wires = [bytes.fromhex(v["wire"]) for v in RECORDS]
    assert R.split_stream(b"".join(wires)) == wires
    assert R.split_stream(b"") == []
    odd = [
        b"\xcb" + b"\0" * 8,
        b"\xd4\x01\x02",
        b"\xde\x00\x01\xa1a\x93\x01\x02\x03",
        b"\xcd\x00\x05",
        b"\xc7\x00\x05",
        b"\xd6\xff" + b"\0" * 4,
        b"\x81\x01\x02",
        b"\xa1\xff",
        b"\xdc\x00\x00",
    ]
    # msgpack but not canonical Tequio values: the stream reader cuts them; the pipeline then rejects each one
    assert R.split_stream(b"".join(odd)) == odd
    joined = b"".join(wires)
    broken_streams = [
        (joined + b"\xc1", wires),  # not msgpack
        (joined + b"\x91\xc1", wires),  # not msgpack inside a value
        (joined[:-1], wires[:-1]),  # ends inside a value
        (b"\x01\xdd\xff\xff\xff\xff", [b"\x01"]),  # claims 2^32-1 items
        (b"\x01\xdf\xff\xff\xff\xff" + b"\0" * 64, [b"\x01"]),  # claims 2^32-1 pairs
        (b"\xc0\xc6\x00\x20\x00\x00" + b"\0" * 10, [b"\xc0"]),  # a long bin, truncated
        (b"\xc3" + bin32_value(MIB + 1), [b"\xc3"]),  # longer than 1 MiB
        (b"\xc3" + bin32_value(MIB + 1)[:MIB], [b"\xc3"]),  # announces more than 1 MiB, then ends
    ]
    for broken, before in broken_streams:
        with pytest.raises(R.Malformed) as info:
            R.split_stream(broken)
        assert info.value.index == len(before)
        assert info.value.values == before


def test_stream_value_limit_is_exactly_one_mib():
    """Section 7: a value of 1,048,576 bytes is read; one byte more stops the stream."""
    assert R.STREAM_VALUE_LIMIT == MIB
    assert R.split_stream(bin32_value(MIB) + b"\x07") == [bin32_value(MIB), b"\x07"]
    nested = b"\x91" * (MIB - 1) + b"\xc0"  # a million arrays deep: cut whole (and refused later)
    assert R.split_stream(nested + b"\xc0") == [nested, b"\xc0"]
    many = b"\xdd" + (MIB - 5).to_bytes(4, "big") + b"\xc0" * (MIB - 5)
    assert R.split_stream(many) == [many]
    for over in (
        bin32_value(MIB + 1),
        b"\x91" * MIB + b"\xc0",
        b"\xdd" + (MIB - 4).to_bytes(4, "big") + b"\xc0" * (MIB - 4),
    ):
        with pytest.raises(R.Malformed) as info:
            R.split_stream(b"\xc0\xc0" + over + b"\xc0")
        assert info.value.index == 2


def test_stream_report():
    """Section 7: each value gets its verdict by index; a break is `malformed` where reading stopped."""
    first, second = (bytes.fromhex(BY_NAME[n]["wire"]) for n in ("first", "second"))
    trailing = bytes.fromhex(BY_NAME["trailing-bytes"]["wire"])  # a record, then a stray 0x00: two values
    assert R.check_stream(b"") == []
    assert R.check_stream(first + second) == [None, None]
    assert R.check_stream(first + trailing + second) == [None, None, "malformed", None]
    assert R.check_stream(first + b"\xcd\x00\x05" + second) == [None, "malformed", None]
    assert R.check_stream(first + R.encode([2]) + second) == [None, "unsupported-version", None]
    assert R.check_stream(first + b"\xc1" + second) == [None, "malformed"]
    assert R.check_stream(first + second[:-1]) == [None, "malformed"]
    assert R.check_stream(bin32_value(MIB) + first) == ["malformed", None]
    assert R.check_stream(bin32_value(MIB + 1) + first) == ["malformed"]
    # Concatenated, the invalid vectors that are one msgpack value each keep their reasons.
    single = [v for v in INVALID if v["name"] not in ("not-msgpack", "trailing-bytes")]
    assert R.check_stream(b"".join(bytes.fromhex(v["wire"]) for v in single)) == [v["reason"] for v in single]


@given(st.lists(values, max_size=5))
def test_stream_split_roundtrip(items):
    encoded = [R.encode(v) for v in items]
    assert R.split_stream(b"".join(encoded)) == encoded


@given(st.binary(max_size=64))
def test_stream_split_random(data):
    """Whatever the bytes, the reader returns values that concatenate to a prefix of the stream."""
    try:
        cut = R.split_stream(data)
    except R.Malformed as e:
        assert e.index == len(e.values)
        assert data.startswith(b"".join(e.values)) and len(b"".join(e.values)) < len(data)
    else:
        assert b"".join(cut) == data and all(cut)


# ---------------------------------------------------------------- section 8: fingerprints


@pytest.mark.parametrize("vec", FINGERPRINTS, ids=[v["fingerprint"] for v in FINGERPRINTS])
def test_fingerprint_vector(vec):
    key = bytes.fromhex(vec["key"])
    assert len(key) == 32
    assert R.fingerprint(key) == vec["fingerprint"]


def test_fingerprint_keys_are_the_seeds_of_the_record_vectors():
    """Section 8 and 10 name "seeds 1-3"; they are the three seeds of records.json, in order of appearance."""
    seeds = list(dict.fromkeys(v["seed"] for v in RECORDS))
    assert [R.public_key(bytes.fromhex(seed)).hex() for seed in seeds] == [v["key"] for v in FINGERPRINTS]
    assert FINGERPRINTS[0]["fingerprint"] == "HDDO-6MGL-UVIU-5XTW"  # the example in section 8
    assert FINGERPRINTS[0]["key"].startswith("b6326c26") and FINGERPRINTS[0]["key"].endswith("3b8b")


def test_fingerprint_shape():
    digest = hashlib.sha256(b"tequio/fingerprint/v1\n" + bytes(32)).digest()[:10]
    bits = "".join(f"{b:08b}" for b in digest)
    by_hand = "".join("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"[int(bits[i : i + 5], 2)] for i in range(0, 80, 5))
    assert R.fingerprint(bytes(32)) == "-".join(by_hand[i : i + 4] for i in range(0, 16, 4))
    with pytest.raises(ValueError):
        R.fingerprint(FINGERPRINTS[0]["key"].encode())  # the hex text is not the key


# ---------------------------------------------------------------- section 3: scopes and signatures


@pytest.mark.parametrize(
    ("scope", "ok"),
    [
        ("public", True),
        ("g:" + "0" * 32, True),
        ("g:" + "0123456789abcdef" * 2, True),
        ("d:" + "ff" * 32, True),  # not a curve point: only the syntax is checked
        ("d:" + R.public_key(SEED).hex(), True),  # the author's own key
        ("Public", False),
        ("public ", False),
        ("public\n", False),
        ("g:" + "0" * 31, False),
        ("g:" + "0" * 33, False),
        ("g:" + "A" * 32, False),
        ("G:" + "0" * 32, False),
        ("d:" + "0" * 63, False),
        ("d:" + "0" * 65, False),
        ("d:" + "0" * 32, False),
        ("g:" + "0" * 64, False),
        ("x:" + "0" * 32, False),
        ("", False),
        ("g:" + "٠" * 32, False),
        ("g:" + "0" * 31 + "g", False),
    ],
)
def test_scope_syntax(scope, ok):
    wire = R.make_wire(SEED, scope, 1, None, 0, b"x")
    if ok:
        assert R.check_wire(wire)["scope"] == scope
    else:
        with pytest.raises(R.Rejected) as info:
            R.check_wire(wire)
        assert info.value.reason == "bad-scope"


# A second, slow Ed25519 in pure Python (RFC 8032 section 5.1), used only to build and judge edge cases.

P, L = 2**255 - 19, 2**252 + 27742317777372353535851937790883648493
D = -121665 * pow(121666, -1, P) % P
SQRT_M1 = pow(2, (P - 1) // 4, P)
IDENTITY = (0, 1, 1, 0)


def pt_add(a, b):
    x1, y1, z1, t1 = a
    x2, y2, z2, t2 = b
    e, h = (y1 + x1) * (y2 + x2) - (y1 - x1) * (y2 - x2), (y1 + x1) * (y2 + x2) + (y1 - x1) * (y2 - x2)
    c, d = 2 * D * t1 * t2, 2 * z1 * z2
    f, g = d - c, d + c
    return (e * f % P, g * h % P, f * g % P, e * h % P)


def pt_mul(n, pt):
    out = IDENTITY
    while n:
        if n & 1:
            out = pt_add(out, pt)
        pt, n = pt_add(pt, pt), n >> 1
    return out


def pt_neg(pt):
    return (-pt[0] % P, pt[1], pt[2], -pt[3] % P)


def pt_encode(pt):
    zi = pow(pt[2], -1, P)
    x, y = pt[0] * zi % P, pt[1] * zi % P
    return (y | (x & 1) << 255).to_bytes(32, "little")


def pt_decode(enc):
    y, sign = int.from_bytes(enc, "little") & ((1 << 255) - 1), enc[31] >> 7
    if y >= P:
        return None
    x2 = (y * y - 1) * pow(D * y * y + 1, -1, P) % P
    x = pow(x2, (P + 3) // 8, P)
    if (x * x - x2) % P:
        x = x * SQRT_M1 % P
    if (x * x - x2) % P or (x == 0 and sign):
        return None
    if x & 1 != sign:
        x = P - x
    return (x, y, 1, x * y % P)


BASE = pt_decode(bytes.fromhex("58" + "66" * 31))
BLOCKLIST = [
    bytes.fromhex(h)
    for h in (
        "00" * 32,
        "01" + "00" * 31,
        "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
        "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
        "ec" + "ff" * 30 + "7f",
        "ed" + "ff" * 30 + "7f",
        "ee" + "ff" * 30 + "7f",
    )
]


def challenge(r_enc, a_enc, message):
    return int.from_bytes(hashlib.sha512(r_enc + a_enc + message).digest(), "little") % L


def equation_holds(a_enc, sig, message):
    """Rule 5 alone: [S]B - [k]A encodes to R (no cofactor)."""
    a = pt_decode(a_enc)
    s, k = int.from_bytes(sig[32:], "little"), challenge(sig[:32], a_enc, message)
    return a is not None and pt_encode(pt_add(pt_mul(s, BASE), pt_neg(pt_mul(k, a)))) == sig[:32]


def spec_verify(a_enc, sig, message):
    """Rules 1-5 of section 3, written again from the text."""

    def cleared(enc):
        return enc[:31] + bytes((enc[31] & 0x7F,))

    return (
        int.from_bytes(sig[32:], "little") < L
        and cleared(sig[:32]) not in BLOCKLIST
        and int.from_bytes(a_enc, "little") & ((1 << 255) - 1) < P
        and cleared(a_enc) not in BLOCKLIST
        and pt_decode(a_enc) is not None
        and equation_holds(a_enc, sig, message)
    )


def raw_record(author, sig, ts=0, scope="public", payload=b"x"):
    """Wire bytes with a chosen author and signature, and the signed_bytes they claim to sign."""
    to_sign = R.signed_bytes(author, scope, 1, None, ts, R.H(payload))
    return R.encode([1, author, scope, 1, None, ts, R.H(payload), sig, payload]), to_sign


def test_curve_constants():
    assert R.P == P and R.L == L and R.D == D
    assert pt_encode(pt_mul(L, BASE)) == pt_encode(IDENTITY)  # B has order L: the constants fit together
    assert pt_encode(BASE) == bytes.fromhex("58" + "66" * 31)
    assert sorted(R.SMALL_ORDER) == sorted(BLOCKLIST)
    for enc, order in zip(BLOCKLIST, (4, 1, 8, 8, 2, 4, 1), strict=True):
        pt = pt_decode(enc[:31] + bytes((enc[31] & 0x7F,))) or pt_decode(
            (int.from_bytes(enc, "little") - P).to_bytes(32, "little")
        )  # p and p + 1 stand for 0 and 1
        assert pt_encode(pt_mul(order, pt)) == pt_encode(IDENTITY)
        assert order == 1 or pt_encode(pt_mul(order // 2, pt)) != pt_encode(IDENTITY)


def test_record_signatures_satisfy_the_pure_python_verifier():
    for vec in RECORDS:
        author, sig = bytes.fromhex(vec["fields"]["author"]), bytes.fromhex(vec["sig"])
        message = bytes.fromhex(vec["signed_bytes"])
        assert spec_verify(author, sig, message)


@pytest.mark.parametrize(
    ("name", "rule"),
    [
        ("small-order-author", "rule 2"),
        ("s-not-reduced", "rule 1"),
        ("signature-flipped", "rule 5"),
        ("wrong-author", "rule 5"),
    ],
)
def test_signature_vectors_name_their_rule(name, rule):
    """The two vectors of section 3 satisfy the bare equation: only rules 1-3 refuse them."""
    rec = R.decode(bytes.fromhex(BY_NAME[name]["wire"]))
    author, sig = rec[1], rec[7]
    message = R.signed_bytes(*rec[1:7])
    assert equation_holds(author, sig, message) == (rule != "rule 5")
    assert not spec_verify(author, sig, message)
    with pytest.raises(R.Rejected) as info:
        R.check_wire(bytes.fromhex(BY_NAME[name]["wire"]))
    assert info.value.reason == "bad-signature" and info.value.detail.startswith(rule)


def test_small_order_author_needs_rule_3_too():
    """With R moved off the blocklist, the small-order author alone is refused (rule 3)."""
    rec = R.decode(bytes.fromhex(BY_NAME["small-order-author"]["wire"]))
    message = R.signed_bytes(*rec[1:7])
    assert R.signature_refusal(rec[1], b"\x02" + bytes(63), message).startswith("rule 3: A has small order")


@pytest.mark.parametrize("author", [BLOCKLIST[0], BLOCKLIST[2], BLOCKLIST[3]], ids=["order-4", "8a", "8b"])
def test_small_order_author_with_ordinary_r(author):
    """A signature under a small-order author whose R is not small order, so only rule 3 refuses it: for
    A of order n, [S]B - [k]A depends on k mod n only, so try each residue j until k = j mod n."""
    order = 4 if author == BLOCKLIST[0] else 8
    s = int.from_bytes(hashlib.sha256(b"any S").digest(), "little") % L
    for ts in range(1000):
        _, message = raw_record(author, bytes(64), ts=ts)
        for j in range(order):
            r_enc = pt_encode(pt_add(pt_mul(s, BASE), pt_neg(pt_mul(j, pt_decode(author)))))
            if challenge(r_enc, author, message) % order == j:
                sig = r_enc + s.to_bytes(32, "little")
                assert equation_holds(author, sig, message) and not R.has_small_order(r_enc)
                assert R.signature_refusal(author, sig, message) == "rule 3: A has small order"
                with pytest.raises(R.Rejected) as info:
                    R.check_wire(raw_record(author, sig, ts=ts)[0])
                assert info.value.reason == "bad-signature"
                return
    raise AssertionError("no ts found")


def first_record_parts():
    rec = R.decode(bytes.fromhex(RECORDS[0]["wire"]))
    return rec[1], rec[7], R.signed_bytes(*rec[1:7])


@pytest.mark.parametrize("enc", BLOCKLIST, ids=[b.hex()[:8] for b in BLOCKLIST])
@pytest.mark.parametrize("top_bit", [0, 0x80])
def test_small_order_blocklist(enc, top_bit):
    enc = enc[:31] + bytes((enc[31] | top_bit,))
    author, sig, message = first_record_parts()
    assert R.signature_refusal(author, enc + sig[32:], message).startswith("rule 2")
    assert R.signature_refusal(enc, sig, message).startswith("rule 3")
    wire, _ = raw_record(enc, sig)
    with pytest.raises(R.Rejected) as info:
        R.check_wire(wire)
    assert info.value.reason == "bad-signature"


@pytest.mark.parametrize("y", range(P, 1 << 255))
@pytest.mark.parametrize("sign", [0, 1])
def test_non_canonical_author(y, sign):
    enc = (y | sign << 255).to_bytes(32, "little")
    _, sig, message = first_record_parts()
    assert R.signature_refusal(enc, sig, message).startswith("rule 3")


def test_author_that_is_not_a_point():
    _, sig, message = first_record_parts()
    misses = [y for y in range(2, 40) if pt_decode(y.to_bytes(32, "little")) is None]
    assert misses  # about half of all y are not on the curve
    for y in misses:
        enc = y.to_bytes(32, "little")
        assert R.signature_refusal(enc, sig, message) == "rule 4: A is not a curve point"
        wire, _ = raw_record(enc, sig)
        with pytest.raises(R.Rejected) as info:
            R.check_wire(wire)
        assert info.value.reason == "bad-signature"


@given(st.binary(min_size=32, max_size=32))
@settings(max_examples=500)
def test_decodes_to_point_agrees_with_decompression(enc):
    if int.from_bytes(enc, "little") & ((1 << 255) - 1) < P:
        assert R.decodes_to_point(enc) == (pt_decode(enc) is not None)


def test_decodes_to_point_small_y():
    for y in [*range(64), P - 1, P - 2]:
        for sign in (0, 1):
            enc = (y | sign << 255).to_bytes(32, "little")
            assert R.decodes_to_point(enc) == (pt_decode(enc) is not None), (y, sign)


def mixed_order_record(want_accepted):
    """Author A = [a]B + T (T of order 8): not small order, so rules 1-4 pass. Signing with `a` gives
    [S]B - [k]A = R - [k]T, which encodes to R only when k = 0 mod 8: the equation is cofactorless."""
    a = int.from_bytes(hashlib.sha256(b"mixed-order secret").digest(), "little") % L
    torsion = pt_decode(BLOCKLIST[2])
    author = pt_encode(pt_add(pt_mul(a, BASE), torsion))
    r = int.from_bytes(hashlib.sha256(b"mixed-order nonce").digest(), "little") % L
    r_enc = pt_encode(pt_mul(r, BASE))
    for ts in range(1000):
        _, message = raw_record(author, bytes(64), ts=ts)
        k = challenge(r_enc, author, message)
        if (k % 8 == 0) == want_accepted:
            sig = r_enc + ((r + k * a) % L).to_bytes(32, "little")
            return raw_record(author, sig, ts=ts)[0], author, sig, message
    raise AssertionError("no ts found")


@pytest.mark.parametrize("want_accepted", [True, False])
def test_mixed_order_author_is_cofactorless(want_accepted):
    wire, author, sig, message = mixed_order_record(want_accepted)
    assert not R.has_small_order(author) and R.decodes_to_point(author)
    assert spec_verify(author, sig, message) == want_accepted
    if want_accepted:
        assert R.check_wire(wire)["author"] == author
    else:  # a cofactored verifier ([8][S]B = [8]R + [8][k]A) would accept this one
        with pytest.raises(R.Rejected) as info:
            R.check_wire(wire)
        assert info.value.detail == "rule 5: [S]B - [k]A does not encode to R"


@given(
    st.integers(min_value=0, max_value=len(RECORDS) - 1),
    st.integers(min_value=0, max_value=95),
    st.integers(min_value=1, max_value=255),
)
@settings(max_examples=60, deadline=None)
def test_signature_verdicts_match_pure_python(which, i, mask):
    """The library's rule 5 and the text's rules agree, on author and signature bytes changed at random."""
    rec = R.decode(bytes.fromhex(RECORDS[which]["wire"]))
    author, sig = bytearray(rec[1]), bytearray(rec[7])
    if i < 32:
        author[i] ^= mask
    else:
        sig[i - 32] ^= mask
    message = R.signed_bytes(bytes(author), *rec[2:7])
    assert (R.signature_refusal(bytes(author), bytes(sig), message) is None) == spec_verify(
        bytes(author), bytes(sig), message
    )


# ---------------------------------------------------------------- section 9: JSON views


def test_json_view():
    body = json.loads(
        '{"a": {"$bin": "00ff"}, "b": [{"$bin": ""}], "c": 18446744073709551615, "d": {"x": 1}}'
    )
    assert R.from_json_view(body) == {"a": b"\0\xff", "b": [b""], "c": 2**64 - 1, "d": {"x": 1}}
    for bad in (
        '{"$bin": "00", "x": 1}',
        '{"$bin": "0F"}',
        '{"$bin": "0"}',
        '{"$bin": 1}',
        "[1.5]",
        '{"n": 1.0}',
        '{"n": 1e3}',
    ):
        with pytest.raises(ValueError):
            R.from_json_view(json.loads(bad))


@pytest.mark.parametrize("vec", STREAMS, ids=lambda v: v["name"])
def test_stream_vector(vec):
    """streams.json: the verdict of each value, then `malformed` at the break if reading stops."""
    expected = vec["values"] + (["malformed"] if vec["break"] is not None else [])
    assert R.check_stream(bytes.fromhex(vec["stream"])) == expected
