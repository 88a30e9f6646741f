"""Export and import bundles for a node: what one peer may read, carried on a stick."""

from __future__ import annotations

import io
import json
import os
import secrets
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from tequio.federation.bundle_file import Ack, BundleError, BundleRead, read_bundle, write_ack, write_bundle
from tequio.federation.wire import SigningKeyring
from tequio.schemas import parse_wire

from .errors import TequioError
from .federation import NodeSyncHost
from .node import Node
from .reports import IngestReport

__all__ = ["BundleImport", "export_bundle", "export_parts", "import_bundle", "write_ack_file"]


_TABLES = """
CREATE TABLE IF NOT EXISTS bundle_exports (export_id BLOB PRIMARY KEY, peer BLOB NOT NULL, created INTEGER);
CREATE TABLE IF NOT EXISTS bundle_acked (peer BLOB NOT NULL, id BLOB NOT NULL, PRIMARY KEY (peer, id))
  WITHOUT ROWID;
"""


def _tables(node: Node) -> None:
    """This module's own two tables (exports made, ids acknowledged), kept apart from the store's."""
    with node.store.write():
        for stmt in _TABLES.split(";"):
            if stmt.strip():
                node.store.conn.execute(stmt)


def _acked(node: Node, peer: bytes) -> set[bytes]:
    _tables(node)
    return {i for (i,) in node.store.conn.execute("SELECT id FROM bundle_acked WHERE peer = ?", (peer,))}


def _selection(
    node: Node, recipient: bytes, since: int, skip: set[bytes]
) -> tuple[Iterator[bytes], Iterator[tuple[bytes, int, Path]]]:
    host = NodeSyncHost(node)
    included: set[bytes] = set()

    def records() -> Iterator[bytes]:
        for row in node.store.iter_rows():
            _, rid, author, scope, _, _, wire, received = row
            if received >= since and host.may_read(recipient, author, scope):
                included.add(rid)
                if rid not in skip:
                    yield wire

    def blobs() -> Iterator[tuple[bytes, int, Path]]:
        seen: set[bytes] = set()
        for h, rid, author, scope, size, _ in node.store.conn.execute(
            "SELECT * FROM blob_refs ORDER BY hash"
        ):
            if (
                rid in included
                and h not in seen
                and h not in skip
                and node.blobs.has(h)
                and host.may_read(recipient, author, scope)
            ):
                seen.add(h)
                yield h, size, node.blobs.path(h)

    return records(), blobs()


def export_parts(
    node: Node, recipient: bytes, out: Path, max_size: int, since_last: bool = False, since: int = 0
) -> tuple[int, int, list[Path]]:
    """Write what ``recipient`` may read (and, with ``since_last``, has not acknowledged) as parts.

    Parts are named ``STEM-1of3.SUFFIX`` once their count is known; none appears until all are done.
    """
    from tequio.federation.bundle_file import write_parts

    if not out.parent.is_dir():
        raise TequioError(f"{out}: the folder {out.parent} does not exist (is the stick mounted?)")
    _tables(node)
    skip = _acked(node, recipient) if since_last else set()
    records, blobs = _selection(node, recipient, since, skip)
    export_id = secrets.token_bytes(16)
    tmps: list[Path] = []
    files: list[BinaryIO] = []

    def open_part(i: int) -> BinaryIO:
        if files:
            f = files[-1]
            f.flush()
            os.fsync(f.fileno())
            f.close()
        tmp = out.with_name(f".{out.stem}-{i + 1}.part")
        tmps.append(tmp)
        f = tmp.open("wb")
        files.append(f)
        return f

    keyring = SigningKeyring(node._signing_key())
    try:
        n_rec, n_blob, n_parts = write_parts(
            open_part, keyring, recipient, records, blobs, node.clock(), export_id, max_size
        )
        last = files[-1]
        last.flush()
        os.fsync(last.fileno())
        last.close()
        finals = (
            [out]
            if n_parts == 1
            else [out.with_name(f"{out.stem}-{i + 1}of{n_parts}{out.suffix}") for i in range(n_parts)]
        )
        for tmp, final in zip(tmps, finals, strict=True):
            os.replace(tmp, final)
        with node.store.write():
            node.store.conn.execute(
                "INSERT INTO bundle_exports VALUES (?, ?, ?)", (export_id, recipient, node.clock())
            )
    finally:
        for f in files:
            f.close()
        for tmp in tmps:
            tmp.unlink(missing_ok=True)
    return n_rec, n_blob, finals


