"""A curator accepts a witness's submission: each file becomes an evidence item, its working copy stripped.

The records written are the evidence plugin's own format (its intake record in the item's private
scope, the derivation, then a copy shared into the coalition naming the intake as ``origin``), so
``tequio evidence review / export / check`` treat an accepted file like one taken in by hand. No
plugin imports another: the records are the interface. The plaintext is never written to disk: the
sealed upload is decrypted as a stream, an image is stripped in memory (``media.strip_stream``) and
both copies are sealed again as they are made. The sealed original keeps its metadata, for the court.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator
from typing import Any

from nacl.signing import SigningKey

from tequio.node import Node, StoredRecord, media
from tequio.schemas import BlobRef

from .curation_media import camera_time, perceptual_hash
from .curation_queue import (
    ITEM,
    CurationError,
    ScopeView,
    check_curator,
    coalition_scopes,
    from_drop,
)
from .recordkinds import SUBMISSION

__all__ = ["MAX_STRIP_BYTES", "TOOL", "accept", "find_submission", "pending"]

DERIVATION, CUSTODY = "evidence.derivation", "evidence.custody"
TOOL = "tequio intake (byte-level metadata removal, in memory)"
#: Images up to this size are stripped in memory; a larger one is kept as it is and says so.
MAX_STRIP_BYTES = 64 << 20
#: The witness's consent, as the evidence item's (publication) consent; the exact one is kept too.
CONSENT = {"publish": "yes", "court": "no", "coalition": "no"}


class _Hashing:
    """A readable stream over a blob's plaintext that hashes what passes and can keep it in memory."""

    def __init__(self, chunks: Iterator[bytes], keep: bool) -> None:
        self.chunks, self.buf, self.h = chunks, b"", hashlib.sha256()
        self.kept: bytearray | None = bytearray() if keep else None
        self.size = 0

    def read(self, n: int = -1) -> bytes:
        while (n < 0 or len(self.buf) < n) and (chunk := next(self.chunks, b"")):
            self.buf += chunk
        data, self.buf = (self.buf, b"") if n < 0 else (self.buf[:n], self.buf[n:])
        self.h.update(data)
        self.size += len(data)
        if self.kept is not None:
            if self.size > MAX_STRIP_BYTES:
                self.kept = None  # too large to strip in memory: kept as it is (and said)
            else:
                self.kept += data
        return data


def find_submission(node: Node, text: str) -> StoredRecord:
    """A submission in one of this node's coalitions by its id or a unique prefix of 8+ hex."""
    t = text.strip().lower()
    if len(t) < 8 or any(c not in "0123456789abcdef" for c in t):
        raise CurationError("give the submission id, or at least 8 hex characters of it")
    found = [
        r
        for scope in coalition_scopes(node, None)
        for r in node.records(scope=scope, kind=SUBMISSION)
        if r.body is not None and r.id.hex().startswith(t)
    ]
    if not found:
        raise CurationError(f"no submission {text[:70]!r} in this node's coalitions")
    if len(found) > 1:
        raise CurationError(f"{text[:70]!r} names {len(found)} submissions: give more characters")
    return found[0]


def _accepted(node: Node, scope: str) -> dict[bytes, set[int]]:
    out: dict[bytes, set[int]] = {}
    for r in node.records(scope=scope, kind=ITEM):
        if (got := from_drop(r)) is not None:
            out.setdefault(got[0], set()).add(got[1])
    return out


def pending(node: Node, group: str | None = None, show_all: bool = False) -> list[dict[str, Any]]:
    """Submissions no curator has accepted yet (nor marked not relevant, unless ``show_all``)."""
    rows = []
    for scope in coalition_scopes(node, group):
        done, view = _accepted(node, scope), ScopeView(node, scope)
        calls = node.records(scope=scope, kind="intake.call")
        titles = {r.id: str((r.body or {}).get("title", "")) for r in calls}
        for r in node.records(scope=scope, kind=SUBMISSION):
            b = r.body or {}
            tags = view.tags(r.id)
            hidden = tags.get("not_relevant") is True
            if r.id in done or (hidden and not show_all):
                continue
            rows.append(
                {
                    "id": r.id.hex(),
                    "scope": scope,
                    "call": str(b.get("call", b"").hex()),
                    "call_title": titles.get(b.get("call", b""), ""),
                    "hour": str(b.get("hour", "")),
                    "stated_time": str(b.get("when", "")),
                    "where": str(b.get("where", "")),
                    "account": str(b.get("account", "")),
                    "consent": str(b.get("consent", "")),
                    "contact": b.get("contact") is True,
                    "files": [dict(f) for f in b.get("files", [])],
                    "follows": b["follows"].hex() if isinstance(b.get("follows"), bytes) else None,
                    "not_relevant": hidden,
                }
            )
    return sorted(rows, key=lambda r: (r["hour"], r["id"]))


def _files(sub: StoredRecord) -> list[tuple[dict[str, Any], BlobRef | None]]:
    """Each stated file with its sealed blob; a text-only submission's account becomes one text file."""
    b = sub.body or {}
    blobs = list(sub.payload.blobs) if sub.payload else []
    facts = [dict(f) for f in b.get("files", [])]
    if not facts and str(b.get("account", "")).strip():
        return [({"name": "account.txt", "mime": "text/plain", "size": 0}, None)]
    return [(f, blobs[i] if i < len(blobs) else None) for i, f in enumerate(facts)]


