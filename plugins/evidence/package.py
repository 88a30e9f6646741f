"""Court packages: one ZIP that a court's expert can check offline, without trusting anyone or running Tequio.

The package holds the original and working files byte for byte, the signed records about them as they
travelled, the keys that open exactly those records, and a manifest signed by the exporting node that
lists the SHA-256 of every other member. :func:`check_package` verifies all of it and names each part
that is wrong; ``VERIFY.md`` inside the zip explains how to do the same by hand (docs/evidence.md,
"Court packages").
"""

from __future__ import annotations

import datetime
import hashlib
import itertools
import json
import os
import re
import secrets
import zipfile
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import nacl.bindings as sodium
import nacl.exceptions
from nacl.secret import SecretBox
from nacl.signing import VerifyKey

from tequio.governance.crypto import CryptoError, is_envelope, key_commitment, parse_envelope
from tequio.node.errors import TequioError
from tequio.schemas import PUBLIC, Record, RecordError, fingerprint, parse_payload, parse_wire, to_json
from tequio.schemas.canonical import decode
from tequio.schemas.payload import PayloadError

__all__ = [
    "FORMAT",
    "MANIFEST_DOMAIN",
    "VERIFY_MD",
    "CheckReport",
    "PackageError",
    "PackageFile",
    "PackageItem",
    "PackageRecord",
    "Problem",
    "check_package",
    "write_package",
]

FORMAT = "tequio-evidence-package/1"
#: Prefixed to manifest.json before signing, so no manifest signature can pass for a record's.
MANIFEST_DOMAIN = b"tequio/evidence-manifest/v1\n"
MANIFEST, SIGNATURE, KEYS, CUSTODY = "manifest.json", "manifest.sig", "keys.json", "custody.json"
VERIFY = "VERIFY.md"
ITEM_KIND, DERIVATION_KIND, KEYS_KIND = "evidence.item", "evidence.derivation", "gov.keys"
CHUNK = 1 << 20
# Bounds on what is read whole into memory; everything else (the media) is streamed.
_MAX_MANIFEST = 64 << 20
_MAX_KEYS = 16 << 20
_MAX_CUSTODY = 64 << 20
_MAX_WIRE = 65_536 + 4096
_MAX_RECORD_JSON = 16 << 20
_MAX_SIG = 1024
_HEX32 = re.compile(r"[0-9a-f]{64}")
_EXT = {
    "image/jpeg": ".jpg",
    "image/png": ".png",
    "image/webp": ".webp",
    "image/tiff": ".tif",
    "image/gif": ".gif",
    "image/bmp": ".bmp",
    "image/heic": ".heic",
    "image/heif": ".heif",
    "image/avif": ".avif",
    "video/mp4": ".mp4",
    "video/quicktime": ".mov",
    "video/webm": ".webm",
    "video/x-matroska": ".mkv",
    "video/x-msvideo": ".avi",
    "audio/mpeg": ".mp3",
    "audio/mp4": ".m4a",
    "audio/ogg": ".ogg",
    "audio/x-wav": ".wav",
    "audio/wav": ".wav",
    "audio/x-flac": ".flac",
    "audio/flac": ".flac",
    "application/pdf": ".pdf",
    "text/plain": ".txt",
}


class PackageError(TequioError, ValueError):
    """write_package refused: what it was given would make a package that does not check."""


@dataclass(frozen=True)
class PackageFile:
    """A plaintext file to include; its hash and size are checked while it is copied into the zip."""

    role: str  # "original" or "working"
    path: Path
    sha256: bytes
    size: int
    mime: str


@dataclass(frozen=True)
class PackageItem:
    """One evidence item: its intake record's id and its files."""

    id: bytes
    title: str
    original: PackageFile
    working: PackageFile | None


@dataclass(frozen=True)
class PackageRecord:
    """A signed record as stored, and the key that opens its payload (None: public, or not encrypted)."""

    wire: bytes
    key: bytes | None


@dataclass
class Problem:
    """One thing wrong with a package: which member (``part``) and, in one line for people, what."""

    part: str
    what: str

    def __str__(self) -> str:
        return f"{self.part}: {self.what}"


@dataclass
class CheckReport:
    """What check_package verified and what it found wrong; ``ok`` only when nothing is."""

    problems: list[Problem]
    records: int = 0  # records whose signature and id verified
    files: int = 0  # members whose SHA-256 matched the manifest
    items: int = 0  # items whose files, records and derivation all agree
    signatures: int = 0  # Ed25519 signatures verified (the manifest's and each record's)
    exporter: bytes | None = None  # the key manifest.sig verified under (None: it did not verify)
    exporter_name: str | None = None  # as keys.json names it: compare its fingerprint out of band
    partial: list[str] = field(default_factory=list)  # feeds present only from a later seq (not problems)

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        """The report as lines for people: the verdict, what was verified, partial feeds, then problems."""
        lines = [
            "OK: the package checks." if self.ok else f"NOT OK: {len(self.problems)} problem(s).",
            f"Verified {self.signatures} signature(s), {self.records} record(s), {self.files} file(s), "
            f"{self.items} item(s).",
        ]
        if self.exporter is not None:
            who = f" ({self.exporter_name})" if self.exporter_name else ""
            lines.append(f"Signed by {fingerprint(self.exporter)}{who}, key {self.exporter.hex()}.")
        lines += [f"Partial feed: {p}" for p in self.partial]
        lines += [f"PROBLEM {p}" for p in self.problems]
        return "\n".join(lines)


# --------------------------------------------------------------------------------------------------
# What writer and checker share: opening payloads, the JSON view, chain and item rules


class _Unopened(Exception):
    """A payload that does not open with the key given; the message says why."""


def _encrypted(rec: Record) -> bool:
    """Whether the payload is ciphertext: direct always; group except its plain gov.keys records."""
    if rec.payload is None or rec.scope == PUBLIC:
        return False
    return rec.scope.startswith("d:") or is_envelope(rec.payload)


def _open_payload(rec: Record, key: bytes | None) -> bytes | None:
    """The plaintext payload map of ``rec`` (None when redacted), or _Unopened saying why not."""
    payload = rec.payload
    if payload is None:
        return None
    if not _encrypted(rec):
        # Public payloads, and a group's gov.keys records, are plain payload maps: no key opens them.
        return payload
    if key is None:
        raise _Unopened("its payload is encrypted and the package gives no key for it")
    if len(key) != 32:
        raise _Unopened("the key given for it is not 32 bytes")
    direct = rec.scope.startswith("d:")
    try:
        env = parse_envelope(payload, direct=direct)
    except CryptoError as e:
        raise _Unopened(f"its payload is not an encrypted envelope: {e}") from None
    try:
        if direct:
            return bytes(sodium.crypto_box_open_afternm(env.box, env.nonce, key))
        return bytes(SecretBox(key).decrypt(env.box, env.nonce))
    except (nacl.exceptions.CryptoError, nacl.exceptions.ValueError, nacl.exceptions.TypeError):
        raise _Unopened("its payload does not open with the key in the manifest") from None


def _group_key_record(rec: Record) -> bytes | None:
    """For an encrypted group record: the id of the gov.keys record that delivered its epoch key."""
    if not rec.scope.startswith("g:") or rec.payload is None or not is_envelope(rec.payload):
        return None
    try:
        return parse_envelope(rec.payload, direct=False).key
    except CryptoError:
        return None


def _record_view(rec: Record, plaintext: bytes | None) -> dict[str, Any]:
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


