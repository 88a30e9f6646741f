"""Court packages made here from real keys, records and a real photo, and the ways a tamperer changes them.

The records are signed and encrypted for a direct and a group scope as a node writes them; the original
is one of the shared GPS photos in ``../shared/data/evidence/exif-gps`` (a missing data folder fails, it
does not skip). Shared by the package, view and VERIFY.md tests.
"""

from __future__ import annotations

import hashlib
import io
import json
import random
import shutil
import struct
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nacl.bindings as sodium
import pytest
from nacl.signing import SigningKey

from tequio.governance.crypto import (
    encode_key_box,
    group_id,
    key_commitment,
    seal_direct,
    seal_group,
    seal_to,
    x25519_public,
)
from tequio.node.media import hash_file
from tequio.node.media import strip as make_working_copy
from tequio.plugins.evidence.package import (
    MANIFEST_DOMAIN,
    CheckReport,
    PackageFile,
    PackageItem,
    PackageRecord,
    write_package,
)
from tequio.schemas import Payload, Record, make_record

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
PHOTO = DATA / "evidence" / "exif-gps" / "DSCN0010.jpg"
OTHER_PHOTO = DATA / "evidence" / "exif-gps" / "DSCN0012.jpg"
T0 = 1_767_225_600_000
#: The id the export event in the item's chain names, and the manifest's ``package``.
PACKAGE = "5e" * 16
ORG, PARTNER = "Casa de la Memoria", "Red Norte"


def sk(n: int) -> SigningKey:
    return SigningKey(random.Random(f"package-key-{n}").randbytes(32))


def rng(seed: int) -> Callable[[int], bytes]:
    return random.Random(seed).randbytes


def x_secret(key: SigningKey) -> bytes:
    return bytes(key.to_curve25519_private_key())


def direct_key(author: SigningKey, recipient: bytes) -> bytes:
    return sodium.crypto_box_beforenm(x25519_public(recipient), x_secret(author))


@dataclass
class Chain:
    """One author's records in one scope, numbered and linked."""

    key: SigningKey
    scope: str
    records: list[Record] = field(default_factory=list)

    def add(self, payload: bytes) -> Record:
        prev = self.records[-1].id if self.records else None
        rec = make_record(self.key, self.scope, len(self.records) + 1, prev, T0 + len(self.records), payload)
        self.records.append(rec)
        return rec


@dataclass
class Case:
    """Everything write_package is given, built from real keys, records and files."""

    org: SigningKey
    partner: SigningKey
    item_scope_key: bytes
    scope_key: bytes  # the beforenm key of the item's direct scope
    epoch_key: bytes
    item: PackageItem
    item_feed: Chain
    group_feed: Chain
    partner_feed: Chain
    records: list[PackageRecord]

    def write(self, out: Path, **changes: Any) -> dict[str, Any]:
        args: dict[str, Any] = {
            "items": [self.item],
            "records": self.records,
            "sign": lambda data: self.org.sign(data).signature,
            "exporter": bytes(self.org.verify_key),
            "created_ms": T0 + 10_000,
            "package_id": PACKAGE,
        }
        args.update(changes)
        return write_package(out, **args)


def item_body(original: Any, working: Any, **extra: Any) -> dict[str, Any]:
    return {
        "sha256": original.sha256,
        "title": "Detención en la plaza",
        "original": {"sha256": original.sha256, "size": original.size, "mime": original.mime},
        "working": {"sha256": working.sha256, "size": working.size, "mime": working.mime}
        if working is not None
        else None,
        "consent": "yes",
        "faces_at_risk": False,
        "nonce": b"\x07" * 16,
        "org": ORG,
        **extra,
    }


