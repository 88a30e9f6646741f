"""What an organisation does with evidence: take it in, share it, review it, clear it, check it.

Each item taken in gets its own private scope ``d:<item key>``, an Ed25519 key derived from the
node key and a random nonce: no peer holds that key, so the item's custody chain (one feed, one
hash chain) never leaves the node, and a court package can reveal the key of that one scope
without exposing any other record. Copies go to a group (``share``) or a partner (``transfer``)
as new records in those scopes, with the files re-encrypted for them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nacl.signing import SigningKey

from tequio.governance import allowed, rule_for
from tequio.node import Node, TequioError, media
from tequio.node.records import StoredRecord
from tequio.schemas import BlobRef, fingerprint, parse_wire

from . import phash
from .provenance import read_c2pa
from .records import ACK, CLEAR, CUSTODY, DERIVATION, INCIDENT, ITEM, REVIEW, VERIFY

__all__ = [
    "EvidenceError",
    "Intake",
    "ack",
    "chain",
    "clear",
    "fixity",
    "intake",
    "items",
    "redact",
    "resolve",
    "review",
    "share",
    "verification",
]

TOOL = "tequio evidence (byte-level metadata removal)"
_SAFE_BLOCK = "cannot leave this node"


class EvidenceError(TequioError):
    """An evidence operation that cannot be done, with the reason for the operator."""


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


# -- scopes and lookups ------------------------------------------------------------------------------


def item_key(node: Node, nonce: bytes) -> bytes:
    """The public key naming an item's private scope."""
    return bytes(SigningKey(node.derive_key(b"tequio/evidence-item/v1\n" + nonce)).verify_key)


def scope_key(node: Node, rec: StoredRecord) -> bytes | None:
    """The key that opens ``rec``'s payload (what a court package reveals for it), if this node has it."""
    if rec.scope == "public":
        return None
    return node.governance.blob_key(rec)


def indexed(node: Node, sha: bytes, kinds: Iterable[str] | None = None) -> list[StoredRecord]:
    """Every evidence record about the item ``sha`` that this node holds, in arrival order."""
    sql = "SELECT record FROM evidence_index WHERE sha256 = ?"
    args: list[Any] = [sha]
    if kinds is not None:
        ks = list(kinds)
        sql += f" AND kind IN ({','.join('?' * len(ks))})"
        args += ks
    out = []
    for (rid,) in node.store.conn.execute(sql + " ORDER BY n", args):
        rec = node.get(rid)
        if rec is not None and rec.body is not None:
            out.append(rec)
    return out


def _my_intake(node: Node, sha: bytes) -> StoredRecord | None:
    for rec in indexed(node, sha, [ITEM]):
        if rec.author == node.key and rec.body and rec.body.get("nonce"):
            return rec
    return None


