"""Canonical msgpack: the exact bytes, the refusals, and a fuzz of the strict decoder."""

from __future__ import annotations

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tequio.schemas import CanonicalError, decode, encode
from tequio.schemas.canonical import MAX_DEPTH

values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.text(max_size=40)
    | st.binary(max_size=40),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=10), inner, max_size=5),
    max_leaves=30,
)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0, "00"),
        (127, "7f"),
        (128, "cc80"),
        (-1, "ff"),
        (-32, "e0"),
        (-33, "d0df"),
        (256, "cd0100"),
        (2**32, "cf0000000100000000"),
        ("a", "a161"),
        ("é", "a2c3a9"),
        (b"\x01", "c40101"),
        ([], "90"),
        ({"b": 1, "a": 2, "B": 3}, "83a14203a16102a16201"),  # "B" (0x42) < "a" < "b"
        ({"é": 1, "z": 2}, "82a17a02a2c3a901"),  # UTF-8 byte order: "z" (0x7a) < "é" (0xc3 0xa9)
        (None, "c0"),
        (True, "c3"),
    ],
)
def test_exact_bytes(value: object, expected: str) -> None:
    assert encode(value).hex() == expected
    assert decode(bytes.fromhex(expected)) == value


@pytest.mark.parametrize(
    ("data", "why"),
    [
        ("cc05", "uint8 for a fixint value"),
        ("d001", "int8 for a positive value"),
        ("d9016100", "str8 for a 1-char string, with trailing byte"),
        ("d90161", "str8 where fixstr fits"),
        ("c50001ff", "bin16 where bin8 fits"),
        ("dc000100", "array16 where fixarray fits"),
        ("82a16201a16102", "map keys out of order"),
        ("82a16101a16102", "duplicate key"),
        ("81c40161c0", "bytes as map key"),
        ("810101", "int as map key"),
        ("cb3ff0000000000000", "float64"),
        ("ca3f800000", "float32"),
        ("d40100", "fixext1"),
        ("d6ff00000001", "timestamp ext"),
        ("a2c328", "invalid UTF-8"),
        ("c1", "never-used byte"),
        ("9201", "array shorter than declared"),
        ("0000", "two values"),
        ("", "nothing"),
    ],
)
def test_strict_decoder_refuses(data: str, why: str) -> None:
    with pytest.raises(CanonicalError):
        decode(bytes.fromhex(data))


def test_encoder_refuses_what_has_no_canonical_form() -> None:
    for bad in (1.5, {1: "x"}, {b"k": 1}, 2**64, -(2**63) - 1, object(), {"x": {1.0}}):
        with pytest.raises(CanonicalError):
            encode(bad)


def test_depth_limit() -> None:
    deep: object = 0
    for _ in range(MAX_DEPTH):
        deep = [deep]
    encode(deep)  # exactly at the limit is fine
    with pytest.raises(CanonicalError, match="nesting"):
        encode([deep])
    with pytest.raises(CanonicalError):
        decode(b"\x91" * (MAX_DEPTH + 1) + b"\x00")


@given(values)
def test_roundtrip(value: object) -> None:
    data = encode(value)
    assert decode(data) == value
    assert encode(decode(data)) == data


@given(st.binary(max_size=200))
@settings(max_examples=3000)
def test_fuzz_decoder_random_bytes(data: bytes) -> None:
    """No input raises anything but the documented CanonicalError."""
    try:
        value = decode(data)
    except CanonicalError:
        return
    assert encode(value) == data


@given(values, st.booleans(), st.data())
@settings(max_examples=1500)
def test_fuzz_decoder_mutated_msgpack(value: object, bin_type: bool, data: st.DataObject) -> None:
    """Near-valid inputs: msgpack from the library in any key order, then a byte flipped or cut."""
    raw = bytearray(msgpack.packb(value, use_bin_type=bin_type))
    if raw and data.draw(st.booleans()):
        i = data.draw(st.integers(0, len(raw) - 1))
        raw[i] = data.draw(st.integers(0, 255))
    if data.draw(st.booleans()):
        raw = raw[: data.draw(st.integers(0, len(raw)))]
    try:
        decoded = decode(bytes(raw))
    except CanonicalError:
        return
    assert encode(decoded) == bytes(raw)
