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

Version 2 (section 15.2) splits one export across parts, each a whole bundle of its own (own key,
own final tag), so each is checked alone and parts import in any order. Its first chunk is
``["part", export_id, index]``; a blob chunk may start past offset 0 (the rest of a blob begun in
another part); its end is ``["end", records, blobs, last]``. An acknowledgement is a version-2 bundle
whose chunks are ``["ack", export_id, [part, ...], last_or_-1, [record id, ...], [blob hash, ...]]``.
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

__all__ = [
    "MAGIC",
    "Ack",
    "BundleError",
    "BundleRead",
    "Piece",
    "read_bundle",
    "write_ack",
    "write_bundle",
    "write_parts",
]

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


def _open_v2(out: BinaryIO, keyring: Keyring, recipient: bytes, created: int) -> _Writer:
    key = sodium.crypto_secretstream_xchacha20poly1305_keygen()
    sealed = bytes(keyring.box(recipient).encrypt(key))
    header = encode([2, keyring.key, recipient, created, sealed])
    out.write(MAGIC + struct.pack(">I", len(header)) + header)
    return _Writer(out, key)


class _Parts:
    """Version-2 parts of one export: a part is ended (final tag) before the next begins."""

    def __init__(
        self,
        open_part: Callable[[int], BinaryIO],
        keyring: Keyring,
        recipient: bytes,
        created: int,
        export_id: bytes,
        max_size: int,
    ) -> None:
        self.open_part, self.keyring, self.recipient = open_part, keyring, recipient
        self.created, self.export_id, self.max_size = created, export_id, max_size
        self.index = -1
        self._start()

    def _start(self) -> None:
        self.index += 1
        self.out = self.open_part(self.index)
        self.w = _open_v2(self.out, self.keyring, self.recipient, self.created)
        self.used = 512  # header and stream header, with room to spare
        self.records = self.blobs = 0
        self.w.put(["part", self.export_id, self.index])

    def put(self, value: list, n_records: int = 0) -> None:
        size = len(encode(value)) + _ABYTES + 4
        if (self.records or self.blobs) and self.used + size + 256 > self.max_size:
            self.finish(last=False)
            self._start()
        self.w.put(value)
        self.used += size
        self.records += n_records
        if value[0] == "blob" and value[3] + len(value[4]) == value[2]:
            self.blobs += 1  # the piece that ends a blob counts it, as the reader does

    def finish(self, last: bool) -> None:
        self.w.put(["end", self.records, self.blobs, last], final=True)