def _dumps(value: Any) -> bytes:
    """The JSON members: sorted keys, UTF-8, indented for people, a final newline."""
    return (json.dumps(value, sort_keys=True, ensure_ascii=False, indent=2, allow_nan=False) + "\n").encode()


def _same(a: Any, b: Any) -> bool:
    """JSON values equal including their types (Python's == takes true for 1)."""
    try:
        return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)
    except (TypeError, ValueError, RecursionError):
        return False


@dataclass(frozen=True)
class _Link:
    """A record's place in its feed, for the chain rules."""

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


def _chain_problems(
    links: Iterable[_Link],
    names: Mapping[bytes, str],
    unverified: Mapping[tuple[bytes, str, int], str] | None = None,
) -> tuple[list[Problem], list[str]]:
    """Chain rules per feed (author, scope): consecutive seqs link, a feed from seq 1 has no gaps.

    Returns the problems and, for feeds that start after seq 1, a line each for the summary.
    ``unverified`` maps the (author, scope, seq) the manifest claims for records that did not verify to
    their part, so that a gap they leave is worded as what it is.
    """
    unverified = unverified or {}
    feeds: dict[tuple[bytes, str], dict[int, _Link]] = {}
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

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id.hex(),
            "title": self.title,
            "original": self.original.to_json(),
            "working": self.working.to_json() if self.working else None,
        }


def _facts(value: Any) -> tuple[bytes, int, str] | None:
    """(sha256, size, mime) of an item body's file map, or None if it is not one."""
    if type(value) is not dict:
        return None
    sha, size, mime = value.get("sha256"), value.get("size"), value.get("mime")
    if type(sha) is not bytes or len(sha) != 32 or type(size) is not int or type(mime) is not str:
        return None
    return sha, size, mime


