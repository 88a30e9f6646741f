"""Export and import bundles for a node: what one peer may read, carried on a stick."""

from __future__ import annotations

import io
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tequio.federation.bundles import read_bundle, write_bundle
from tequio.federation.wire import SigningKeyring

from .errors import TequioError
from .federation import NodeSyncHost
from .node import Node
from .reports import IngestReport

__all__ = ["BundleImport", "export_bundle", "import_bundle"]


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


def import_bundle(node: Node, path: Path) -> BundleImport:
    """Check the whole bundle first (BundleError if anything is wrong), then ingest it."""
    keyring = SigningKeyring(node._signing_key())
    with tempfile.TemporaryDirectory(dir=node.home) as scratch, path.open("rb") as src:
        read = read_bundle(src, keyring, Path(scratch))
        report = node.import_stream(io.BytesIO(b"".join(read.records)), f"bundle:{path.name}")
        wanted = {h for (h,) in node.store.conn.execute("SELECT DISTINCT hash FROM blob_refs")}
        kept = 0
        for h, _, blob_path in read.blobs:
            if h in wanted:  # only blobs that records we hold refer to: a bundle cannot fill the disk
                node.blobs.put_file(blob_path)
                kept += 1
    return BundleImport(read.sender, report, kept)
