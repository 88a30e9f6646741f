"""Checking a court package offline: every signature, hash, key, chain link and view, naming each wrong part.

The zip's own structure (members tiling the file, local headers agreeing with the central directory,
names that fit the layout, stored media, bounded inflation) is checked first, by the very functions
of the check script that VERIFY.md carries, and members are read through them; nothing is extracted.
"""

from __future__ import annotations

import hashlib
import re
import zlib
from collections import Counter
from pathlib import Path
from typing import Any

from nacl.signing import VerifyKey

from tequio.schemas import (
    PayloadError,
    Record,
    RecordError,
    fingerprint,
    loads_strict,
    parse_payload,
    parse_wire,
)

from . import check_script as script
from .layout import (
    CUSTODY,
    FORMAT,
    KEYS,
    LIMITS,
    MANIFEST,
    MANIFEST_DOMAIN,
    MAX_RECORD_JSON,
    MAX_RECORD_WIRE,
    SIGNATURE,
    VERIFY,
    CheckReport,
    FileEntry,
    ItemEntry,
    Problem,
    Signer,
    layout_problem,
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
    same,
)
from .views import custody_problems, custody_view, exporter_problems, keys_problems, stated_names

__all__ = ["check_package"]

_HEX32 = re.compile(r"[0-9a-f]{64}")


class _Unreadable(Exception):
    """A member that could not be read; the message says why."""


def parse_json(data: bytes) -> Any:
    """Strict JSON: UTF-8 only, no duplicate keys, no NaN; raises ValueError saying what is wrong."""
    return loads_strict(data)


def _hex32(v: Any) -> bytes | None:
    return bytes.fromhex(v) if type(v) is str and _HEX32.fullmatch(v) else None


def _nat(v: Any) -> bool:
    return type(v) is int and v >= 0


