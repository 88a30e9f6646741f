"""The evidence plugin through real nodes: intake of the shared GPS photos, safety holds, review by
distinct organisations over HTTP, transfer with acknowledgement, court packages, fixity, and the demo."""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image

from tequio.node import Node
from tequio.node.groups import create_group
from tequio.node.media import read_location
from tequio.plugins.evidence import api as ev
from tequio.plugins.evidence.api import check_package, export
from tests.conftest import TEQUIO
from tests.test_governance_nodes import Org, orgs, sync_all

__all__ = ["orgs"]

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "evidence"
PHOTOS = sorted((DATA / "exif-gps").glob("*.jpg"))
PEAK_RSS = (
    "import os, subprocess, sys; p = subprocess.Popen(sys.argv[1:]); _, st, ru = os.wait4(p.pid, 0); "
    "sys.stdout.flush(); print(ru.ru_maxrss); sys.exit(os.waitstatus_to_exitcode(st))"
)


def _sha(path: Path) -> bytes:
    return hashlib.sha256(path.read_bytes()).digest()


def _plain(node: Node, rec_id: bytes, role: str) -> bytes:
    rec = node.get(rec_id)
    assert rec is not None
    return b"".join(node.open_blob(ev.role_refs(rec)[role].hash))


def test_shared_gps_photos_lose_gps_in_the_working_copy_only(
    make_node: Callable[..., Node], tmp_path: Path
) -> None:
    """Each shared photo: the sealed original is byte-identical (GPS kept), the working copy has none."""
    assert len(PHOTOS) == 9, f"shared data missing at {DATA}"
    node = make_node()
    for photo in PHOTOS:
        before = _sha(photo)
        got = ev.intake(node, photo, "Marcha", consent="yes")
        assert got.sha256 == before == _sha(photo)  # the file on disk is untouched
        original, working = _plain(node, got.id, "original"), _plain(node, got.id, "working")
        assert hashlib.sha256(original).digest() == before
        assert hashlib.sha256(working).digest() == got.working_sha256
        (tmp_path / "o.jpg").write_bytes(original)
        (tmp_path / "w.jpg").write_bytes(working)
        assert read_location(tmp_path / "o.jpg") is not None
        assert read_location(tmp_path / "w.jpg") is None
        assert "gps" in got.removed and "exif" in got.removed
    assert len(ev.my_items(node)) == 9


