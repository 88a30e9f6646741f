"""What may leave the node, and how: safety holds and clearance, redaction, sharing, transfer, receipt.

Copies go to a group (``share``) or a partner (``transfer``) as new records in those scopes, with the
files re-encrypted for them as they stream from the sealed blobs. A copy names its item's one id in
``origin`` with the intake record (redacted: no content) as proof, so every node shows the same id.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tequio.governance import allowed
from tequio.node import Node, StoredRecord, media
from tequio.schemas import BlobRef

from .custody import current_working, custody, plain_sha
from .index import EvidenceError, indexed, my_intake, role_refs
from .intake import TOOL, work_dir
from .recordkinds import ACK, CLEAR, CUSTODY, DERIVATION, ITEM

__all__ = [
    "ack",
    "check_may_leave",
    "clear",
    "redact",
    "safety_flags",
    "share",
    "working_not_stripped",
]

_SAFE_BLOCK = "cannot leave this node"


def safety_flags(body: dict[str, Any]) -> list[str]:
    flags = []
    if body.get("faces_at_risk"):
        flags.append("faces of people at risk are visible")
    if body.get("consent") != "yes":
        flags.append(f"consent is {body.get('consent', 'unknown')!r}, not 'yes'")
    return flags


def is_cleared(node: Node, sha: bytes, scope: str | None) -> bool:
    """Whether this node's organisation cleared a flagged item for ``scope`` (None: for anywhere)."""
    for rec in indexed(node, sha, [CUSTODY]):
        b = rec.body or {}
        if rec.author == node.key and b.get("event") == "clear":
            target = (b.get("detail") or {}).get("scope")
            if target is None or target == scope:
                return True
    return False


def clear(node: Node, sha: bytes, note: str, scope: str | None = None) -> StoredRecord:
    """Record that this node's organisation cleared a flagged item for sharing (in ``scope``, or anywhere)."""
    rec = my_intake(node, sha)
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
    return custody(node, rec, "clear", detail)


def check_may_leave(node: Node, sha: bytes, scope: str | None) -> None:
    """Raise EvidenceError saying why, if the item's safety flags keep it on this node."""
    rec = my_intake(node, sha)
    if rec is None:
        return
    flags = safety_flags(rec.body or {})
    if flags and not is_cleared(node, sha, scope):
        where = f" --scope {scope}" if scope and scope.startswith("g:") else ""
        raise EvidenceError(
            f"this item {_SAFE_BLOCK}: {'; '.join(flags)}. A member with the {CLEAR} authority must clear it"
            f" first: tequio evidence clear {rec.id.hex()[:16]}{where} --note WHY"
        )


def working_not_stripped(node: Node, sha: bytes, rec: StoredRecord) -> list[str]:
    """What the item's current working copy still carries ("NOT stripped" lines); [] once stripped."""
    mine = my_intake(node, sha)
    if mine is None:
        return list((rec.body or {}).get("not_stripped") or [])
    _, derivation = current_working(node, mine)
    return list((derivation.body or {}).get("not_stripped") or [])


def share(
    node: Node, sha: bytes, scope: str, with_original: bool = False, share_unstripped: bool = False
) -> StoredRecord:
    """Copy an item into a group (working copy; the original too if asked) or to a partner (both).

    A working copy that could not be stripped (video, PDF…) goes to a group only with
    ``share_unstripped``: it still says where and with what it was recorded.
    """
    rec = my_intake(node, sha)
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
    working, derivation = current_working(node, rec)
    d = derivation.body or {}
    if not direct and d.get("not_stripped") and not share_unstripped:
        raise EvidenceError(
            f"the working copy was NOT stripped ({d['not_stripped'][0]}): it can locate the witness."
            " Share it anyway with --share-unstripped, or redact it first (tequio evidence redact)"
        )
    blobs: list[BlobRef] = []
    keys = None
    sources = {"original": (body["original"], role_refs(rec)["original"]), "working": working}
    for role in ("original", "working") if keep_original else ("working",):
        facts, ref = sources[role]
        new, keys = node.attach_stream(node.blob_reader(ref.hash), scope, facts["mime"])
        blobs.append(new)
    copy = {k: v for k, v in body.items() if k not in ("nonce", "incident")}
    copy["working"] = working[0]
    for what in ("removed", "kept", "not_stripped"):  # of the copy shared now (a redaction's, once redacted)
        copy[what] = d.get(what, [])
    if not keep_original:
        copy["original"] = None
    copy["origin"] = {"item": rec.id, "org": node.key, "record": rec.record.redacted().wire}
    copy["org"] = node.name
    out = node.publish(ITEM, copy, scope=scope, blobs=blobs, keys=keys)
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
    custody(
        node,
        rec,
        "transfer" if direct else "share",
        {"scope": scope, "record": out.id.hex(), "original": keep_original},
    )
    return out


def redact(node: Node, sha: bytes, path: Path, note: str) -> StoredRecord:
    """Replace the working copy with one the operator redacted (faces blurred, a name cut), recorded as
    a new derivation from the original, its metadata stripped too, and a redaction custody event."""
    rec = my_intake(node, sha)
    if rec is None:
        raise EvidenceError("only the organisation that took the item in can redact its working copy")
    try:
        with media.stripped_copy(path, work_dir(node)) as copy:
            stripped, wdigest = copy.report, copy.digest
            if wdigest.size == 0:
                raise EvidenceError(f"{path}: is empty (0 bytes): not a redacted working copy")
            ref, _ = node.attach(copy.path, rec.scope, wdigest.mime)
    except media.MediaError as e:
        raise EvidenceError(str(e)) from None
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
    custody(
        node,
        rec,
        "redaction",
        {"working": wdigest.sha256.hex(), "note": note, "derivation": derivation.id.hex()},
    )
    return derivation


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
        plain = plain_sha(node, ref)
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
            "org": node.name,
        },
        scope="d:" + rec.author.hex(),
        refs=[rec.id],
    )
