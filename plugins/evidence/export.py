"""Court packages from a node: gather an item's files, records and keys, and write the package.

Files are decrypted into a private temporary folder (0700) only for as long as the package is
being written. The package reveals the keys that open exactly the records it includes (see
docs/evidence.md, "Court packages"). The working copy packaged is the one the item was shared with:
after a redaction, the redacted copy.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tequio.node import Node, StoredRecord
from tequio.schemas import BlobRef, parse_wire

from .custody import current_working, custody
from .index import EvidenceError, indexed, my_intake, role_refs, scope_key
from .package import PackageFile, PackageItem, PackageRecord, write_package
from .package.layout import ext
from .sharing import check_may_leave

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
        for stored in node.records(scope=scope, author=author, limit=None):
            if low <= stored.seq <= high and stored.id not in records:
                records[stored.id] = PackageRecord(stored.record.redacted().wire, None)


def export(node: Node, shas: Sequence[bytes], out: Path) -> dict[str, Any]:
    """Write a court package of these items to ``out``; each export is itself a custody event."""
    if not shas:
        raise EvidenceError("nothing to export: name items or an incident with items")
    intakes = []
    for sha in shas:
        rec = my_intake(node, sha)
        if rec is None:
            raise EvidenceError(
                f"item {sha.hex()[:16]}… was not taken in on this node: only its organisation exports it"
            )
        check_may_leave(node, sha, None)
        intakes.append(rec)
    package_id = node.rng(16).hex()
    for rec in intakes:  # recorded first, so the package carries its own export event
        custody(node, rec, "export", {"package": package_id, "file": out.name, "items": len(intakes)})
    try:
        return _write(node, intakes, out, package_id)
    except Exception as e:
        for rec in intakes:  # the chain is append-only: say that this export did not happen
            custody(node, rec, "export", {"package": package_id, "failed": str(e)[:500]})
        raise


def _decrypt(node: Node, ref: BlobRef, path: Path) -> None:
    with path.open("xb") as f:
        for chunk in node.open_blob(ref.hash):
            f.write(chunk)


def _write(node: Node, intakes: list[StoredRecord], out: Path, package_id: str) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="tequio-export-"))  # mkdtemp makes it 0700
    try:
        items: list[PackageItem] = []
        records: dict[bytes, PackageRecord] = {}
        for rec in intakes:
            body = rec.body or {}
            (working, working_ref), _ = current_working(node, rec)
            sources = {
                "original": (body["original"], role_refs(rec)["original"]),
                "working": (working, working_ref),
            }
            files: dict[str, PackageFile] = {}
            for role, (facts, ref) in sources.items():
                path = tmp / f"{role}-{facts['sha256'].hex()}{ext(facts['mime'])}"
                if not path.exists():
                    _decrypt(node, ref, path)
                files[role] = PackageFile(role, path, facts["sha256"], facts["size"], facts["mime"])
            items.append(PackageItem(rec.id, str(body.get("title", "")), files["original"], files["working"]))
            for r in indexed(node, body["sha256"]):
                if r.id not in records:
                    records[r.id] = PackageRecord(r.record.wire, scope_key(node, r))
        _fill_chains(node, records)
        return write_package(
            out, items, list(records.values()), node.sign_detached, node.key, node.clock(), package_id
        )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