def write_parts(
    open_part: Callable[[int], BinaryIO],
    keyring: Keyring,
    recipient: bytes,
    records: Iterable[bytes],
    blobs: Iterable[tuple[bytes, int, Path]],
    created: int,
    export_id: bytes,
    max_size: int,
) -> tuple[int, int, int]:
    """Write an export as parts of at most about ``max_size`` bytes; returns (records, blobs, parts).

    ``open_part(i)`` gives the file for part ``i``. A blob larger than what is left of a part goes
    on in the next one; each part counts the blob pieces it holds that end a blob.
    """
    if max_size < 64 * 1024:
        raise BundleError("a part must hold at least 64K")
    piece = min(CHUNK, max_size // 4)
    parts = _Parts(open_part, keyring, recipient, created, export_id, max_size)
    n_records = n_blobs = 0
    batch: list[bytes] = []
    held = 0
    for wire in records:
        batch.append(wire)
        held += len(wire)
        if len(batch) >= _RECORDS_PER_CHUNK or held >= piece:
            parts.put(["records", batch], n_records=len(batch))
            n_records += len(batch)
            batch, held = [], 0
    if batch:
        parts.put(["records", batch], n_records=len(batch))
        n_records += len(batch)
    for h, size, path in blobs:
        with path.open("rb") as f:
            offset = 0
            while offset < size:
                data = f.read(min(piece, size - offset))
                if not data:
                    raise BundleError(f"blob {h.hex()[:16]} ended before its size")
                parts.put(["blob", h, size, offset, data])
                offset += len(data)
        n_blobs += 1
    parts.finish(last=True)
    return n_records, n_blobs, parts.index + 1


@dataclass
class Ack:
    """What a peer says arrived of one export: parts, and records and blobs it now holds."""

    export_id: bytes
    parts: list[int]
    last: int
    records: list[bytes]
    blobs: list[bytes]


def write_ack(out: BinaryIO, keyring: Keyring, recipient: bytes, acks: list[Ack], created: int) -> None:
    """An acknowledgement bundle: encrypted and authenticated like any bundle, for the exporter."""
    w = _open_v2(out, keyring, recipient, created)
    for a in acks:
        for i in range(0, max(len(a.records), 1), 4096):
            blobs = a.blobs if i == 0 else []
            w.put(["ack", a.export_id, a.parts, a.last, a.records[i : i + 4096], blobs])
    w.put(["end", 0, 0, True], final=True)


@dataclass
class Piece:
    """A range of a blob, checked only when the blob is whole (it may span parts)."""

    hash: bytes
    size: int
    offset: int
    length: int
    path: Path


@dataclass
class BundleRead:
    """A bundle checked to its end: where its records and blobs were unpacked, not yet used."""

    sender: bytes
    created: int
    records: list[bytes] = field(default_factory=list)
    blobs: list[tuple[bytes, int, Path]] = field(default_factory=list)
    #: Version 2: the export this part belongs to, its index, and whether it is the last part.
    export_id: bytes | None = None
    part: int = 0
    last: bool = True
    pieces: list[Piece] = field(default_factory=list)
    acks: list[Ack] = field(default_factory=list)


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
        if version not in (1, 2) or type(sender) is not bytes or len(sender) != 32:
            raise ValueError
        if type(recipient) is not bytes:
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
    files: dict[tuple[bytes, int], tuple[int, Path, int]] = {}
    ended = False
    first = True
    for chunk in _chunks(src):
        if ended:
            raise BundleError("the bundle has data after its end")
        try:
            plain, tag = sodium.crypto_secretstream_xchacha20poly1305_pull(state, chunk, None)
            value = decode(plain)
        except (nacl.exceptions.CryptoError, ValueError, CanonicalError):
            raise BundleError("the bundle was altered (a chunk does not decrypt)") from None
        kind = value[0] if type(value) is list and value else None
        if version == 2 and first and kind != "ack":
            if kind != "part" or len(value) != 3 or type(value[1]) is not bytes or type(value[2]) is not int:
                raise BundleError("the bundle is damaged (a part without its export)")
            out.export_id, out.part = value[1], value[2]
            first = False
            continue
        first = False
        if kind == "records" and len(value) == 2 and type(value[1]) is list:
            if not all(type(w) is bytes for w in value[1]):
                raise BundleError("the bundle is damaged (a record is not bytes)")
            out.records += value[1]
        elif kind == "blob" and len(value) == 5:
            _blob_chunk(value, files, scratch, version)
        elif kind == "ack" and version == 2 and len(value) == 6:
            out.acks.append(_ack(value))
        elif kind == "end" and len(value) == 3 + (version == 2):
            if tag != _TAG_FINAL:
                raise BundleError("the bundle is damaged (end without its final tag)")
            whole = sum(1 for (_, start), (size, _, have) in files.items() if start + have == size)
            if value[1] != len(out.records) or (not out.acks and value[2] != whole):
                raise BundleError("the bundle is incomplete (fewer records or blobs than it says)")
            if version == 2:
                out.last = value[3] is True
            ended = True
        else:
            raise BundleError("the bundle is damaged (unknown chunk)")
        if on_progress:
            on_progress()
    if not ended:
        raise BundleError("the bundle is truncated (its end is missing)")
    for (h, start), (size, path, have) in files.items():
        if start == 0 and have == size:
            digest = hashlib.sha256()
            with path.open("rb") as f:
                while block := f.read(CHUNK):
                    digest.update(block)
            if digest.digest() != h:
                raise BundleError(f"blob {h.hex()[:16]}… in the bundle does not match its hash")
            out.blobs.append((h, size, path))
        else:
            out.pieces.append(Piece(h, size, start, have, path))
    return out


def _blob_chunk(
    value: list, files: dict[tuple[bytes, int], tuple[int, Path, int]], scratch: Path, version: int
) -> None:
    """Append one blob chunk to its run; a version-1 run starts at 0, a version-2 run anywhere."""
    _, h, size, offset, data = value
    if type(h) is not bytes or len(h) != 32 or type(size) is not int or type(data) is not bytes:
        raise BundleError("the bundle is damaged (a blob chunk)")
    if type(offset) is not int or offset < 0:
        raise BundleError("the bundle is damaged (a blob chunk)")
    runs = files.items()
    run = next(((hh, st) for (hh, st), (_, _, have) in runs if hh == h and st + have == offset), None)
    if run is None:
        if any(hh == h for hh, _ in files) or (offset and version == 1):
            raise BundleError("the bundle is damaged (blob chunks out of order)")
        run = (h, offset)
        files[run] = (size, scratch / f"{h.hex()}-{offset}", 0)
    fsize, path, have = files[run]
    if fsize != size or run[1] + have + len(data) > size:
        raise BundleError("the bundle is damaged (blob chunks out of order)")
    with path.open("ab") as f:
        f.write(data)
    files[run] = (size, path, have + len(data))


def _ack(value: list) -> Ack:
    _, export_id, parts, last, records, blobs = value
    ok = (
        type(export_id) is bytes
        and len(export_id) == 16
        and type(parts) is list
        and all(type(p) is int for p in parts)
        and type(last) is int
        and type(records) is list
        and all(type(r) is bytes and len(r) == 32 for r in records)
        and type(blobs) is list
        and all(type(b) is bytes and len(b) == 32 for b in blobs)
    )
    if not ok:
        raise BundleError("the acknowledgement is damaged")
    return Ack(export_id, parts, last, records, blobs)