def _item_problems(
    item: _ItemEntry,
    payloads: Mapping[bytes, dict[str, Any]],
    record_parts: Mapping[bytes, str],
    digests: Mapping[str, tuple[bytes, int]],
) -> list[Problem]:
    """The rules tying an item to its files and records (see the module docs); [] when they all hold.

    ``payloads`` are the opened payload maps by record id, ``digests`` the SHA-256 and length measured
    of each member that could be read.
    """
    out: list[Problem] = []
    rid = item.id.hex()
    part = record_parts.get(item.id)
    payload = payloads.get(item.id)
    if payload is None:
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
    body = payload.get("body") or {}
    if "sha256" in body and body["sha256"] != item.original.sha256:
        out.append(Problem(part, "its body's sha256 is not the SHA-256 of the item's original"))
    if type(body.get("title")) is str and body["title"] != item.title:
        out.append(
            Problem(MANIFEST, f"item {rid}: the title {item.title!r} is not the record's {body['title']!r}")
        )
    for role, entry in (("original", item.original), ("working", item.working)):
        signed = body.get(role)
        if entry is None:
            if signed is not None:
                out.append(Problem(MANIFEST, f"item {rid}: its record names a {role} file the package lacks"))
            continue
        facts = _facts(signed)
        if facts is None:
            out.append(
                Problem(part, f"its body has no {role} file (sha256, size, mime) to check {entry.path} by")
            )
        else:
            sha, size, mime = facts
            if (sha, size, mime) != (entry.sha256, entry.size, entry.mime):
                out.append(
                    Problem(
                        entry.path,
                        f"the manifest says SHA-256 {entry.sha256.hex()}, {entry.size} bytes, {entry.mime}; "
                        f"the signed item record {part} says {sha.hex()}, {size} bytes, {mime}",
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
        _derives(p, item.id, item.original.sha256, item.working.sha256) for p in payloads.values()
    ):
        out.append(
            Problem(
                item.working.path,
                f"no {DERIVATION_KIND} record that verifies says this working copy was made from the "
                f"original of item {rid}",
            )
        )
    return out


def _derives(payload: Mapping[str, Any], item: bytes, original: bytes, working: bytes) -> bool:
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


def _commit_problems(
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


# --------------------------------------------------------------------------------------------------
# Writing


def _ext(mime: str) -> str:
    return _EXT.get(mime, ".bin")


def _zip_time(ms: int) -> tuple[int, int, int, int, int, int]:
    t = datetime.datetime.fromtimestamp(ms / 1000, tz=datetime.UTC)
    if t.year < 1980:
        return (1980, 1, 1, 0, 0, 0)
    if t.year > 2107:
        return (2107, 12, 31, 23, 59, 58)
    return (t.year, t.month, t.day, t.hour, t.minute, t.second)


class _Writer:
    """Appends members to the zip and remembers each one's SHA-256 for the manifest."""

    def __init__(self, zf: zipfile.ZipFile, when: tuple[int, int, int, int, int, int]) -> None:
        self.zf = zf
        self.when = when
        self.digests: dict[str, tuple[bytes, int]] = {}

    def _info(self, name: str, stored: bool, size: int) -> zipfile.ZipInfo:
        info = zipfile.ZipInfo(name, date_time=self.when)
        info.compress_type = zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED
        info.external_attr = 0o644 << 16
        info.file_size = size
        return info

    def put(self, name: str, data: bytes, stored: bool = False, listed: bool = True) -> None:
        self.zf.writestr(self._info(name, stored, len(data)), data)
        if listed:
            self.digests[name] = (hashlib.sha256(data).digest(), len(data))

    def file(self, name: str, src: Path, size: int) -> tuple[bytes, int]:
        """Copy ``src`` in unchanged (stored, never recompressed), hashing the very bytes written."""
        h = hashlib.sha256()
        n = 0
        buf = bytearray(CHUNK)
        view = memoryview(buf)
        try:
            with src.open("rb", buffering=0) as fin, self.zf.open(self._info(name, True, size), "w") as fout:
                while k := fin.readinto(buf):
                    h.update(view[:k])
                    fout.write(view[:k])
                    n += k
        except OSError as e:
            raise PackageError(f"{src}: cannot read: {e.strerror or e}") from None
        except RuntimeError as e:  # zipfile: larger than the size it was announced with
            raise PackageError(f"{src}: is not {size} bytes long: {e}") from None
        self.digests[name] = (h.digest(), n)
        return h.digest(), n


def write_package(
    out: Path,
    items: Sequence[PackageItem],
    records: Sequence[PackageRecord],
    keys: Mapping[bytes, str],
    sign: Callable[[bytes], bytes],
    exporter: bytes,
    created_ms: int,
    custody: Sequence[Mapping[str, Any]],
) -> dict[str, Any]:
    """Write the court package ``out`` and return its manifest.

    Everything is checked on the way in (each file's hash while it is copied, each record's signature,
    that its key opens it, the item and chain rules), so a package this writes passes
    :func:`check_package`; anything that would not raises PackageError and leaves no file behind. Files
    are streamed: memory does not grow with their size.
    """
    out = Path(out)
    if type(exporter) is not bytes or len(exporter) != 32:
        raise PackageError("exporter must be the 32-byte public key of the exporting node")
    if type(created_ms) is not int or created_ms < 0:
        raise PackageError("created_ms must be a non-negative integer (milliseconds since the epoch)")
    for k, name in keys.items():
        if type(k) is not bytes or len(k) != 32 or type(name) is not str:
            raise PackageError("keys maps 32-byte public keys to organisation names")
    if exporter not in keys:
        raise PackageError(f"keys has no name for the exporter {fingerprint(exporter)}")
    try:
        custody_json = _dumps([dict(e) for e in custody])
    except (TypeError, ValueError, UnicodeEncodeError) as e:
        raise PackageError(f"custody events must be plain JSON (bytes as hex strings): {e}") from None

    # Records: verified, opened, deduplicated by id.
    opened: dict[bytes, tuple[Record, bytes | None, bytes | None]] = {}
    for pr in records:
        try:
            rec = parse_wire(pr.wire)
        except RecordError as e:
            raise PackageError(f"a record does not verify: {e}") from None
        key = pr.key
        if not _encrypted(rec):
            key = None  # nothing to open: the manifest says null rather than reveal an unneeded key
        elif type(key) is not bytes or len(key) != 32:
            raise PackageError(f"record {rec.id.hex()} ({rec.scope}) is encrypted: it needs its 32-byte key")
        if rec.id in opened:
            if opened[rec.id][1] != key:
                raise PackageError(f"record {rec.id.hex()} is given twice with different keys")
            continue
        try:
            plaintext = _open_payload(rec, key)
            if plaintext is not None:
                parse_payload(plaintext)
        except _Unopened as e:
            raise PackageError(f"record {rec.id.hex()} ({rec.scope}, seq {rec.seq}): {e}") from None
        except PayloadError as e:
            raise PackageError(
                f"record {rec.id.hex()}: the opened payload is not a payload map: {e}"
            ) from None
        if rec.author not in keys:
            raise PackageError(
                f"keys has no name for {fingerprint(rec.author)}, author of record {rec.id.hex()}"
            )
        opened[rec.id] = (rec, key, plaintext)

    payloads = {rid: decode(p) for rid, (_r, _k, p) in opened.items() if p is not None}
    parts = {rid: f"records/{rid.hex()}.bin" for rid in opened}
    problems, _partial = _chain_problems(
        (_Link(r.author, r.scope, r.seq, r.id, r.prev, parts[r.id]) for r, _k, _p in opened.values()), keys
    )
    problems += _commit_problems(
        (
            (parts[r.id], kid, k)
            for r, k, _p in opened.values()
            if k is not None and (kid := _group_key_record(r)) is not None
        ),
        payloads,
    )
    if problems:
        raise PackageError(
            "the records would not check: "
            + "; ".join(str(p) for p in problems)
            + " (a chain that starts at seq 1 must be complete: include the missing records, redacted if "
            "their content must not leave)"
        )

    # Item files: one member per distinct content; a working copy identical to its original shares it.
    paths: dict[bytes, str] = {}
    sources: dict[str, PackageFile] = {}
    entries: list[_ItemEntry] = []
    for it in items:
        if type(it.id) is not bytes or len(it.id) != 32:
            raise PackageError("an item id is the 32-byte id of its evidence.item record")
        if any(e.id == it.id for e in entries):
            raise PackageError(f"item {it.id.hex()} is given twice")
        files: list[_FileEntry | None] = []
        for want, pf in (("original", it.original), ("working", it.working)):
            if pf is None:
                files.append(None)
                continue
            if pf.role != want:
                raise PackageError(f"item {it.id.hex()}: its {want} file has role {pf.role!r}")
            if (
                type(pf.sha256) is not bytes
                or len(pf.sha256) != 32
                or type(pf.size) is not int
                or pf.size < 0
            ):
                raise PackageError(f"item {it.id.hex()}: its {want} file needs a 32-byte sha256 and a size")
            if pf.sha256 not in paths:
                dirname = "originals" if want == "original" else "working"
                paths[pf.sha256] = f"{dirname}/{pf.sha256.hex()}{_ext(pf.mime)}"
                sources[paths[pf.sha256]] = pf
            files.append(_FileEntry(paths[pf.sha256], pf.sha256, pf.size, pf.mime))
        original, working = files
        assert original is not None
        entries.append(_ItemEntry(it.id, it.title, original, working))
    # What the records say about the items is checked before any large file is copied.
    problems = [p for e in entries for p in _item_problems(e, payloads, parts, {})]
    if problems:
        raise PackageError("the items would not check: " + "; ".join(str(p) for p in problems))

    tmp = out.with_name(f".{out.name}.{secrets.token_hex(6)}.partial")
    try:
        with tmp.open("xb") as raw:
            with zipfile.ZipFile(raw, "w", allowZip64=True) as zf:
                w = _Writer(zf, _zip_time(created_ms))
                w.put(VERIFY, VERIFY_MD.encode())
                w.put(
                    KEYS,
                    _dumps(
                        {k.hex(): {"name": n, "fingerprint": fingerprint(k)} for k, n in sorted(keys.items())}
                    ),
                )
                w.put(CUSTODY, custody_json)
                manifest_records = []
                for rid, (rec, key, plaintext) in sorted(
                    opened.items(), key=lambda kv: _feed_order(kv[1][0])
                ):
                    w.put(parts[rid], rec.wire, stored=True)
                    w.put(f"records/{rid.hex()}.json", _dumps(_record_view(rec, plaintext)))
                    manifest_records.append(
                        {
                            "path": parts[rid],
                            "id": rid.hex(),
                            "author": rec.author.hex(),
                            "scope": rec.scope,
                            "seq": rec.seq,
                            "kind": payloads[rid]["kind"] if rid in payloads else None,
                            "key": key.hex() if key is not None else None,
                        }
                    )
                for name, pf in sources.items():
                    w.file(name, pf.path, pf.size)
                problems = []
                for entry in entries:
                    problems += _item_problems(entry, payloads, parts, w.digests)
                if problems:
                    raise PackageError("the items would not check: " + "; ".join(str(p) for p in problems))
                manifest: dict[str, Any] = {
                    "format": FORMAT,
                    "created": created_ms,
                    "exporter": exporter.hex(),
                    "items": [e.to_json() for e in entries],
                    "records": manifest_records,
                    "files": {name: sha.hex() for name, (sha, _n) in sorted(w.digests.items())},
                }
                manifest_bytes = _dumps(manifest)
                sig = sign(MANIFEST_DOMAIN + manifest_bytes)
                try:
                    VerifyKey(exporter).verify(MANIFEST_DOMAIN + manifest_bytes, bytes(sig))
                except (nacl.exceptions.BadSignatureError, nacl.exceptions.ValueError, TypeError):
                    raise PackageError("sign does not sign with the exporter's key") from None
                w.put(MANIFEST, manifest_bytes, listed=False)
                w.put(SIGNATURE, (bytes(sig).hex() + "\n").encode(), listed=False)
            raw.flush()
            os.fsync(raw.fileno())
        os.replace(tmp, out)
    except OSError as e:  # the source files' errors are PackageErrors already: this is the output
        raise PackageError(f"{out}: cannot write the package: {e.strerror or e}") from None
    finally:
        tmp.unlink(missing_ok=True)
    return manifest


def _feed_order(rec: Record) -> tuple[bytes, str, int]:
    return rec.author, rec.scope, rec.seq


# --------------------------------------------------------------------------------------------------
# Checking


class _Unreadable(Exception):
    """A member that could not be read; the message says why."""


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise ValueError(f"the key {k!r} appears twice")
        out[k] = v
    return out


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _parse_json(data: bytes) -> Any:
    """Strict JSON: UTF-8 only, no duplicate keys, no NaN; raises ValueError saying what is wrong."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError("not UTF-8") from None
    try:
        return json.loads(text, object_pairs_hook=_no_duplicate_keys, parse_constant=_refuse_constant)
    except RecursionError:
        raise ValueError("nested too deeply") from None
    except json.JSONDecodeError as e:
        raise ValueError(f"not JSON: {e}") from None


def _hex32(v: Any) -> bytes | None:
    return bytes.fromhex(v) if type(v) is str and _HEX32.fullmatch(v) else None


def _nat(v: Any) -> bool:
    return type(v) is int and v >= 0


class _Check:
    """One run of check_package; every finding goes to ``report`` and nothing is raised."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.report = CheckReport([])
        self.zf: zipfile.ZipFile | None = None
        self.members: dict[str, zipfile.ZipInfo] = {}
        self.digests: dict[str, tuple[bytes, int]] = {}
        self.names: dict[bytes, str] = {}
        self.listed: set[str] = set()
        self.seen: set[tuple[str, str]] = set()

    def problem(self, part: str, what: str) -> None:
        if (part, what) not in self.seen:
            self.seen.add((part, what))
            self.report.problems.append(Problem(part, what))

    # -- reading members ---------------------------------------------------------------------------

    def _open(self, info: zipfile.ZipInfo) -> IO[bytes]:
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise _Unreadable(
                f"uses compression method {info.compress_type}; "
                "a package uses only stored or deflated members"
            )
        assert self.zf is not None
        f = self.zf.open(info)
        # zipfile's CRC-32 check would raise on the last chunk and hide what the bytes are: it is done
        # here instead (see crc), so that a changed member shows its actual SHA-256 too.
        if hasattr(f, "_expected_crc"):
            f._expected_crc = None
        return f

    def read(self, name: str, limit: int) -> bytes:
        """A small member whole (at most ``limit`` bytes), or _Unreadable."""
        info = self.members.get(name)
        if info is None:
            raise _Unreadable("is missing from the zip")
        if info.file_size > limit:
            raise _Unreadable(f"is {info.file_size} bytes; at most {limit} are expected here")
        try:
            with self._open(info) as f:
                data = f.read(limit + 1)
        except _Unreadable:
            raise
        except Exception as e:  # zipfile, zlib and OSError all signal damage in their own way
            raise _Unreadable(f"cannot be read from the zip ({type(e).__name__}: {e})") from None
        if len(data) > limit:
            raise _Unreadable(f"is larger than the {limit} bytes expected here")
        self.crc(info, zlib.crc32(data))
        return data

    def crc(self, info: zipfile.ZipInfo, crc: int) -> None:
        """A CRC-32 that does not match the content: the zip itself was edited or damaged."""
        if crc != info.CRC:
            self.problem(
                info.filename,
                "the zip's CRC-32 for it does not match its content: the zip file was changed or damaged "
                "(unzip will refuse this member)",
            )

    def digest(self, name: str) -> tuple[bytes, int]:
        """SHA-256 and length of a member, streamed in 1 MiB chunks, or _Unreadable."""
        info = self.members.get(name)
        if info is None:
            raise _Unreadable("is missing from the zip")
        h = hashlib.sha256()
        n = crc = 0
        try:
            with self._open(info) as f:
                while chunk := f.read(CHUNK):
                    h.update(chunk)
                    crc = zlib.crc32(chunk, crc)
                    n += len(chunk)
        except _Unreadable:
            raise
        except Exception as e:
            raise _Unreadable(f"cannot be read from the zip ({type(e).__name__}: {e})") from None
        self.crc(info, crc)
        return h.digest(), n

    def fetch(self, name: str, limit: int) -> bytes | None:
        """A small member's bytes, checked to be the ones hashed in step 2; None (and a problem) if not.

        A listed member that is missing was reported by step 2 already.
        """
        try:
            data = self.read(name, limit)
        except _Unreadable as e:
            if name in self.members or name not in self.listed:
                self.problem(name, str(e))
            return None
        if name in self.digests and hashlib.sha256(data).digest() != self.digests[name][0]:
            self.problem(name, "changed while the package was being checked")
            return None
        return data

    def json_member(self, name: str, limit: int) -> Any:
        """A JSON member parsed (None, and a problem, if it cannot be read or is not JSON)."""
        data = self.fetch(name, limit)
        if data is None:
            return None
        try:
            return _parse_json(data)
        except ValueError as e:
            self.problem(name, f"is not valid JSON: {e}")
            return None

    # -- the steps ---------------------------------------------------------------------------------

    def run(self) -> None:
        if not self.open_zip():
            return
        manifest_bytes, manifest = self.manifest()
        self.signature(manifest_bytes, manifest)
        if manifest is None:
            return
        files = self.files(manifest)
        self.keys(manifest)
        custody = self.json_member(CUSTODY, _MAX_CUSTODY)
        if custody is not None and type(custody) is not list:
            self.problem(CUSTODY, "is not a JSON list of custody events")
        payloads, parts = self.records(manifest)
        self.items(manifest, payloads, parts)
        self.accounted(manifest, files)

    def open_zip(self) -> bool:
        name = self.path.name or str(self.path)
        try:
            size = self.path.stat().st_size
        except OSError as e:
            self.problem(name, f"cannot be read: {e.strerror or e}")
            return False
        if not self.path.is_file():
            self.problem(name, "is not a file")
            return False
        if size == 0:
            self.problem(name, "is empty (0 bytes): not a zip file")
            return False
        try:
            self.zf = zipfile.ZipFile(self.path)
            infos = self.zf.infolist()
        except zipfile.BadZipFile as e:
            self.problem(name, f"is not a readable zip file (cut short or damaged?): {e}")
            return False
        except Exception as e:
            self.problem(name, f"is not a readable zip file: {type(e).__name__}: {e}")
            return False
        for info in infos:
            if info.filename in self.members:
                self.problem(
                    info.filename, "appears more than once in the zip: which copy counts is ambiguous"
                )
            elif not info.is_dir() or info.file_size:
                self.members[info.filename] = info
        return True

    def manifest(self) -> tuple[bytes | None, dict[str, Any] | None]:
        try:
            data = self.read(MANIFEST, _MAX_MANIFEST)
        except _Unreadable as e:
            self.problem(MANIFEST, f"{e}: nothing in the package can be checked without it")
            return None, None
        try:
            value = _parse_json(data)
        except ValueError as e:
            self.problem(MANIFEST, f"is not valid JSON: {e}")
            return data, None
        if type(value) is not dict:
            self.problem(MANIFEST, "is not a JSON object")
            return data, None
        if value.get("format") != FORMAT:
            self.problem(MANIFEST, f"format is {value.get('format')!r}, not {FORMAT!r}")
            return data, None
        return data, value

    def signature(self, manifest_bytes: bytes | None, manifest: dict[str, Any] | None) -> None:
        try:
            text = self.read(SIGNATURE, _MAX_SIG)
        except _Unreadable as e:
            self.problem(SIGNATURE, f"{e}: the manifest is not signed")
            return
        if manifest_bytes is None or manifest is None:
            return  # what is wrong with the manifest is reported already
        try:
            sig = bytes.fromhex(text.decode("ascii").strip())
        except (UnicodeDecodeError, ValueError):
            sig = b""
        if len(sig) != 64:
            self.problem(SIGNATURE, "is not the hex of a 64-byte Ed25519 signature")
            return
        exporter = _hex32(manifest.get("exporter"))
        if exporter is None:
            self.problem(MANIFEST, "exporter is not a 64-character hex public key")
            return
        try:
            VerifyKey(exporter).verify(MANIFEST_DOMAIN + manifest_bytes, sig)
        except Exception:  # BadSignatureError, or a key that is not a point
            self.problem(
                SIGNATURE,
                f"does not verify under the exporter {fingerprint(exporter)}: manifest.json was changed "
                "after signing, or the signature was made with another key",
            )
            return
        self.report.signatures += 1
        self.report.exporter = exporter

    def files(self, manifest: dict[str, Any]) -> dict[str, bytes]:
        """Step 2: every listed member is there with its SHA-256, and nothing else is there."""
        raw = manifest.get("files")
        files: dict[str, bytes] = {}
        if type(raw) is not dict:
            self.problem(MANIFEST, "files is not a map of member names to SHA-256 hex")
            raw = {}
        for name, want in raw.items():
            sha = _hex32(want)
            if sha is None or name in (MANIFEST, SIGNATURE):
                self.problem(
                    MANIFEST, f"files: the entry for {name!r} is not a SHA-256 in hex of another member"
                )
                continue
            files[name] = sha
        self.listed = set(files)
        for name, sha in sorted(files.items()):
            try:
                got, n = self.digest(name)
            except _Unreadable as e:
                self.problem(name, f"{e} (the manifest lists it)")
                continue
            self.digests[name] = (got, n)
            if got == sha:
                self.report.files += 1
            else:
                self.problem(
                    name,
                    f"SHA-256 is {got.hex()}, not {sha.hex()} as the manifest says: its content was changed",
                )
        for name in sorted(self.members.keys() - files.keys() - {MANIFEST, SIGNATURE}):
            self.problem(name, "is in the zip but not listed in the manifest")
        return files

    def keys(self, manifest: dict[str, Any]) -> None:
        value = self.json_member(KEYS, _MAX_KEYS)
        if value is None:
            return
        if type(value) is not dict:
            self.problem(KEYS, "is not a JSON object of public keys")
            return
        for hexkey, entry in value.items():
            key = _hex32(hexkey)
            if key is None or type(entry) is not dict or type(entry.get("name")) is not str:
                self.problem(KEYS, f"the entry {hexkey!r} is not a public key with a name and fingerprint")
                continue
            if entry.get("fingerprint") != fingerprint(key):
                self.problem(
                    KEYS,
                    f"the fingerprint of {hexkey} is given as {entry.get('fingerprint')!r}; the key's "
                    f"fingerprint is {fingerprint(key)}",
                )
                continue
            self.names[key] = entry["name"]
        exporter = _hex32(manifest.get("exporter"))
        if exporter is not None:
            if exporter not in self.names:
                self.problem(KEYS, f"has no entry for the exporter {exporter.hex()}")
            elif self.report.exporter is not None:
                self.report.exporter_name = self.names[exporter]

    def records(self, manifest: dict[str, Any]) -> tuple[dict[bytes, dict[str, Any]], dict[bytes, str]]:
        """Steps 3-5: each record verifies, matches its entry and JSON view, opens; then the chains."""
        raw = manifest.get("records")
        if type(raw) is not list:
            self.problem(MANIFEST, "records is not a list")
            raw = []
        payloads: dict[bytes, dict[str, Any]] = {}
        parts: dict[bytes, str] = {}
        links: list[_Link] = []
        uses: list[tuple[str, bytes, bytes]] = []
        unverified: dict[tuple[bytes, str, int], str] = {}
        for i, entry in enumerate(raw):
            e = entry if type(entry) is dict else {}
            rid, author = _hex32(e.get("id")), _hex32(e.get("author"))
            key = _hex32(e.get("key")) if e.get("key") is not None else None
            if (
                rid is None
                or author is None
                or type(e.get("scope")) is not str
                or not _nat(e.get("seq"))
                or (e.get("key") is not None and key is None)
                or not (e.get("kind") is None or type(e.get("kind")) is str)
            ):
                self.problem(
                    MANIFEST, f"records[{i}] is not an entry of path, id, author, scope, seq, kind, key"
                )
                continue
            part = f"records/{rid.hex()}.bin"
            if e.get("path") != part:
                self.problem(MANIFEST, f"records[{i}]: the path of record {rid.hex()} is not {part}")
            if rid in parts:
                self.problem(MANIFEST, f"records[{i}]: record {rid.hex()} is listed twice")
                continue
            parts[rid] = part
            rec = self.record(part, rid, author, e)
            if rec is None:
                if part in self.members:
                    unverified[(author, e["scope"], e["seq"])] = part
                continue
            links.append(_Link(rec.author, rec.scope, rec.seq, rec.id, rec.prev, part))
            try:
                plaintext = _open_payload(rec, key)
            except _Unopened as err:
                self.problem(part, f"does not open: {err}")
                continue
            if key is not None and not _encrypted(rec):
                self.problem(MANIFEST, f"records[{i}] gives a key for a record that is not encrypted")
            payload: dict[str, Any] | None = None
            if plaintext is not None:
                try:
                    payload = parse_payload(plaintext).to_map()
                except PayloadError as err:
                    self.problem(part, f"its opened payload is not a payload map: {err}")
                    continue
                payloads[rid] = payload
                kid = _group_key_record(rec)
                if kid is not None and key is not None:
                    uses.append((part, kid, key))
            if e.get("kind") != (payload["kind"] if payload is not None else None):
                self.problem(MANIFEST, f"records[{i}]: kind {e.get('kind')!r} is not the record's")
            self.view(rec, plaintext)
        problems, partial = _chain_problems(links, self.names, unverified)
        problems += _commit_problems(uses, payloads)
        for p in problems:
            self.problem(p.part, p.what)
        self.report.partial = partial
        return payloads, parts

    def record(self, part: str, rid: bytes, author: bytes, entry: dict[str, Any]) -> Record | None:
        """The verified record at ``part`` if it matches its manifest entry; None, and problems, if not."""
        if part not in self.listed:
            self.problem(MANIFEST, f"does not list {part} in files")
        wire = self.fetch(part, _MAX_WIRE)
        if wire is None:
            return None
        try:
            rec = parse_wire(wire)
        except RecordError as e:
            self.problem(part, f"the record does not verify ({e.reason}): {e.detail}")
            return None
        self.report.signatures += 1
        if rec.id != rid:
            self.problem(
                part, f"its id is {rec.id.hex()}, not the {rid.hex()} of its name and manifest entry"
            )
            return None
        self.report.records += 1
        for what, want, got in (
            ("author", author.hex(), rec.author.hex()),
            ("scope", entry.get("scope"), rec.scope),
            ("seq", entry.get("seq"), rec.seq),
        ):
            if want != got:
                self.problem(
                    MANIFEST, f"the {what} of {part} is given as {want}; the signed record's is {got}"
                )
        if rec.author not in self.names:
            self.problem(
                part, f"its author {rec.author.hex()} is not named in keys.json (or its entry is wrong)"
            )
        return rec

    def view(self, rec: Record, plaintext: bytes | None) -> None:
        """records/<id>.json must be the JSON view of the signed record and its opened payload."""
        name = f"records/{rec.id.hex()}.json"
        if name not in self.listed:
            self.problem(MANIFEST, f"does not list {name} in files")
        got = self.json_member(name, _MAX_RECORD_JSON)
        if got is None:
            return
        want = _record_view(rec, plaintext)
        if type(got) is not dict:
            self.problem(name, "is not a JSON object")
            return
        wrong = sorted(k for k in want.keys() | got.keys() if not _same(want.get(k), got.get(k)))
        if wrong:
            fields = ", ".join(wrong)
            verb = "differs" if len(wrong) == 1 else "differ"
            self.problem(
                name, f"does not show the signed record: {fields} {verb} from records/{rec.id.hex()}.bin"
            )

    def items(
        self, manifest: dict[str, Any], payloads: dict[bytes, dict[str, Any]], parts: dict[bytes, str]
    ) -> None:
        """Step 6: each item's files match its signed item record, and a derivation links them."""
        raw = manifest.get("items")
        if type(raw) is not list:
            self.problem(MANIFEST, "items is not a list")
            return
        for i, value in enumerate(raw):
            entry = self.item_entry(i, value)
            if entry is None:
                continue
            for f in (entry.original, entry.working):
                if f is not None and f.path not in self.listed:
                    self.problem(MANIFEST, f"items[{i}]: {f.path} is not listed in files")
            problems = _item_problems(entry, payloads, parts, self.digests)
            for p in problems:
                self.problem(p.part, p.what)
            if not problems and all(
                f is None or self.digests.get(f.path, (b"", -1))[0] == f.sha256
                for f in (entry.original, entry.working)
            ):
                self.report.items += 1

    def item_entry(self, i: int, value: Any) -> _ItemEntry | None:
        v = value if type(value) is dict else {}
        rid = _hex32(v.get("id"))
        files: list[_FileEntry | None] = []
        ok = rid is not None and type(v.get("title")) is str
        for role in ("original", "working"):
            f = v.get(role)
            if f is None and role == "working":
                files.append(None)
                continue
            f = f if type(f) is dict else {}
            sha = _hex32(f.get("sha256"))
            if (
                sha is None
                or type(f.get("path")) is not str
                or not _nat(f.get("size"))
                or type(f.get("mime")) is not str
            ):
                ok = False
                files.append(None)
                continue
            files.append(_FileEntry(f["path"], sha, f["size"], f["mime"]))
        if not ok or rid is None or files[0] is None:
            self.problem(MANIFEST, f"items[{i}] is not an item of id, title, original and working files")
            return None
        return _ItemEntry(rid, v["title"], files[0], files[1])

    def accounted(self, manifest: dict[str, Any], files: dict[str, bytes]) -> None:
        """Every listed file belongs to something: the fixed members, a record, or an item's file."""
        used = {VERIFY, KEYS, CUSTODY}
        records, items = manifest.get("records"), manifest.get("items")
        for e in records if type(records) is list else []:
            if type(e) is dict and _hex32(e.get("id")) is not None:
                used |= {f"records/{e['id']}.bin", f"records/{e['id']}.json"}
        for it in items if type(items) is list else []:
            for role in ("original", "working"):
                f = it.get(role) if type(it) is dict else None
                if type(f) is dict and type(f.get("path")) is str:
                    used.add(f["path"])
        for name in sorted(files.keys() - used):
            self.problem(MANIFEST, f"lists {name} in files, but no item or record refers to it")
        for name in sorted({VERIFY, KEYS, CUSTODY} - files.keys()):
            self.problem(MANIFEST, f"does not list {name} in files")


def check_package(path: Path) -> CheckReport:
    """Verify a court package offline: every signature, hash, key and chain link, naming each wrong part.

    Never raises: a damaged or hostile file gives problems, not an exception.
    """
    check = _Check(Path(path))
    try:
        check.run()
    except Exception as e:  # a bug here must still not pass a package, nor crash the court's check
        check.problem(Path(path).name, f"the check stopped on an unexpected error ({type(e).__name__}: {e})")
    finally:
        if check.zf is not None:
            check.zf.close()
    return check.report


#: VERIFY.md, written into every package: how a court's technical expert checks it by hand.
VERIFY_MD = r'''# How to verify this evidence package

This ZIP file is a court package written by a Tequio node (format `tequio-evidence-package/1`). It
holds evidence files exactly as they were received, the signed records that describe them and their
custody, and the keys that open exactly those records. Everything can be checked offline with
standard tools, without trusting anyone, including whoever handed you the file, and without Tequio.
The one thing to establish out of band is whose keys these are: compare the fingerprints in
`keys.json` with the organisations themselves (section 4).

`tequio evidence check FILE.zip` runs every check below and names each member that is wrong. This
document explains how to run them by hand; section 9 is a self-contained script that does all of it
with Python 3 and PyNaCl (`pip install pynacl`, the Python binding of libsodium).

Conventions: hashes are SHA-256, public keys are Ed25519 (RFC 8032, 32 bytes); both are written as
lowercase hex. "LF" is the line feed byte 0x0a. In the commands, `P` is the folder where the zip was
unpacked (`unzip FILE.zip -d "$P"`); run them from another folder, so that no file is added to `P`.

## 1. What is in the package

- `manifest.json`: the table of contents: `format`, `created` (ms since 1970, UTC), `exporter` (the
  exporting node's key), `items`, `records`, and `files`, the SHA-256 of every other member.
- `manifest.sig`: the exporter's Ed25519 signature of the manifest, in hex (section 2).
- `originals/<sha256><ext>`: the original files, byte for byte as received, stored uncompressed; the
  name is the file's SHA-256.
- `working/<sha256><ext>`: the working copies (metadata that could locate the witness removed). A
  working copy identical to its original is not stored twice: its path is the original's.
- `records/<id>.bin`: each signed record exactly as it travelled between nodes (MessagePack); `<id>`
  is its id.
- `records/<id>.json`: the same record as JSON, with its payload decrypted: `id`, `author`, `scope`,
  `seq`, `prev`, `ts`, `payload_hash`, `sig`, `kind`, `payload` (bytes inside the payload are written
  `{"$bin": "<hex>"}`).
- `keys.json`: `{public key: {"name", "fingerprint"}}` for every author and the exporter.
- `custody.json`: the custody events of the items, in order, as the exporting node records them.
- `VERIFY.md`: this file.

In `manifest.json`, `items` lists each item: `id` (the id of its `evidence.item` record), `title`, and
`original` and `working` as `{"path", "sha256", "size", "mime"}` (`working` may be `null`). `records`
lists each record: `path`, `id`, `author`, `scope`, `seq`, `kind` and `key`, the hex key that opens
its payload (`null` when the payload is not encrypted or was withheld).

## 2. The manifest's signature

`manifest.sig` is the hex of an Ed25519 signature, by the key `exporter` in `manifest.json`, of these
bytes: the 28 ASCII bytes `tequio/evidence-manifest/v1` and LF, then `manifest.json` exactly as it is
in the zip (do not reformat it). As the manifest lists the hash of every other member, this one
signature covers the whole package.

With PyNaCl:

```python
import json
from nacl.signing import VerifyKey

m = open("manifest.json", "rb").read()
sig = bytes.fromhex(open("manifest.sig").read().strip())
VerifyKey(bytes.fromhex(json.loads(m)["exporter"])).verify(b"tequio/evidence-manifest/v1\n" + m, sig)
print("the manifest signature verifies")  # verify() raises BadSignatureError otherwise
```

With OpenSSL 3 (and `jq`, `xxd`); `302a300506032b6570032100` is the standard DER header of a raw
Ed25519 public key (RFC 8410):

```sh
(printf '302a300506032b6570032100'; jq -r .exporter "$P/manifest.json") | xxd -r -p > exporter.der
{ printf 'tequio/evidence-manifest/v1\n'; cat "$P/manifest.json"; } > manifest.signed
xxd -r -p "$P/manifest.sig" > manifest.sig.raw
openssl pkeyutl -verify -pubin -keyform DER -inkey exporter.der -rawin \
    -in manifest.signed -sigfile manifest.sig.raw
```

It prints `Signature Verified Successfully`.

## 3. The files

Every member but `manifest.json` and `manifest.sig` is listed in `files` with its SHA-256:

```sh
(cd "$P" && jq -r '.files | to_entries[] | "\(.value)  \(.key)"' manifest.json | sha256sum -c -)
```

or, without `jq`:

```sh
(cd "$P" && python3 -c 'import json
for p, h in json.load(open("manifest.json"))["files"].items(): print(h + "  " + p)' | sha256sum -c -)
```

Each line must say `OK`. No other member may exist: `unzip -Z1 FILE.zip` lists them all. An original's
hash is also the one its signed `evidence.item` record gives (section 8), so it is the hash of what
was received, not merely of what was packed.

## 4. Whose keys: keys.json

A key is shown to people as a fingerprint: the first 10 bytes of SHA-256 of the 22 ASCII bytes
`tequio/fingerprint/v1` and LF followed by the 32 key bytes, in base32 (16 letters), in groups of four.
For a key `K` (hex):

```sh
{ printf 'tequio/fingerprint/v1\n'; printf %s "$K" | xxd -r -p; } | sha256sum | cut -c1-20 \
    | xxd -r -p | base32
```

Check that each entry's `fingerprint` is its key's, then confirm with each organisation (on paper, by
phone, from its published fingerprint) that the fingerprint is theirs. A package re-signed by someone
else verifies only under their key, whose fingerprint will not be the exporter's.

## 5. The records and their signatures

`records/<id>.bin` is a MessagePack array of 9: `[1, author, scope, seq, prev, ts, payload_hash, sig,
payload]`, in canonical form (shortest encodings; see docs/protocol.md, sections 2 and 3, of Tequio).
`records/<id>.json` shows the same fields. The author signs these bytes (the same for every record):

```
"tequio/record/v1" LF                         17 ASCII bytes
0x97                                          an array of 7
0x01                                          version 1
0xc4 0x20 <author, 32 bytes>
<scope>        "public": 0xa6 then the 6 letters;
               "g:<32 hex>" or "d:<64 hex>": 0xd9, the length (0x22 or 0x42), then the letters
<seq>          0..127: one byte; else 0xcc + 1 byte, 0xcd + 2, 0xce + 4 or 0xcf + 8 bytes,
               big-endian, the shortest that fits
<prev>         0xc0 when seq is 1, else 0xc4 0x20 <id of the author's record seq - 1 in this scope>
<ts>           as seq (milliseconds since 1970, by the author's clock)
0xc4 0x20 <payload_hash, 32 bytes>
```

- The record's id is the SHA-256 of these bytes; it is the file's name.
- `sig` (64 bytes) is the Ed25519 signature of these bytes by `author`.
- `payload_hash` is the SHA-256 of `payload` as the record carries it (encrypted or not). A record
  whose payload is nil was included redacted: its content was withheld, but its id, signature and
  chain link still verify (they do not depend on the payload).

Tequio checks signatures with libsodium (`crypto_sign_verify_detached`), which also refuses a few
degenerate forms that plain RFC 8032 leaves open; other libraries, OpenSSL among them, accept some of
those. No signature made by ordinary signing software differs between them.

## 6. Opening the payloads

The `key` of each record in `manifest.json` opens its payload; the package contains it on purpose. A
successful opening proves the key is right: the Poly1305 tag fails for any other key or any changed
byte. The encrypted payload is a MessagePack map:

- scope `public`: the payload is already plaintext; `key` is null.
- scope `d:<recipient>` (direct): `{"box", "nonce"}`; `key` is the 32-byte shared key of author and
  recipient (libsodium `crypto_box_beforenm`). Plaintext = `crypto_box_open_afternm(box, nonce, key)`
  (PyNaCl: `nacl.bindings.crypto_box_open_afternm`).
- scope `g:<group>`: `{"box", "key", "nonce"}`; the manifest's `key` is the group's 32-byte epoch key;
  plaintext = `crypto_secretbox_open(box, nonce, key)` (PyNaCl: `nacl.secret.SecretBox(key).decrypt(box,
  nonce)`). The envelope's own `key` field is the id of the `gov.keys` record that delivered the epoch
  key; when that record is in the package, its body's `commit` equals SHA-256 of
  `tequio/epoch-key/v1` LF followed by the epoch key. `gov.keys` records themselves are not encrypted.

The plaintext is a canonical MessagePack map `{"kind", "body"}` (and `refs`, `blobs` when present).
`records/<id>.json` shows it under `payload`; it must be the same value.

## 7. The chains

Each author numbers its records per scope: `seq` 1, 2, 3…, and each record's `prev` is the id of the
same author's record `seq - 1` in the same scope (nil for seq 1). So records cannot be removed from,
inserted into or reordered in a chain without breaking a signature. Where the package holds two
consecutive records of a chain, the later one's `prev` must be the earlier one's id. Where it holds a
chain from seq 1, it holds all of it up to its last record. A chain that starts at a later seq is a
selection (the organisation's other records in that scope are not about these items); its records
still link where they are consecutive.

## 8. The items

For each item in `manifest.json`:

- `records/<item id>.bin` is an `evidence.item` record; its body's `original` is `{"sha256", "size",
  "mime"}` of the original file, and `working` that of the working copy (or nil).
- The files at `original.path` and `working.path` have exactly those hashes and sizes.
- A record of kind `evidence.derivation` has in its body `item` = the item's id, `sha256` (or `from`)
  = the original's hash and `to` = the working copy's hash: the organisation recorded, when it took
  the item in, that this working copy was made from this original.

## 9. All of it as one script

Save this as `check.py` outside the unpacked folder and run `python3 check.py "$P"`. It needs Python
3.8 or later and PyNaCl, nothing of Tequio. It prints what it checked and ends with
`ALL CHECKS PASSED` (exit status 0) or the number of problems (exit status 1). It is written to be
read; on a badly damaged package it may stop with a Python error, which also means the package does
not check.

```python
#!/usr/bin/env python3
"""Check an unpacked Tequio evidence package by hand: python3 check.py FOLDER (needs only PyNaCl)."""
import base64
import hashlib
import json
import sys
from pathlib import Path

from nacl.bindings import crypto_box_open_afternm
from nacl.secret import SecretBox
from nacl.signing import VerifyKey

folder = Path(sys.argv[1])
problems = []


def fail(what):
    problems.append(what)
    print("PROBLEM", what)


def sha256_of(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def fingerprint(key):
    text = base64.b32encode(hashlib.sha256(b"tequio/fingerprint/v1\n" + key).digest()[:10]).decode()
    return "-".join(text[i : i + 4] for i in range(0, 16, 4))


# MessagePack, as far as records use it: (tag byte -> length of the size that follows it)
SIZES = {0xC4: 1, 0xC5: 2, 0xC6: 4, 0xD9: 1, 0xDA: 2, 0xDB: 4, 0xDC: 2, 0xDD: 4, 0xDE: 2, 0xDF: 4,
         0xCC: 1, 0xCD: 2, 0xCE: 4, 0xCF: 8, 0xD0: 1, 0xD1: 2, 0xD2: 4, 0xD3: 8}


def unpack(b, i=0):
    """Decode the MessagePack value at b[i]: return it and the index just after it."""
    t = b[i]
    i += 1
    if t <= 0x7F or t >= 0xE0:  # fixint
        return (t if t <= 0x7F else t - 256), i
    if t in (0xC0, 0xC2, 0xC3):  # nil, false, true
        return {0xC0: None, 0xC2: False, 0xC3: True}[t], i
    if 0x80 <= t <= 0xBF:  # fixmap, fixarray, fixstr
        n = t & (0x1F if t >= 0xA0 else 0x0F)
    elif t in SIZES:
        n = int.from_bytes(b[i : i + SIZES[t]], "big", signed=0xD0 <= t <= 0xD3)
        i += SIZES[t]
        if 0xCC <= t <= 0xD3:  # integers
            return n, i
    else:
        raise ValueError("MessagePack type 0x%02x does not occur in records" % t)
    if 0xA0 <= t <= 0xBF or 0xD9 <= t <= 0xDB:  # str
        return b[i : i + n].decode("utf-8"), i + n
    if 0xC4 <= t <= 0xC6:  # bin
        return bytes(b[i : i + n]), i + n
    out = [] if (0x90 <= t <= 0x9F or t in (0xDC, 0xDD)) else {}
    for _ in range(n):
        v, i = unpack(b, i)
        if isinstance(out, list):
            out.append(v)
        else:
            out[v], i = unpack(b, i)
    return out, i


def pack(v):
    """Canonical MessagePack of an envelope field: nil, a non-negative integer, text or bytes."""
    if v is None:
        return b"\xc0"
    if isinstance(v, (str, bytes)):
        data = v.encode("utf-8") if isinstance(v, str) else v
        n = len(data)
        if isinstance(v, str) and n < 32:
            return bytes([0xA0 + n]) + data
        tags = (0xD9, 0xDA, 0xDB) if isinstance(v, str) else (0xC4, 0xC5, 0xC6)
        for tag, size in zip(tags, (1, 2, 4)):
            if n < 1 << (8 * size):
                return bytes([tag]) + n.to_bytes(size, "big") + data
    if v < 128:
        return bytes([v])
    for tag, size in ((0xCC, 1), (0xCD, 2), (0xCE, 4), (0xCF, 8)):
        if v < 1 << (8 * size):
            return bytes([tag]) + v.to_bytes(size, "big")


def as_json(v):
    """The JSON view of a decoded value: bytes become {"$bin": hex}."""
    if isinstance(v, bytes):
        return {"$bin": v.hex()}
    if isinstance(v, list):
        return [as_json(x) for x in v]
    if isinstance(v, dict):
        return {k: as_json(x) for k, x in v.items()}
    return v


# 1. The manifest's signature.
manifest_bytes = (folder / "manifest.json").read_bytes()
manifest = json.loads(manifest_bytes)
signature = bytes.fromhex((folder / "manifest.sig").read_text().strip())
exporter = bytes.fromhex(manifest["exporter"])
try:
    VerifyKey(exporter).verify(b"tequio/evidence-manifest/v1\n" + manifest_bytes, signature)
    print("ok      manifest.json is signed by", fingerprint(exporter), exporter.hex())
except Exception:
    fail("manifest.sig does not verify under the exporter's key")

# 2. Every file has the SHA-256 the manifest gives, and there is no other file.
for name, digest in sorted(manifest["files"].items()):
    if not (folder / name).is_file():
        fail(name + " is missing")
    elif sha256_of(folder / name) != digest:
        fail(name + " has another SHA-256 than the manifest says")
present = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}
for name in sorted(present - set(manifest["files"]) - {"manifest.json", "manifest.sig"}):
    fail(name + " is not listed in the manifest")
print("checked", len(manifest["files"]), "file hashes")

# 3. Fingerprints of the keys.
keys = json.loads((folder / "keys.json").read_text("utf-8"))
for key, who in sorted(keys.items()):
    if fingerprint(bytes.fromhex(key)) != who["fingerprint"]:
        fail("keys.json: wrong fingerprint for " + key)
    print("key    ", who["fingerprint"], who["name"])

# 4. Each record: canonical form, signature, id, payload hash, decryption, JSON view.
payloads, feeds = {}, {}
for entry in manifest["records"]:
    name = entry["path"]
    wire = (folder / name).read_bytes()
    fields, end = unpack(wire)
    version, author, scope, seq, prev, ts, payload_hash, sig, payload = fields
    if end != len(wire) or b"\x99" + b"".join(pack(v) for v in fields) != wire:
        fail(name + " is not a record in canonical form")
        continue
    signed = b"tequio/record/v1\n" + b"\x97" + b"".join(pack(v) for v in fields[:7])
    rid = hashlib.sha256(signed).hexdigest()
    try:
        VerifyKey(author).verify(signed, sig)
    except Exception:
        fail(name + ": the signature does not verify")
        continue
    if name != "records/" + rid + ".bin" or rid != entry["id"]:
        fail(name + ": its id is " + rid)
    if author.hex() not in keys:
        fail(name + ": its author is not in keys.json")
    if payload is not None and hashlib.sha256(payload).digest() != payload_hash:
        fail(name + ": the payload does not have the signed hash")
    feeds.setdefault((author.hex(), scope), {})[seq] = (rid, prev)
    plaintext = payload
    if payload is not None and entry["key"] is not None:
        key, envelope = bytes.fromhex(entry["key"]), unpack(payload)[0]
        try:
            if scope.startswith("d:"):
                plaintext = crypto_box_open_afternm(envelope["box"], envelope["nonce"], key)
            else:
                plaintext = SecretBox(key).decrypt(envelope["box"], envelope["nonce"])
        except Exception:
            fail(name + ": the payload does not open with its key")
            continue
    view = json.loads((folder / ("records/" + rid + ".json")).read_text("utf-8"))
    shown = None
    if plaintext is not None:
        payloads[rid] = unpack(plaintext)[0]
        shown = as_json(payloads[rid])
    if json.dumps(shown, sort_keys=True) != json.dumps(view["payload"], sort_keys=True):
        fail("records/" + rid + ".json does not show the signed payload")
print("checked", len(manifest["records"]), "records")

# 5. Chains: prev is the id of the author's record seq - 1 in the same scope.
for (author, scope), chain in sorted(feeds.items()):
    seqs = sorted(chain)
    for a, b in zip(seqs, seqs[1:]):
        if b == a + 1 and chain[b][1].hex() != chain[a][0]:
            fail("chain of %s in %s: seq %d does not link to seq %d" % (author[:16], scope, b, a))
        if b != a + 1 and seqs[0] == 1:
            fail("chain of %s in %s is broken between seq %d and %d" % (author[:16], scope, a, b))
    whole = "complete" if seqs == list(range(1, seqs[-1] + 1)) else "a selection"
    print("chain   %s… in %s: seq %s to %s, %s" % (author[:16], scope, seqs[0], seqs[-1], whole))

# 6. Items: the files are those the signed item record names, and a derivation links them.
for item in manifest["items"]:
    record = payloads.get(item["id"], {})
    body = record.get("body", {}) if record.get("kind") == "evidence.item" else {}
    for role in ("original", "working"):
        f, signed_facts = item[role], body.get(role)
        if f is None:
            continue
        size = (folder / f["path"]).stat().st_size
        if (
            signed_facts is None
            or sha256_of(folder / f["path"]) != f["sha256"]
            or signed_facts["sha256"].hex() != f["sha256"]
            or signed_facts["size"] != f["size"]
            or size != f["size"]
        ):
            fail("item %s: %s is not the %s file its record names" % (item["id"][:16], f["path"], role))
    if item["working"] is not None:
        original = bytes.fromhex(item["original"]["sha256"])
        working = bytes.fromhex(item["working"]["sha256"])
        if not any(
            p["kind"] == "evidence.derivation"
            and p["body"].get("item") == bytes.fromhex(item["id"])
            and p["body"].get("from", p["body"].get("sha256")) == original
            and p["body"].get("to") == working
            for p in payloads.values()
        ):
            fail("item %s: no derivation record links its working copy to the original" % item["id"][:16])
    print("item   ", item["id"][:16] + "…", item["title"])

print("ALL CHECKS PASSED" if not problems else "%d PROBLEM(S)" % len(problems))
sys.exit(1 if problems else 0)
```
'''
