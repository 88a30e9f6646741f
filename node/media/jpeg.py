"""JPEG: APPn and COM segments dropped at the byte level; the compressed scans copied unchanged.

Segments the image needs (JFIF, the ICC profile, Adobe's colour transform) stay; a new minimal EXIF
block holds only what ``exif.new_exif`` keeps. A trailer after the end of the image goes too.
"""

from __future__ import annotations

import struct
from typing import IO, BinaryIO

from .exif import ExifFacts, exif_facts, new_exif
from .files import MAX_HEADER, MediaError, Reader
from .report import Stripped, result

__all__ = ["strip_jpeg"]

_EOI, _SOS = 0xD9, 0xDA
_STANDALONE = {0x01, *range(0xD0, 0xD8)}


def _photoshop_names(payload: bytes) -> list[str]:
    """``iptc`` if the Photoshop APP13 block holds an IPTC record, ``photoshop`` for any other resource."""
    names: list[str] = []
    i = len(b"Photoshop 3.0\x00")
    try:
        while i + 12 <= len(payload) and payload[i : i + 4] == b"8BIM":
            rid = int.from_bytes(payload[i + 4 : i + 6], "big")
            nlen = payload[i + 6]
            j = i + 6 + 1 + nlen + ((1 + nlen) & 1)
            size = int.from_bytes(payload[j : j + 4], "big")
            names.append("iptc" if rid == 0x0404 else "photoshop")
            i = j + 4 + size + (size & 1)
    except IndexError:
        pass
    return names or ["photoshop"]


def _jpeg_app_name(marker: int, payload: bytes) -> str | None:
    """The name of what an APPn/COM segment holds, or None for one the image needs (JFIF, ICC, Adobe)."""
    if marker == 0xFE:
        return "comment"
    n = marker - 0xE0
    if n == 0:
        if payload.startswith(b"JFIF\x00"):
            return None
        return "thumbnail" if payload.startswith(b"JFXX\x00") else "app0"
    if n == 1:
        if payload.startswith(b"Exif\x00"):
            return "exif"
        if payload.startswith(
            (b"http://ns.adobe.com/xap/1.0/\x00", b"http://ns.adobe.com/xmp/extension/\x00")
        ):
            return "xmp"
        return "app1"
    if n == 2:
        if payload.startswith(b"ICC_PROFILE\x00"):
            return None
        if payload.startswith(b"MPF\x00"):
            return "mpf"
        return "flashpix" if payload.startswith(b"FPXR\x00") else "app2"
    if n == 11 and b"jumb" in payload[:32]:
        return "c2pa" if b"c2pa" in payload[:128] else "jumbf"
    if n == 13:
        return "iptc" if payload.startswith(b"Photoshop 3.0\x00") else "app13"
    if n == 14 and payload.startswith(b"Adobe"):
        return None  # the colour transform flag: needed to decode the pixels right
    return f"app{n}"


def _segment(marker: int, payload: bytes) -> bytes:
    return b"\xff" + bytes([marker]) + struct.pack(">H", len(payload) + 2) + payload


def _jpeg_marker(r: Reader) -> int:
    at = r.tell()
    if r.take(1, "JPEG") != b"\xff":
        raise MediaError(f"corrupt JPEG: expected a marker at offset {at}")
    while (m := r.take(1, "JPEG")[0]) == 0xFF:  # fill bytes
        pass
    return m


def strip_jpeg(fin: BinaryIO, fout: IO[bytes], keep_location: bool) -> Stripped:
    r = Reader(fin)
    if r.take(2, "JPEG") != b"\xff\xd8":
        raise MediaError("not a JPEG: no start-of-image marker")
    removed: list[str] = []
    kept: list[str] = []
    notes: list[str] = []
    jfif = b""
    segments: list[bytes] = []
    held = 0
    facts: ExifFacts | None = None
    while True:
        marker = _jpeg_marker(r)
        if marker == _EOI:
            raise MediaError("JPEG has no image data: end-of-image before any scan")
        if marker in _STANDALONE:
            continue
        length = int.from_bytes(r.take(2, "JPEG segment"), "big")
        if length < 2:
            raise MediaError(f"corrupt JPEG: segment length {length} at offset {r.tell() - 2}")
        payload = r.take(length - 2, "JPEG segment")
        held += length
        if held > MAX_HEADER:
            raise MediaError("JPEG header segments exceed 64 MiB: refusing to parse further")
        if marker == _SOS:
            sos = _segment(marker, payload)
            break
        if 0xE0 <= marker <= 0xEF or marker == 0xFE:
            name = _jpeg_app_name(marker, payload)
            if name is None:
                if marker == 0xE0 and not jfif:
                    jfif = _segment(marker, payload)
                    continue
                if marker == 0xE2:
                    kept.append("icc")
                segments.append(_segment(marker, payload))
            elif name == "exif":
                f = exif_facts(payload)
                removed.extend(f.names)
                if facts is None:
                    facts = f
            elif name == "iptc":
                removed.extend(_photoshop_names(payload))
            else:
                removed.append(name)
        else:
            segments.append(_segment(marker, payload))

    fout.write(b"\xff\xd8" + jfif)
    exif = new_exif(facts, keep_location, kept, notes)
    if exif is not None:
        if len(exif) > 65533:
            raise MediaError("the kept GPS tags do not fit in one JPEG segment")
        fout.write(_segment(0xE1, exif))
    for s in segments:
        fout.write(s)
    fout.write(sos)
    _jpeg_scans(r, fout, removed, notes)
    return result(
        removed,
        kept,
        notes,
        "JPEG: metadata segments were dropped at the byte level; the "
        "compressed image data was copied unchanged (not re-encoded).",
    )


def _jpeg_scans(r: Reader, fout: IO[bytes], removed: list[str], notes: list[str]) -> None:
    """Copy entropy-coded data and the markers between scans up to EOI, dropping APPn/COM found there."""
    while True:
        if not r.fill(1):
            notes.append(
                "The JPEG ends without an end-of-image marker (truncated); its data was copied as is."
            )
            return
        i = r.buf.find(b"\xff", r.pos)
        if i < 0:
            fout.write(r.buf[r.pos :])
            r.pos = len(r.buf)
            continue
        fout.write(r.buf[r.pos : i])
        r.pos = i
        if not r.fill(2):
            fout.write(r.buf[r.pos :])
            r.pos = len(r.buf)
            continue
        m = r.buf[r.pos + 1]
        if m == 0x00 or m in _STANDALONE:
            fout.write(r.buf[r.pos : r.pos + 2])
            r.pos += 2
            continue
        if m == 0xFF:
            fout.write(b"\xff")
            r.pos += 1
            continue
        r.pos += 2
        if m == _EOI:
            fout.write(b"\xff\xd9")
            if not r.at_end():
                removed.append("trailer")
            return
        length = int.from_bytes(r.take(2, "JPEG segment"), "big")
        if length < 2:
            raise MediaError(f"corrupt JPEG: segment length {length} at offset {r.tell() - 2}")
        payload = r.take(length - 2, "JPEG segment")
        if 0xE0 <= m <= 0xEF or m == 0xFE:
            name = _jpeg_app_name(m, payload)
            if name == "exif":
                removed.extend(exif_facts(payload).names)
            elif name == "iptc":
                removed.extend(_photoshop_names(payload))
            elif name is not None:
                removed.append(name)
            if name is not None:
                continue
        fout.write(_segment(m, payload))
