"""PNG: metadata chunks dropped; the image chunks copied unchanged with their CRCs.

Chunks that change how the image renders (gamma, colour, transparency, animation) stay; an unknown
critical chunk stays too, since a decoder cannot skip it, and the note says so.
"""

from __future__ import annotations

import struct
import zlib
from typing import IO, BinaryIO

from .exif import exif_facts, new_exif
from .files import MAX_HEADER, MediaError, Reader
from .report import Stripped, result

__all__ = ["strip_png"]

_PNG_SIG = b"\x89PNG\r\n\x1a\n"
_PNG_KEEP = {
    b"IHDR", b"PLTE", b"IDAT", b"IEND", b"tRNS", b"cHRM", b"gAMA", b"iCCP", b"sBIT", b"sRGB",
    b"cICP", b"mDCV", b"mDCv", b"cLLI", b"cLLi", b"bKGD", b"hIST", b"pHYs", b"sPLT",
    b"acTL", b"fcTL", b"fdAT",
}  # fmt: skip
_PNG_TEXT = {
    b"XML:com.adobe.xmp": "xmp",
    b"Raw profile type exif": "exif",
    b"Raw profile type APP1": "exif",
    b"Raw profile type iptc": "iptc",
    b"Raw profile type 8bim": "photoshop",
    b"Raw profile type xmp": "xmp",
    b"Comment": "comment",
}


def _png_chunk(ctype: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + ctype + data + struct.pack(">I", zlib.crc32(ctype + data))


def strip_png(fin: BinaryIO, fout: IO[bytes], keep_location: bool) -> Stripped:
    r = Reader(fin)
    if r.take(8, "PNG") != _PNG_SIG:
        raise MediaError("not a PNG: bad signature")
    fout.write(_PNG_SIG)
    removed: list[str] = []
    kept: list[str] = []
    notes: list[str] = []
    while True:
        length = int.from_bytes(r.take(4, "PNG chunk"), "big")
        ctype = r.take(4, "PNG chunk")
        if length > 0x7FFFFFFF:
            raise MediaError(f"corrupt PNG: chunk length {length}")
        if ctype in _PNG_KEEP or not ctype[0] & 0x20:  # unknown critical chunks cannot be dropped
            if ctype == b"iCCP":
                kept.append("icc")
            elif ctype not in _PNG_KEEP:
                notes.append(
                    f"Unknown critical PNG chunk {ctype!r} kept: the image cannot be decoded without it."
                )
            fout.write(struct.pack(">I", length) + ctype)
            r.copy(length + 4, fout, "PNG chunk")
            if ctype == b"IEND":
                break
            continue
        if ctype in (b"eXIf", b"zxIf", b"exIf") and length <= MAX_HEADER:
            facts = exif_facts(r.take(length, "PNG chunk"))
            r.skip(4, "PNG chunk")
            removed.extend(facts.names)
            exif = new_exif(facts, keep_location, kept, notes)
            if exif is not None:
                fout.write(_png_chunk(b"eXIf", exif[6:]))
            continue
        if ctype in (b"tEXt", b"zTXt", b"iTXt"):
            head = r.take(min(length, 80), "PNG chunk")
            r.skip(length - len(head) + 4, "PNG chunk")
            removed.append(_PNG_TEXT.get(head.split(b"\x00", 1)[0], "text"))
            continue
        r.skip(length + 4, "PNG chunk")
        names = {b"tIME": "time", b"caBX": "c2pa", b"eXIf": "exif"}
        removed.append(names.get(ctype, "png:" + ctype.decode("latin-1")))
    if not r.at_end():
        removed.append("trailer")
    return result(
        removed,
        kept,
        notes,
        "PNG: metadata chunks were dropped; the image chunks were copied unchanged (not re-encoded).",
    )
