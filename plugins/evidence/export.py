"""Court packages from a node: gather an item's files, records and keys, and write the package.

Files are decrypted into a private temporary folder (0700) only for as long as the package is
being written. The package reveals the keys that open exactly the records it includes (see
docs/evidence.md, "Court packages").
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tequio.node import Node
from tequio.schemas import fingerprint, parse_wire

from .items import (
    EvidenceError,
    _custody,
    _my_intake,
    _org,
    chain,
    check_may_leave,
    indexed,
    role_refs,
    scope_key,
)
from .package import PackageFile, PackageItem, PackageRecord, write_package

__all__ = ["export"]


def _fill_chains(node: Node, records: dict[bytes, PackageRecord]) -> None:
    """Add redacted copies of the records between included ones of a feed, so every chain in the
    package links unbroken while the content of records about other matters stays out."""
    span: dict[tuple[bytes, str], tuple[int, int]] = {}
    for r in records.values():
        rec = parse_wire(r.wire)
        key = (rec.author, rec.scope)
        low, high = span.get(key, (rec.seq, rec.seq))
        span[key] = (min(low, rec.seq), max(high, rec.seq))
    for (author, scope), (low, high) in span.items():
        head = node.store.head(author, scope)
        if head is None:
            continue
        for seq in range(low, high + 1):
            wire = node.store.wire_at(head.id, seq)
            if wire is None:
                continue
            rec = parse_wire(wire)
            if rec.id not in records:
                records[rec.id] = PackageRecord(rec.redacted().wire, None)


def _ext(mime: str) -> str:
    return {
        "image/jpeg": ".jpg",
        "image/png": ".png",
        "image/webp": ".webp",
        "image/tiff": ".tif",
        "video/mp4": ".mp4",
        "audio/mpeg": ".mp3",
        "application/pdf": ".pdf",
    }.get(mime, ".bin")


def export(node: Node, shas: Sequence[bytes], out: Path) -> dict[str, Any]:
    """Write a court package of these items to ``out``; each export is itself a custody event."""
    if not shas:
        raise EvidenceError("nothing to export: name items or an incident with items")
    intakes = []
    for sha in shas:
        rec = _my_intake(node, sha)
        if rec is None:
            raise EvidenceError(
                f"item {sha.hex()[:16]}… was not taken in on this node: only its organisation exports it"
            )
        check_may_leave(node, sha, None)
        intakes.append(rec)
    package_id = node.rng(16).hex()
    for rec in intakes:  # recorded first, so the package carries its own export event
        _custody(node, rec, "export", {"package": package_id, "file": out.name, "items": len(intakes)})
    try:
        return _write(node, intakes, out)
    except Exception as e:
        for rec in intakes:  # the chain is append-only: say that this export did not happen
            _custody(node, rec, "export", {"package": package_id, "failed": str(e)[:500]})
        raise


def _write(node: Node, intakes: list[Any], out: Path) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="tequio-export-"))
    os.chmod(tmp, 0o700)
    try:
        items: list[PackageItem] = []
        records: dict[bytes, PackageRecord] = {}
        custody: list[dict[str, Any]] = []
        authors: set[bytes] = {node.key}
        for rec in intakes:
            body = rec.body or {}
            files: dict[str, PackageFile] = {}
            for role, ref in role_refs(rec).items():
                facts = body[role]
                path = tmp / f"{role}-{facts['sha256'].hex()}{_ext(facts['mime'])}"
                with path.open("wb") as f:
                    for chunk in node.open_blob(ref.hash):
                        f.write(chunk)
                files[role] = PackageFile(role, path, facts["sha256"], facts["size"], facts["mime"])
            items.append(
                PackageItem(rec.id, str(body.get("title", "")), files["original"], files.get("working"))
            )
            for r in indexed(node, body["sha256"]):
                if r.id not in records:
                    records[r.id] = PackageRecord(r.record.wire, scope_key(node, r))
                    authors.add(r.author)
            custody += [{"item": rec.id.hex(), **e} for e in chain(node, body["sha256"])]
        _fill_chains(node, records)
        keys = {
            k: _org(node, k).removesuffix(" (this node)").split(" (")[0] or fingerprint(k) for k in authors
        }
        manifest = write_package(
            out,
            items,
            list(records.values()),
            keys,
            node.sign_detached,
            node.key,
            node.clock(),
            custody,
        )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return manifest
