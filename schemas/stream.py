"""Record streams: wire records concatenated with nothing between them (exports, imports, bundles).

msgpack values delimit themselves, so a reader needs no framing of its own; it only has to cut the
bytes at value boundaries without trusting them, in bounded memory, and say where a stream broke.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import BinaryIO

import msgpack

__all__ = ["MAX_FRAME", "FrameReader", "StreamError", "write_stream"]

#: Largest single value a reader buffers: far above a legal record (65,536-byte payload plus about 200
#: bytes of envelope), so that an oversized record is still read and rejected as ``too-large``.
MAX_FRAME = 1 << 20
_CHUNK = 1 << 16


class StreamError(ValueError):
    """The stream cannot be cut into values from ``offset`` on; everything before it was readable."""

    def __init__(self, offset: int, detail: str) -> None:
        super().__init__(f"stream unreadable at byte {offset}: {detail}")
        self.offset = offset
        self.detail = detail


class FrameReader:
    """Iterate the raw bytes of each top-level msgpack value in a binary stream."""

    def __init__(self, source: BinaryIO, max_frame: int = MAX_FRAME) -> None:
        self._source = source
        self._max_frame = max_frame
        #: Bytes consumed so far; for progress display.
        self.offset = 0

    def __iter__(self) -> Iterator[bytes]:
        # skip() walks a value's structure without building it, so bad UTF-8 or ext data inside a
        # value does not stop the reader: that value is cut out whole and rejected by the parser.
        unpacker = msgpack.Unpacker(max_buffer_size=self._max_frame + _CHUNK)
        buf = bytearray()
        base = 0  # absolute offset of buf[0]
        start = 0  # absolute offset of the next value
        while True:
            chunk = self._source.read(_CHUNK)
            if chunk:
                try:
                    unpacker.feed(chunk)
                except msgpack.BufferFull:
                    raise StreamError(start, f"a value longer than {self._max_frame} bytes") from None
                buf += chunk
            while True:
                try:
                    unpacker.skip()
                except msgpack.OutOfData:
                    break
                except Exception as e:  # FormatError, StackError, ValueError from a hostile header
                    raise StreamError(start, f"not msgpack ({type(e).__name__})") from None
                end = unpacker.tell()
                if end - start > self._max_frame:
                    raise StreamError(start, f"a value longer than {self._max_frame} bytes")
                frame = bytes(buf[start - base : end - base])
                start = end
                self.offset = end
                yield frame
            del buf[: start - base]
            base = start
            if not chunk:
                break
        if buf:
            raise StreamError(start, f"stream ends inside a value ({len(buf)} bytes left over)")


def write_stream(out: BinaryIO, frames: Iterable[bytes]) -> int:
    """Write frames back to back; return how many were written."""
    n = 0
    for frame in frames:
        out.write(frame)
        n += 1
    return n