def resolve(node: Node, text: str) -> tuple[bytes, StoredRecord]:
    """An item by an evidence record id (or unique prefix) or its original SHA-256 (or prefix)."""
    t = text.strip().lower()
    if len(t) < 8:
        raise EvidenceError("give at least 8 hex characters of the item id or hash")
    try:
        prefix = bytes.fromhex(t[: len(t) // 2 * 2])
    except ValueError:
        raise EvidenceError(f"{text!r} is not an item id or hash (hex)") from None
    shas = {
        sha
        for rid, sha in node.store.conn.execute(
            "SELECT record, sha256 FROM evidence_index WHERE kind = ? AND (substr(record, 1, ?) = ? OR"
            " substr(sha256, 1, ?) = ?)",
            (ITEM, len(prefix), prefix, len(prefix), prefix),
        )
        if rid.hex().startswith(t) or sha.hex().startswith(t)
    }
    if not shas:
        raise EvidenceError(f"no evidence item {text} on this node (see 'tequio evidence list')")
    if len(shas) > 1:
        raise EvidenceError(f"{text} matches several items; give more characters")
    sha = shas.pop()
    mine = _my_intake(node, sha)
    recs = indexed(node, sha, [ITEM])
    return sha, mine or recs[0]


def _org(node: Node, key: bytes) -> str:
    """A person-readable name for a node key: from groups, then the peer book, else its fingerprint."""
    if key == node.key:
        return f"{node.name} (this node)"
    for _, st in node.governance.groups():
        if key in st.members and st.members[key].name:
            return f"{st.members[key].name} ({fingerprint(key)})"
    row = node.store.conn.execute("SELECT name FROM fed_peers WHERE key = ?", (key,)).fetchone()
    return f"{row[0]} ({fingerprint(key)})" if row and row[0] else fingerprint(key)


# -- intake ----------------------------------------------------------------------------------------


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
    work_dir: Path | None = None,
) -> Intake:
    """Take one file in: hash it first, keep it byte-identical (encrypted), derive a stripped copy."""
    digest = media.hash_file(path)
    held = _my_intake(node, digest.sha256)
    if held is not None:
        b = held.body or {}
        w = b.get("working") or {}
        return Intake(
            held.id, digest.sha256, w.get("sha256"), [], [], [], digest.mime, "", duplicate_of=held.id
        )
    work_dir = work_dir or node.home / "blobs" / "partial"
    work_dir.mkdir(parents=True, exist_ok=True)
    working = work_dir / f"working-{digest.sha256.hex()[:16]}-{node.rng(4).hex()}"
    try:
        stripped = media.strip(path, working, digest.mime, keep_location=keep_location)
        wdigest = media.hash_file(working)
        ph = phash.perceptual_hash(path) if digest.mime.startswith("image/") else None
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
            working_ref, _ = node.attach(working, scope, wdigest.mime)
    finally:
        working.unlink(missing_ok=True)
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
    }
    if ph is not None:
        body["phash"] = ph
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


def my_items(node: Node) -> list[StoredRecord]:
    """This node's own intake records, oldest first."""
    out = []
    for (rid,) in node.store.conn.execute(
        "SELECT record FROM evidence_index WHERE kind = ? AND author = ? AND scope LIKE 'd:%' ORDER BY n",
        (ITEM, node.key),
    ):
        rec = node.get(rid)
        if rec is not None and rec.body is not None and rec.body.get("nonce"):
            out.append(rec)
    return out


def items(node: Node) -> list[tuple[bytes, StoredRecord]]:
    """Every item this node holds (its own, then copies received), one entry per original hash."""
    seen: dict[bytes, StoredRecord] = {}
    for rec in my_items(node):
        seen[rec.body["sha256"]] = rec  # type: ignore[index]
    for sha, rid in node.store.conn.execute(
        "SELECT sha256, record FROM evidence_index WHERE kind = ? ORDER BY n", (ITEM,)
    ):
        if sha not in seen:
            got = node.get(rid)
            if got is not None and got.body is not None:
                seen[sha] = got
    return list(seen.items())


def _custody(node: Node, intake_rec: StoredRecord, event: str, detail: dict[str, Any]) -> StoredRecord:
    """Append a custody event to the item's own chain."""
    return node.publish(
        CUSTODY,
        {"sha256": intake_rec.body["sha256"], "item": intake_rec.id, "event": event, "detail": detail},  # type: ignore[index]
        scope=intake_rec.scope,
        refs=[intake_rec.id],
    )


# -- safety and sharing -------------------------------------------------------------------------------


def safety_flags(body: dict[str, Any]) -> list[str]:
    flags = []
    if body.get("faces_at_risk"):
        flags.append("faces of people at risk are visible")
    if body.get("consent") != "yes":
        flags.append(f"consent is {body.get('consent', 'unknown')!r}, not 'yes'")
    return flags


def _cleared(node: Node, sha: bytes, scope: str | None) -> bool:
    for rec in indexed(node, sha, [CUSTODY]):
        b = rec.body or {}
        if rec.author == node.key and b.get("event") == "clear":
            target = (b.get("detail") or {}).get("scope")
            if target is None or target == scope:
                return True
    return False


