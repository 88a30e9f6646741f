"""Evidence items as users meet them: one id on every node, nothing on a seized store that confirms a
photo, formats that cannot be stripped, files taken out, every action in JSON, and the court package of
a redacted item. Real nodes over HTTP on 127.0.0.1 and the CLI in subprocesses."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PIL import Image

from tequio.node import Node, create_group
from tequio.node.media import read_location
from tequio.plugins.evidence import api as ev
from tests.conftest import TEQUIO, CliResult
from tests.evidencekit import resign
from tests.test_governance_nodes import Org, orgs, sync_all

__all__ = ["orgs"]

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "evidence"
PHOTOS = sorted((DATA / "exif-gps").glob("*.jpg"))
MP4 = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + bytes(2000)


def run(home: Path, *args: str, env: dict[str, str] | None = None) -> CliResult:
    """The CLI on a node's home, in a subprocess (the node may be open in this process too)."""
    full = {k: v for k, v in os.environ.items() if not k.startswith("TEQUIO_")} | (env or {})
    p = subprocess.run([TEQUIO, "--home", str(home), *args], capture_output=True, text=True, env=full)
    return CliResult(p.returncode, p.stdout, p.stderr)


def ok_json(home: Path, *args: str, env: dict[str, str] | None = None) -> Any:
    r = run(home, *args, "--json", env=env)
    assert r.code == 0 and "Traceback" not in r.err, r.err
    return json.loads(r.out)


def one_line_error(r: CliResult) -> str:
    assert r.code == 1 and "Traceback" not in r.err and len(r.err.strip().splitlines()) == 1, r.err
    return r.err


# --------------------------------------------------------------------------------------------------
# One id for an item on every node


async def test_an_item_has_one_id_on_every_node(orgs: list[Org]) -> None:
    """The id printed at intake is the one a partner lists, reviews and shows, after a real sync."""
    a, b = orgs[0].node, orgs[1].node
    _, scope = create_group(a, "Coalición", [(b.key, "Colectivo", [])])
    (added,) = ok_json(a.home, "evidence", "add", str(PHOTOS[0]), "--title", "Detención", "--consent", "yes",
                       "--scope", scope)  # fmt: skip
    item = added["id"]
    await sync_all(orgs[:2])
    listed = ok_json(b.home, "evidence", "list")
    assert [x["id"] for x in listed] == [item]
    assert ok_json(a.home, "evidence", "list")[0]["id"] == item
    reviewed = ok_json(b.home, "evidence", "review", item[:12], "--status", "verified", "--note", "testigos")
    assert reviewed["item"] == item
    await sync_all(orgs[:2])
    for home in (a.home, b.home):
        shown = ok_json(home, "evidence", "show", item[:12])
        assert shown["id"] == item and shown["sha256"] == hashlib.sha256(PHOTOS[0].read_bytes()).hexdigest()
        assert any(e["kind"] == "evidence.review" for e in shown["chain"])


async def test_a_copy_cannot_claim_another_organisations_item_id(orgs: list[Org]) -> None:
    """A member that names someone else's item id in its own copy, without the proof, keeps its own id."""
    a, b, c = (o.node for o in orgs[:3])
    _, scope = create_group(a, "Coalición", [(b.key, "B", []), (c.key, "C", [])])
    got = ev.intake(a, PHOTOS[1], "Foto", consent="yes")
    ev.share(a, got.sha256, scope)
    await sync_all(orgs[:3])
    forged = ev.intake(b, PHOTOS[2], "Otra", consent="yes")
    intake = b.get(forged.id)
    assert intake is not None and intake.body is not None
    body = {k: v for k, v in intake.body.items() if k not in ("nonce", "incident")}
    body["origin"] = {"item": got.id, "org": a.key}  # no proof, and not even its own key
    copy = b.publish("evidence.item", body | {"working": None, "original": None}, scope=scope)
    await sync_all(orgs[:3])
    ids = {x["id"] for x in ok_json(c.home, "evidence", "list")}
    assert ids == {got.id.hex(), copy.id.hex()}


