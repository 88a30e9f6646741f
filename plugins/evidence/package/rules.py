"""The rules that tie a package's members together, shared by the writer and the checker.

Opening payloads, the JSON view of a record, the chain rules, the item rules, and the views a package
carries beside its signed records (custody.json, keys.json): each view is a function of the signed
records, so a checker recomputes it and compares, and a rewritten view is caught whoever re-signed
the manifest. A name beside a key counts only when a record signed by that key states it (the
``org`` field of its evidence records).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import nacl.bindings as sodium
import nacl.exceptions
from nacl.secret import SecretBox

from tequio.governance import CryptoError, is_envelope, key_commitment, parse_envelope
from tequio.schemas import PUBLIC, Record, decode, fingerprint, to_json

from .layout import (
    DERIVATION_KIND,
    ITEM_KIND,
    KEYS_KIND,
    MANIFEST,
    ItemEntry,
    Problem,
)

__all__ = [
    "Link",
    "Unopened",
    "chain_problems",
    "commit_problems",
    "derives",
    "encrypted",
    "facts",
    "group_key_record",
    "item_problems",
    "last_redaction",
    "open_payload",
    "record_view",
    "same",
]


class Unopened(Exception):
    """A payload that does not open with the key given; the message says why."""


def encrypted(rec: Record) -> bool:
    """Whether the payload is ciphertext: direct always; group except its plain gov.keys records."""
    if rec.payload is None or rec.scope == PUBLIC:
        return False
    return rec.scope.startswith("d:") or is_envelope(rec.payload)


def open_payload(rec: Record, key: bytes | None) -> bytes | None:
    """The plaintext payload map of ``rec`` (None when redacted), or Unopened saying why not."""
    payload = rec.payload
    if payload is None:
        return None
    if not encrypted(rec):
        # Public payloads, and a group's gov.keys records, are plain payload maps: no key opens them.
        return payload
    if key is None:
        raise Unopened("its payload is encrypted and the package gives no key for it")
    if len(key) != 32:
        raise Unopened("the key given for it is not 32 bytes")
    direct = rec.scope.startswith("d:")
    try:
        env = parse_envelope(payload, direct=direct)
    except CryptoError as e:
        raise Unopened(f"its payload is not an encrypted envelope: {e}") from None
    try:
        if direct:
            return bytes(sodium.crypto_box_open_afternm(env.box, env.nonce, key))
        return bytes(SecretBox(key).decrypt(env.box, env.nonce))
    except (nacl.exceptions.CryptoError, nacl.exceptions.ValueError, nacl.exceptions.TypeError):
        raise Unopened("its payload does not open with the key in the manifest") from None


def group_key_record(rec: Record) -> bytes | None:
    """For an encrypted group record: the id of the gov.keys record that delivered its epoch key."""
    if not rec.scope.startswith("g:") or rec.payload is None or not is_envelope(rec.payload):
        return None
    try:
        return parse_envelope(rec.payload, direct=False).key
    except CryptoError:
        return None


def record_view(rec: Record, plaintext: bytes | None) -> dict[str, Any]:
    """records/<id>.json: the envelope fields as hex, and the opened payload as schemas.to_json shows it."""
    payload = decode(plaintext) if plaintext is not None else None
    return {
        "id": rec.id.hex(),
        "author": rec.author.hex(),
        "scope": rec.scope,
        "seq": rec.seq,
        "prev": rec.prev.hex() if rec.prev is not None else None,
        "ts": rec.ts,
        "payload_hash": rec.payload_hash.hex(),
        "sig": rec.sig.hex(),
        "kind": payload["kind"] if payload is not None else None,
        "payload": to_json(payload) if payload is not None else None,
    }


def same(a: Any, b: Any) -> bool:
    """JSON values equal including their types (Python's == takes true for 1)."""
    try:
        return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)
    except (TypeError, ValueError, RecursionError):
        return False


@dataclass(frozen=True)
class Link:
    author: bytes
    scope: str
    seq: int
    id: bytes
    prev: bytes | None
    part: str


def _who(key: bytes, names: Mapping[bytes, str]) -> str:
    name = names.get(key)
    return f"{name} ({fingerprint(key)})" if name else fingerprint(key)


def _ranges(seqs: Sequence[int]) -> str:
    out: list[str] = []
    start = prev = seqs[0]
    for s in [*seqs[1:], None]:
        if s is not None and s == prev + 1:
            prev = s
            continue
        out.append(str(start) if start == prev else f"{start}-{prev}")
        if s is not None:
            start = prev = s
    return ", ".join(out)