def clear(node: Node, sha: bytes, note: str, scope: str | None = None) -> StoredRecord:
    """Record that this node's organisation cleared a flagged item for sharing (in ``scope``, or anywhere)."""
    rec = _my_intake(node, sha)
    if rec is None:
        raise EvidenceError("only the organisation that took the item in can clear it")
    if scope is not None:
        st = node.governance.state(scope)
        if st is None or not st.is_member(node.key):
            raise EvidenceError(f"this node is not a member of {scope}")
        if (why := allowed(st, node.key, CLEAR, node.plugins.action_index())) is not None:
            raise EvidenceError(f"{CLEAR} in that group: {why}")
    detail: dict[str, Any] = {"note": note, "flags": safety_flags(rec.body or {})}
    if scope is not None:
        detail["scope"] = scope
    return _custody(node, rec, "clear", detail)


def check_may_leave(node: Node, sha: bytes, scope: str | None) -> None:
    """Raise EvidenceError saying why, if the item's safety flags keep it on this node."""
    rec = _my_intake(node, sha)
    if rec is None:
        return
    flags = safety_flags(rec.body or {})
    if flags and not _cleared(node, sha, scope):
        where = f" --scope {scope}" if scope and scope.startswith("g:") else ""
        raise EvidenceError(
            f"this item {_SAFE_BLOCK}: {'; '.join(flags)}. A member with the {CLEAR} authority must clear it"
            f" first: tequio evidence clear {rec.id.hex()[:16]}{where} --note WHY"
        )


def share(node: Node, sha: bytes, scope: str, with_original: bool = False) -> StoredRecord:
    """Copy an item into a group (working copy; the original too if asked) or to a partner (both)."""
    rec = _my_intake(node, sha)
    if rec is None or rec.body is None:
        raise EvidenceError("only the organisation that took the item in can share it")
    check_may_leave(node, sha, scope)
    body = dict(rec.body)
    direct = scope.startswith("d:")
    if scope.startswith("g:"):
        st = node.governance.state(scope)
        if st is None or not st.is_member(node.key):
            raise EvidenceError(f"this node is not a member of {scope}")
    elif not direct:
        raise EvidenceError("share with a group (g:…) or transfer to an organisation (d:… or its key)")
    keep_original = with_original or direct
    blobs: list[BlobRef] = []
    keys = None
    working, derivation = current_working(node, rec)
    sources = {"original": (body["original"], role_refs(rec)["original"]), "working": working}
    for role in ("original", "working") if keep_original else ("working",):
        facts, ref = sources[role]
        new, keys = node.attach_stream(node.blob_reader(ref.hash), scope, facts["mime"])
        blobs.append(new)
    copy = {k: v for k, v in body.items() if k not in ("nonce", "incident")}
    copy["working"] = working[0]
    if not keep_original:
        copy["original"] = None
    copy["origin"] = {"item": rec.id, "org": node.key}
    out = node.publish(ITEM, copy, scope=scope, blobs=blobs, keys=keys)
    d = derivation.body or {}
    node.publish(
        DERIVATION,
        {
            "sha256": sha,
            "item": out.id,
            "to": working[0]["sha256"],
            "removed": d.get("removed", []),
            "kept": d.get("kept", []),
            "not_stripped": d.get("not_stripped", []),
            "tool": d.get("tool", TOOL),
        },
        scope=scope,
        refs=[out.id],
    )
    _custody(
        node,
        rec,
        "transfer" if direct else "share",
        {"scope": scope, "record": out.id.hex(), "original": keep_original},
    )
    return out


def current_working(node: Node, rec: StoredRecord) -> tuple[tuple[dict[str, Any], BlobRef], StoredRecord]:
    """The working copy to share now: the latest redaction's, else intake's; and its derivation record."""
    b = rec.body or {}
    derivations = [
        d for d in indexed(node, b["sha256"], [DERIVATION]) if d.scope == rec.scope and d.author == node.key
    ]
    for d in reversed(derivations):
        if d.payload is not None and d.payload.blobs:
            ref = d.payload.blobs[0]
            return ((d.body or {})["working"], ref), d
    return (b["working"], role_refs(rec)["working"]), derivations[0]


