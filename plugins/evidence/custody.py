"""An item's chain of custody: appending events, showing them, fixity, incidents, taking files out.

Every event about an item taken in here is a record in the item's own scope, so the chain is one
feed, one hash chain: nothing can be removed from it or reordered without breaking a signature.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from pathlib import Path
from typing import Any

from tequio.node import Node, StoredRecord, TequioError
from tequio.schemas import BlobRef, parse_wire

from .index import EvidenceError, indexed, item_id, my_intake, my_items, org, role_refs
from .recordkinds import ACK, CUSTODY, DERIVATION, INCIDENT, ITEM, REVIEW

__all__ = [
    "add_to_incident",
    "chain",
    "create_incident",
    "current_working",
    "custody",
    "extract",
    "find_incident",
    "fixity",
    "incident_items",
    "incidents",
    "plain_sha",
]


def custody(node: Node, intake_rec: StoredRecord, event: str, detail: dict[str, Any]) -> StoredRecord:
    """Append a custody event to the item's own chain, signed by this node and naming it."""
    body = intake_rec.body or {}
    return node.publish(
        CUSTODY,
        {"sha256": body["sha256"], "item": intake_rec.id, "event": event, "detail": detail, "org": node.name},
        scope=intake_rec.scope,
        refs=[intake_rec.id],
    )


def current_working(node: Node, rec: StoredRecord) -> tuple[tuple[dict[str, Any], BlobRef], StoredRecord]:
    """The working copy shared now: the latest redaction's, else intake's; and its derivation record."""
    b = rec.body or {}
    derivations = [
        d for d in indexed(node, b["sha256"], [DERIVATION]) if d.scope == rec.scope and d.author == rec.author
    ]
    for d in reversed(derivations):
        if d.payload is not None and d.payload.blobs and (d.body or {}).get("working"):
            return ((d.body or {})["working"], d.payload.blobs[0]), d
    return (b["working"], role_refs(rec)["working"]), derivations[0]


def plain_sha(node: Node, ref: BlobRef) -> bytes | None:
    """SHA-256 of a blob's plaintext (decrypting as it streams), or None if it is not held."""
    if not node.blobs.has(ref.hash):
        return None
    h = hashlib.sha256()
    for chunk in node.open_blob(ref.hash):
        h.update(chunk)
    return h.digest()


def chain(node: Node, sha: bytes) -> list[dict[str, Any]]:
    """Every custody event of the item this node holds: who, when, what, and whether it still verifies."""
    out = []
    for rec in indexed(node, sha):
        b = rec.body or {}
        try:
            sig_ok = parse_wire(rec.record.wire).id == rec.id
        except ValueError:
            sig_ok = False
        files = []
        if rec.kind == ITEM:
            for role, ref in role_refs(rec).items():
                try:
                    plain = plain_sha(node, ref)
                except TequioError:
                    plain = None
                files.append(
                    {
                        "role": role,
                        "blob": ref.hash.hex(),
                        "held": node.blobs.has(ref.hash),
                        "ok": plain is not None and plain == (b.get(role) or {}).get("sha256"),
                    }
                )
        out.append(
            {
                "record": rec.id.hex(),
                "kind": rec.kind,
                "what": _what(node, rec),
                "who": org(node, rec.author),
                "author": rec.author.hex(),
                "ts": rec.record.ts,
                "scope": rec.scope,
                "seq": rec.seq,
                "signature_ok": sig_ok,
                "files": files,
            }
        )
    return out


def _what(node: Node, rec: StoredRecord) -> str:
    b = rec.body or {}
    if rec.kind == ITEM:
        if b.get("nonce"):
            mime = (b.get("original") or {}).get("mime")
            return f"intake: {b.get('title')!r} ({mime}), c2pa {(b.get('c2pa') or {}).get('status')}"
        what = "original and working copy" if b.get("original") else "working copy"
        return f"copy of item {item_id(node, rec).hex()[:16]} in {rec.scope[:10]}… ({what})"
    if rec.kind == DERIVATION:
        removed = ", ".join(b.get("removed", [])) or "nothing"
        redacted = "redacted " if b.get("working") else ""
        return f"{redacted}working copy {b['to'].hex()[:16]}… derived; removed: {removed}"
    if rec.kind == REVIEW:
        checks = f" [{', '.join(b.get('checks', []))}]" if b.get("checks") else ""
        return f"review: {b.get('status')}{checks} {b.get('note', '')}".strip()
    if rec.kind == CUSTODY:
        d = b.get("detail") or {}
        return f"{b.get('event')}: " + ", ".join(f"{k}={v}" for k, v in sorted(d.items()) if k != "flags")
    if rec.kind == ACK:
        got = [r for r in ("original", "working") if b.get(r)]
        return f"acknowledged receipt of {' and '.join(got)} (hashes checked)"
    return rec.kind or "?"


