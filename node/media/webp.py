"""WebP: EXIF, XMP and unknown chunks dropped from the RIFF container, VP8X flags cleared, sizes rewritten.

The image chunks are copied unchanged. A simple-format WebP (no VP8X chunk) has no place for EXIF.
"""

from __future__ import annotations

import os
import struct
from typing import IO, BinaryIO

from .exif import ExifFacts, exif_facts, new_exif
from .files import MAX_HEADER, MediaError, copy_n
from .report import Stripped, result

__all__ = ["strip_webp"]

_WEBP_KEEP = {b"VP8X", b"ICCP", b"ANIM", b"ANMF", b"ALPH", b"VP8 ", b"VP8L"}


def strip_webp(fin: BinaryIO, fout: IO[bytes], keep_location: bool) -> Stripped:
    head = fin.read(12)
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:] != b"WEBP":
        raise MediaError("not a WebP: bad RIFF header")
    end = 8 + int.from_bytes(head[4:8], "little")
    size = os.fstat(fin.fileno()).st_size
    if end > size:
        raise MediaError(f"truncated WebP: the RIFF header promises {end} bytes, the file has {size}")
    removed: list[str] = []
    kept: list[str] = []
    notes: list[str] = []
    chunks: list[tuple[bytes, int, int]] = []  # (fourcc, offset of data, size)
    facts: ExifFacts | None = None
    pos = 12
    while pos + 8 <= end:
        fin.seek(pos)
        h = fin.read(8)
        fourcc, n = h[:4], int.from_bytes(h[4:], "little")
        if pos + 8 + n > end:
            raise MediaError(f"truncated WebP: chunk {fourcc!r} at offset {pos} runs past the end")
        if fourcc in _WEBP_KEEP:
            chunks.append((fourcc, pos + 8, n))
            if fourcc == b"ICCP":
                kept.append("icc")
        elif fourcc == b"EXIF" and n <= MAX_HEADER:
            f = exif_facts(fin.read(n))
            removed.extend(f.names)
            facts = facts or f
        else:
            removed.append({b"XMP ": "xmp", b"EXIF": "exif"}.get(fourcc, "webp:" + fourcc.decode("latin-1")))
        pos += 8 + n + (n & 1)
    has_vp8x = bool(chunks) and chunks[0][0] == b"VP8X"
    exif = new_exif(facts, keep_location, kept, notes)
    if exif is not None and not has_vp8x:
        notes.append("A simple-format WebP has no place for EXIF, so Orientation and GPS were not kept.")
        kept[:] = [k for k in kept if k not in ("gps", "orientation")]
        exif = None
    body = exif[6:] if exif is not None else b""
    total = 4 + sum(8 + n + (n & 1) for _, _, n in chunks) + (8 + len(body) + (len(body) & 1) if body else 0)
    fout.write(b"RIFF" + struct.pack("<I", total) + b"WEBP")
    for fourcc, off, n in chunks:
        fout.write(fourcc + struct.pack("<I", n))
        fin.seek(off)
        if fourcc == b"VP8X":
            data = bytearray(fin.read(n))
            data[0] &= ~0x0C & 0xFF
            if body:
                data[0] |= 0x08
            fout.write(bytes(data))
        else:
            copy_n(fin, fout, n)
        if n & 1:
            fout.write(b"\x00")
    if body:
        fout.write(b"EXIF" + struct.pack("<I", len(body)) + body + (b"\x00" if len(body) & 1 else b""))
    if end < size:
        removed.append("trailer")
    return result(
        removed,
        kept,
        notes,
        "WebP: metadata chunks were dropped; the image chunks were copied unchanged (not re-encoded).",
    )
