"""The court package format: its members, their names, the bounds a checker holds them to, the report.

docs/evidence.md ("Court packages") and VERIFY.md describe the same layout for people; the rules
that tie the members to each other are in rules.py, the zip-level rules in zipcheck.py.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from tequio.node import TequioError
from tequio.schemas import fingerprint

__all__ = [
    "CUSTODY",
    "FORMAT",
    "KEYS",
    "MANIFEST",
    "MANIFEST_DOMAIN",
    "SIGNATURE",
    "VERIFY",
    "CheckReport",
    "FileEntry",
    "ItemEntry",
    "PackageError",
    "PackageFile",
    "PackageItem",
    "PackageRecord",
    "Problem",
    "Signer",
    "dumps",
    "ext",
    "layout_problem",
    "verify_md",
]

FORMAT = "tequio-evidence-package/2"
#: Prefixed to manifest.json before signing, so no manifest signature can pass for a record's.
MANIFEST_DOMAIN = b"tequio/evidence-manifest/v1\n"
MANIFEST, SIGNATURE, KEYS, CUSTODY, VERIFY = (
    "manifest.json",
    "manifest.sig",
    "keys.json",
    "custody.json",
    "VERIFY.md",
)
ITEM_KIND, DERIVATION_KIND, CUSTODY_KIND, KEYS_KIND = (
    "evidence.item",
    "evidence.derivation",
    "evidence.custody",
    "gov.keys",
)
CHUNK = 1 << 20

# Bounds on what is read whole into memory (everything else, the media, is streamed), and on what a
# zip may ask a checker to inflate: the media are stored, so only these members are ever inflated.
LIMITS = {MANIFEST: 64 << 20, KEYS: 16 << 20, CUSTODY: 64 << 20, SIGNATURE: 1024, VERIFY: 1 << 20}
MAX_RECORD_WIRE = 65_536 + 4096
MAX_RECORD_JSON = 16 << 20
#: At most this many members, and at most this many bytes inflated from deflated members in all.
MAX_MEMBERS = 200_000
MAX_INFLATED = 1 << 30
#: A deflated member may be at most this many times its compressed size (JSON compresses 3-20 times).
MAX_RATIO = 256

#: Every member's name fits one of these; nothing else may be in the zip (L1).
_FIXED = {MANIFEST, SIGNATURE, KEYS, CUSTODY, VERIFY}
_RECORD = re.compile(r"records/[0-9a-f]{64}\.(bin|json)")
_FILE = re.compile(r"(originals|working)/([0-9a-f]{64})(\.[a-z0-9]{1,8})?")

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


def ext(mime: str) -> str:
    """The file name extension a package gives files of this type (``.bin`` for unknown types)."""
    return _EXT.get(mime, ".bin")


def layout_problem(name: str) -> str | None:
    """Why a member name does not fit the layout (L1), or None when it does."""
    if name in _FIXED or _RECORD.fullmatch(name) or _FILE.fullmatch(name):
        return None
    return (
        "does not fit the package layout (manifest.json, manifest.sig, keys.json, custody.json, "
        "VERIFY.md, records/<id>.bin|.json, originals/ or working/<sha256><ext>): it is not read"
    )


def file_hash_in_name(name: str) -> bytes | None:
    """The SHA-256 an ``originals/`` or ``working/`` member's name gives (L2), or None."""
    m = _FILE.fullmatch(name)
    return bytes.fromhex(m.group(2)) if m else None


def dumps(value: Any) -> bytes:
    """The JSON members: sorted keys, UTF-8, indented for people, a final newline."""
    return (json.dumps(value, sort_keys=True, ensure_ascii=False, indent=2, allow_nan=False) + "\n").encode()


def verify_md() -> str:
    """VERIFY.md as shipped beside this module (it embeds check_script.py verbatim)."""
    return resources.files(__package__).joinpath(VERIFY).read_text(encoding="utf-8")


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