# --------------------------------------------------------------------------------------------------
# A seized node: the store does not say which photo it holds


def test_a_seized_store_does_not_confirm_which_photo_it_holds(cli: Callable[..., CliResult]) -> None:
    """On a passphrase-protected node, neither the SHA-256 of an original nor its hex is anywhere in the
    SQLite files; the node, unlocked, still finds the item by that hash."""
    env = {"P": "una frase larga de verdad"}
    assert cli("init", "--name", "Casa", "--passphrase-env", "P", "--kdf", "interactive", env=env).code == 0
    home: Path = cli.home  # type: ignore[attr-defined]
    added = ok_json(home, "evidence", "add", str(PHOTOS[3]), "--title", "Marcha", "--consent", "yes", env=env)
    sha = hashlib.sha256(PHOTOS[3].read_bytes()).digest()
    stored = b"".join(p.read_bytes() for p in home.glob("tequio.sqlite*"))
    assert stored, "the store is where the docs say"
    for needle in (sha, sha.hex().encode(), sha[:16], sha.hex()[:16].encode()):
        assert needle not in stored
    # Read without the key: the evidence index holds keyed tags, not hashes.
    db = sqlite3.connect(f"file:{home / 'tequio.sqlite'}?mode=ro", uri=True)
    try:
        columns = [r[1] for r in db.execute("PRAGMA table_info(evidence_index)")]
        assert "sha256" not in columns and "tag" in columns
        assert sha not in {bytes(t) for (t,) in db.execute("SELECT tag FROM evidence_index")}
    finally:
        db.close()
    shown = ok_json(home, "evidence", "show", sha.hex(), env=env)
    assert shown["id"] == added[0]["id"]


