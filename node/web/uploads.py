"""Uploads spooled to disk sealed as they stream: nothing in clear while the bytes are arriving.

An upload over a slow link can take minutes, and a link or a node can die in the middle of it. The
bytes go to a private file under ``blobs/partial/`` encrypted as they arrive, with the blob store's
sealing (``crypto_secretstream_xchacha20poly1305``, one message per 64 KiB, the last tagged final)
under a key made for this one upload and kept only in memory. A spool left behind by a crash or a cut
link is ciphertext whose key is gone; `sweep_spools` removes such leftovers when the pages start.

What reads a file by name afterwards (exiftool, an analysis) gets a plain copy only for as long as
it works (`SealedSpool.plain_copy`), deleted right after, on any failure too.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import nacl.bindings as sodium

from tequio.governance.crypto import BLOB_CHUNK, decrypt_blob

__all__ = ["SealedSpool", "UploadTooLarge", "spool_part", "sweep_spools"]

_SUFFIX = ".sealed"
_PREFIX = "upload-"
_ROOM = "web-plain-"


class UploadTooLarge(Exception):
    """The upload passed its byte limit: the spool is already deleted."""


class SealedSpool:
    """A private file that takes bytes as they arrive and keeps them encrypted under a key in memory."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, name = tempfile.mkstemp(prefix=_PREFIX, suffix=_SUFFIX, dir=folder)  # 0600
        self.path = Path(name)
        self._f = os.fdopen(fd, "wb")
        self._key = secrets.token_bytes(sodium.crypto_secretstream_xchacha20poly1305_KEYBYTES)
        self._state = sodium.crypto_secretstream_xchacha20poly1305_state()
        self._f.write(sodium.crypto_secretstream_xchacha20poly1305_init_push(self._state, self._key))
        self._buf = bytearray()
        self.size = 0
        self.closed = False

    def _push(self, data: bytes, final: bool) -> None:
        tag = (
            sodium.crypto_secretstream_xchacha20poly1305_TAG_FINAL
            if final
            else sodium.crypto_secretstream_xchacha20poly1305_TAG_MESSAGE
        )
        self._f.write(sodium.crypto_secretstream_xchacha20poly1305_push(self._state, data, None, tag))

    def write(self, data: bytes) -> None:
        """Seal ``data`` as it comes; at most one 64 KiB piece waits in memory, never on disk."""
        self._buf += data
        self.size += len(data)
        # A full piece is pushed only once more bytes follow it: the last piece must carry TAG_FINAL.
        while len(self._buf) > BLOB_CHUNK:
            self._push(bytes(self._buf[:BLOB_CHUNK]), False)
            del self._buf[:BLOB_CHUNK]
        self._f.flush()

    def finish(self) -> None:
        """The last piece, tagged final: the spool now decrypts to exactly the bytes written."""
        if not self.closed:
            self._push(bytes(self._buf), True)
            self._buf.clear()
            self._f.close()
            self.closed = True

    def chunks(self) -> Iterator[bytes]:
        """The plaintext, piece by piece (after `finish`)."""
        with self.path.open("rb") as f:
            yield from decrypt_blob(self._key, f)

    @contextmanager
    def plain_copy(self, name: str) -> Iterator[Path]:
        """A plain file named ``name`` (in a private folder of its own) for as long as the block runs."""
        self.finish()
        room = Path(tempfile.mkdtemp(prefix=_ROOM, dir=self.path.parent))
        plain = room / name
        try:
            with open(os.open(plain, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as f:
                for chunk in self.chunks():
                    f.write(chunk)
            yield plain
        finally:
            shutil.rmtree(room, ignore_errors=True)

    def discard(self) -> None:
        """Close and delete the spool, and forget its key."""
        if not self.closed:
            self._f.close()
            self.closed = True
        self._buf.clear()
        self._key = b""
        self.path.unlink(missing_ok=True)


async def spool_part(part: object, folder: Path, limit: int) -> SealedSpool:
    """Stream a multipart file part (aiohttp's ``BodyPartReader``) into a new `SealedSpool`.

    Encryption and file writes run off the event loop. Past ``limit`` bytes, or if the client goes
    away, the spool is deleted and the error raised (`UploadTooLarge` for the limit).
    """
    loop = asyncio.get_running_loop()
    spool = await loop.run_in_executor(None, SealedSpool, folder)
    try:
        while chunk := await part.read_chunk(1 << 16):  # type: ignore[attr-defined]
            if spool.size + len(chunk) > limit:
                raise UploadTooLarge()
            await loop.run_in_executor(None, spool.write, bytes(chunk))
        await loop.run_in_executor(None, spool.finish)
    except BaseException:  # too large, the client gone, anything: the spool goes
        spool.discard()
        raise
    return spool


def sweep_spools(folder: Path) -> int:
    """Delete spools a crash or a cut link left behind (unreadable: their keys died with the process)."""
    n = 0
    for p in folder.glob(f"{_PREFIX}*{_SUFFIX}") if folder.is_dir() else ():
        p.unlink(missing_ok=True)
        n += 1
    for room in folder.glob(f"{_ROOM}*") if folder.is_dir() else ():
        shutil.rmtree(room, ignore_errors=True)  # a plain copy a crash interrupted
    return n