@dataclass(frozen=True)
class FileEntry:
    """An item's file as the manifest lists it."""

    path: str
    sha256: bytes
    size: int
    mime: str

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "sha256": self.sha256.hex(), "size": self.size, "mime": self.mime}


@dataclass(frozen=True)
class ItemEntry:
    """An item as the manifest lists it."""

    id: bytes
    title: str
    original: FileEntry
    working: FileEntry | None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id.hex(),
            "title": self.title,
            "original": self.original.to_json(),
            "working": self.working.to_json() if self.working else None,
        }


@dataclass
class Problem:
    """One thing wrong with a package: which member (``part``) and, in one line for people, what."""

    part: str
    what: str

    def __str__(self) -> str:
        return f"{self.part}: {self.what}"


@dataclass(frozen=True)
class Signer:
    """A key that signed records in the package, with the name its own records state (if any)."""

    key: bytes
    name: str | None
    records: int

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key.hex(),
            "fingerprint": fingerprint(self.key),
            "name": self.name,
            "records": self.records,
        }


@dataclass
class CheckReport:
    """What check_package verified and what it found wrong; ``ok`` only when nothing is."""

    problems: list[Problem]
    records: int = 0  # records whose signature and id verified
    files: int = 0  # members whose SHA-256 matched the manifest
    items: int = 0  # items whose files, records and derivation all agree
    signatures: int = 0  # Ed25519 signatures verified (the manifest's and each record's)
    exporter: bytes | None = None  # the key manifest.sig verified under (None: it did not verify)
    exporter_name: str | None = None  # as the exporter's own records in the package state it
    signers: list[Signer] = field(default_factory=list)  # every key that signed a record that verified
    partial: list[str] = field(default_factory=list)  # feeds present only from a later seq (not problems)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_json(self) -> dict[str, Any]:
        exporter = None
        if self.exporter is not None:
            exporter = {
                "key": self.exporter.hex(),
                "fingerprint": fingerprint(self.exporter),
                "name": self.exporter_name,
            }
        return {
            "ok": self.ok,
            "items": self.items,
            "records": self.records,
            "files": self.files,
            "signatures": self.signatures,
            "exporter": exporter,
            "signers": [s.to_json() for s in self.signers],
            "partial": self.partial,
            "problems": [{"part": p.part, "what": p.what} for p in self.problems],
        }

    def summary(self) -> str:
        """The report as lines for people: the verdict, who signed, what was verified, then problems.

        Fingerprints come first on their lines, in a fixed column, so that no name can push or forge
        one; names are escaped (no control characters or direction overrides reach a terminal).
        """
        lines = [
            "OK: the package checks." if self.ok else f"NOT OK: {len(self.problems)} problem(s).",
            f"Verified {self.signatures} signature(s), {self.records} record(s), {self.files} file(s), "
            f"{self.items} item(s).",
        ]
        if self.exporter is not None:
            lines.append(
                f"Exported and signed by {fingerprint(self.exporter)}  {printable(self.exporter_name)}"
                f"  (key {self.exporter.hex()})"
            )
        else:
            lines.append("Exported by: unknown (the manifest's signature does not verify)")
        if self.signers:
            lines.append("Records signed by:")
        for s in self.signers:
            mark = "  [exporter]" if s.key == self.exporter else ""
            lines.append(f"  {fingerprint(s.key)}  {s.records:>5} record(s)  {printable(s.name)}{mark}")
        lines.append(
            "Compare each fingerprint with the organisation itself (on paper, by phone): a name proves "
            "nothing; only a record signed by a key can state that key's name."
        )
        lines += [f"Partial feed: {p}" for p in self.partial]
        lines += [f"PROBLEM {printable(str(p))}" for p in self.problems]
        return "\n".join(lines)


_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def printable(text: str | None) -> str:
    """``text`` safe for a terminal: control characters and direction overrides as ``\\uXXXX``."""
    if text is None:
        return "(no name stated by its own records)"
    return _UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
