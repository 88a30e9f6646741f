"""Taking a file in: hash it, seal it byte-identical (encrypted), derive a stripped working copy.

Each item gets its own private scope ``d:<item key>``, an Ed25519 key derived from the node key and
a random nonce: no peer holds that key, so the item's custody chain (one feed, one hash chain) never
leaves the node, and a court package can reveal the key of that one scope without exposing any
other record.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tequio.node import Node, media

from . import phash
from .camtime import camera_time
from .index import EvidenceError, item_key, my_intake, my_items
from .provenance import read_c2pa
from .recordkinds import DERIVATION, ITEM

__all__ = ["TOOL", "Intake", "intake"]

TOOL = "tequio evidence (byte-level metadata removal)"


@dataclass
class Intake:
    """What ``evidence add`` reports for one file."""

    id: bytes
    sha256: bytes
    working_sha256: bytes | None
    removed: list[str]
    kept: list[str]
    not_stripped: list[str]
    mime: str
    c2pa: str
    duplicate_of: bytes | None = None
    near: list[tuple[bytes, int]] = field(default_factory=list)  # (item id, bits apart)
    shared: str | None = None
    blocked: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id.hex(),
            "original_sha256": self.sha256.hex(),
            "working_sha256": self.working_sha256.hex() if self.working_sha256 else None,
            "removed": self.removed,
            "kept": self.kept,
            "not_stripped": self.not_stripped,
            "mime": self.mime,
            "c2pa": self.c2pa,
            "near_duplicates": [{"id": i.hex(), "bits": b} for i, b in self.near],
        }
        if self.duplicate_of is not None:
            out["duplicate_of"] = self.duplicate_of.hex()
        if self.shared:
            out["shared"] = self.shared
        if self.blocked:
            out["blocked"] = self.blocked
        return out


class _Hashing:
    """Reads a file through SHA-256, so the copy that is sealed is checked against the first hash."""

    def __init__(self, f: Any) -> None:
        self.f = f
        self.h = hashlib.sha256()

    def read(self, n: int = -1) -> bytes:
        data = self.f.read(n)
        self.h.update(data)
        return bytes(data)

    def digest(self) -> bytes:
        return self.h.digest()


def work_dir(node: Node) -> Path:
    """The node's private folder for files being made (stripped copies), inside its blob store."""
    return node.home / "blobs" / "partial"


def intake(
    node: Node,
    path: Path,
    title: str,
    *,
    description: str = "",
    when: str = "",
    where: str = "",
    source: str = "",
    consent: str = "unknown",
    faces_at_risk: bool = False,
    keep_location: bool = False,
    incident: bytes | None = None,
) -> Intake:
    """Take one file in: hash it first, keep it byte-identical (encrypted), derive a stripped copy."""
    try:
        digest = media.hash_file(path)
    except media.MediaError as e:
        raise EvidenceError(str(e)) from None
    if digest.size == 0:
        raise EvidenceError(f"{path}: is empty (0 bytes): there is nothing to take in as evidence")
    held = my_intake(node, digest.sha256)
    if held is not None:
        w = (held.body or {}).get("working") or {}
        return Intake(
            held.id, digest.sha256, w.get("sha256"), [], [], [], digest.mime, "", duplicate_of=held.id
        )
    try:
        with media.stripped_copy(path, work_dir(node), digest.mime, keep_location=keep_location) as copy:
            stripped, wdigest = copy.report, copy.digest
            ph = phash.perceptual_hash(path) if digest.mime.startswith("image/") else None
            cam = camera_time(path) if digest.mime.startswith("image/") else None
            prov = read_c2pa(path)
            nonce = node.rng(16)
            scope = "d:" + item_key(node, nonce).hex()
            with path.open("rb") as f:
                reader = _Hashing(f)
                original_ref, _ = node.attach_stream(reader, scope, digest.mime)
            if reader.digest() != digest.sha256:  # the bytes sealed are the bytes hashed, or nothing is kept
                raise EvidenceError(f"{path} changed while it was taken in; nothing was recorded")
            if wdigest.sha256 == digest.sha256:
                working_ref = original_ref  # nothing could be stripped: one sealed copy serves both roles
            else:
                working_ref, _ = node.attach(copy.path, scope, wdigest.mime)
    except media.MediaError as e:
        raise EvidenceError(f"{path}: {e}" if str(path) not in str(e) else str(e)) from None
    body: dict[str, Any] = {
        "sha256": digest.sha256,
        "title": title,
        "description": description,
        "when": when,
        "where": where,
        "source": source,
        "consent": consent,
        "faces_at_risk": faces_at_risk,
        "name": path.name,
        "original": {"sha256": digest.sha256, "size": digest.size, "mime": digest.mime},
        "working": {"sha256": wdigest.sha256, "size": wdigest.size, "mime": wdigest.mime},
        "removed": stripped.removed,
        "kept": stripped.kept,
        "not_stripped": stripped.not_stripped,
        "c2pa": {"status": prov.status, "detail": prov.detail[:4000], "signer": prov.signer},
        "nonce": nonce,
        "org": node.name,
    }
    if ph is not None:
        body["phash"] = ph
    if cam is not None:
        body["camera_time"] = cam  # the camera's clock (ms), for curators beside the stated time
    if incident is not None:
        body["incident"] = incident
    rec = node.publish(ITEM, body, scope=scope, blobs=[original_ref, working_ref])
    node.publish(
        DERIVATION,
        {
            "sha256": digest.sha256,
            "item": rec.id,
            "to": wdigest.sha256,
            "removed": stripped.removed,
            "kept": stripped.kept,
            "not_stripped": stripped.not_stripped,
            "tool": TOOL,
        },
        scope=scope,
        refs=[rec.id],
    )
    near = []
    if ph is not None:
        for other in my_items(node):
            p = (other.body or {}).get("phash")
            if (
                other.id != rec.id
                and isinstance(p, int)
                and phash.hamming(p, ph) <= phash.NEAR_DUPLICATE_BITS
            ):
                near.append((other.id, phash.hamming(p, ph)))
    return Intake(
        rec.id,
        digest.sha256,
        wdigest.sha256,
        stripped.removed,
        stripped.kept,
        stripped.not_stripped,
        digest.mime,
        prov.status,
        near=near,
    )