def export_bundle(node: Node, recipient: bytes, out: Path, since: int = 0) -> tuple[int, int]:
    """Write every record ``recipient`` may read (received at or after ``since``, ms) and their blobs.

    The file appears only once complete: it is written beside ``out`` and renamed.
    """
    host = NodeSyncHost(node)
    included: set[bytes] = set()

    def records() -> Iterator[bytes]:
        for row in node.store.iter_rows():
            _, rid, author, scope, _, _, wire, received = row
            if (
                received >= since
                and host.may_read(recipient, author, scope)
                and host.relayable(author, scope, wire)  # E6: hidden records are never handed on
            ):
                included.add(rid)
                yield wire

    def blobs() -> Iterator[tuple[bytes, int, Path]]:
        seen: set[bytes] = set()
        for h, rid, author, scope, size, _ in node.store.conn.execute(
            "SELECT * FROM blob_refs ORDER BY hash"
        ):
            if (
                rid in included
                and h not in seen
                and node.blobs.has(h)
                and host.may_read(recipient, author, scope)
            ):
                seen.add(h)
                yield h, size, node.blobs.path(h)

    if not out.parent.is_dir():
        raise TequioError(f"{out}: the folder {out.parent} does not exist (is the stick mounted?)")
    tmp = out.with_name(f".{out.name}.part")
    try:
        with tmp.open("wb") as f:
            counts = write_bundle(
                f, SigningKeyring(node._signing_key()), recipient, records(), blobs(), node.clock()
            )
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return counts


@dataclass
class BundleImport:
    sender: bytes
    report: IngestReport
    blobs: int
    #: A part of a split export: its export, its index, and the parts still missing (None: unknown end).
    export_id: bytes | None = None
    part: int = 0
    missing: list[int] | None = None
    held: int = 0
    ack: Ack | None = None
    seen_gaps: list[int] = field(default_factory=list)
    #: For an acknowledgement bundle: how many records and blobs the peer said arrived.
    acked: tuple[int, int] | None = None


def _staging(node: Node) -> Path:
    path = node.home / "bundle-staging"
    path.mkdir(exist_ok=True)
    return path


def _apply_ack(node: Node, read: BundleRead) -> BundleImport:
    """Mark what the peer says arrived, only for exports we made for that very peer."""
    _tables(node)
    n_rec = n_blob = 0
    with node.store.write():
        for a in read.acks:
            row = node.store.conn.execute(
                "SELECT peer FROM bundle_exports WHERE export_id = ?", (a.export_id,)
            ).fetchone()
            if row is None or row[0] != read.sender:
                raise BundleError(
                    f"an acknowledgement from {read.sender.hex()[:16]}… for an export not made for that key"
                )
            ids = [(read.sender, i) for i in a.records + a.blobs]
            node.store.conn.executemany("INSERT OR IGNORE INTO bundle_acked VALUES (?, ?)", ids)
            n_rec += len(a.records)
            n_blob += len(a.blobs)
    return BundleImport(read.sender, IngestReport(), 0, acked=(n_rec, n_blob))


def _stage_pieces(node: Node, read: BundleRead, wanted: set[bytes]) -> list[bytes]:
    """Keep blob ranges from parts until a blob is whole; then check its hash and store it."""
    done: list[bytes] = []
    for p in read.pieces:
        data_path = _staging(node) / p.hash.hex()
        meta_path = data_path.with_suffix(".ranges")
        ranges: list[list[int]] = json.loads(meta_path.read_text()) if meta_path.exists() else []
        with data_path.open("r+b" if data_path.exists() else "wb") as f, p.path.open("rb") as src:
            f.seek(p.offset)
            while block := src.read(1 << 20):
                f.write(block)
        ranges = _merge([*ranges, [p.offset, p.offset + p.length]])
        meta_path.write_text(json.dumps(ranges))
        if ranges == [[0, p.size]]:
            import hashlib

            digest = hashlib.sha256()
            with data_path.open("rb") as f:
                while block := f.read(1 << 20):
                    digest.update(block)
            if digest.digest() == p.hash and p.hash in wanted:
                node.blobs.put_file(data_path)
                done.append(p.hash)
            data_path.unlink(missing_ok=True)
            meta_path.unlink(missing_ok=True)
    return done


