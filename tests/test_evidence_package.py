"""Court packages: a package written from real records and a real photo checks; every change to it is named.

The package is built in tests/evidencekit.py; here it is written, checked, and changed the ways a
tamperer or a damaged disk would, and each change must be named by the part it touched.
"""

from __future__ import annotations

import hashlib
import json
import random
import struct
import zipfile
from pathlib import Path
from typing import Any

import nacl.bindings as sodium
import pytest

from tequio.governance.crypto import open_direct, parse_envelope, x25519_public
from tequio.node.media import hash_file
from tequio.plugins.evidence.package import (
    FORMAT,
    MANIFEST_DOMAIN,
    CheckReport,
    check_package,
    verify_md,
)
from tequio.schemas import fingerprint, parse_wire
from tests.evidencekit import (
    ORG,
    OTHER_PHOTO,
    PACKAGE,
    PARTNER,
    PHOTO,
    T0,
    Case,
    case,
    flip_in_place,
    members,
    members_no_crc,
    package,
    parts,
    pkg,
    problems_of,
    rec_path,
    resign,
    rewrite,
    sk,
    x_secret,
)

__all__ = ["case", "package", "pkg"]


# --------------------------------------------------------------------------------------------------
# The fixture's crypto is what the protocol says


def test_the_beforenm_key_opens_the_direct_envelope(case: Case) -> None:
    rec = case.item_feed.records[0]
    assert rec.payload is not None
    env = parse_envelope(rec.payload, direct=True)
    plain = sodium.crypto_box_open_afternm(env.box, env.nonce, case.scope_key)
    assert plain == open_direct(x_secret(case.org), case.item_scope_key, env)
    # The other end computes the same key from its own secret and the author's public key.
    other = sodium.crypto_box_beforenm(x25519_public(bytes(case.org.verify_key)), x_secret(sk(3)))
    assert other == case.scope_key


# --------------------------------------------------------------------------------------------------
# A good package


def test_a_written_package_checks(case: Case, package: Path) -> None:
    report = check_package(package)
    assert report.ok, report.summary()
    assert report.problems == []
    n_records = len(case.records)
    assert report.records == n_records
    assert report.signatures == n_records + 1
    assert report.items == 1
    assert report.files == 3 + 2 * n_records + 2  # VERIFY, keys, custody; .bin and .json; two files
    assert report.exporter == bytes(case.org.verify_key)
    assert report.exporter_name == ORG
    assert len(report.partial) == 1 and PARTNER in report.partial[0] and "seq 2-3" in report.partial[0]
    # Who signed what, with the names their own records state.
    signers = {s.key: (s.name, s.records) for s in report.signers}
    assert signers == {bytes(case.org.verify_key): (ORG, 5), bytes(case.partner.verify_key): (PARTNER, 2)}
    text = report.summary()
    assert text.startswith("OK") and fingerprint(bytes(case.org.verify_key)) in text
    assert f"{fingerprint(bytes(case.partner.verify_key))}      2 record(s)  {PARTNER}" in text