def redact(node: Node, sha: bytes, path: Path, note: str) -> StoredRecord:
    """Replace the working copy with one the operator redacted (faces blurred, a name cut), recorded as
    a new derivation from the original, its metadata stripped too, and a redaction custody event."""
    rec = _my_intake(node, sha)
    if rec is None:
        raise EvidenceError("only the organisation that took the item in can redact its working copy")
    digest = media.hash_file(path)
    work = node.home / "blobs" / "partial" / f"redacted-{node.rng(6).hex()}"
    work.parent.mkdir(parents=True, exist_ok=True)
    try:
        stripped = media.strip(path, work, digest.mime)
        wdigest = media.hash_file(work)
        ref, _ = node.attach(work, rec.scope, wdigest.mime)
    finally:
        work.unlink(missing_ok=True)
    facts = {"sha256": wdigest.sha256, "size": wdigest.size, "mime": wdigest.mime}
    derivation = node.publish(
        DERIVATION,
        {
            "sha256": sha,
            "item": rec.id,
            "to": wdigest.sha256,
            "working": facts,
            "removed": stripped.removed,
            "kept": stripped.kept,
            "not_stripped": stripped.not_stripped,
            "tool": f"redacted by the operator: {note}"[:200],
        },
        scope=rec.scope,
        refs=[rec.id],
        blobs=[ref],
    )
    _custody(
        node,
        rec,
        "redaction",
        {"working": wdigest.sha256.hex(), "note": note, "derivation": derivation.id.hex()},
    )
    return derivation


def role_refs(rec: StoredRecord) -> dict[str, BlobRef]:
    """The blobs of an item record by role: the original first (when present), then the working copy."""
    b = rec.body or {}
    roles = [r for r in ("original", "working") if b.get(r)]
    blobs = rec.payload.blobs if rec.payload else ()
    return dict(zip(roles, blobs, strict=False))


def _plain_sha(node: Node, ref: BlobRef) -> bytes | None:
    """SHA-256 of a blob's plaintext (decrypting as it streams), or None if it is not held."""
    if not node.blobs.has(ref.hash):
        return None
    h = hashlib.sha256()
    for chunk in node.open_blob(ref.hash):
        h.update(chunk)
    return h.digest()


def ack(node: Node, sha: bytes) -> StoredRecord:
    """As the receiving organisation: check the files of a transferred item and sign what was received."""
    mine = "d:" + node.key.hex()
    copies = [r for r in indexed(node, sha, [ITEM]) if r.scope == mine and r.author != node.key]
    if not copies:
        raise EvidenceError("no item transferred to this node with that id")
    rec = copies[-1]
    body = rec.body or {}
    got: dict[str, bytes | None] = {"original": None, "working": None}
    for role, ref in role_refs(rec).items():
        plain = _plain_sha(node, ref)
        if plain is None:
            raise EvidenceError(
                f"the files have not all arrived yet ({ref.hash.hex()[:16]}…); try again later"
            )
        if plain != (body.get(role) or {}).get("sha256"):
            raise EvidenceError(f"the received {role} does not hash to what the sender signed")
        got[role] = plain
    return node.publish(
        ACK,
        {
            "sha256": sha,
            "item": rec.id,
            "original": got["original"],
            "working": got["working"],
            "sender": rec.author,
        },
        scope="d:" + rec.author.hex(),
        refs=[rec.id],
    )


# -- review and verification -----------------------------------------------------------------------


def review(
    node: Node, sha: bytes, status: str, checks: Sequence[str], note: str, scope: str | None = None
) -> StoredRecord:
    """Sign this organisation's review of an item, in the group where the item is shared."""
    copies = [r for r in indexed(node, sha, [ITEM]) if r.scope.startswith("g:")]
    scopes = sorted(
        {r.scope for r in copies if (st := node.governance.state(r.scope)) and st.is_member(node.key)}
    )
    if scope is None:
        if len(scopes) > 1:
            raise EvidenceError(f"the item is shared in several groups: give --scope ({', '.join(scopes)})")
        if scopes:
            scope = scopes[0]
    if scope is None:  # not shared: a private review in the item's own chain
        rec = _my_intake(node, sha)
        if rec is None:
            raise EvidenceError("this node holds no copy of that item it can review")
        target = rec
    else:
        found = [r for r in copies if r.scope == scope]
        if not found:
            raise EvidenceError(f"the item is not shared in {scope}")
        target = found[-1]
    body = {"sha256": sha, "item": target.id, "status": status, "checks": sorted(set(checks)), "note": note}
    return node.publish(REVIEW, body, scope=target.scope, refs=[target.id])