def test_duplicates_and_near_duplicates(make_node: Callable[..., Node], tmp_path: Path) -> None:
    """The same bytes again are recognised, not added; a resized copy is shown as near, never merged."""
    node = make_node()
    first = ev.intake(node, PHOTOS[0], "Foto")
    again = ev.intake(node, PHOTOS[0], "Foto otra vez")
    assert again.duplicate_of == first.id and len(ev.my_items(node)) == 1
    small = tmp_path / "small.jpg"
    with Image.open(PHOTOS[0]) as im:
        im.resize((im.width // 2, im.height // 2)).save(small, "JPEG", quality=70)
    near = ev.intake(node, small, "Foto reducida")
    assert near.duplicate_of is None and [i for i, _ in near.near] == [first.id]
    assert len(ev.my_items(node)) == 2


def test_c2pa_provenance_is_recorded_at_intake(make_node: Callable[..., Node]) -> None:
    """A valid manifest from an untrusted signer and a tampered one are told apart and recorded."""
    node = make_node()
    for name, status in (("C.jpg", "untrusted-signer"), ("XCA.jpg", "tampered"), ("A.jpg", "absent")):
        got = ev.intake(node, DATA / "c2pa" / name, name)
        assert got.c2pa == status
        assert node.get(got.id).body["c2pa"]["status"] == status  # type: ignore[union-attr]


def test_a_share_is_blocked_by_a_safety_flag_until_cleared(make_node: Callable[..., Node]) -> None:
    """Faces at risk (or consent other than yes) keep an item on its node; the refusal says why."""
    a, b = make_node(name="A", seed=1), make_node(name="B", seed=2)
    _, scope = create_group(a, "G", [(b.key, "B", [])])
    got = ev.intake(a, PHOTOS[1], "Rostros", consent="yes", faces_at_risk=True)
    with pytest.raises(ev.EvidenceError, match="cannot leave this node: faces of people at risk are visible"):
        ev.share(a, got.sha256, scope)
    with pytest.raises(ev.EvidenceError, match="cannot leave this node"):
        export(a, [got.sha256], Path(a.home) / "p.zip")
    assert a.records(scope=scope, kind="evidence.item") == []
    ev.clear(a, got.sha256, "rostros difuminados en la copia de trabajo", scope)
    shared = ev.share(a, got.sha256, scope)
    assert shared.scope == scope and shared.body["original"] is None  # type: ignore[index]
    events = [e["what"] for e in ev.chain(a, got.sha256)]
    assert any(w.startswith("clear:") for w in events) and any(w.startswith("share:") for w in events)


async def test_verification_needs_two_organisations_over_real_sync(orgs: list[Org]) -> None:
    """A shares a photo; B's review makes it '1 of 2 verified'; C's makes it verified, on every node."""
    a, b, c, _ = (o.node for o in orgs)
    _, scope = create_group(a, "Coalición", [(b.key, "B", []), (c.key, "C", [])])
    got = ev.intake(a, PHOTOS[2], "Detención", consent="yes")
    ev.share(a, got.sha256, scope)
    await sync_all(orgs[:3])
    for o in orgs[1:3]:
        await o.fed.blobs.run_once()
    assert b.blobs.has(ev.role_refs(b.records(scope=scope, kind="evidence.item")[0])["working"].hash)
    ev.review(b, got.sha256, "verified", ["source"], "testigos")
    await sync_all(orgs[:3])
    assert ev.verification(a, got.sha256)[0].status == "1 of 2 verified"
    ev.review(c, got.sha256, "verified", ["technical"], "sin edición")
    await sync_all(orgs[:3])
    for n in (a, b, c):
        (v,) = ev.verification(n, got.sha256)
        assert v.status == "verified" and set(v.verified_by) == {b.key, c.key}
    # A later review by the same organisation supersedes its earlier one.
    ev.review(c, got.sha256, "disputed", ["content"], "fecha dudosa")
    await sync_all(orgs[:3])
    assert ev.verification(a, got.sha256)[0].status == "disputed"


async def test_transfer_is_acknowledged_with_the_hashes_received(orgs: list[Org]) -> None:
    """A transfers original and working copy to D; D checks and signs the hashes; A's chain shows it."""
    a, _, _, d = (o.node for o in orgs)
    got = ev.intake(a, PHOTOS[3], "Para la abogada", consent="yes")
    ev.share(a, got.sha256, "d:" + d.key.hex())
    await orgs[0].fed.syncer.sync(d.key)
    with pytest.raises(ev.EvidenceError, match="have not all arrived"):
        ev.ack(d, got.sha256)
    await orgs[3].fed.blobs.run_once()
    ev.ack(d, got.sha256)
    await orgs[3].fed.syncer.sync(a.key)
    acks = [e for e in ev.chain(a, got.sha256) if e["kind"] == "evidence.ack"]
    assert len(acks) == 1 and acks[0]["author"] == d.key.hex() and acks[0]["signature_ok"]
    body = next(r for r in ev.indexed(a, got.sha256, ["evidence.ack"])).body
    assert body is not None and body["original"] == got.sha256 and body["working"] == got.working_sha256


def test_court_package_checks_and_refuses_a_flipped_byte(
    make_node: Callable[..., Node], tmp_path: Path
) -> None:
    """An exported package checks offline; flipping one byte of the original is named exactly."""
    node = make_node()
    got = ev.intake(node, PHOTOS[4], "Caso", consent="yes")
    pkg = tmp_path / "caso.zip"
    manifest = export(node, [got.sha256], pkg)
    report = check_package(pkg)
    assert report.ok, report.problems
    assert report.items == 1 and report.records == len(manifest["records"]) >= 3
    # The export is itself a custody event, and inside the package.
    assert any(e["what"].startswith("export:") for e in ev.chain(node, got.sha256))
    with zipfile.ZipFile(pkg) as z:
        names = z.namelist()
        assert {"manifest.json", "manifest.sig", "keys.json", "custody.json", "VERIFY.md"} <= set(names)
        original = next(n for n in names if n.startswith("originals/"))
        assert hashlib.sha256(z.read(original)).digest() == got.sha256
    data = bytearray(pkg.read_bytes())
    with zipfile.ZipFile(pkg) as z:
        info = z.getinfo(original)
    data[info.header_offset + 30 + len(info.filename) + 100] ^= 0x01
    bad = tmp_path / "alterado.zip"
    bad.write_bytes(bytes(data))
    report = check_package(bad)
    assert not report.ok and any(p.part == original for p in report.problems)


def test_fixity_finds_a_damaged_stored_file(make_node: Callable[..., Node]) -> None:
    """Fixity re-hashes every stored file, records the result, and reports a file damaged on disk."""
    node = make_node()
    got = ev.intake(node, PHOTOS[5], "Foto", consent="yes")
    assert ev.fixity(node)[0]["original"] == "ok"
    rec = node.get(got.id)
    assert rec is not None
    path = node.blobs.path(ev.role_refs(rec)["original"].hash)
    blob = bytearray(path.read_bytes())
    blob[len(blob) // 2] ^= 0x01
    path.write_bytes(bytes(blob))
    (result,) = ev.fixity(node)
    assert result["original"] == "mismatch" and result["working"] == "ok"
    assert sum(e["what"].startswith("fixity:") for e in ev.chain(node, got.sha256)) == 2


def test_evidence_cli_end_to_end(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """add --json prints the documented fields; list, show, review, incident, export, check work; bad
    input is one line."""
    import json

    assert cli("init", "--name", "Casa").code == 0
    r = cli("evidence", "add", str(PHOTOS[6]), "--title", "Marcha", "--consent", "yes", "--json")
    assert r.code == 0, r.err
    (item,) = json.loads(r.out)
    assert set(item) >= {"id", "original_sha256", "working_sha256", "removed"}
    assert item["original_sha256"] == _sha(PHOTOS[6]).hex() and "gps" in item["removed"]
    listed = json.loads(cli("evidence", "list", "--json").out)
    assert [x["id"] for x in listed] == [item["id"]] and listed[0]["status"] == "unreviewed"
    shown = cli("evidence", "show", item["id"][:12])
    assert shown.code == 0 and "signature ok" in shown.out and "hash ok" in shown.out
    inc = json.loads(cli("evidence", "incident", "create", "Marcha del 2 de octubre", "--json").out)[
        "incident"
    ]
    assert cli("evidence", "incident", "add", inc, item["id"][:12]).code == 0
    assert cli("evidence", "list", "--incident", inc, "--json").out.count(item["id"]) == 1
    incs = json.loads(cli("evidence", "incident", "list", "--json").out)
    assert incs == [{"incident": inc, "title": "Marcha del 2 de octubre", "items": 1}]
    pkg = tmp_path / "p.zip"
    assert cli("evidence", "export", "--incident", inc, "--out", str(pkg)).code == 0
    ok = cli("evidence", "check", str(pkg))
    assert ok.code == 0 and "OK" in ok.out
    (tmp_path / "junk.zip").write_bytes(b"not a zip")
    bad = cli("evidence", "check", str(tmp_path / "junk.zip"))
    assert bad.code == 1 and "cannot be trusted" in bad.err
    for args, fragment in (
        (["evidence", "show", "deadbeefdeadbeef"], "no evidence item"),
        (["evidence", "show", "xyz"], "at least 8 hex"),
        (["evidence", "review", item["id"][:12], "--status", "bogus", "--note", "x"], "Invalid value"),
        (["evidence", "export", "--out", str(pkg)], "name items, or give --incident"),
    ):
        r = cli(*args)
        assert r.code != 0 and fragment in r.err and "Traceback" not in r.err, r.err
        assert len(r.err.strip().splitlines()) == 1


def test_a_1_gib_file_is_taken_in_with_bounded_memory(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """`tequio evidence add` on a 1 GiB video streams it: peak RSS stays far below the file size."""
    big = tmp_path / "grabacion.mp4"
    with big.open("wb") as f:
        f.write(b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom")
        f.truncate(1 << 30)
    assert cli("init", "--name", "Casa").code == 0
    env = {k: v for k, v in os.environ.items() if not k.startswith("TEQUIO_")} | {
        "TEQUIO_HOME": str(cli.home)
    }
    cmd = [TEQUIO, "evidence", "add", str(big), "--title", "Video", "--json"]
    r = subprocess.run(
        [sys.executable, "-c", PEAK_RSS, *cmd], env=env, capture_output=True, text=True, timeout=600
    )
    assert r.returncode == 0, r.stderr
    *lines, peak = r.stdout.strip().splitlines()
    (item,) = __import__("json").loads("\n".join(lines))
    assert int(peak) < 150 * 1024, f"peak RSS {int(peak) / 1024:.0f} MiB"
    assert item["original_sha256"] == item["working_sha256"]  # nothing strippable: one sealed copy
    assert item["mime"] == "video/mp4" and item["not_stripped"]


def test_demo_runs_the_whole_story(tmp_path: Path) -> None:
    """`tequio demo` runs end to end on 127.0.0.1 and narrates each step, including the refused copy."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TEQUIO_")}
    r = subprocess.run(
        [TEQUIO, "demo", "--dir", str(tmp_path / "demo")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert "GPS in the working copy: none" in out and "GPS in the sealed original: 19.4327, -99.1330" in out
    assert (
        "after Colectivo Madres en Búsqueda: 1 of 2 verified" in out
        and "after Red de Defensoras: verified" in out
    )
    assert "closed: passed=True" in out and "every node recomputed the same tally: True" in out
    assert "paquete-judicial.zip: OK" in out and "a copy with one flipped byte: REFUSED" in out
    assert (tmp_path / "demo" / "paquete-judicial.zip").exists()
    assert io.StringIO(out).read().count("\n") > 20


def test_redaction_replaces_the_working_copy_and_is_in_the_chain(
    make_node: Callable[..., Node], tmp_path: Path
) -> None:
    """A redacted working copy (faces blurred) is what is shared next; the original stays sealed."""
    a, b = make_node(name="A", seed=1), make_node(name="B", seed=2)
    _, scope = create_group(a, "G", [(b.key, "B", [])])
    got = ev.intake(a, PHOTOS[7], "Rostros", consent="yes", faces_at_risk=True)
    blurred = tmp_path / "blurred.jpg"
    with Image.open(PHOTOS[7]) as im:
        im.convert("L").save(
            blurred, "JPEG", exif=im.getexif().tobytes()
        )  # the operator's redaction, GPS and all
    derivation = ev.redact(a, got.sha256, blurred, "rostros difuminados")
    new_sha = derivation.body["to"]  # type: ignore[index]
    assert new_sha != got.working_sha256
    ev.clear(a, got.sha256, "rostros difuminados", scope)
    shared = ev.share(a, got.sha256, scope)
    assert shared.body["working"]["sha256"] == new_sha  # type: ignore[index]
    plain = b"".join(a.open_blob(ev.role_refs(shared)["working"].hash))
    assert hashlib.sha256(plain).digest() == new_sha
    (tmp_path / "w.jpg").write_bytes(plain)
    assert read_location(tmp_path / "w.jpg") is None  # the redacted copy was stripped too
    assert hashlib.sha256(_plain(a, got.id, "original")).digest() == got.sha256
    assert any(e["what"].startswith("redaction:") for e in ev.chain(a, got.sha256))


def test_the_evidence_and_demo_plugins_use_only_public_apis() -> None:
    """No raw store connection, no federation table, no internal node module: what tequio.node exports
    (and its public modules cli, media and web, the page API of the web hooks); other plugins only
    through their public functions."""
    import ast

    root = Path(__file__).resolve().parents[1] / "plugins"
    public_node = {"tequio.node", "tequio.node.cli", "tequio.node.media", "tequio.node.web"}
    other_plugins = {"tequio.plugins.evidence.api", "tequio.plugins.voting.ballot_io.cast"}
    for folder in ("evidence", "demo"):
        for path in (root / folder).rglob("*.py"):
            text = path.read_text(encoding="utf-8")
            assert "store.conn" not in text and "fed_peers" not in text, path
            for n in ast.walk(ast.parse(text)):
                if isinstance(n, ast.ImportFrom) and n.level == 0 and n.module:
                    names = (
                        [n.module]
                        if n.module.startswith("tequio.node")
                        else [f"{n.module}.{a.name}" for a in n.names]
                    )
                elif isinstance(n, ast.Import):
                    names = [a.name for a in n.names]
                else:
                    continue
                for name in names:
                    if name.startswith("tequio.node"):
                        assert name in public_node, f"{path.name} imports {name}"
                    if name.startswith("tequio.plugins.") and not name.startswith(f"tequio.plugins.{folder}"):
                        assert name in other_plugins, f"{path.name} imports {name}"