def test_the_package_holds_what_it_was_given(case: Case, tmp_path: Path) -> None:
    out = tmp_path / "case.zip"
    manifest = case.write(out)
    m = members(out)
    assert json.loads(m["manifest.json"]) == manifest
    assert manifest["format"] == FORMAT and manifest["exporter"] == bytes(case.org.verify_key).hex()
    assert manifest["created"] == T0 + 10_000 and manifest["package"] == PACKAGE
    # Originals byte for byte, stored: no recompression of media; records as their wire bytes.
    orig = manifest["items"][0]["original"]
    assert orig["path"] == f"originals/{case.item.original.sha256.hex()}.jpg"
    assert m[orig["path"]] == PHOTO.read_bytes()
    assert m[manifest["items"][0]["working"]["path"]] == case.item.working.path.read_bytes()  # type: ignore[union-attr]
    with zipfile.ZipFile(out) as zf:
        for name in m:
            if name.startswith(("originals/", "working/")) or name.endswith(".bin"):
                assert zf.getinfo(name).compress_type == zipfile.ZIP_STORED, name
    assert set(manifest["files"]) == set(m) - {"manifest.json", "manifest.sig"}
    for name, digest in manifest["files"].items():
        assert hashlib.sha256(m[name]).hexdigest() == digest
    assert (
        bytes.fromhex(m["manifest.sig"].decode().strip())
        == case.org.sign(MANIFEST_DOMAIN + m["manifest.json"]).signature
    )
    # Each record with its key (null where nothing needs opening) and its JSON view.
    by_id = {e["id"]: e for e in manifest["records"]}
    intake = case.item_feed.records[0]
    assert by_id[intake.id.hex()]["key"] == case.scope_key.hex()
    assert by_id[case.group_feed.records[0].id.hex()]["key"] is None  # gov.keys is plain
    assert by_id[case.group_feed.records[1].id.hex()]["key"] == case.epoch_key.hex()
    assert by_id[intake.id.hex()]["kind"] == "evidence.item"
    for pr in case.records:
        rec = parse_wire(pr.wire)
        assert m[rec_path(rec)] == pr.wire
    view = json.loads(m[rec_path(intake, "json")])
    assert view["id"] == intake.id.hex() and view["seq"] == 1 and view["prev"] is None
    assert view["kind"] == "evidence.item"
    assert view["payload"]["body"]["original"]["sha256"] == {"$bin": case.item.original.sha256.hex()}
    assert view["payload"]["body"]["title"] == "Detención en la plaza"
    keys = json.loads(m["keys.json"])
    named = {bytes(case.org.verify_key): ORG, bytes(case.partner.verify_key): PARTNER}
    assert keys == {k.hex(): {"name": n, "fingerprint": fingerprint(k)} for k, n in named.items()}
    # custody.json: every evidence record about the item (not the partner's note), by time and author.
    custody = json.loads(m["custody.json"])
    about = [*case.item_feed.records, case.group_feed.records[1], *case.partner_feed.records[1:]]
    assert sorted(e["record"] for e in custody) == sorted(r.id.hex() for r in about)
    assert [(e["ts"], e["author"]) for e in custody] == sorted((e["ts"], e["author"]) for e in custody)
    first = custody[0]
    assert first["record"] == intake.id.hex() and first["kind"] == "evidence.item"
    assert first["body"]["org"] == ORG and first["body"]["sha256"] == {
        "$bin": case.item.original.sha256.hex()
    }
    assert m["VERIFY.md"].decode() == verify_md()


def test_writing_leaves_no_temporary_file(case: Case, tmp_path: Path) -> None:
    case.write(tmp_path / "case.zip")
    assert [p.name for p in tmp_path.iterdir() if p.name != "working.jpg"] == ["case.zip"]


# --------------------------------------------------------------------------------------------------
# Tampering: each change is refused and the part is named


@pytest.mark.parametrize("role", ["original", "working"])
def test_a_flipped_byte_in_a_file(role: str, case: Case, pkg: Path) -> None:
    name = next(
        n for n in members(pkg) if n.startswith(f"{'originals' if role == 'original' else 'working'}/")
    )
    flip_in_place(pkg, name)
    report = check_package(pkg)
    assert not report.ok
    assert parts(report) == {name}, report.summary()
    whats = problems_of(report, name)
    assert any("SHA-256" in w and "manifest" in w for w in whats)
    assert any(f"not the item's {role} file" in w for w in whats)
    assert any("CRC-32" in w for w in whats)
    assert report.items == 0


