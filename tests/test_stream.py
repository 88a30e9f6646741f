"""Cutting record streams: boundaries across read chunks, the exact size limit, and hostile bytes."""

from __future__ import annotations

import io

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tequio.schemas import FrameReader, StreamError, write_stream
from tequio.schemas.stream import MAX_FRAME


class Trickle(io.RawIOBase):
    """A stream that hands out at most ``n`` bytes per read, like a slow pipe."""

    def __init__(self, data: bytes, n: int) -> None:
        self.data, self.n, self.pos = data, n, 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        chunk = self.data[self.pos : self.pos + min(self.n, size if size >= 0 else self.n)]
        self.pos += len(chunk)
        return chunk


def _bin_value(total: int) -> bytes:
    """A bin32 value whose whole encoding is ``total`` bytes."""
    return b"\xc6" + (total - 5).to_bytes(4, "big") + b"\x00" * (total - 5)


values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.text(max_size=30)
    | st.binary(max_size=300)
    | st.floats(allow_nan=False),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4),
    max_leaves=20,
)


@given(st.lists(values, max_size=20), st.integers(1, 50))
@settings(max_examples=300)
def test_cuts_any_msgpack_values_however_the_bytes_arrive(items: list, chunk: int) -> None:
    frames = [msgpack.packb(v, use_bin_type=True) for v in items]
    assert list(FrameReader(Trickle(b"".join(frames), chunk))) == frames


def test_exactly_the_limit_is_read_one_more_byte_stops() -> None:
    tail = msgpack.packb(1)
    assert [len(f) for f in FrameReader(io.BytesIO(_bin_value(MAX_FRAME) + tail))] == [MAX_FRAME, 1]
    reader = FrameReader(io.BytesIO(tail + _bin_value(MAX_FRAME + 1) + tail))
    got = []
    with pytest.raises(StreamError, match=f"longer than {MAX_FRAME}") as e:
        got.extend(reader)
    assert got == [tail] and e.value.offset == 1


def test_a_huge_declared_length_does_not_allocate_it() -> None:
    data = b"\xc6\xff\xff\xff\xff" + b"\x00" * 100_000
    with pytest.raises(StreamError):
        list(FrameReader(io.BytesIO(data)))


def test_garbage_and_truncation_say_where() -> None:
    one = msgpack.packb([1, 2, 3])
    with pytest.raises(StreamError, match="at byte 4: not msgpack"):
        list(FrameReader(io.BytesIO(one + b"\xc1")))
    with pytest.raises(StreamError, match="ends inside a value"):
        list(FrameReader(io.BytesIO(one + one[:-1])))
    assert list(FrameReader(io.BytesIO(b""))) == []


def test_write_stream_round_trip() -> None:
    out = io.BytesIO()
    frames = [msgpack.packb(i) for i in range(1000)]
    assert write_stream(out, frames) == 1000
    reader = FrameReader(io.BytesIO(out.getvalue()))
    assert list(reader) == frames and reader.offset == len(out.getvalue())