def chain_problems(
    links: Iterable[Link],
    names: Mapping[bytes, str],
    unverified: Mapping[tuple[bytes, str, int], str] | None = None,
) -> tuple[list[Problem], list[str]]:
    """Chain rules per feed (author, scope): consecutive seqs link, a feed from seq 1 has no gaps.

    Returns the problems and, for feeds that start after seq 1, a line each for the summary.
    ``unverified`` maps the (author, scope, seq) the manifest claims for records that did not verify to
    their part, so that a gap they leave is worded as what it is.
    """
    unverified = unverified or {}
    feeds: dict[tuple[bytes, str], dict[int, Link]] = {}
    problems: list[Problem] = []
    for link in links:
        feed = feeds.setdefault((link.author, link.scope), {})
        other = feed.get(link.seq)
        if other is not None:
            if other.id != link.id:
                problems.append(
                    Problem(
                        link.part,
                        f"has seq {link.seq} in the same feed as {other.part}: the author signed two "
                        "different records at one place in its chain (a fork)",
                    )
                )
            continue
        feed[link.seq] = link
    partial = []
    for (author, scope), feed in sorted(feeds.items(), key=lambda kv: (kv[0][0], kv[0][1])):
        seqs = sorted(feed)
        where = f"{_who(author, names)} in {scope}"
        for a, b in itertools.pairwise(seqs):
            if b == a + 1:
                if feed[b].prev != feed[a].id:
                    problems.append(
                        Problem(
                            feed[b].part,
                            f"prev of seq {b} is not the id of seq {a} ({feed[a].part}) "
                            f"in the chain of {where}",
                        )
                    )
            elif seqs[0] == 1:
                missing = f"seq {a + 1}" if b == a + 2 else f"seq {a + 1} to {b - 1}"
                bad = [unverified.get((author, scope, s)) for s in range(a + 1, b)]
                if all(bad):
                    why = f"({', '.join(str(x) for x in bad)}) does not verify"
                elif any(bad):
                    why = "is not in the package or does not verify"
                else:
                    why = "is not in the package"
                problems.append(
                    Problem(
                        feed[b].part,
                        f"the chain is broken between seq {a} and {b}: {missing} of {where} {why}",
                    )
                )
        if seqs[0] != 1:
            partial.append(
                f"{where}: seq {_ranges(seqs)} (the feed's earlier records are not in the package)"
            )
    return problems, partial


@dataclass(frozen=True)
class _FileEntry:
    path: str
    sha256: bytes
    size: int
    mime: str

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "sha256": self.sha256.hex(), "size": self.size, "mime": self.mime}


@dataclass(frozen=True)
class _ItemEntry:
    id: bytes
    title: str
    original: _FileEntry
    working: _FileEntry | None


def facts(value: Any) -> tuple[bytes, int, str] | None:
    """(sha256, size, mime) of an item body's file map, or None if it is not one."""
    if type(value) is not dict:
        return None
    sha, size, mime = value.get("sha256"), value.get("size"), value.get("mime")
    if type(sha) is not bytes or len(sha) != 32 or type(size) is not int or type(mime) is not str:
        return None
    return sha, size, mime


def last_redaction(
    item: bytes, item_rec: Record, payloads: Mapping[bytes, dict[str, Any]], records: Mapping[bytes, Record]
) -> tuple[bytes, Any] | None:
    """(record id, working file map) of the newest derivation in the item's own chain that brought a
    working copy of its own (a redaction), or None: then the working copy is the intake's."""
    best: tuple[int, bytes, Any] | None = None
    for rid, p in payloads.items():
        body, rec = p.get("body"), records.get(rid)
        if (
            rec is not None
            and p.get("kind") == DERIVATION_KIND
            and type(body) is dict
            and body.get("item") == item
            and (rec.author, rec.scope) == (item_rec.author, item_rec.scope)
            and facts(body.get("working")) is not None
            and (best is None or rec.seq > best[0])
        ):
            best = (rec.seq, rid, body["working"])
    return (best[1], best[2]) if best else None


def _path_problem(role: str, path: str, sha: bytes, original_path: str | None) -> str | None:
    """L2: an item's file is named by its own SHA-256, originals under originals/, working copies under
    working/ (or the original's path, when the working copy is the original byte for byte)."""
    from .layout import file_hash_in_name

    if role == "working" and path == original_path:
        return None
    folder = "originals/" if role == "original" else "working/"
    if not path.startswith(folder) or file_hash_in_name(path) != sha:
        return f"the {role} file's path {path!r} is not {folder}<its sha256><ext>"
    return None