class _Check:
    """One run of check_package; every finding goes to ``report`` and nothing is raised."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.report = CheckReport([])
        self.members: dict[str, script.Member] = {}
        self.digests: dict[str, tuple[bytes, int]] = {}
        self.listed: set[str] = set()
        self.seen: set[tuple[str, str]] = set()
        self.records: dict[bytes, Record] = {}  # verified, by id
        self.payloads: dict[bytes, dict[str, Any]] = {}  # opened payload maps, by record id
        self.parts: dict[bytes, str] = {}

    def problem(self, part: str, what: str) -> None:
        if (part, what) not in self.seen:
            self.seen.add((part, what))
            self.report.problems.append(Problem(part, what))

    # -- reading members ---------------------------------------------------------------------------

    def _crc(self, member: script.Member, crc: int) -> None:
        if crc != member.crc:
            self.problem(
                member.name,
                "the zip's CRC-32 for it does not match its content: the zip file was changed or damaged "
                "(unzip will refuse this member)",
            )

    def read(self, name: str, limit: int) -> bytes:
        """A small member whole (at most ``limit`` bytes), or _Unreadable."""
        m = self.members.get(name)
        if m is None:
            raise _Unreadable("is missing from the zip")
        if m.size > limit:
            raise _Unreadable(f"is {m.size} bytes; at most {limit} are expected here")
        try:
            data = b"".join(script.chunks(str(self.path), m))
        except (ValueError, zlib.error, OSError) as e:
            raise _Unreadable(f"cannot be read from the zip ({e})") from None
        self._crc(m, zlib.crc32(data))
        return data

    def digest(self, name: str) -> tuple[bytes, int]:
        """SHA-256 and length of a member, streamed in 1 MiB chunks, or _Unreadable."""
        m = self.members.get(name)
        if m is None:
            raise _Unreadable("is missing from the zip")
        h = hashlib.sha256()
        n = crc = 0
        try:
            for chunk in script.chunks(str(self.path), m):
                h.update(chunk)
                crc = zlib.crc32(chunk, crc)
                n += len(chunk)
        except (ValueError, zlib.error, OSError) as e:
            raise _Unreadable(f"cannot be read from the zip ({e})") from None
        self._crc(m, crc)
        return h.digest(), n

    def fetch(self, name: str, limit: int) -> bytes | None:
        """A small member's bytes, checked to be the ones hashed in step 2; None (and a problem) if not."""
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
            return parse_json(data)
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
        self.read_records(manifest)
        entries = self.items(manifest)
        self.views(manifest, entries)
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
            members = script.read_zip(str(self.path), name, self.problem)
        except (OSError, struct_error) as e:
            self.problem(name, f"is not a readable zip file: {e}")
            return False
        if members is None:
            return False
        self.members = {n: m for n, m in members.items() if layout_problem(n) is None}
        return True

    def manifest(self) -> tuple[bytes | None, dict[str, Any] | None]:
        try:
            data = self.read(MANIFEST, LIMITS[MANIFEST])
        except _Unreadable as e:
            self.problem(MANIFEST, f"{e}: nothing in the package can be checked without it")
            return None, None
        try:
            value = parse_json(data)
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
            text = self.read(SIGNATURE, LIMITS[SIGNATURE])
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

    def read_records(self, manifest: dict[str, Any]) -> None:
        """Steps 3-5: each record verifies, matches its entry and JSON view, opens; then the chains."""
        raw = manifest.get("records")
        if type(raw) is not list:
            self.problem(MANIFEST, "records is not a list")
            raw = []
        links: list[Link] = []
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
            if rid in self.parts:
                self.problem(MANIFEST, f"records[{i}]: record {rid.hex()} is listed twice")
                continue
            self.parts[rid] = part
            rec = self.record(part, rid, author, e)
            if rec is None:
                if part in self.members:
                    unverified[(author, e["scope"], e["seq"])] = part
                continue
            links.append(Link(rec.author, rec.scope, rec.seq, rec.id, rec.prev, part))
            try:
                plaintext = open_payload(rec, key)
            except Unopened as err:
                self.problem(part, f"does not open: {err}")
                continue
            if key is not None and not encrypted(rec):
                self.problem(MANIFEST, f"records[{i}] gives a key for a record that is not encrypted")
            payload: dict[str, Any] | None = None
            if plaintext is not None:
                try:
                    payload = parse_payload(plaintext).to_map()
                except PayloadError as err:
                    self.problem(part, f"its opened payload is not a payload map: {err}")
                    continue
                self.payloads[rid] = payload
                kid = group_key_record(rec)
                if kid is not None and key is not None:
                    uses.append((part, kid, key))
            self.records[rid] = rec
            if e.get("kind") != (payload["kind"] if payload is not None else None):
                self.problem(MANIFEST, f"records[{i}]: kind {e.get('kind')!r} is not the record's")
            self.view(rec, plaintext)
        stated = stated_names(self.payloads, self.records)
        names = {k: v[-1] for k, v in stated.items()}
        problems, partial = chain_problems(links, names, unverified)
        problems += commit_problems(uses, self.payloads)
        for p in problems:
            self.problem(p.part, p.what)
        self.report.partial = partial

    def record(self, part: str, rid: bytes, author: bytes, entry: dict[str, Any]) -> Record | None:
        """The verified record at ``part`` if it matches its manifest entry; None, and problems, if not."""
        if part not in self.listed:
            self.problem(MANIFEST, f"does not list {part} in files")
        wire = self.fetch(part, MAX_RECORD_WIRE)
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
        return rec

    def view(self, rec: Record, plaintext: bytes | None) -> None:
        """records/<id>.json must be the JSON view of the signed record and its opened payload."""
        name = f"records/{rec.id.hex()}.json"
        if name not in self.listed:
            self.problem(MANIFEST, f"does not list {name} in files")
        got = self.json_member(name, MAX_RECORD_JSON)
        if got is None:
            return
        want = record_view(rec, plaintext)
        if type(got) is not dict:
            self.problem(name, "is not a JSON object")
            return
        wrong = sorted(k for k in want.keys() | got.keys() if not same(want.get(k), got.get(k)))
        if wrong:
            fields = ", ".join(wrong)
            verb = "differs" if len(wrong) == 1 else "differ"
            self.problem(
                name, f"does not show the signed record: {fields} {verb} from records/{rec.id.hex()}.bin"
            )

    def items(self, manifest: dict[str, Any]) -> list[ItemEntry]:
        """Step 6: each item's files match its signed records, and a derivation links them."""
        raw = manifest.get("items")
        if type(raw) is not list:
            self.problem(MANIFEST, "items is not a list")
            return []
        entries = []
        for i, value in enumerate(raw):
            entry = self.item_entry(i, value)
            if entry is None:
                continue
            entries.append(entry)
            for f in (entry.original, entry.working):
                if f is not None and f.path not in self.listed:
                    self.problem(MANIFEST, f"items[{i}]: {f.path} is not listed in files")
            problems = item_problems(entry, self.payloads, self.records, self.parts, self.digests)
            for p in problems:
                self.problem(p.part, p.what)
            if not problems and all(
                f is None or self.digests.get(f.path, (b"", -1))[0] == f.sha256
                for f in (entry.original, entry.working)
            ):
                self.report.items += 1
        return entries

    def item_entry(self, i: int, value: Any) -> ItemEntry | None:
        v = value if type(value) is dict else {}
        rid = _hex32(v.get("id"))
        files: list[FileEntry | None] = []
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
            files.append(FileEntry(f["path"], sha, f["size"], f["mime"]))
        if not ok or rid is None or files[0] is None:
            self.problem(MANIFEST, f"items[{i}] is not an item of id, title, original and working files")
            return None
        return ItemEntry(rid, v["title"], files[0], files[1])

    def views(self, manifest: dict[str, Any], entries: list[ItemEntry]) -> None:
        """Steps 7-8: custody.json and keys.json are what the signed records say, and the exporter's own
        records export this package; then who signed what, for the report."""
        stated = stated_names(self.payloads, self.records)
        authors = Counter(r.author for r in self.records.values())
        exporter = self.report.exporter
        custody = self.json_member(CUSTODY, LIMITS[CUSTODY]) if CUSTODY in self.listed else None
        if CUSTODY in self.listed and custody is not None:
            for p in custody_problems(custody, custody_view(entries, self.payloads, self.records)):
                self.problem(p.part, p.what)
        keys = self.json_member(KEYS, LIMITS[KEYS]) if KEYS in self.listed else None
        if KEYS in self.listed and keys is not None:
            for p in keys_problems(keys, authors, exporter, stated):
                self.problem(p.part, p.what)
        if exporter is not None:
            package = manifest.get("package") if type(manifest.get("package")) is str else None
            for p in exporter_problems(package, exporter, entries, self.payloads, self.records):
                self.problem(p.part, p.what)
            self.report.exporter_name = stated[exporter][-1] if stated.get(exporter) else None
        self.report.signers = [
            Signer(k, stated[k][-1] if stated.get(k) else None, n)
            for k, n in sorted(authors.items(), key=lambda kv: (kv[0] != exporter, -kv[1], kv[0]))
        ]

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


struct_error = __import__("struct").error


def check_package(path: Path) -> CheckReport:
    """Verify a court package offline: every signature, hash, key, chain link and view, naming each wrong
    part, and who signed it. Never raises: a damaged or hostile file gives problems, not an exception.
    """
    check = _Check(Path(path))
    try:
        check.run()
    except Exception as e:  # a bug here must still not pass a package, nor crash the court's check
        check.problem(Path(path).name, f"the check stopped on an unexpected error ({type(e).__name__}: {e})")
    return check.report