@dataclass
class Verification:
    scope: str
    required: int
    verified_by: list[bytes]
    latest: dict[bytes, str]  # organisation -> its latest status

    @property
    def status(self) -> str:
        if len(self.verified_by) >= self.required:
            return "verified"
        statuses = set(self.latest.values())
        for s in ("false", "disputed"):
            if s in statuses:
                return s
        if self.verified_by:
            return f"{len(self.verified_by)} of {self.required} verified"
        for s in ("inconclusive", "in-progress"):
            if s in statuses:
                return s
        return "unreviewed"


def verification(node: Node, sha: bytes) -> list[Verification]:
    """Per scope where the item has reviews (or is shared): each organisation's latest review and
    whether enough distinct organisations verified it under that group's evidence.verify rule."""
    out = []
    scopes = {r.scope for r in indexed(node, sha, [ITEM, REVIEW])}
    for scope in sorted(scopes):
        latest: dict[bytes, tuple[int, str]] = {}
        for r in indexed(node, sha, [REVIEW]):
            if r.scope == scope and (r.author not in latest or latest[r.author][0] < r.seq):
                latest[r.author] = (r.seq, str((r.body or {}).get("status")))
        required, allowed = 1, set(latest)
        st = node.governance.state(scope) if scope.startswith("g:") else None
        if st is not None:
            rule = rule_for(st, VERIFY, node.plugins.action_index())
            orgs = (rule.get("params") or {}).get("orgs", 2)
            required = orgs if isinstance(orgs, int) and orgs >= 1 else 2
            allowed = {k for k in latest if st.is_member(k)}
            if rule.get("by") == "role":
                allowed = {k for k in allowed if st.has_role(k, rule["role"])}
        elif not latest:
            continue
        verified = sorted(k for k in allowed if latest[k][1] == "verified")
        out.append(Verification(scope, required, verified, {k: v for k, (_, v) in latest.items()}))
    return out


# -- the chain -----------------------------------------------------------------------------------------


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
                    plain = _plain_sha(node, ref)
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
                "what": _what(rec),
                "who": _org(node, rec.author),
                "author": rec.author.hex(),
                "ts": rec.record.ts,
                "scope": rec.scope,
                "seq": rec.seq,
                "signature_ok": sig_ok,
                "files": files,
            }
        )
    return out


def _what(rec: StoredRecord) -> str:
    b = rec.body or {}
    if rec.kind == ITEM:
        if b.get("nonce"):
            mime = (b.get("original") or {}).get("mime")
            return f"intake: {b.get('title')!r} ({mime}), c2pa {(b.get('c2pa') or {}).get('status')}"
        what = "original and working copy" if b.get("original") else "working copy"
        return f"copy in {rec.scope[:10]}… ({what})"
    if rec.kind == DERIVATION:
        removed = ", ".join(b.get("removed", [])) or "nothing"
        return f"working copy {b['to'].hex()[:16]}… derived; removed: {removed}"
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
                plain = _plain_sha(node, ref)
            except TequioError:  # stored bytes no longer decrypt: damaged
                plain = b""
            if plain is None:
                outcome[role] = "missing"
            else:
                outcome[role] = "ok" if plain == (b.get(role) or {}).get("sha256") else "mismatch"
        _custody(node, rec, "fixity", outcome)
        results.append({"id": rec.id.hex(), "sha256": b["sha256"].hex(), "title": b.get("title"), **outcome})
    return results


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
    rec = _my_intake(node, sha)
    if rec is None:
        raise EvidenceError("only items taken in on this node can be added to its incidents")
    return _custody(node, rec, "incident", {"incident": incident.hex()})


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