def item_problems(
    item: ItemEntry,
    payloads: Mapping[bytes, dict[str, Any]],
    records: Mapping[bytes, Record],
    record_parts: Mapping[bytes, str],
    digests: Mapping[str, tuple[bytes, int]],
) -> list[Problem]:
    """The rules tying an item to its files and records; [] when they all hold.

    ``payloads`` are the opened payload maps by record id, ``records`` the verified records,
    ``digests`` the SHA-256 and length measured of each member that could be read. The working copy
    is the one the item's last redaction brought, else the intake's: what was shared.
    """
    out: list[Problem] = []
    rid = item.id.hex()
    part = record_parts.get(item.id)
    payload = payloads.get(item.id)
    if payload is None or item.id not in records:
        why = "is not in the package" if part is None else "could not be opened"
        return [Problem(part or MANIFEST, f"item {rid}: its evidence.item record {why}")]
    assert part is not None
    if payload.get("kind") != ITEM_KIND:
        return [
            Problem(
                part,
                f"is named as item {rid} in the manifest, but its kind is {payload.get('kind')!r}, "
                f"not {ITEM_KIND}",
            )
        ]
    body = payload.get("body")
    body = body if type(body) is dict else {}
    if body.get("sha256") != item.original.sha256:
        out.append(Problem(part, "its body's sha256 is not the SHA-256 of the item's original"))
    if type(body.get("title")) is str and body["title"] != item.title:
        out.append(
            Problem(MANIFEST, f"item {rid}: the title {item.title!r} is not the record's {body['title']!r}")
        )
    redaction = last_redaction(item.id, records[item.id], payloads, records)
    for role, entry in (("original", item.original), ("working", item.working)):
        signed, source = body.get(role), part
        if role == "working" and redaction is not None:
            signed, source = redaction[1], record_parts.get(redaction[0], source)
        if entry is None:
            if signed is not None:
                out.append(Problem(MANIFEST, f"item {rid}: its record names a {role} file the package lacks"))
            continue
        if (misnamed := _path_problem(role, entry.path, entry.sha256, item.original.path)) is not None:
            out.append(Problem(MANIFEST, f"item {rid}: {misnamed}"))
        f = facts(signed)
        if f is None:
            out.append(
                Problem(source, f"its body has no {role} file (sha256, size, mime) to check {entry.path} by")
            )
        elif f != (entry.sha256, entry.size, entry.mime):
            sha, size, mime = f
            newest = " (the item's last redaction)" if source != part else ""
            out.append(
                Problem(
                    entry.path,
                    f"the manifest says SHA-256 {entry.sha256.hex()}, {entry.size} bytes, {entry.mime}; "
                    f"the signed record {source}{newest} says {sha.hex()}, {size} bytes, {mime}",
                )
            )
        measured = digests.get(entry.path)
        if measured is not None:
            got, n = measured
            if got != entry.sha256 or n != entry.size:
                out.append(
                    Problem(
                        entry.path,
                        f"is not the item's {role} file: its SHA-256 is {got.hex()} ({n} bytes), "
                        f"the item's is {entry.sha256.hex()} ({entry.size} bytes)",
                    )
                )
    if item.working is not None and not any(
        derives(p, item.id, item.original.sha256, item.working.sha256) for p in payloads.values()
    ):
        out.append(
            Problem(
                item.working.path,
                f"no {DERIVATION_KIND} record that verifies says this working copy was made from the "
                f"original of item {rid}",
            )
        )
    return out


def derives(payload: Mapping[str, Any], item: bytes, original: bytes, working: bytes) -> bool:
    """Whether ``payload`` is an evidence.derivation of ``working`` from ``original`` for this item.

    The original's hash is ``from`` or, as the evidence plugin writes it, ``sha256``; whichever is present
    must match.
    """
    body = payload.get("body")
    if payload.get("kind") != DERIVATION_KIND or type(body) is not dict:
        return False
    named = [body[k] for k in ("from", "sha256") if k in body]
    return (
        bool(named)
        and all(v == original for v in named)
        and body.get("item") == item
        and body.get("to") == working
    )


def commit_problems(
    uses: Iterable[tuple[str, bytes, bytes]], payloads: Mapping[bytes, dict[str, Any]]
) -> list[Problem]:
    """Epoch keys checked against the commitment of their gov.keys record, when that record is included.

    ``uses`` are (part, keys record id, epoch key given) for every encrypted group record.
    """
    out = []
    for part, keys_id, key in uses:
        keys_payload = payloads.get(keys_id)
        if keys_payload is None or keys_payload.get("kind") != KEYS_KIND:
            continue
        commit = (keys_payload.get("body") or {}).get("commit")
        if commit != key_commitment(key):
            out.append(
                Problem(
                    part,
                    f"its key is not the epoch key that gov.keys record {keys_id.hex()} committed to",
                )
            )
    return out
