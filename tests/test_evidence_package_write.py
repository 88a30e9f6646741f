"""Writing court packages: what the writer refuses (leaving nothing behind), redacted records that keep a
chain whole, a working copy identical to its original stored once, and big files streamed."""

from __future__ import annotations

import json
import random
import tracemalloc
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from tequio.governance.crypto import seal_direct, seal_group
from tequio.node.media import hash_file
from tequio.plugins.evidence.package import (
    PackageError,
    PackageFile,
    PackageItem,
    PackageRecord,
    check_package,
)
from tequio.schemas import Payload
from tests.evidencekit import (
    OTHER_PHOTO,
    PHOTO,
    Case,
    Chain,
    build,
    case,
    export_event,
    members,
    rec_path,
    rng,
    sk,
    x_secret,
)

__all__ = ["case"]


# --------------------------------------------------------------------------------------------------
# What the writer refuses (and it leaves nothing behind)


def refused(case: Case, tmp_path: Path, match: str, **changes: Any) -> None:
    out = tmp_path / "refused.zip"
    with pytest.raises(PackageError, match=match):
        case.write(out, **changes)
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".partial")]


def test_refuses_a_file_that_is_not_the_one_named(case: Case, tmp_path: Path) -> None:
    wrong = replace(case.item, original=replace(case.item.original, path=OTHER_PHOTO))
    refused(case, tmp_path, "original file", items=[wrong])


def test_refuses_an_output_it_cannot_write(case: Case, tmp_path: Path) -> None:
    with pytest.raises(PackageError, match="cannot write"):
        case.write(tmp_path / "no-such-folder" / "case.zip")


def test_refuses_a_record_that_does_not_open(case: Case, tmp_path: Path) -> None:
    bad = [PackageRecord(r.wire, b"\x00" * 32) if r.key == case.scope_key else r for r in case.records]
    refused(case, tmp_path, "does not open", records=bad)


def test_refuses_a_package_the_exporter_did_not_record(case: Case, tmp_path: Path) -> None:
    refused(case, tmp_path, "export event naming package", package_id="ab" * 16)


def test_refuses_a_signer_that_is_not_the_exporter(case: Case, tmp_path: Path) -> None:
    refused(case, tmp_path, "exporter", sign=lambda d: sk(9).sign(d).signature)


def test_refuses_a_package_id_that_is_not_hex(case: Case, tmp_path: Path) -> None:
    refused(case, tmp_path, "package_id", package_id="../x")


def test_refuses_a_chain_with_a_gap_from_seq_1(case: Case, tmp_path: Path) -> None:
    middle = case.item_feed.records[1].wire
    refused(
        case, tmp_path, "broken between seq 1 and 3", records=[r for r in case.records if r.wire != middle]
    )


def test_refuses_an_item_without_its_record(case: Case, tmp_path: Path) -> None:
    intake = case.item_feed.records[0].wire
    # Without the intake record the chain also starts at seq 2, which is allowed: only the item is wrong.
    refused(
        case,
        tmp_path,
        "its evidence.item record is not in the package",
        records=[r for r in case.records if r.wire != intake],
    )


def test_refuses_a_group_key_the_keys_record_did_not_commit_to(case: Case, tmp_path: Path) -> None:
    other_epoch = b"\x42" * 32
    keys_rec = case.group_feed.records[0]
    chain = Chain(sk(5), case.group_feed.scope)
    rec = chain.add(
        seal_group(other_epoch, keys_rec.id, Payload("core.note", {"text": "x"}).encode(), rng(3))
    )
    refused(case, tmp_path, "committed to", records=[*case.records, PackageRecord(rec.wire, other_epoch)])


# --------------------------------------------------------------------------------------------------
# Redacted records, identical working copies, big files