def accept(node: Node, submission: str, title: str = "") -> list[StoredRecord]:
    """Take a submission's files in as evidence items (state unreviewed) shared into its coalition.

    Returns the shared copies (one per file). A submission already accepted, by any curator whose
    record this node holds, is refused; two curators accepting at once on two nodes each write items,
    and the queue shows the earliest (the same on every node).
    """
    sub = find_submission(node, submission)
    scope = sub.scope
    check_curator(node, scope)
    if sub.id in _accepted(node, scope):
        raise CurationError(f"submission {sub.id.hex()[:16]} is already accepted")
    b = sub.body or {}
    call = node.get(b["call"]) if isinstance(b.get("call"), bytes) else None
    call_title = str((call.body or {}).get("title", "")) if call is not None else ""
    out = []
    for i, (facts, ref) in enumerate(_files(sub)):
        if ref is None and facts["name"] != "account.txt":
            raise CurationError(f"file {i + 1} of the submission is not held on this node yet; sync first")
        name = str(facts.get("name", ""))[:200] or f"file {i + 1}"
        label = title.strip() or (f"{call_title}: {name}" if call_title else name)
        out.append(_take_in(node, sub, i, facts, ref, label[:500]))
    return out


def _take_in(
    node: Node, sub: StoredRecord, index: int, facts: dict[str, Any], ref: BlobRef | None, title: str
) -> StoredRecord:
    b = sub.body or {}
    mime = str(facts.get("mime") or media.OCTET_STREAM)
    chunks: Iterator[bytes] = (
        iter([str(b.get("account", "")).encode()]) if ref is None else iter(node.open_blob(ref.hash))
    )
    reader = _Hashing(chunks, keep=media.can_strip(mime))
    nonce = node.rng(16)
    # the evidence format's item scope: a key derived from the node key and the nonce (see its docs)
    item_key = SigningKey(node.derive_key(b"tequio/evidence-item/v1\n" + nonce)).verify_key
    item_scope = "d:" + bytes(item_key).hex()
    original_ref, _ = node.attach_stream(reader, item_scope, mime)
    sha, size = reader.h.digest(), reader.size
    if size == 0:
        raise CurationError(f"file {index + 1} of the submission is empty: nothing to take in")
    extra: dict[str, Any] = {}
    if reader.kept is not None:
        data = bytes(reader.kept)
        out = io.BytesIO()
        try:
            stripped = media.strip_stream(io.BytesIO(data), out, mime)
        except media.MediaError as e:
            stripped = media.not_stripped(mime)
            stripped.not_stripped.append(f"could not be read to strip it: {str(e)[:200]}")
        working = out.getvalue() if stripped.stripped else data
        if (ph := perceptual_hash(data)) is not None:
            extra["phash"] = ph
        if (cam := camera_time(data)) is not None:
            extra["camera_time"] = cam
        del data
    else:
        stripped, working = media.not_stripped(mime), b""
        if media.can_strip(mime):
            stripped.not_stripped.append(f"larger than {MAX_STRIP_BYTES >> 20} MB: kept as it is")
    wsha = hashlib.sha256(working).digest() if working else sha
    if working and wsha != sha:
        working_ref, _ = node.attach_stream(io.BytesIO(working), item_scope, mime)
        wsize = len(working)
    else:
        working_ref, wsize = original_ref, size
    body: dict[str, Any] = {
        "sha256": sha,
        "title": title or "submission",
        "description": str(b.get("account", ""))[:20_000],
        "when": str(b.get("when", ""))[:100],
        "where": str(b.get("where", ""))[:500],
        "source": "public drop (anonymous witness)",
        "consent": CONSENT.get(str(b.get("consent")), "unknown"),
        "name": str(facts.get("name", ""))[:500],
        "original": {"sha256": sha, "size": size, "mime": mime},
        "working": {"sha256": wsha, "size": wsize, "mime": mime},
        "removed": stripped.removed,
        "kept": stripped.kept,
        "not_stripped": stripped.not_stripped,
        "nonce": nonce,
        "org": node.name,
        # what the witness said, kept beside the evidence format (its model ignores the extra field)
        "intake": {
            "submission": sub.id,
            "file": index,
            "consent": str(b.get("consent", "")),
            "contact": b.get("contact") is True,
            "hour": str(b.get("hour", "")),
        },
        **extra,
    }
    rec = node.publish(ITEM, body, scope=item_scope, blobs=[original_ref, working_ref])
    derivation = {
        "sha256": sha,
        "item": rec.id,
        "to": wsha,
        "removed": stripped.removed,
        "kept": stripped.kept,
        "not_stripped": stripped.not_stripped,
        "tool": TOOL,
    }
    node.publish(DERIVATION, derivation, scope=item_scope, refs=[rec.id])
    # The shared copy: the working copy only (the coalition already holds the sealed original).
    source = working if working else None
    stream = io.BytesIO(source) if source is not None else node.blob_reader(working_ref.hash)
    shared_ref, keys = node.attach_stream(stream, sub.scope, mime)
    copy = {k: v for k, v in body.items() if k != "nonce"}
    copy["original"] = None
    copy["origin"] = {"item": rec.id, "org": node.key, "record": rec.record.redacted().wire}
    shared = node.publish(ITEM, copy, scope=sub.scope, refs=[sub.id], blobs=[shared_ref], keys=keys)
    node.publish(DERIVATION, {**derivation, "item": shared.id}, scope=sub.scope, refs=[shared.id])
    node.publish(
        CUSTODY,
        {
            "sha256": sha,
            "item": rec.id,
            "event": "share",
            "detail": {"scope": sub.scope, "record": shared.id.hex(), "original": False, "from": "intake"},
            "org": node.name,
        },
        scope=item_scope,
        refs=[rec.id],
    )
    return shared