def fixity(node: Node) -> list[dict[str, Any]]:
    """Re-hash every file this node took in and record the result in each item's chain."""
    results = []
    for rec in my_items(node):
        b = rec.body or {}
        outcome: dict[str, str] = {}
        for role, ref in role_refs(rec).items():
            try:
                plain = plain_sha(node, ref)
            except TequioError:  # stored bytes no longer decrypt: damaged
                plain = b""
            if plain is None:
                outcome[role] = "missing"
            else:
                outcome[role] = "ok" if plain == (b.get(role) or {}).get("sha256") else "mismatch"
        custody(node, rec, "fixity", outcome)
        results.append({"id": rec.id.hex(), "sha256": b["sha256"].hex(), "title": b.get("title"), **outcome})
    return results


def extract(node: Node, sha: bytes, rec: StoredRecord, role: str, out: Path) -> dict[str, Any]:
    """Write the item's original or (current) working copy to ``out`` (mode 0600), checked against the
    hash its record signed; on the node that took it in, the chain records that it was taken out."""
    mine = my_intake(node, sha)
    source = mine or rec
    body = source.body or {}
    facts: dict[str, Any] | None = body.get(role)
    ref: BlobRef | None = role_refs(source).get(role)
    if role == "working" and mine is not None:
        (facts, ref), _ = current_working(node, mine)  # the redacted copy, once there is one
    if not facts or ref is None:
        raise EvidenceError(f"this node holds no {role} file of that item (only what was shared with it)")
    if out.exists():
        raise EvidenceError(f"{out} already exists; choose another --out")
    tmp = out.with_name(f".{out.name}.{secrets.token_hex(4)}.part")
    h = hashlib.sha256()
    n = 0
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as e:
        raise EvidenceError(f"{out}: cannot write: {e.strerror or e}") from None
    try:
        with os.fdopen(fd, "wb") as f:
            for chunk in node.open_blob(ref.hash):
                h.update(chunk)
                f.write(chunk)
                n += len(chunk)
            f.flush()
            os.fsync(f.fileno())
        if h.digest() != facts["sha256"]:
            raise EvidenceError(
                f"the stored {role} file does not hash to what its record signed; nothing written"
            )
        _place(tmp, out)
    except FileExistsError:
        raise EvidenceError(f"{out} already exists; choose another --out") from None
    except OSError as e:
        raise EvidenceError(f"{out}: cannot write: {e.strerror or e}") from None
    finally:
        tmp.unlink(missing_ok=True)
    if mine is not None:
        custody(node, mine, "extract", {"role": role, "file": out.name, "sha256": h.digest().hex()})
    return {
        "item": item_id(node, source).hex(),
        "role": role,
        "file": str(out),
        "sha256": h.hexdigest(),
        "size": n,
        "mime": facts["mime"],
    }


def _place(tmp: Path, out: Path) -> None:
    """Give ``tmp`` the name ``out``, never over a file that appeared meanwhile: a hard link where the
    filesystem has them, else (a FAT or exFAT USB stick) a rename after checking."""
    try:
        os.link(tmp, out)
    except FileExistsError:
        raise
    except OSError:
        if out.exists():
            raise FileExistsError(out) from None
        os.replace(tmp, out)


def incidents(node: Node) -> list[StoredRecord]:
    return node.records(scope="d:" + node.key.hex(), kind=INCIDENT, limit=None)


def create_incident(node: Node, title: str, description: str = "") -> StoredRecord:
    """A new incident, kept on this node (its items are shared one by one)."""
    return node.publish(
        INCIDENT,
        {"incident": node.rng(16), "title": title, "description": description},
        scope="d:" + node.key.hex(),
    )


def find_incident(node: Node, text: str) -> StoredRecord:
    t = text.strip().lower()
    found = [
        r
        for r in incidents(node)
        if r.body and (r.body["incident"].hex().startswith(t) or r.id.hex().startswith(t))
    ]
    if len(t) < 6 or not found:
        raise EvidenceError(f"no incident {text} on this node (see 'tequio evidence incident list')")
    if len(found) > 1:
        raise EvidenceError(f"{text} matches several incidents")
    return found[0]


def add_to_incident(node: Node, sha: bytes, incident: bytes) -> StoredRecord:
    rec = my_intake(node, sha)
    if rec is None:
        raise EvidenceError("only items taken in on this node can be added to its incidents")
    return custody(node, rec, "incident", {"incident": incident.hex()})


def incident_items(node: Node, incident: bytes) -> list[bytes]:
    """Original hashes of the items in an incident (named at intake or added later)."""
    out = []
    for rec in my_items(node):
        b = rec.body or {}
        linked = b.get("incident") == incident or any(
            (c.body or {}).get("event") == "incident"
            and (c.body or {}).get("detail", {}).get("incident") == incident.hex()
            for c in indexed(node, b["sha256"], [CUSTODY])
        )
        if linked:
            out.append(b["sha256"])
    return out
