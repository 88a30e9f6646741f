"""Writing a court package: everything checked on the way in, so that a package this writes checks.

Files are streamed into the zip (stored, never recompressed) while they are hashed; records are
verified and opened with their keys; the views (custody.json, keys.json) are computed from the
records, never taken from the caller.
"""

from __future__ import annotations

import datetime
import hashlib
import os
import re
import secrets
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import nacl.exceptions
from nacl.signing import VerifyKey

from tequio.schemas import PayloadError, Record, RecordError, decode, parse_payload, parse_wire

from .layout import (
    CHUNK,
    CUSTODY,
    FORMAT,
    KEYS,
    MANIFEST,
    MANIFEST_DOMAIN,
    SIGNATURE,
    VERIFY,
    FileEntry,
    ItemEntry,
    PackageError,
    PackageItem,
    PackageRecord,
    dumps,
    ext,
    verify_md,
)
from .rules import (
    Link,
    Unopened,
    chain_problems,
    commit_problems,
    encrypted,
    group_key_record,
    item_problems,
    open_payload,
    record_view,
)
from .views import custody_view, exporter_problems, keys_view, stated_names

__all__ = ["write_package"]

_PACKAGE_ID = re.compile(r"[0-9a-f]{32}")


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


def _open_records(records: Sequence[PackageRecord]) -> dict[bytes, tuple[Record, bytes | None, bytes | None]]:
    """Each record verified and opened with its key, deduplicated by id."""
    opened: dict[bytes, tuple[Record, bytes | None, bytes | None]] = {}
    for pr in records:
        try:
            rec = parse_wire(pr.wire)
        except RecordError as e:
            raise PackageError(f"a record does not verify: {e}") from None
        key = pr.key
        if not encrypted(rec):
            key = None  # nothing to open: the manifest says null rather than reveal an unneeded key
        elif type(key) is not bytes or len(key) != 32:
            raise PackageError(f"record {rec.id.hex()} ({rec.scope}) is encrypted: it needs its 32-byte key")
        if rec.id in opened:
            if opened[rec.id][1] != key:
                raise PackageError(f"record {rec.id.hex()} is given twice with different keys")
            continue
        try:
            plaintext = open_payload(rec, key)
            if plaintext is not None:
                parse_payload(plaintext)
        except Unopened as e:
            raise PackageError(f"record {rec.id.hex()} ({rec.scope}, seq {rec.seq}): {e}") from None
        except PayloadError as e:
            raise PackageError(
                f"record {rec.id.hex()}: the opened payload is not a payload map: {e}"
            ) from None
        opened[rec.id] = (rec, key, plaintext)
    return opened


def _entries(items: Sequence[PackageItem]) -> tuple[list[ItemEntry], dict[str, Any]]:
    """The manifest's item entries, and the source file of each member: one per distinct content."""
    paths: dict[bytes, str] = {}
    sources: dict[str, Any] = {}
    entries: list[ItemEntry] = []
    for it in items:
        if type(it.id) is not bytes or len(it.id) != 32:
            raise PackageError("an item id is the 32-byte id of its evidence.item record")
        if any(e.id == it.id for e in entries):
            raise PackageError(f"item {it.id.hex()} is given twice")
        files: list[FileEntry | None] = []
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
                folder = "originals" if want == "original" else "working"
                paths[pf.sha256] = f"{folder}/{pf.sha256.hex()}{ext(pf.mime)}"
                sources[paths[pf.sha256]] = pf
            files.append(FileEntry(paths[pf.sha256], pf.sha256, pf.size, pf.mime))
        original, working = files
        assert original is not None
        entries.append(ItemEntry(it.id, it.title, original, working))
    return entries, sources


def write_package(
    out: Path,
    items: Sequence[PackageItem],
    records: Sequence[PackageRecord],
    sign: Callable[[bytes], bytes],
    exporter: bytes,
    created_ms: int,
    package_id: str,
) -> dict[str, Any]:
    """Write the court package ``out`` and return its manifest.

    ``package_id`` (32 hex) is the one the exporter's export event in each item's chain names.
    Everything is checked on the way in (each file's hash while it is copied, each record's signature,
    that its key opens it, the item, chain and exporter rules), so a package this writes passes
    check_package; anything that would not raises PackageError and leaves no file behind. Files are
    streamed: memory does not grow with their size.
    """
    out = Path(out)
    if type(exporter) is not bytes or len(exporter) != 32:
        raise PackageError("exporter must be the 32-byte public key of the exporting node")
    if type(created_ms) is not int or created_ms < 0:
        raise PackageError("created_ms must be a non-negative integer (milliseconds since the epoch)")
    if type(package_id) is not str or not _PACKAGE_ID.fullmatch(package_id):
        raise PackageError("package_id must be 32 lowercase hex characters")
    opened = _open_records(records)
    recs = {rid: r for rid, (r, _k, _p) in opened.items()}
    payloads = {rid: decode(p) for rid, (_r, _k, p) in opened.items() if p is not None}
    parts = {rid: f"records/{rid.hex()}.bin" for rid in opened}
    stated = stated_names(payloads, recs)
    problems, _partial = chain_problems(
        (Link(r.author, r.scope, r.seq, r.id, r.prev, parts[r.id]) for r in recs.values()),
        {k: v[-1] for k, v in stated.items()},
    )
    problems += commit_problems(
        (
            (parts[r.id], kid, k)
            for r, k, _p in opened.values()
            if k is not None and (kid := group_key_record(r)) is not None
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
    entries, sources = _entries(items)
    # What the records say about the items is checked before any large file is copied.
    problems = [p for e in entries for p in item_problems(e, payloads, recs, parts, {})]
    problems += exporter_problems(package_id, exporter, entries, payloads, recs)
    if problems:
        raise PackageError("the items would not check: " + "; ".join(str(p) for p in problems))
    keys = keys_view((r.author for r in recs.values()), exporter, stated)
    custody = custody_view(entries, payloads, recs)

    tmp = out.with_name(f".{out.name}.{secrets.token_hex(6)}.partial")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as raw:
            with zipfile.ZipFile(raw, "w", allowZip64=True) as zf:
                w = _Writer(zf, _zip_time(created_ms))
                w.put(VERIFY, verify_md().encode())
                w.put(KEYS, dumps(keys))
                w.put(CUSTODY, dumps(custody))
                manifest_records = []
                for rid, (rec, key, plaintext) in sorted(opened.items(), key=lambda kv: _order(kv[1][0])):
                    w.put(parts[rid], rec.wire, stored=True)
                    w.put(f"records/{rid.hex()}.json", dumps(record_view(rec, plaintext)))
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
                problems = [p for e in entries for p in item_problems(e, payloads, recs, parts, w.digests)]
                if problems:
                    raise PackageError("the items would not check: " + "; ".join(str(p) for p in problems))
                manifest: dict[str, Any] = {
                    "format": FORMAT,
                    "created": created_ms,
                    "exporter": exporter.hex(),
                    "package": package_id,
                    "items": [e.to_json() for e in entries],
                    "records": manifest_records,
                    "files": {name: sha.hex() for name, (sha, _n) in sorted(w.digests.items())},
                }
                manifest_bytes = dumps(manifest)
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


def _order(rec: Record) -> tuple[bytes, str, int]:
    return rec.author, rec.scope, rec.seq
