"""Blobs: files that records refer to by SHA-256, stored by content and fetched from peers in ranges.

Nothing here reads a whole file into memory: adding a file hashes it while copying, a transfer
moves 1 MiB ranges appended to a partial file (so an interrupted transfer resumes where it
stopped), and a finished transfer is hashed again from disk before it is used.
"""

from __future__ import annotations

import hashlib
import logging
import os
import random
from collections.abc import Iterable
from pathlib import Path

__all__ = ["CHUNK", "BlobError", "BlobStore"]

CHUNK = 1 << 20
log = logging.getLogger(__name__)


class BlobError(ValueError):
    """A blob could not be stored or verified."""


class BlobStore:
    """``root/ab/abcd…`` for complete blobs, ``root/partial/`` for transfers and copies in progress."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, h: bytes) -> Path:
        x = h.hex()
        return self.root / x[:2] / x

    def has(self, h: bytes) -> bool:
        return self.path(h).is_file()

    def size(self, h: bytes) -> int | None:
        try:
            return self.path(h).stat().st_size
        except FileNotFoundError:
            return None

    def usage(self) -> int:
        """Bytes held, complete and partial."""
        if not self.root.exists():
            return 0
        return sum(p.stat().st_size for p in self.root.rglob("*") if p.is_file())

    def _partial(self, name: str) -> Path:
        d = self.root / "partial"
        d.mkdir(parents=True, exist_ok=True)
        return d / name

    def put_file(self, src: Path) -> tuple[bytes, int]:
        """Copy ``src`` in, hashing as it goes; returns (sha256, size). A blob already held is kept."""
        with src.open("rb") as fin:
            return self.put_chunks(iter(lambda: fin.read(CHUNK), b""))

    def put_chunks(self, chunks: Iterable[bytes]) -> tuple[bytes, int]:
        """Store the concatenation of ``chunks`` (e.g. a file as it is encrypted); returns (sha256, size)."""
        tmp = self._partial(f"add-{os.getpid()}-{random.getrandbits(64):016x}")
        h = hashlib.sha256()
        size = 0
        try:
            with tmp.open("wb") as fout:
                for chunk in chunks:
                    h.update(chunk)
                    fout.write(chunk)
                    size += len(chunk)
                fout.flush()
                os.fsync(fout.fileno())
            digest = h.digest()
            self._place(tmp, digest)
        finally:
            tmp.unlink(missing_ok=True)
        return digest, size

    def _place(self, tmp: Path, h: bytes) -> None:
        dest = self.path(h)
        if dest.exists():
            return
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp, dest)

    def read(self, h: bytes, offset: int, length: int) -> bytes:
        with self.path(h).open("rb") as f:
            f.seek(offset)
            return f.read(length)

    def partial_size(self, h: bytes) -> int:
        p = self._partial(h.hex() + ".part")
        return p.stat().st_size if p.exists() else 0

    def append(self, h: bytes, offset: int, data: bytes) -> None:
        p = self._partial(h.hex() + ".part")
        have = p.stat().st_size if p.exists() else 0
        if offset != have:
            raise BlobError(f"range at {offset} does not continue the {have} bytes held")
        with p.open("ab") as f:
            f.write(data)

    def finish(self, h: bytes, size: int) -> None:
        """Verify a completed transfer from disk and move it into place; a mismatch is discarded."""
        p = self._partial(h.hex() + ".part")
        digest = hashlib.sha256()
        total = 0
        with p.open("rb") as f:
            while chunk := f.read(CHUNK):
                digest.update(chunk)
                total += len(chunk)
        if total != size or digest.digest() != h:
            p.unlink()
            raise BlobError(f"received {total} bytes that do not hash to {h.hex()[:16]}…; discarded")
        self._place(p, h)

    def discard(self, h: bytes) -> None:
        self._partial(h.hex() + ".part").unlink(missing_ok=True)