def test_a_flipped_byte_in_a_rewritten_original(pkg: Path) -> None:
    name = next(n for n in members(pkg) if n.startswith("originals/"))
    data = bytearray(members(pkg)[name])
    data[len(data) // 3] ^= 0x80
    rewrite(pkg, {name: bytes(data)})  # CRC made consistent: only the SHA-256 can tell
    report = check_package(pkg)
    assert parts(report) == {name}
    assert not any("CRC-32" in w for w in problems_of(report, name))


def test_a_damaged_crc_is_named_though_the_content_is_intact(pkg: Path) -> None:
    raw = bytearray(pkg.read_bytes())
    at = raw.find(b"PK\x01\x02")  # the central directory, whose CRC-32 fields zipfile uses
    while raw[at + 46 : at + 46 + struct.unpack("<H", raw[at + 28 : at + 30])[0]] != b"custody.json":
        at = raw.find(b"PK\x01\x02", at + 4)
    raw[at + 16] ^= 0x01
    pkg.write_bytes(bytes(raw))
    report = check_package(pkg)
    assert parts(report) == {"custody.json"}
    assert report.files == len(json.loads(members_no_crc(pkg)["manifest.json"])["files"])


def test_a_flipped_byte_in_a_record(case: Case, pkg: Path) -> None:
    rec = case.item_feed.records[1]
    wire = bytearray(rec.wire)
    wire[40] ^= 0x01  # inside the author key: the signature no longer verifies
    rewrite(pkg, {rec_path(rec): bytes(wire)})
    report = check_package(pkg)
    assert not report.ok
    whats = problems_of(report, rec_path(rec))
    assert any("bad-signature" in w for w in whats), report.summary()
    assert any("SHA-256" in w for w in whats)
    assert report.records == len(case.records) - 1


def test_a_valid_record_under_another_records_name(case: Case, pkg: Path) -> None:
    a, b = case.item_feed.records[1], case.item_feed.records[2]
    rewrite(pkg, {rec_path(a): b.wire})
    report = check_package(pkg)
    whats = problems_of(report, rec_path(a))
    assert any(f"its id is {b.id.hex()}" in w for w in whats), report.summary()
    assert any(
        "broken between seq 1 and 3" in p.what and "does not verify" in p.what for p in report.problems
    )


def test_a_changed_record_json(case: Case, pkg: Path) -> None:
    rec = case.item_feed.records[0]
    name = rec_path(rec, "json")
    view = json.loads(members(pkg)[name])
    view["payload"]["body"]["consent"] = "no"
    rewrite(pkg, {name: json.dumps(view).encode()})
    report = check_package(pkg)
    assert parts(report) == {name}, report.summary()
    assert any("payload" in w and "signed record" in w for w in problems_of(report, name))


def test_a_record_json_that_turns_true_into_1(case: Case, pkg: Path) -> None:
    rec = case.item_feed.records[0]
    name = rec_path(rec, "json")
    view = json.loads(members(pkg)[name])
    view["payload"]["body"]["faces_at_risk"] = 0  # == False in Python, but not the same JSON value
    resign(pkg, case.org, lambda m, c: c.update({name: json.dumps(view).encode()}))
    report = check_package(pkg)
    assert parts(report) == {name}, report.summary()


def test_a_changed_manifest(pkg: Path) -> None:
    data = members(pkg)["manifest.json"].replace(
        "Detención en la plaza".encode(), "Detención en el parque".encode()
    )
    rewrite(pkg, {"manifest.json": data})
    report = check_package(pkg)
    assert "manifest.sig" in parts(report)
    assert any("does not verify" in w for w in problems_of(report, "manifest.sig"))
    assert report.exporter is None


def test_a_changed_name_in_keys_json(case: Case, pkg: Path) -> None:
    keys = json.loads(members(pkg)["keys.json"])
    keys[bytes(case.org.verify_key).hex()]["name"] = "Someone Else"
    rewrite(pkg, {"keys.json": json.dumps(keys).encode()})
    report = check_package(pkg)
    assert parts(report) == {"keys.json"}
    assert any("SHA-256" in w for w in problems_of(report, "keys.json"))
    assert any("no record signed by that key states that name" in w for w in problems_of(report, "keys.json"))


def test_a_changed_fingerprint_in_keys_json(case: Case, pkg: Path) -> None:
    keys = json.loads(members(pkg)["keys.json"])
    keys[bytes(case.partner.verify_key).hex()]["fingerprint"] = fingerprint(bytes(case.org.verify_key))
    rewrite(pkg, {"keys.json": json.dumps(keys).encode()})
    report = check_package(pkg)
    whats = problems_of(report, "keys.json")
    assert any("SHA-256" in w for w in whats)
    assert any("fingerprint" in w and fingerprint(bytes(case.partner.verify_key)) in w for w in whats)


def test_a_record_deleted_from_the_middle_of_a_chain(case: Case, pkg: Path) -> None:
    rec = case.item_feed.records[1]
    rewrite(pkg, {rec_path(rec): None, rec_path(rec, "json"): None})
    report = check_package(pkg)
    assert any("missing" in w for w in problems_of(report, rec_path(rec)))
    after = rec_path(case.item_feed.records[2])
    assert any("the chain is broken between seq 1 and 3" in w for w in problems_of(report, after)), (
        report.summary()
    )
    # The derivation was the deleted record: the working copy is no longer linked to the original.
    working = next(n for n in members(pkg) if n.startswith("working/"))
    assert any("evidence.derivation" in w for w in problems_of(report, working))


def test_a_record_deleted_and_the_manifest_re_signed(case: Case, pkg: Path) -> None:
    """Even with the exporter's own signature over the shorter manifest, the chain gap is named."""
    rec = case.item_feed.records[2]  # the custody record (seq 3) stays; seq 2 goes

    def drop(m: dict[str, Any], c: dict[str, bytes | None]) -> None:
        gone = case.item_feed.records[1]
        m["records"] = [e for e in m["records"] if e["id"] != gone.id.hex()]
        c[rec_path(gone)] = None
        c[rec_path(gone, "json")] = None

    resign(pkg, case.org, drop)
    report = check_package(pkg)
    assert "manifest.sig" not in parts(report)
    assert any("broken between seq 1 and 3" in w for w in problems_of(report, rec_path(rec)))


def test_an_added_file(pkg: Path) -> None:
    name = f"originals/{hashlib.sha256(OTHER_PHOTO.read_bytes()).hexdigest()}.jpg"
    rewrite(pkg, {name: OTHER_PHOTO.read_bytes()})
    report = check_package(pkg)
    assert parts(report) == {name}
    assert problems_of(report, name) == ["is in the zip but not listed in the manifest"]


@pytest.mark.parametrize(
    "name", ["originals/extra.jpg", "../../../tmp/x.jpg", "/etc/cron.d/x", "working/", "records/a/../b.json"]
)
def test_a_member_whose_name_does_not_fit_the_layout(name: str, pkg: Path) -> None:
    rewrite(pkg, {name: b"data"})
    report = check_package(pkg)
    assert any("does not fit the package layout" in w for w in problems_of(report, name)), report.summary()


def test_a_member_twice(case: Case, pkg: Path) -> None:
    with zipfile.ZipFile(pkg, "a") as zf, pytest.warns(UserWarning):
        zf.writestr("keys.json", b"{}")
    report = check_package(pkg)
    assert any("more than once" in w for w in problems_of(report, "keys.json"))


def test_a_signature_re_made_by_another_key(pkg: Path) -> None:
    data = members(pkg)["manifest.json"]
    rewrite(pkg, {"manifest.sig": sk(9).sign(MANIFEST_DOMAIN + data).signature.hex().encode()})
    report = check_package(pkg)
    assert parts(report) == {"manifest.sig"}
    assert report.exporter is None and report.signatures == report.records


def test_a_package_re_signed_as_another_exporter_names_that_exporter(case: Case, pkg: Path) -> None:
    """A forger who re-signs everything under their own key is named, and refused: the forger's key did
    not sign the export event in the item's chain, and no record of that key states the name it took."""
    forger = sk(9)

    def claim(m: dict[str, Any], c: dict[str, bytes | None]) -> None:
        m["exporter"] = bytes(forger.verify_key).hex()
        keys = json.loads(members(pkg)["keys.json"])
        keys[bytes(forger.verify_key).hex()] = {
            "name": ORG,
            "fingerprint": fingerprint(bytes(forger.verify_key)),
        }
        c["keys.json"] = json.dumps(keys).encode()

    resign(pkg, forger, claim)
    report = check_package(pkg)
    assert not report.ok
    assert report.exporter == bytes(forger.verify_key) and report.exporter_name is None
    assert fingerprint(bytes(forger.verify_key)) in report.summary()
    assert any("re-signed by another key" in w for w in problems_of(report, "manifest.json"))
    assert any("no record signed by that key states that name" in w for w in problems_of(report, "keys.json"))


def test_a_wrong_key_for_a_record(case: Case, pkg: Path) -> None:
    rec = case.item_feed.records[2]

    def wrong(m: dict[str, Any], c: dict[str, bytes | None]) -> None:
        for e in m["records"]:
            if e["id"] == rec.id.hex():
                e["key"] = "00" * 32

    resign(pkg, case.org, wrong)
    report = check_package(pkg)
    # The export event no longer opens: custody.json shows what it cannot vouch for, and the exporter's
    # export of this package is no longer shown by a record that opens.
    assert parts(report) == {rec_path(rec), "custody.json", "manifest.json"}, report.summary()
    assert problems_of(report, rec_path(rec)) == [
        "does not open: its payload does not open with the key in the manifest"
    ]


def test_another_file_in_place_of_the_original(case: Case, pkg: Path) -> None:
    """The exporter's signature is not enough: the file must be the one the signed intake record names."""
    old = next(n for n in members(pkg) if n.startswith("originals/"))
    other = hash_file(OTHER_PHOTO)
    new = f"originals/{other.sha256.hex()}.jpg"

    def swap(m: dict[str, Any], c: dict[str, bytes | None]) -> None:
        m["items"][0]["original"].update(path=new, sha256=other.sha256.hex(), size=other.size)
        c[old] = None
        c[new] = OTHER_PHOTO.read_bytes()

    resign(pkg, case.org, swap)
    report = check_package(pkg)
    assert not report.ok
    assert any("the signed record" in w for w in problems_of(report, new)), report.summary()
    assert any(
        "evidence.derivation" in w
        for w in problems_of(report, next(n for n in members(pkg) if n.startswith("working/")))
    )


def test_the_manifest_names_another_item(case: Case, pkg: Path) -> None:
    def other(m: dict[str, Any], c: dict[str, bytes | None]) -> None:
        m["items"][0]["id"] = case.item_feed.records[2].id.hex()

    resign(pkg, case.org, other)
    report = check_package(pkg)
    assert any("'evidence.custody', not evidence.item" in p.what for p in report.problems), report.summary()


@pytest.mark.parametrize(
    ("content", "what"),
    [
        (b"", "is empty"),
        (b"just some text, not a zip at all\n" * 20, "not a readable zip"),
    ],
)
def test_not_a_zip(content: bytes, what: str, tmp_path: Path) -> None:
    p = tmp_path / "case.zip"
    p.write_bytes(content)
    report = check_package(p)
    assert not report.ok and report.records == 0
    assert [pr.part for pr in report.problems] == ["case.zip"]
    assert what in report.problems[0].what


@pytest.mark.parametrize("keep", [0.999, 0.5, 0.01])
def test_a_truncated_zip(keep: float, pkg: Path) -> None:
    data = pkg.read_bytes()
    pkg.write_bytes(data[: int(len(data) * keep)])
    report = check_package(pkg)
    assert not report.ok
    assert parts(report) == {"case.zip"}


def test_a_missing_path_and_a_directory(tmp_path: Path) -> None:
    assert "cannot be read" in check_package(tmp_path / "nope.zip").problems[0].what
    assert check_package(tmp_path).problems[0].what == "is not a file"


@pytest.mark.parametrize(
    ("change", "part", "what"),
    [
        ({"manifest.json": None}, "manifest.json", "missing"),
        ({"manifest.json": b"{not json"}, "manifest.json", "not valid JSON"),
        ({"manifest.json": b"[1, 2]"}, "manifest.json", "not a JSON object"),
        ({"manifest.json": b'{"format": "zip/2"}'}, "manifest.json", "format"),
        ({"manifest.json": b'{"format": "a", "format": "b"}'}, "manifest.json", "appears twice"),
        ({"manifest.json": "\ufeff{}".encode("utf-16")}, "manifest.json", "not UTF-8"),
        ({"manifest.sig": None}, "manifest.sig", "missing"),
        ({"manifest.sig": b"zz"}, "manifest.sig", "not the hex"),
        ({"keys.json": b"\xff\xfe"}, "keys.json", "SHA-256"),
    ],
)
def test_broken_members(change: dict[str, bytes | None], part: str, what: str, pkg: Path) -> None:
    rewrite(pkg, change)
    report = check_package(pkg)
    assert not report.ok
    assert any(what in w for w in problems_of(report, part)), report.summary()


def test_garbage_everywhere_in_a_signed_manifest(case: Case, pkg: Path) -> None:
    """A manifest signed by the exporter but malformed: each bad field is named, nothing raises."""

    def garble(m: dict[str, Any], c: dict[str, bytes | None]) -> None:
        m["items"] = [{"id": 5}, "x", {**m["items"][0], "working": {"path": 3}}]
        m["records"] = [*m["records"][:-1], {"id": "zz"}, 7, {**m["records"][0], "path": "records/x.bin"}]

    resign(pkg, case.org, garble)
    report = check_package(pkg)
    whats = problems_of(report, "manifest.json")
    assert any(w.startswith("items[0] is not an item") for w in whats)
    assert any(w.startswith("items[1] is not an item") for w in whats)
    assert any(w.startswith("records[") and "is not an entry" in w for w in whats)
    assert any("listed twice" in w for w in whats)
    assert any("lists records/" in w and "no item or record refers to it" in w for w in whats)


def test_hostile_mutations_never_raise(package: Path, tmp_path: Path) -> None:
    data = package.read_bytes()
    r = random.Random(7)
    p = tmp_path / "m.zip"
    for _ in range(40):
        raw = bytearray(data)
        for _ in range(r.randint(1, 4)):
            raw[r.randrange(len(raw))] ^= 1 << r.randrange(8)
        p.write_bytes(bytes(raw))
        report = check_package(p)
        assert isinstance(report, CheckReport)
        assert all(isinstance(x.part, str) and x.what for x in report.problems)
        assert not any("unexpected error" in x.what for x in report.problems), report.summary()