def test_an_older_plain_index_is_moved_to_keyed_tags_and_erased(make_node: Callable[..., Node]) -> None:
    """Rows an older version indexed by plain SHA-256 are re-indexed on the next unlocked open, and gone."""
    node = make_node()
    got = ev.intake(node, PHOTOS[4], "Foto", consent="yes")
    home = node.home
    with node.store.write() as db:  # what m001 left behind: the hash in the clear
        db.execute(
            "CREATE TABLE evidence_index_plain (record BLOB PRIMARY KEY, sha256 BLOB NOT NULL,"
            " kind TEXT NOT NULL, scope TEXT NOT NULL, author BLOB NOT NULL, n INTEGER NOT NULL)"
        )
        db.execute(
            "INSERT INTO evidence_index_plain SELECT record, ?, kind, scope, author, n FROM evidence_index",
            (got.sha256,),
        )
        db.execute("DELETE FROM evidence_index")
    node.close()
    again = Node.open(home)
    try:
        assert [r.id for r in ev.my_items(again)] == [got.id]
        tables = {t for (t,) in again.db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert "evidence_index_plain" not in tables
        again.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        again.close()
    assert got.sha256 not in b"".join(p.read_bytes() for p in home.glob("tequio.sqlite*"))


# --------------------------------------------------------------------------------------------------
# Formats that cannot be stripped, empty files, multi-page scans


def test_a_video_is_shared_only_when_asked_and_its_warning_is_repeated(
    make_node: Callable[..., Node], tmp_path: Path
) -> None:
    a, b = make_node(name="A", seed=1), make_node(name="B", seed=2)
    _, scope = create_group(a, "G", [(b.key, "B", [])])
    video = tmp_path / "grabacion.mp4"
    video.write_bytes(MP4)
    a.close()
    (added,) = ok_json(
        a.home, "evidence", "add", str(video), "--title", "Video", "--consent", "yes", "--scope", scope
    )
    assert (
        added["not_stripped"]
        and "NOT removed" in added["blocked"]
        and "--share-unstripped" in added["blocked"]
    )
    assert "shared" not in added
    listed = ok_json(a.home, "evidence", "list")
    assert listed[0]["not_stripped"] == added["not_stripped"]
    text = run(a.home, "evidence", "list").out
    assert "[working copy NOT stripped]" in text
    shown = run(a.home, "evidence", "show", added["id"][:12]).out
    assert "NOT stripped: video/mp4" in shown
    refused = one_line_error(run(a.home, "evidence", "share", added["id"][:12], "--scope", scope))
    assert "--share-unstripped" in refused
    shared = ok_json(a.home, "evidence", "share", added["id"][:12], "--scope", scope, "--share-unstripped")
    assert shared["scope"] == scope and shared["item"] == added["id"]


def test_an_empty_file_is_refused_as_evidence(cli: Callable[..., CliResult], tmp_path: Path) -> None:
    empty = tmp_path / "vacia.jpg"
    empty.write_bytes(b"")
    assert cli("init", "--name", "Casa").code == 0
    err = one_line_error(cli("evidence", "add", str(empty), "--title", "Nada"))
    assert "empty (0 bytes)" in err
    assert json.loads(cli("evidence", "list", "--json").out) == []


def test_a_multi_page_tiff_is_taken_in(cli: Callable[..., CliResult], tmp_path: Path) -> None:
    """A witness's three-page scan, through the CLI: taken in (not 'internal error'), every page kept."""
    scan = tmp_path / "denuncia.tif"
    pages = [Image.new("L", (200, 280), 60 * i) for i in range(3)]
    ex = Image.Exif()
    ex[0x010E] = "Denuncia de Ana"
    pages[0].save(scan, save_all=True, append_images=pages[1:], exif=ex.tobytes())
    assert cli("init", "--name", "Casa").code == 0
    r = cli("evidence", "add", str(scan), "--title", "Denuncia", "--consent", "yes", "--json")
    assert r.code == 0, r.err
    (added,) = json.loads(r.out)
    assert "description" in added["removed"] and not added["not_stripped"]
    out = tmp_path / "w.tif"
    assert cli("evidence", "get", added["id"][:12], "--working", "--out", str(out)).code == 0
    with Image.open(out) as im:
        assert im.n_frames == 3
    assert b"Denuncia de Ana" not in out.read_bytes()


# --------------------------------------------------------------------------------------------------
# Taking files out, and every action in JSON


def test_get_writes_the_working_copy_and_the_original(cli: Callable[..., CliResult], tmp_path: Path) -> None:
    assert cli("init", "--name", "Casa").code == 0
    (added,) = json.loads(cli("evidence", "add", str(PHOTOS[5]), "--title", "Foto", "--json").out)
    item = added["id"][:12]
    original, working = tmp_path / "o.jpg", tmp_path / "w.jpg"
    got = json.loads(cli("evidence", "get", item, "--original", "--out", str(original), "--json").out)
    assert original.read_bytes() == PHOTOS[5].read_bytes() and got["sha256"] == added["original_sha256"]
    assert cli("evidence", "get", item, "--working", "--out", str(working)).code == 0
    assert hashlib.sha256(working.read_bytes()).hexdigest() == added["working_sha256"]
    assert read_location(original) is not None and read_location(working) is None
    assert oct(original.stat().st_mode & 0o777) == "0o600"
    assert "already exists" in one_line_error(
        cli("evidence", "get", item, "--working", "--out", str(working))
    )
    assert cli("evidence", "get", item, "--out", str(tmp_path / "x")).code == 2  # neither flag: usage error
    shown = json.loads(cli("evidence", "show", item, "--json").out)
    assert [e["what"] for e in shown["chain"] if e["what"].startswith("extract:")][:1]


async def test_every_action_answers_in_json(orgs: list[Org], tmp_path: Path) -> None:
    """share, review, clear, redact, transfer, ack, export: each prints what it signed, with the item id."""
    a, d = orgs[0].node, orgs[3].node
    _, scope = create_group(a, "G", [(orgs[1].node.key, "B", [])])
    (added,) = ok_json(a.home, "evidence", "add", str(PHOTOS[6]), "--title", "Rostros", "--faces-at-risk")
    item = added["id"]
    blurred = tmp_path / "blurred.jpg"
    with Image.open(PHOTOS[6]) as im:
        im.convert("L").save(blurred, "JPEG", exif=im.getexif().tobytes())
    answers = {
        "clear": ok_json(
            a.home, "evidence", "clear", item[:12], "--note", "consentimiento y rostros difuminados"
        ),
        "redact": ok_json(
            a.home, "evidence", "redact", item[:12], "--working", str(blurred), "--note", "rostros"
        ),
        "share": ok_json(a.home, "evidence", "share", item[:12], "--scope", scope),
        "review": ok_json(a.home, "evidence", "review", item[:12], "--status", "in-progress", "--note", "x"),
        "transfer": ok_json(a.home, "evidence", "transfer", item[:12], "--to", d.key.hex()),
        "export": ok_json(a.home, "evidence", "export", item[:12], "--out", str(tmp_path / "p.zip")),
    }
    for name, data in answers.items():
        assert data.get("item") == item or data.get("items") == [item], (name, data)
    assert answers["redact"]["working_sha256"] != added["working_sha256"]
    await orgs[0].fed.syncer.sync(d.key)
    await orgs[3].fed.blobs.run_once()
    acked = ok_json(d.home, "evidence", "ack", item[:12])
    assert acked["item"] == item and acked["original_sha256"] == added["original_sha256"]


# --------------------------------------------------------------------------------------------------
# A redacted item's court package carries what was shared


def test_the_court_package_of_a_redacted_item_carries_the_redacted_copy(
    make_node: Callable[..., Node], tmp_path: Path
) -> None:
    a, b = make_node(name="A", seed=1), make_node(name="B", seed=2)
    _, scope = create_group(a, "G", [(b.key, "B", [])])
    got = ev.intake(a, PHOTOS[7], "Rostros", consent="yes")
    blurred = tmp_path / "blurred.jpg"
    with Image.open(PHOTOS[7]) as im:
        im.convert("L").save(blurred, "JPEG")
    redacted = ev.redact(a, got.sha256, blurred, "rostros difuminados")
    new = (redacted.body or {})["to"]
    shared = ev.share(a, got.sha256, scope)
    assert (shared.body or {})["working"]["sha256"] == new
    manifest = ev.export(a, [got.sha256], tmp_path / "p.zip")
    assert manifest["items"][0]["working"]["sha256"] == new.hex() != (got.working_sha256 or b"").hex()
    report = ev.check_package(tmp_path / "p.zip")
    assert report.ok, report.summary()
    # The unredacted working copy put back in its place, the manifest signed again by the exporter
    # itself: refused, since the item's last redaction names another working copy.
    intake = a.get(got.id)
    assert intake is not None
    unredacted = b"".join(a.open_blob(ev.role_refs(intake)["working"].hash))
    sha = hashlib.sha256(unredacted).hexdigest()

    def swap(m: dict[str, Any], c: dict[str, bytes | None]) -> None:
        old = m["items"][0]["working"]["path"]
        m["items"][0]["working"] = {"path": f"working/{sha}.jpg", "sha256": sha, "size": len(unredacted),
                                    "mime": "image/jpeg"}  # fmt: skip
        c[old] = None
        c[f"working/{sha}.jpg"] = unredacted

    resign(tmp_path / "p.zip", _Signer(a), swap)
    report = ev.check_package(tmp_path / "p.zip")
    assert not report.ok
    assert any("the item's last redaction" in p.what for p in report.problems), report.summary()


class _Signer:
    """A node's key in the shape tests.evidencekit.resign expects of a SigningKey."""

    def __init__(self, node: Node) -> None:
        self.node = node

    def sign(self, data: bytes) -> Any:
        return type("Signed", (), {"signature": self.node.sign_detached(data)})()