def _merge(ranges: list[list[int]]) -> list[list[int]]:
    out: list[list[int]] = []
    for lo, hi in sorted(ranges):
        if out and lo <= out[-1][1]:
            out[-1][1] = max(out[-1][1], hi)
        else:
            out.append([lo, hi])
    return out


def _parts_seen(node: Node, read: BundleRead) -> tuple[list[int] | None, list[int]]:
    """Record this part; return the parts still missing (None while the end is unknown) and the gaps
    below the highest part seen."""
    assert read.export_id is not None
    path = _staging(node) / f"export-{read.export_id.hex()}.json"
    seen: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {"parts": [], "last": -1}
    parts: list[int] = sorted(set(seen["parts"]) | {read.part})
    last: int = read.part if read.last else int(seen["last"])
    path.write_text(json.dumps({"parts": parts, "last": last}))
    top = last if last >= 0 else max(parts)
    missing = [i for i in range(top + 1) if i not in parts]
    return (missing if last >= 0 else None), missing


def import_bundle(node: Node, path: Path) -> BundleImport:
    """Check the whole bundle (or part) first (BundleError if anything is wrong), then ingest it.

    A part's records that wait for an earlier part (``gap``) are held and tried again with the next
    part; its blob ranges are staged until the blob is whole.
    """
    keyring = SigningKeyring(node._signing_key())
    with tempfile.TemporaryDirectory(dir=node.home) as scratch, path.open("rb") as src:
        read = read_bundle(src, keyring, Path(scratch))
        if read.acks:
            return _apply_ack(node, read)
        held_path = _staging(node) / "held.tqr"
        held = held_path.read_bytes() if read.export_id is not None and held_path.exists() else b""
        stream = held + b"".join(read.records)
        report = node.import_stream(io.BytesIO(stream), f"bundle:{path.name}") if stream else IngestReport()
        wanted = {h for (h,) in node.store.conn.execute("SELECT DISTINCT hash FROM blob_refs")}
        kept = 0
        for h, _, blob_path in read.blobs:
            if h in wanted:  # only blobs that records we hold refer to: a bundle cannot fill the disk
                node.blobs.put_file(blob_path)
                kept += 1
        if read.export_id is None:
            return BundleImport(read.sender, report, kept)
        staged = _stage_pieces(node, read, wanted)
        kept += len(staged)
        waiting = [w for w in _split(stream) if node.store.get(parse_wire(w).id) is None]
        gaps = [r for r in report.rejected if str(r.reason) == "gap"]
        report.rejected = [r for r in report.rejected if str(r.reason) != "gap"]
        held_path.write_bytes(b"".join(waiting)) if gaps else held_path.unlink(missing_ok=True)
        arrived = [parse_wire(w).id for w in _split(stream)]  # held ones that went in now, too
        ack = Ack(
            read.export_id,
            [read.part],
            read.part if read.last else -1,
            [i for i in arrived if node.store.get(i) is not None],
            [h for h, _, _ in read.blobs if node.blobs.has(h)] + staged,
        )
        missing, gaps_below = _parts_seen(node, read)
        return BundleImport(
            read.sender, report, kept, read.export_id, read.part, missing, len(gaps), ack, gaps_below
        )


def _split(stream: bytes) -> list[bytes]:
    from tequio.schemas import FrameReader

    return list(FrameReader(io.BytesIO(stream)))


def write_ack_file(node: Node, to: bytes, acks: list[Ack], out: Path) -> None:
    """The acknowledgement to carry back: encrypted for the exporter, signed by this node's key."""
    tmp = out.with_name(f".{out.name}.part")
    try:
        with tmp.open("wb") as f:
            write_ack(f, SigningKeyring(node._signing_key()), to, acks, node.clock())
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
