"""Bundles: records and blobs for one peer as one encrypted file, for a USB stick between communities.

Layout (docs/protocol.md section 15)::

    "TQBUNDL1" || u32 len || header || secretstream header (24) || { u32 len || chunk }*

``header`` is canonical msgpack ``[1, from, to, created, sealed_key]``: the sender's and the
recipient's keys, a time, and the stream key in a NaCl box from sender to recipient (so only the
recipient can open it, and only the sender, or the recipient, can have made it). Chunks are
``crypto_secretstream_xchacha20poly1305``; the last carries TAG_FINAL. Each chunk's plaintext is one
canonical msgpack value: ``["records", [wire, ...]]``, ``["blob", hash, size, offset, data]`` or
``["end", records, blobs]``. A reader checks everything, to the final tag, before anything is used:
a truncated or altered bundle is refused whole.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import nacl.bindings as sodium
import nacl.exceptions

from tequio.schemas import CanonicalError, decode, encode

from .blobs import CHUNK
from .wire import AuthError, Keyring

__all__ = ["MAGIC", "BundleError", "BundleRead", "read_bundle", "write_bundle"]

MAGIC = b"TQBUNDL1"
_TAG_FINAL = sodium.crypto_secretstream_xchacha20poly1305_TAG_FINAL
_ABYTES = sodium.crypto_secretstream_xchacha20poly1305_ABYTES
_MAX_HEADER = 4096
_MAX_CHUNK = 2 * CHUNK + 4096
_RECORDS_PER_CHUNK = 256


class BundleError(ValueError):
    """The bundle cannot be used; nothing from it was imported."""


class _Writer:
    def __init__(self, out: BinaryIO, key: bytes) -> None:
        self.out = out
        self.state = sodium.crypto_secretstream_xchacha20poly1305_state()
        out.write(sodium.crypto_secretstream_xchacha20poly1305_init_push(self.state, key))

    def put(self, value: object, final: bool = False) -> None:
        tag = _TAG_FINAL if final else 0
        chunk = sodium.crypto_secretstream_xchacha20poly1305_push(self.state, encode(value), None, tag)
        self.out.write(struct.pack(">I", len(chunk)) + chunk)


def write_bundle(
    out: BinaryIO,
    keyring: Keyring,
    recipient: bytes,
    records: Iterable[bytes],
    blobs: Iterable[tuple[bytes, int, Path]],
    created: int,
) -> tuple[int, int]:
    """Write records (in an order that imports without gaps) and blob files; returns the counts."""
    key = sodium.crypto_secretstream_xchacha20poly1305_keygen()
    sealed = bytes(keyring.box(recipient).encrypt(key))
    header = encode([1, keyring.key, recipient, created, sealed])
    out.write(MAGIC + struct.pack(">I", len(header)) + header)
    w = _Writer(out, key)
    n_records = n_blobs = 0
    batch: list[bytes] = []
    for wire in records:
        batch.append(wire)
        if len(batch) >= _RECORDS_PER_CHUNK:
            w.put(["records", batch])
            n_records += len(batch)
            batch = []
    if batch:
        w.put(["records", batch])
        n_records += len(batch)
    for h, size, path in blobs:
        with path.open("rb") as f:
            offset = 0
            while offset < size:
                data = f.read(min(CHUNK, size - offset))
                if not data:
                    raise BundleError(f"blob {h.hex()[:16]} ended before its size")
                w.put(["blob", h, size, offset, data])
                offset += len(data)
        n_blobs += 1
    w.put(["end", n_records, n_blobs], final=True)
    return n_records, n_blobs


@dataclass
class BundleRead:
    """A bundle checked to its end: where its records and blobs were unpacked, not yet used."""

    sender: bytes
    created: int
    records: list[bytes] = field(default_factory=list)
    blobs: list[tuple[bytes, int, Path]] = field(default_factory=list)


def _chunks(src: BinaryIO) -> Iterator[bytes]:
    while True:
        head = src.read(4)
        if not head:
            return
        if len(head) < 4:
            raise BundleError("the bundle is truncated")
        (n,) = struct.unpack(">I", head)
        if not _ABYTES <= n <= _MAX_CHUNK:
            raise BundleError("the bundle is damaged (a chunk of impossible size)")
        chunk = src.read(n)
        if len(chunk) < n:
            raise BundleError("the bundle is truncated")
        yield chunk


def read_bundle(
    src: BinaryIO, keyring: Keyring, scratch: Path, on_progress: Callable[[], None] | None = None
) -> BundleRead:
    """Decrypt and check a whole bundle into ``scratch``; raise BundleError on any defect."""
    if src.read(len(MAGIC)) != MAGIC:
        raise BundleError("not a Tequio bundle")
    head = src.read(4)
    if len(head) < 4:
        raise BundleError("the bundle is truncated")
    (n,) = struct.unpack(">I", head)
    if n > _MAX_HEADER:
        raise BundleError("the bundle is damaged (its header is too long)")
    try:
        version, sender, recipient, created, sealed = decode(src.read(n))
        if version != 1 or type(sender) is not bytes or len(sender) != 32 or type(recipient) is not bytes:
            raise ValueError
        if type(created) is not int or type(sealed) is not bytes:
            raise ValueError
    except (ValueError, TypeError, CanonicalError):
        raise BundleError("the bundle is damaged (unreadable header)") from None
    if recipient != keyring.key:
        raise BundleError(f"this bundle is for another node ({recipient.hex()[:16]}…)")
    try:
        key = keyring.box(sender).decrypt(sealed)
    except (nacl.exceptions.CryptoError, AuthError, ValueError):
        raise BundleError(
            "the bundle's key does not open: it was altered, or not made for this node"
        ) from None
    state = sodium.crypto_secretstream_xchacha20poly1305_state()
    stream_header = src.read(sodium.crypto_secretstream_xchacha20poly1305_HEADERBYTES)
    try:
        sodium.crypto_secretstream_xchacha20poly1305_init_pull(state, stream_header, key)
    except (nacl.exceptions.CryptoError, ValueError):
        raise BundleError("the bundle is damaged (stream header)") from None
    out = BundleRead(sender, created)
    files: dict[bytes, tuple[int, Path, hashlib._Hash, int]] = {}
    ended = False
    for chunk in _chunks(src):
        if ended:
            raise BundleError("the bundle has data after its end")
        try:
            plain, tag = sodium.crypto_secretstream_xchacha20poly1305_pull(state, chunk, None)
            value = decode(plain)
        except (nacl.exceptions.CryptoError, ValueError, CanonicalError):
            raise BundleError("the bundle was altered (a chunk does not decrypt)") from None
        kind = value[0] if type(value) is list and value else None
        if kind == "records" and len(value) == 2 and type(value[1]) is list:
            if not all(type(w) is bytes for w in value[1]):
                raise BundleError("the bundle is damaged (a record is not bytes)")
            out.records += value[1]
        elif kind == "blob" and len(value) == 5:
            _, h, size, offset, data = value
            if type(h) is not bytes or len(h) != 32 or type(size) is not int or type(data) is not bytes:
                raise BundleError("the bundle is damaged (a blob chunk)")
            if h not in files:
                files[h] = (size, scratch / h.hex(), hashlib.sha256(), 0)
            fsize, path, digest, have = files[h]
            if offset != have or fsize != size or have + len(data) > size:
                raise BundleError("the bundle is damaged (blob chunks out of order)")
            with path.open("ab") as f:
                f.write(data)
            digest.update(data)
            files[h] = (size, path, digest, have + len(data))
        elif kind == "end" and len(value) == 3:
            if tag != _TAG_FINAL:
                raise BundleError("the bundle is damaged (end without its final tag)")
            if value[1] != len(out.records) or value[2] != len(files):
                raise BundleError("the bundle is incomplete (fewer records or blobs than it says)")
            ended = True
        else:
            raise BundleError("the bundle is damaged (unknown chunk)")
        if on_progress:
            on_progress()
    if not ended:
        raise BundleError("the bundle is truncated (its end is missing)")
    for h, (size, path, digest, have) in files.items():
        if have != size or digest.digest() != h:
            raise BundleError(f"blob {h.hex()[:16]}… in the bundle does not match its hash")
        out.blobs.append((h, size, path))
    return out
