"""Evidence media as pure functions over files: seal the original, strip a working copy, compare images.

The original is never re-encoded: :func:`ingest_copy` copies it byte for byte to a content-addressed
place while hashing it, in one pass of 1 MiB chunks, so the stored hash is the hash of what the
witness sent. :func:`make_working_copy` drops EXIF (maker notes and thumbnails with it), GPS, XMP,
IPTC, comments and C2PA manifests to protect the witness: at the byte level for JPEG, PNG and WebP
(the compressed image data is copied, never decoded), by a lossless re-encode for TIFF. Other
formats are copied unchanged and the result says plainly what was not removed.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import stat
import struct
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from math import cos, pi
from pathlib import Path
from typing import IO, Any, BinaryIO

import filetype
from PIL import ExifTags, Image, ImageOps, ImageSequence, UnidentifiedImageError

__all__ = [
    "CHUNK",
    "NEAR_DUPLICATE_BITS",
    "FileDigest",
    "MediaError",
    "Stripped",
    "hamming",
    "hash_file",
    "ingest_copy",
    "is_near_duplicate",
    "make_working_copy",
    "open_regular",
    "perceptual_hash",
    "read_location",
    "sniff",
    "stored_path",
]

#: Files are read and written in pieces of this size, whatever their length.
CHUNK = 1 << 20
#: How much of the start of a file the media type is sniffed from.
SNIFF_BYTES = 8192
#: Two perceptual hashes at most this many bits apart (of 64) show the same picture: a re-encoded,
#: resized or stripped copy measures 0-4 bits from its original, different photos of one street 20+.
NEAR_DUPLICATE_BITS = 10
OCTET_STREAM = "application/octet-stream"
#: Header metadata larger than this is not a photo but an attack on the parser.
_MAX_HEADER = 64 << 20

# Errors Pillow raises for input it cannot decode; anything else is a bug and should surface.
_PIL_ERRORS: tuple[type[BaseException], ...] = (
    UnidentifiedImageError,
    Image.DecompressionBombError,
    OSError,
    SyntaxError,
    ValueError,
    EOFError,
    struct.error,
    IndexError,
    KeyError,
    TypeError,
    ZeroDivisionError,
)

PathLike = str | os.PathLike[str]


class MediaError(ValueError):
    """A file could not be read, copied or stripped; the message says which file and why."""


@dataclass(frozen=True)
class FileDigest:
    """What intake records about a file's bytes: their SHA-256, their length, their sniffed type."""

    sha256: bytes
    size: int
    mime: str


@dataclass(frozen=True)
class Stripped:
    """What a working copy lost, kept on purpose, and could not lose, in words for the operator."""

    removed: list[str]
    kept: list[str]
    not_stripped: list[str]
    note: str


# --------------------------------------------------------------------------------------------------
# Files: opening with clear errors, atomic durable writes


def _regular(path: PathLike) -> Path:
    """The path, if it names a regular file; a clear MediaError otherwise (a FIFO would block open)."""
    p = Path(path)
    try:
        st = p.stat()
    except FileNotFoundError:
        raise MediaError(f"{p}: no such file") from None
    except OSError as e:
        raise MediaError(f"{p}: cannot read: {e.strerror}") from None
    if stat.S_ISDIR(st.st_mode):
        raise MediaError(f"{p}: is a directory, not a file")
    if not stat.S_ISREG(st.st_mode):
        raise MediaError(f"{p}: is not a regular file")
    return p


def open_regular(path: PathLike) -> BinaryIO:
    """Open a regular file for unbuffered reading, or raise a MediaError that says why not."""
    p = _regular(path)
    try:
        return p.open("rb", buffering=0)
    except OSError as e:
        raise MediaError(f"{p}: cannot open: {e.strerror}") from None


