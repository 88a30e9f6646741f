"""Files for the media strippers: opening with clear errors, hashing, sniffing, atomic durable writes.

Every function reads in 1 MiB chunks, so a 1 GB video costs no more memory than a photo.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import stat
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, BinaryIO

import filetype
from PIL import Image, UnidentifiedImageError

__all__ = [
    "CHUNK",
    "OCTET_STREAM",
    "PIL_ERRORS",
    "FileDigest",
    "MediaError",
    "PathLike",
    "Reader",
    "commit",
    "copy_n",
    "copy_rest",
    "hash_file",
    "open_regular",
    "regular",
    "sniff",
    "temp_in",
]

#: Files are read and written in pieces of this size, whatever their length.
CHUNK = 1 << 20
#: How much of the start of a file the media type is sniffed from.
SNIFF_BYTES = 8192
OCTET_STREAM = "application/octet-stream"
#: Header metadata larger than this is not a photo but an attack on the parser.
MAX_HEADER = 64 << 20

# Errors Pillow raises for input it cannot decode; anything else is a bug and should surface.
PIL_ERRORS: tuple[type[BaseException], ...] = (
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


def regular(path: PathLike) -> Path:
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
    p = regular(path)
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
def temp_in(directory: Path) -> Iterator[tuple[Path, BinaryIO]]:
    """A new file in ``directory`` (so a rename into place is atomic), removed unless committed.

    Opened for reading too: Pillow's multi-page TIFF writer reads back what it wrote.
    """
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise MediaError(f"{directory}: cannot create: {e.strerror}") from None
    tmp = directory / f".tmp-{os.getpid()}-{secrets.token_hex(8)}"
    try:
        with tmp.open("xb+") as f:
            yield tmp, f
    finally:
        tmp.unlink(missing_ok=True)


def commit(f: BinaryIO, tmp: Path, dest: Path) -> None:
    """Flush and fsync the temp file, rename it over ``dest``, fsync the directory: durable or absent."""
    f.flush()
    os.fsync(f.fileno())
    os.replace(tmp, dest)
    _fsync_dir(dest.parent)


def copy_rest(fin: BinaryIO, fout: IO[bytes]) -> int:
    """Copy what remains of ``fin``; returns how many bytes."""
    buf = bytearray(CHUNK)
    view = memoryview(buf)
    total = 0
    while n := fin.readinto(buf):  # type: ignore[attr-defined]
        fout.write(view[:n])
        total += n
    return total


def copy_n(fin: BinaryIO, fout: IO[bytes], n: int) -> None:
    """Copy exactly ``n`` bytes, or raise MediaError if the source ends first."""
    while n:
        b = fin.read(min(n, CHUNK))
        if not b:
            raise MediaError("truncated file while copying")
        fout.write(b)
        n -= len(b)


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


class Reader:
    """Buffered forward reading over a raw file, for parsing containers: a couple of chunks at most."""

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