def build(tmp: Path, original_path: Path = PHOTO) -> Case:
    assert original_path.is_file(), f"missing shared test photo {original_path}: needs ../shared/data"
    tmp.mkdir(parents=True, exist_ok=True)
    org, partner, item_scope = sk(1), sk(2), sk(3)
    org_pub, item_pub = bytes(org.verify_key), bytes(item_scope.verify_key)
    original = hash_file(original_path)
    working_path = tmp / "working.jpg"
    make_working_copy(original_path, working_path, original.mime)
    working = hash_file(working_path)

    # The item's own direct scope: intake, derivation, a custody event.
    scope = "d:" + item_pub.hex()
    feed = Chain(org, scope)
    key = direct_key(org, item_pub)
    box = rng(11)

    def direct(kind: str, body: dict[str, Any], refs: tuple[bytes, ...] = ()) -> bytes:
        return seal_direct(x_secret(org), item_pub, Payload(kind, body, refs).encode(), box)

    intake = feed.add(direct("evidence.item", item_body(original, working)))
    feed.add(
        direct(
            "evidence.derivation",
            {"sha256": original.sha256, "item": intake.id, "to": working.sha256, "tool": "tequio-test"},
            (intake.id,),
        )
    )
    feed.add(direct("evidence.custody", export_event(original.sha256, intake.id)))

    # A group: its gov.keys record (plain), the shared copy; the partner's review in the group.
    salt = b"\x05" * 16
    gscope = "g:" + group_id(org_pub, salt).hex()
    epoch = random.Random("epoch").randbytes(32)
    group = Chain(org, gscope)
    boxes = [
        {"to": k, "box": seal_to(k, encode_key_box(epoch, []))}
        for k in sorted([org_pub, bytes(partner.verify_key)])
    ]
    keys_rec = group.add(
        Payload("gov.keys", {"boxes": boxes, "commit": key_commitment(epoch), "salt": salt}).encode()
    )
    gbox = rng(12)

    def sealed(kind: str, body: dict[str, Any]) -> bytes:
        return seal_group(epoch, keys_rec.id, Payload(kind, body).encode(), gbox)

    shared = group.add(
        sealed("evidence.item", {"sha256": original.sha256, "title": "Detención en la plaza", "org": ORG})
    )
    pfeed = Chain(partner, gscope)
    pfeed.add(sealed("core.note", {"text": "unrelated"}))
    review = {"sha256": original.sha256, "item": shared.id, "status": "verified", "org": PARTNER}
    pfeed.add(sealed("evidence.review", review))
    pfeed.add(
        sealed(
            "evidence.ack", {"sha256": original.sha256, "item": shared.id, "sender": org_pub, "org": PARTNER}
        )
    )

    records = [PackageRecord(r.wire, key) for r in feed.records]
    records += [PackageRecord(keys_rec.wire, None), PackageRecord(shared.wire, epoch)]
    records += [PackageRecord(r.wire, epoch) for r in pfeed.records[1:]]  # seq 2 and 3 only: partial
    item = PackageItem(
        intake.id,
        "Detención en la plaza",
        PackageFile("original", original_path, original.sha256, original.size, original.mime),
        PackageFile("working", working_path, working.sha256, working.size, working.mime),
    )
    return Case(
        org,
        partner,
        item_pub,
        key,
        epoch,
        item,
        feed,
        group,
        pfeed,
        records,
    )


def export_event(sha: bytes, item: bytes, package: str = PACKAGE) -> dict[str, Any]:
    """The body of the export custody event an exporter records in the item's chain before writing."""
    detail = {"package": package, "file": "case.zip", "items": 1}
    return {"sha256": sha, "item": item, "event": "export", "detail": detail, "org": ORG}


@pytest.fixture(scope="module")
def case(tmp_path_factory: pytest.TempPathFactory) -> Case:
    return build(tmp_path_factory.mktemp("case"))


@pytest.fixture(scope="module")
def package(case: Case, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("package") / "case.zip"
    case.write(out)
    return out


@pytest.fixture
def pkg(package: Path, tmp_path: Path) -> Path:
    """A fresh copy of the good package, to change."""
    dst = tmp_path / "case.zip"
    shutil.copyfile(package, dst)
    return dst


# -- changing packages the way a tamperer would ---------------------------------------------------


def members(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as zf:
        return {i.filename: zf.read(i) for i in zf.infolist()}


def members_no_crc(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as zf:
        return {i.filename: zf.read(i) for i in zf.infolist() if i.filename.startswith("manifest")}


def rewrite(path: Path, change: dict[str, bytes | None]) -> None:
    """Rewrite the zip with some members replaced (bytes), removed (None) or added; CRCs are consistent."""
    with zipfile.ZipFile(path) as zf:
        old = [(i, zf.read(i)) for i in zf.infolist()]
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for info, data in old:
            if info.filename in change:
                new = change.pop(info.filename)
                if new is None:
                    continue
                data = new
            zf.writestr(info, data)
        for name, added in change.items():
            assert added is not None
            zf.writestr(name, added)
    path.write_bytes(buf.getvalue())


def resign(
    path: Path, key: SigningKey, mutate: Callable[[dict[str, Any], dict[str, bytes | None]], None]
) -> None:
    """Change the manifest and members, recompute the files hashes and sign again with ``key``."""
    old = members(path)
    manifest = json.loads(old["manifest.json"])
    change: dict[str, bytes | None] = {}
    mutate(manifest, change)
    current = {**old, **change}
    manifest["files"] = {
        n: hashlib.sha256(d).hexdigest()
        for n, d in current.items()
        if d is not None and n not in ("manifest.json", "manifest.sig")
    }
    data = json.dumps(manifest, sort_keys=True, indent=2).encode() + b"\n"
    change["manifest.json"] = data
    change["manifest.sig"] = key.sign(MANIFEST_DOMAIN + data).signature.hex().encode()
    rewrite(path, change)


def flip_in_place(path: Path, name: str, at: float = 0.5) -> None:
    """Flip one byte of a member's data in the zip file itself, as a disk error or a hex editor would."""
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo(name)
    raw = bytearray(path.read_bytes())
    name_len, extra_len = struct.unpack("<HH", raw[info.header_offset + 26 : info.header_offset + 30])
    start = info.header_offset + 30 + name_len + extra_len
    raw[start + int(info.compress_size * at)] ^= 0x01
    path.write_bytes(bytes(raw))


def parts(report: CheckReport) -> set[str]:
    return {p.part for p in report.problems}


def problems_of(report: CheckReport, part: str) -> list[str]:
    return [p.what for p in report.problems if p.part == part]


def rec_path(rec: Record, ext: str = "bin") -> str:
    return f"records/{rec.id.hex()}.{ext}"