def _fsync_dir(d: Path) -> None:
    fd = os.open(d, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def _temp_in(directory: Path) -> Iterator[tuple[Path, BinaryIO]]:
    """A new file in ``directory`` (so a rename into place is atomic), removed unless committed."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise MediaError(f"{directory}: cannot create: {e.strerror}") from None
    tmp = directory / f".tmp-{os.getpid()}-{secrets.token_hex(8)}"
    try:
        with tmp.open("xb") as f:
            yield tmp, f
    finally:
        tmp.unlink(missing_ok=True)


def _commit(f: BinaryIO, tmp: Path, dest: Path) -> None:
    """Flush and fsync the temp file, rename it over ``dest``, fsync the directory: durable or absent."""
    f.flush()
    os.fsync(f.fileno())
    os.replace(tmp, dest)
    _fsync_dir(dest.parent)


def _copy_rest(fin: BinaryIO, fout: IO[bytes]) -> int:
    buf = bytearray(CHUNK)
    view = memoryview(buf)
    total = 0
    while n := fin.readinto(buf):  # type: ignore[attr-defined]
        fout.write(view[:n])
        total += n
    return total


# --------------------------------------------------------------------------------------------------
# Hashing and sealed copies


def sniff(head: bytes) -> str:
    """The media type of content starting with ``head``, from its magic bytes; never from a file name."""
    kind = filetype.guess(bytes(head[:SNIFF_BYTES])) if head else None
    return kind.mime if kind is not None else OCTET_STREAM


def hash_file(path: PathLike) -> FileDigest:
    """SHA-256, size and sniffed type of a file, read once in 1 MiB chunks (a 1 GB video is fine)."""
    h = hashlib.sha256()
    buf = bytearray(CHUNK)
    view = memoryview(buf)
    size = 0
    head = b""
    with open_regular(path) as f:
        while n := f.readinto(buf):  # type: ignore[attr-defined]
            if size < SNIFF_BYTES:
                head += bytes(view[: min(n, SNIFF_BYTES - size)])
            h.update(view[:n])
            size += n
    return FileDigest(h.digest(), size, sniff(head))


def stored_path(dest_dir: PathLike, sha256: bytes) -> Path:
    """Where :func:`ingest_copy` keeps content with this hash: ``dest_dir/ab/abcd…`` (as the blob store)."""
    x = sha256.hex()
    return Path(dest_dir) / x[:2] / x


def ingest_copy(src: PathLike, dest_dir: PathLike) -> FileDigest:
    """Copy ``src`` to ``stored_path(dest_dir, sha256)``, hashing the same bytes as they are written.

    One read of the source: each chunk is hashed and written, so the hash is of exactly the bytes
    stored. The copy is written to a temporary file, fsynced and renamed into place; content already
    held is kept as it is.
    """
    root = Path(dest_dir)
    h = hashlib.sha256()
    buf = bytearray(CHUNK)
    view = memoryview(buf)
    size = 0
    head = b""
    with open_regular(src) as fin, _temp_in(root / "partial") as (tmp, fout):
        while n := fin.readinto(buf):  # type: ignore[attr-defined]
            if size < SNIFF_BYTES:
                head += bytes(view[: min(n, SNIFF_BYTES - size)])
            h.update(view[:n])
            fout.write(view[:n])
            size += n
        digest = FileDigest(h.digest(), size, sniff(head))
        dest = stored_path(root, digest.sha256)
        if dest.is_file() and dest.stat().st_size == size:
            return digest
        dest.parent.mkdir(parents=True, exist_ok=True)
        _commit(fout, tmp, dest)
    return digest


# --------------------------------------------------------------------------------------------------
# A forward reader for parsing containers without holding them in memory


class _Reader:
    """Buffered forward reading over a raw file: at most a couple of chunks are ever held."""

    def __init__(self, f: BinaryIO) -> None:
        self.f = f
        self.buf = b""
        self.pos = 0
        self.base = 0  # file offset of buf[0]

    def tell(self) -> int:
        return self.base + self.pos

    def fill(self, n: int) -> bool:
        """Make ``n`` bytes available at ``pos``; False at end of file."""
        have = len(self.buf) - self.pos
        if have >= n:
            return True
        parts = [self.buf[self.pos :]]
        self.base += self.pos
        while have < n:
            chunk = self.f.read(max(CHUNK, n - have))
            if not chunk:
                break
            parts.append(chunk)
            have += len(chunk)
        self.buf = b"".join(parts)
        self.pos = 0
        return have >= n

    def take(self, n: int, what: str) -> bytes:
        at = self.tell()
        if not self.fill(n):
            raise MediaError(f"truncated {what}: {n} bytes needed at offset {at}, the file ends first")
        b = self.buf[self.pos : self.pos + n]
        self.pos += n
        return b

    def skip(self, n: int, what: str) -> None:
        have = len(self.buf) - self.pos
        if n <= have:
            self.pos += n
            return
        at = self.tell()
        self.base += len(self.buf) + (n - have)
        self.buf, self.pos = b"", 0
        size = os.fstat(self.f.fileno()).st_size
        if self.base > size:
            raise MediaError(f"truncated {what}: {n} bytes needed at offset {at}, the file ends first")
        self.f.seek(self.base)

    def copy(self, n: int, out: IO[bytes], what: str) -> None:
        """Copy ``n`` bytes to ``out`` in chunks."""
        while n:
            if not self.fill(1):
                raise MediaError(f"truncated {what}: {n} more bytes needed at offset {self.tell()}")
            k = min(n, len(self.buf) - self.pos)
            out.write(self.buf[self.pos : self.pos + k])
            self.pos += k
            n -= k

    def at_end(self) -> bool:
        return not self.fill(1)


# --------------------------------------------------------------------------------------------------
# EXIF: what an EXIF block holds, and a minimal one with only what the operator keeps


@dataclass
class _Exif:
    names: list[str]
    orientation: int | None = None
    gps: dict[int, Any] | None = None


def _exif_facts(data: bytes) -> _Exif:
    """What an EXIF block (``Exif\\0\\0`` + TIFF, or bare TIFF) held, read with Pillow; never raises."""
    facts = _Exif(["exif"])
    try:
        ex = Image.Exif()
        ex.load(data)
        if ExifTags.IFD.GPSInfo in ex:
            facts.names.append("gps")
            gps = ex.get_ifd(ExifTags.IFD.GPSInfo)
            facts.gps = dict(gps) if gps else None
        if 0x927C in ex.get_ifd(ExifTags.IFD.Exif):
            facts.names.append("makernote")
        if ex.get_ifd(ExifTags.IFD.IFD1):
            facts.names.append("thumbnail")
        o = ex.get(0x0112)
        if isinstance(o, int) and 2 <= o <= 8:
            facts.orientation = o
    except _PIL_ERRORS:
        facts.names.append("unreadable-exif")
    return facts


def _new_exif(facts: _Exif | None, keep_location: bool, kept: list[str], notes: list[str]) -> bytes | None:
    """``Exif\\0\\0`` + TIFF with only the Orientation tag and, when asked, the GPS tags; None if neither."""
    if facts is None:
        if keep_location:
            notes.append("keep_location: the original has no GPS tags to keep.")
        return None
    ex = Image.Exif()
    if facts.orientation:
        ex[0x0112] = facts.orientation
    gps = facts.gps if keep_location else None
    if keep_location and not gps:
        notes.append("keep_location: the original has no readable GPS tags to keep.")
    if gps:
        ex[ExifTags.IFD.GPSInfo] = gps
    if not len(ex):
        return None
    try:
        data = ex.tobytes()
    except _PIL_ERRORS:
        notes.append("The Orientation and GPS tags could not be rewritten, so none were kept.")
        return None
    if facts.orientation:
        kept.append("orientation")
    if gps:
        kept.append("gps")
    return data


# --------------------------------------------------------------------------------------------------
# JPEG: drop APPn/COM segments at the byte level, copy the scans unchanged

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


def _jpeg_marker(r: _Reader) -> int:
    at = r.tell()
    if r.take(1, "JPEG") != b"\xff":
        raise MediaError(f"corrupt JPEG: expected a marker at offset {at}")
    while (m := r.take(1, "JPEG")[0]) == 0xFF:  # fill bytes
        pass
    return m


def _strip_jpeg(fin: BinaryIO, fout: IO[bytes], keep_location: bool) -> Stripped:
    r = _Reader(fin)
    if r.take(2, "JPEG") != b"\xff\xd8":
        raise MediaError("not a JPEG: no start-of-image marker")
    removed: list[str] = []
    kept: list[str] = []
    notes: list[str] = []
    jfif = b""
    segments: list[bytes] = []
    held = 0
    facts: _Exif | None = None
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
        if held > _MAX_HEADER:
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
                f = _exif_facts(payload)
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
    exif = _new_exif(facts, keep_location, kept, notes)
    if exif is not None:
        if len(exif) > 65533:
            raise MediaError("the kept GPS tags do not fit in one JPEG segment")
        fout.write(_segment(0xE1, exif))
    for s in segments:
        fout.write(s)
    fout.write(sos)
    _jpeg_scans(r, fout, removed, notes)
    return _result(
        removed,
        kept,
        notes,
        "JPEG: metadata segments were dropped at the byte level; the "
        "compressed image data was copied unchanged (not re-encoded).",
    )


def _jpeg_scans(r: _Reader, fout: IO[bytes], removed: list[str], notes: list[str]) -> None:
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
                removed.extend(_exif_facts(payload).names)
            elif name == "iptc":
                removed.extend(_photoshop_names(payload))
            elif name is not None:
                removed.append(name)
            if name is not None:
                continue
        fout.write(_segment(m, payload))


# --------------------------------------------------------------------------------------------------
# PNG: drop metadata chunks, copy the image chunks unchanged

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


def _strip_png(fin: BinaryIO, fout: IO[bytes], keep_location: bool) -> Stripped:
    r = _Reader(fin)
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
        if ctype in (b"eXIf", b"zxIf", b"exIf") and length <= _MAX_HEADER:
            facts = _exif_facts(r.take(length, "PNG chunk"))
            r.skip(4, "PNG chunk")
            removed.extend(facts.names)
            exif = _new_exif(facts, keep_location, kept, notes)
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
    return _result(
        removed,
        kept,
        notes,
        "PNG: metadata chunks were dropped; the image chunks were copied unchanged (not re-encoded).",
    )


# --------------------------------------------------------------------------------------------------
# WebP: drop EXIF/XMP chunks in the RIFF container and clear their flags

_WEBP_KEEP = {b"VP8X", b"ICCP", b"ANIM", b"ANMF", b"ALPH", b"VP8 ", b"VP8L"}


def _strip_webp(fin: BinaryIO, fout: IO[bytes], keep_location: bool) -> Stripped:
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
    facts: _Exif | None = None
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
        elif fourcc == b"EXIF" and n <= _MAX_HEADER:
            f = _exif_facts(fin.read(n))
            removed.extend(f.names)
            facts = facts or f
        else:
            removed.append({b"XMP ": "xmp", b"EXIF": "exif"}.get(fourcc, "webp:" + fourcc.decode("latin-1")))
        pos += 8 + n + (n & 1)
    has_vp8x = bool(chunks) and chunks[0][0] == b"VP8X"
    exif = _new_exif(facts, keep_location, kept, notes)
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
            _copy_n(fin, fout, n)
        if n & 1:
            fout.write(b"\x00")
    if body:
        fout.write(b"EXIF" + struct.pack("<I", len(body)) + body + (b"\x00" if len(body) & 1 else b""))
    if end < size:
        removed.append("trailer")
    return _result(
        removed,
        kept,
        notes,
        "WebP: metadata chunks were dropped; the image chunks were copied unchanged (not re-encoded).",
    )


def _copy_n(fin: BinaryIO, fout: IO[bytes], n: int) -> None:
    while n:
        b = fin.read(min(n, CHUNK))
        if not b:
            raise MediaError("truncated file while copying")
        fout.write(b)
        n -= len(b)


# --------------------------------------------------------------------------------------------------
# TIFF: offsets everywhere, so Pillow decodes and writes the pixels again, losslessly

_TIFF_TAGS = {
    34665: "exif", 34853: "gps", 700: "xmp", 33723: "iptc", 34377: "photoshop", 37724: "photoshop",
    270: "description", 271: "camera", 272: "camera", 305: "software", 306: "datetime", 315: "artist",
    316: "hostcomputer", 33432: "copyright", 269: "documentname", 285: "pagename", 37510: "comment",
}  # fmt: skip
# libtiff reports a tag it cannot write as RuntimeError
_TIFF_ERRORS: tuple[type[BaseException], ...] = (*_PIL_ERRORS, RuntimeError)
_TIFF_LOSSLESS = {"raw", "tiff_lzw", "tiff_deflate", "tiff_adobe_deflate", "packbits"}


def _strip_tiff(fin: BinaryIO, fout: IO[bytes], keep_location: bool) -> Stripped | None:
    """None for camera raw (DNG, NEF…): Pillow would see only a preview, so it is not stripped."""
    removed: list[str] = []
    kept: list[str] = []
    notes: list[str] = []
    try:
        with Image.open(fin) as im:
            if im.format != "TIFF":
                raise MediaError(f"not a TIFF: Pillow reads it as {im.format}")
            tags = im.tag_v2  # type: ignore[attr-defined]
            if 50706 in tags or 330 in tags:  # DNGVersion, SubIFDs
                return None
            removed.extend(name for tag, name in _TIFF_TAGS.items() if tag in tags)
            ex = im.getexif()
            if 0x927C in ex.get_ifd(ExifTags.IFD.Exif):
                removed.append("makernote")
            o = tags.get(0x0112)
            gps = dict(ex.get_ifd(ExifTags.IFD.GPSInfo)) if 34853 in tags else None
            im.load()
            # Recent Pillow turns the pixels upright on load and drops the tag; then none is needed.
            if 0x0112 not in im.tag_v2 and isinstance(o, int) and 2 <= o <= 8:  # type: ignore[attr-defined]
                notes.append("The Orientation was applied to the pixels, so the picture shows upright.")
                o = None
            facts = _Exif([], o if isinstance(o, int) and 2 <= o <= 8 else None, gps or None)
            exif = _new_exif(facts, keep_location, kept, notes)
            frames = [frame.copy() for frame in ImageSequence.Iterator(im)]
            compression = im.info.get("compression", "raw")
            icc = im.info.get("icc_profile")
            dpi = im.info.get("dpi")
        if "gps" in kept:
            # libtiff (every compressed TIFF) cannot write a GPS IFD; Pillow's own writer can, uncompressed.
            if compression != "raw":
                notes.append("Written uncompressed: only that TIFF writer can keep the GPS tags.")
            compression = "raw"
        elif compression not in _TIFF_LOSSLESS:
            notes.append(f"The {compression} pixels were re-encoded losslessly (deflate).")
            compression = "tiff_adobe_deflate"
        if icc:
            kept.append("icc")
        opts: dict[str, Any] = {"compression": compression}
        if icc:
            opts["icc_profile"] = icc
        if dpi:
            opts["dpi"] = dpi
        if exif is not None:
            opts["exif"] = exif[6:]
        for fr in frames:
            fr.info = {}
        frames[0].save(fout, format="TIFF", save_all=True, append_images=frames[1:], **opts)
    except MediaError:
        raise
    except _TIFF_ERRORS as e:
        raise MediaError(f"TIFF could not be decoded or written again: {e}") from None
    return _result(
        removed,
        kept,
        notes,
        "TIFF: the pixels were decoded and written again losslessly with "
        "only the image structure tags; every metadata tag was left out.",
    )


# --------------------------------------------------------------------------------------------------
# Everything else


def _result(removed: list[str], kept: list[str], notes: list[str], what: str) -> Stripped:
    """The report of a stripped copy: each name once, in the order found, and a note in plain words."""
    uniq = list(dict.fromkeys(removed))
    kept = list(dict.fromkeys(kept))
    parts = [what]
    if not uniq:
        parts.append("No metadata was present.")
    if "orientation" in kept:
        parts.append(
            "The Orientation tag was kept (in a new, minimal EXIF block) so the picture shows upright."
        )
    if "gps" in kept:
        but = " but Orientation" if "orientation" in kept else ""
        parts.append(f"GPS tags were kept on request; no other EXIF tag{but} was kept.")
    return Stripped(uniq, kept, [], " ".join(parts + notes))


def _not_stripped(mime: str, raw: bool = False) -> Stripped:
    """The report of an unchanged copy: what that kind of file may still say about the witness."""
    major = mime.split("/", 1)[0]
    office = ("msword", "officedocument", "opendocument", "ms-excel", "ms-powerpoint", "rtf", "epub")
    if raw:
        what = "camera raw: EXIF, maker notes and GPS were NOT removed"
    elif mime in ("image/heic", "image/heif", "image/avif"):
        what = "EXIF and XMP, including GPS and the device, were NOT removed (Pillow cannot open this format)"
    elif major == "video":
        what = "container metadata (creation time, device, possibly GPS) was NOT removed"
    elif major == "audio":
        what = "tags and container metadata (creation time, device, possibly GPS or names) were NOT removed"
    elif mime == "application/pdf":
        what = "document information and XMP (author, creator tool, dates) were NOT removed"
    elif any(o in mime for o in office):
        what = "document properties (author, last editor, dates, revisions) were NOT removed"
    elif major == "image":
        what = "embedded metadata (EXIF, XMP, comments, possibly GPS) was NOT removed"
    elif mime == OCTET_STREAM:
        what = "unrecognised content: any metadata inside it was NOT removed"
    else:
        what = "any metadata inside it was NOT removed"
    line = f"{mime}: {what}; Tequio cannot strip this format"
    return Stripped([], [], [line], line + ". The working copy is a byte-for-byte copy of the original.")


_STRIPPERS: dict[str, Callable[[BinaryIO, IO[bytes], bool], Stripped | None]] = {
    "image/jpeg": _strip_jpeg,
    "image/png": _strip_png,
    "image/apng": _strip_png,
    "image/webp": _strip_webp,
    "image/tiff": _strip_tiff,
}


def make_working_copy(src: PathLike, dest: PathLike, mime: str, keep_location: bool = False) -> Stripped:
    """Write ``dest``: ``src`` without the metadata that could identify or locate the witness.

    ``mime`` is the sniffed type (:func:`hash_file`). JPEG, PNG and WebP lose their metadata segments
    without re-encoding; TIFF is re-encoded losslessly; every other format is copied unchanged, in
    chunks, and ``not_stripped`` says what stayed in it. With ``keep_location`` the GPS tags (only
    those) are kept. ``dest`` appears complete (fsynced, renamed into place) or not at all.
    """
    source = _regular(src)
    target = Path(dest)
    if target.exists() and os.path.samefile(target, source):
        raise MediaError(f"{target}: the working copy must not overwrite the original")
    strip = _STRIPPERS.get(mime)
    with open_regular(source) as fin, _temp_in(target.parent) as (tmp, fout):
        result = strip(fin, fout, keep_location) if strip else None
        if result is None:
            fin.seek(0)
            fout.seek(0)
            fout.truncate()
            _copy_rest(fin, fout)
            result = _not_stripped(mime, raw=strip is not None)
        _commit(fout, tmp, target)
    return result


# --------------------------------------------------------------------------------------------------
# Perceptual hashes and location

# cos((2x + 1) u pi / 64) for the 8 lowest frequencies u of a 32-point DCT-II
_DCT = [[cos((2 * x + 1) * u * pi / 64) for x in range(32)] for u in range(8)]


def perceptual_hash(path: PathLike) -> int | None:
    """A 64-bit DCT hash (pHash) of the picture as shown; None if the file is not a decodable image.

    Survives re-encoding, resizing and metadata stripping (see :data:`NEAR_DUPLICATE_BITS`), so the
    same photo arriving twice, or a working copy, is recognised.
    """
    p = _regular(path)
    try:
        with Image.open(p) as im:
            im.draft("L", (128, 128))  # JPEG: let the decoder scale down, far faster
            try:
                shown = ImageOps.exif_transpose(im)
            except _PIL_ERRORS:
                shown = im
            g = shown.convert("L").resize((32, 32), Image.Resampling.LANCZOS)
            px = g.tobytes()
    except _PIL_ERRORS:
        return None
    rows = [[sum(px[y * 32 + x] * _DCT[u][x] for x in range(32)) for u in range(8)] for y in range(32)]
    coeffs = [sum(rows[y][u] * _DCT[v][y] for y in range(32)) for v in range(8) for u in range(8)]
    median = sorted(coeffs)[31:33]
    mid = (median[0] + median[1]) / 2
    h = 0
    for c in coeffs:
        h = (h << 1) | (c > mid)
    return h


def hamming(a: int, b: int) -> int:
    """Bits in which two perceptual hashes differ."""
    return (a ^ b).bit_count()


def is_near_duplicate(a: int, b: int) -> bool:
    """Whether two perceptual hashes show the same picture (within :data:`NEAR_DUPLICATE_BITS`)."""
    return hamming(a, b) <= NEAR_DUPLICATE_BITS


def _degrees(value: Any, ref: Any, negative: str) -> Fraction | None:
    try:
        parts = [Fraction(v.numerator, v.denominator) for v in value]
        if len(parts) != 3:
            return None
        d = parts[0] + parts[1] / 60 + parts[2] / 3600
    except (TypeError, ValueError, ZeroDivisionError, AttributeError):
        return None
    r = ref.decode("latin-1") if isinstance(ref, bytes) else str(ref or "")
    return -d if r.strip("\x00 ").upper() == negative else d


def read_location(path: PathLike) -> tuple[int, int] | None:
    """(latitude, longitude) in microdegrees from the EXIF GPS tags; None when there are none.

    Raises MediaError for a file Pillow cannot open as an image: that says nothing about location.
    """
    p = _regular(path)
    try:
        with Image.open(p) as im:
            gps = im.getexif().get_ifd(ExifTags.IFD.GPSInfo)
    except _PIL_ERRORS as e:
        raise MediaError(f"{p}: not an image whose location Tequio can read ({e})") from None
    if not gps:
        return None
    lat = _degrees(gps.get(2), gps.get(1), "S")
    lon = _degrees(gps.get(4), gps.get(3), "W")
    if lat is None or lon is None:
        return None
    return round(lat * 1_000_000), round(lon * 1_000_000)