def test_a_redacted_record_keeps_the_chain_whole(case: Case, tmp_path: Path) -> None:
    custody = case.partner_feed.records[1]  # the partner's review, withheld
    records = [
        PackageRecord(custody.redacted().wire, case.epoch_key) if r.wire == custody.wire else r
        for r in case.records
    ]
    out = tmp_path / "case.zip"
    manifest = case.write(out, records=records)
    entry = next(e for e in manifest["records"] if e["id"] == custody.id.hex())
    assert entry["key"] is None and entry["kind"] is None
    view = json.loads(members(out)[rec_path(custody, "json")])
    assert view["payload"] is None and view["id"] == custody.id.hex()
    report = check_package(out)
    assert report.ok, report.summary()


def test_a_working_copy_identical_to_its_original_is_stored_once(tmp_path: Path) -> None:
    src = tmp_path / "notes.bin"
    src.write_bytes(b"\x00\x01binary evidence that cannot be stripped\n" * 50)
    case = build(tmp_path / "b", original_path=PHOTO)
    digest = hash_file(src)
    org = case.org
    scope = "d:" + case.item_scope_key.hex()
    feed = Chain(org, scope)
    key = case.scope_key
    box = rng(5)
    facts = {"sha256": digest.sha256, "size": digest.size, "mime": digest.mime}
    intake = feed.add(
        seal_direct(
            x_secret(org),
            case.item_scope_key,
            Payload(
                "evidence.item",
                {"sha256": digest.sha256, "title": "Notas", "original": facts, "working": facts},
            ).encode(),
            box,
        )
    )
    feed.add(
        seal_direct(
            x_secret(org),
            case.item_scope_key,
            Payload(
                "evidence.derivation", {"from": digest.sha256, "item": intake.id, "to": digest.sha256}
            ).encode(),
            box,
        )
    )
    exported = Payload("evidence.custody", export_event(digest.sha256, intake.id)).encode()
    feed.add(seal_direct(x_secret(org), case.item_scope_key, exported, box))
    pf = PackageFile("original", src, digest.sha256, digest.size, digest.mime)
    item = PackageItem(intake.id, "Notas", pf, replace(pf, role="working"))
    out = tmp_path / "notes.zip"
    manifest = case.write(out, items=[item], records=[PackageRecord(r.wire, key) for r in feed.records])
    entry = manifest["items"][0]
    assert entry["original"]["path"] == entry["working"]["path"] == f"originals/{digest.sha256.hex()}.bin"
    assert not any(n.startswith("working/") for n in members(out))
    report = check_package(out)
    assert report.ok, report.summary()


def test_big_files_are_streamed(case: Case, tmp_path: Path) -> None:
    big = tmp_path / "video.bin"
    block = random.Random(1).randbytes(1 << 20)
    with big.open("wb") as f:
        for i in range(48):
            f.write(block[i:] + block[:i])
    digest = hash_file(big)
    scope = "d:" + case.item_scope_key.hex()
    feed = Chain(case.org, scope)
    facts = {"sha256": digest.sha256, "size": digest.size, "mime": digest.mime}
    body = {"sha256": digest.sha256, "title": "Video", "original": facts, "working": None}
    intake = feed.add(
        seal_direct(x_secret(case.org), case.item_scope_key, Payload("evidence.item", body).encode(), rng(8))
    )
    exported = Payload("evidence.custody", export_event(digest.sha256, intake.id)).encode()
    feed.add(seal_direct(x_secret(case.org), case.item_scope_key, exported, rng(9)))
    item = PackageItem(
        intake.id, "Video", PackageFile("original", big, digest.sha256, digest.size, digest.mime), None
    )
    out = tmp_path / "video.zip"
    tracemalloc.start()
    try:
        case.write(out, items=[item], records=[PackageRecord(r.wire, case.scope_key) for r in feed.records])
        _, peak_write = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        report = check_package(out)
        _, peak_check = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert report.ok, report.summary()
    assert peak_write < 8 << 20 and peak_check < 8 << 20, (peak_write, peak_check)
