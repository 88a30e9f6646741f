"""Recognise what a stream is before ingesting it: a wrong file is refused in one line, not byte by byte."""

from __future__ import annotations

from typing import Any

__all__ = ["HEAD", "Prefixed", "describe_non_records"]

#: How many leading bytes are looked at.
HEAD = 64

_KNOWN: list[tuple[bytes, str]] = [
    (b"TQBUNDL1", "a bundle? use `tequio bundle import`"),
    (b"PK\x03\x04", "it looks like a zip archive"),
    (b"\x1f\x8b", "it looks like gzip"),
    (b"%PDF", "it looks like a PDF"),
    (b"\x89PNG", "it looks like a PNG image"),
    (b"\xff\xd8\xff", "it looks like a JPEG image"),
    (b"SQLite format 3\x00", "it looks like an SQLite database"),
]


def describe_non_records(head: bytes) -> str | None:
    """None if ``head`` can begin a record stream (a msgpack array); else what it looks like instead."""
    if not head:
        return None
    first = head[0]
    if 0x90 <= first <= 0x9F or first in (0xDC, 0xDD):
        return None
    for magic, what in _KNOWN:
        if head.startswith(magic):
            return what
    if head.count(0) == len(head):
        return "it is all zero bytes"
    text = head.lstrip(b" \t\r\n\xef\xbb\xbf")
    if text[:1] in (b"{", b"["):
        return "it looks like JSON"
    if all(32 <= b < 127 or b in (9, 10, 13) for b in head):
        return "it looks like text"
    return f"it begins with byte 0x{first:02x}, not a record"


class Prefixed:
    """A binary reader that yields ``head`` (already read for sniffing) and then the rest of ``source``."""

    def __init__(self, head: bytes, source: Any) -> None:
        self._head = head
        self._source = source

    def read(self, n: int = -1) -> bytes:
        if self._head:
            if n < 0:
                out, self._head = self._head + self._source.read(), b""
                return out
            out, self._head = self._head[:n], self._head[n:]
            return out
        return self._source.read(n)
