"""Issue 12 §4 over real sync: the curators' queue and two curators tagging one item at the same time on
two nodes (HTTP on 127.0.0.1, the CLI in subprocesses); the curator rule is enforced."""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image

from tequio.node import create_group
from tequio.plugins.evidence import api as ev
from tequio.plugins.intake.curation import current_tags
from tests.test_evidence_items import PHOTOS, ok_json, one_line_error, run
from tests.test_governance_nodes import Org, orgs, sync_all

__all__ = ["orgs"]

CURATORS = {"intake.curate": {"by": "role", "role": "curator"}}


def _near_copy(src: Path, out: Path) -> Path:
    """The same photo re-encoded smaller: other bytes, the same picture (a near-duplicate)."""
    im = Image.open(io.BytesIO(src.read_bytes())).convert("RGB")
    im.resize((im.width // 2, im.height // 2)).save(out, "JPEG", quality=60)
    return out


async def test_two_curators_tag_one_item_at_once_and_both_keep_their_fields(
    orgs: list[Org], tmp_path: Path
) -> None:
    a, b, c = (o.node for o in orgs[:3])
    _, scope = create_group(a, "Coalición", [(b.key, "B", ["curator"]), (c.key, "C", ["curator"])], CURATORS)
    first = ev.intake(a, PHOTOS[0], "Detención en el Zócalo", consent="yes", when="2026-11-20T18:00:00")
    ev.share(a, first.sha256, scope)
    again = ev.intake(a, _near_copy(PHOTOS[0], tmp_path / "again.jpg"), "Misma foto", consent="yes")
    ev.share(a, again.sha256, scope)
    other = ev.intake(a, PHOTOS[1], "Otra", consent="yes", when="2008-10-22T17:00:00")
    ev.share(a, other.sha256, scope)
    await sync_all(orgs[:3])

    queued = ok_json(b.home, "intake", "queue", "--group", scope)
    assert {q["id"] for q in queued} == {first.id.hex(), again.id.hex(), other.id.hex()}
    group_of = {q["id"]: q["group"] for q in queued}
    assert group_of[first.id.hex()] == group_of[again.id.hex()] != group_of[other.id.hex()]
    assert all(q["state"] == "unreviewed" for q in queued)
    # The camera's clock from the sealed original beside the witness's time, flagged beyond one hour.
    by_id = {q["id"]: q for q in queued}
    assert by_id[first.id.hex()]["camera_time_ms"] == 1224692919000  # 2008-10-22 16:28:39
    assert by_id[first.id.hex()]["time_differs"] is True
    near_hour = by_id[other.id.hex()]
    assert near_hour["camera_time_ms"] is not None and near_hour["time_differs"] is False
    assert by_id[again.id.hex()]["camera_time_ms"] is None  # re-encoded without EXIF: nothing to flag
    assert by_id[again.id.hex()]["time_differs"] is False

    # B and C tag the same item before either has seen the other's edit.
    item = first.id.hex()
    got_b = ok_json(b.home, "intake", "tag", item[:12], "--place", "Zócalo", "--units", "UPM 12")
    got_c = ok_json(c.home, "intake", "tag", item[:12], "--plates", "ABC-123", "--plates", "XYZ-9",
                    "--people", "3 jóvenes")  # fmt: skip
    assert got_b["tags"] == {"place": "Zócalo", "units": ["UPM 12"]}
    assert got_c["tags"] == {"people": ["3 jóvenes"], "plates": ["ABC-123", "XYZ-9"]}
    await sync_all(orgs[:3])
    want = {"people": ["3 jóvenes"], "place": "Zócalo", "plates": ["ABC-123", "XYZ-9"], "units": ["UPM 12"]}
    for n in (a, b, c):
        assert current_tags(n, first.id, scope) == want
    shown = {q["id"]: q for q in ok_json(a.home, "intake", "queue")}
    assert shown[item]["tags"] == want
    assert shown[item]["stated_time"] == "2026-11-20T18:00:00"

    # Not relevant: hidden, kept, back with --all.
    ok_json(c.home, "intake", "tag", other.id.hex(), "--not-relevant")
    assert other.id.hex() not in {q["id"] for q in ok_json(c.home, "intake", "queue")}
    assert other.id.hex() in {q["id"] for q in ok_json(c.home, "intake", "queue", "--all")}

    # An item once reviewed leaves the queue; "in-progress" shows as being reviewed.
    ev.review(b, again.sha256, "in-progress", [], "mirando", scope=scope)
    states = {q["id"]: q["state"] for q in ok_json(b.home, "intake", "queue")}
    assert states[again.id.hex()] == "being reviewed"
    ev.review(b, again.sha256, "verified", ["source"], "testigos", scope=scope)
    assert again.id.hex() not in {q["id"] for q in ok_json(b.home, "intake", "queue")}

    # The curator rule: A (no curator role) and D (not a member) are refused, nothing is published.
    before = len(a.records(kind="intake.tag"))
    assert "intake.curate" in one_line_error(run(a.home, "intake", "tag", item, "--place", "otro"))
    assert "intake.curate" in one_line_error(run(a.home, "intake", "ask", item, "¿Hora?"))
    a.publish("intake.tag", {"item": first.id, "set": {"place": "falso"}}, scope=scope)  # around the CLI
    await sync_all(orgs[:3])
    for home in (a.home, b.home, c.home):  # every node folds only the curators' edits
        assert {q["id"]: q for q in ok_json(home, "intake", "queue", "--all")}[item]["tags"] == want
    before = len(a.records(kind="intake.tag"))
    d = orgs[3].node
    assert "no evidence item" in one_line_error(run(d.home, "intake", "tag", item, "--place", "x"))
    assert len(a.records(kind="intake.tag")) == before
    r = run(b.home, "intake", "ask", item[:12], "¿A qué hora tomó la foto?")
    assert r.code == 0, r.err
    assert [x.body["text"] for x in b.records(scope=scope, kind="intake.question") if x.body] == [
        "¿A qué hora tomó la foto?"
    ]


async def test_hostile_input_to_the_curation_commands(orgs: list[Org]) -> None:
    a, b = orgs[0].node, orgs[1].node
    _, scope = create_group(a, "G", [(b.key, "B", [])])
    got = ev.intake(a, PHOTOS[2], "Foto", consent="yes")
    ev.share(a, got.sha256, scope)
    for bad in ("", "zz", "1234", "g" * 64, "\x1b[2J" * 10):
        assert "hex" in one_line_error(run(a.home, "intake", "tag", bad, "--place", "x"))
    assert "nothing to tag" in one_line_error(run(a.home, "intake", "tag", got.id.hex()))
    assert "500" in one_line_error(run(a.home, "intake", "tag", got.id.hex(), "--place", "x" * 501))
    assert "4000" in one_line_error(run(a.home, "intake", "ask", got.id.hex(), "x" * 4001))
    assert "not a member" in one_line_error(run(a.home, "intake", "queue", "--group", "g:" + "00" * 16))
    ok_json(a.home, "intake", "tag", got.id.hex(), "--place", "\x1b[2Jplaza")
    r = run(a.home, "intake", "queue")
    assert r.code == 0 and "\x1b" not in r.out


async def test_an_incident_timeline_and_its_court_package_checked_offline(
    orgs: list[Org], tmp_path: Path
) -> None:
    """§5: the items tagged with an incident in time order with who took each in; one package of them,
    written by the evidence plugin, checked offline naming every signer; a tampered copy refused."""
    a, b = orgs[0].node, orgs[1].node
    _, scope = create_group(a, "Coalición", [(b.key, "B", [])])
    await sync_all(orgs[:2])
    late = ev.intake(a, PHOTOS[0], "Después", consent="yes", when="2026-11-20T19:30:00")
    early = ev.intake(a, PHOTOS[1], "Antes", consent="yes", when="2026-11-20T18:05:00")
    theirs = ev.intake(b, PHOTOS[2], "Desde el puente", consent="yes", when="2026-11-20T18:45:00")
    for n, got in ((a, late), (a, early), (b, theirs)):
        ev.share(n, got.sha256, scope)
    await sync_all(orgs[:2])
    for got in (late, early, theirs):
        ok_json(b.home, "intake", "tag", got.id.hex(), "--incident", "Marcha 20N")
    ev.review(b, late.sha256, "verified", ["source"], "testigos", scope=scope)
    await sync_all(orgs[:2])

    shown = ok_json(a.home, "intake", "incident", "show", "Marcha 20N")
    assert [r["id"] for r in shown["items"]] == [early.id.hex(), theirs.id.hex(), late.id.hex()]
    assert [r["taken_in_by"] for r in shown["items"]] == ["Casa", "Colectivo", "Casa"]
    assert [r["state"] for r in shown["items"]] == ["unreviewed", "unreviewed", "verified"]
    assert ok_json(a.home, "intake", "incident", "show", "otra")["items"] == []

    out = tmp_path / "marcha.zip"
    r = run(a.home, "intake", "incident", "export", "Marcha 20N", "--out", str(out), "--json")
    assert r.code == 0, r.err
    assert "Colectivo" in r.err  # B's item is B's to export, and A is told so
    made = __import__("json").loads(r.out)
    assert set(made["items"]) == {early.id.hex(), late.id.hex()}
    checked = ok_json(a.home, "evidence", "check", str(out))
    names = {s["name"] for s in checked["signers"]}
    assert {"Casa", "Colectivo"} <= names  # A took the items in; B's review of one is in the package

    import zipfile

    bad = tmp_path / "tampered.zip"
    with zipfile.ZipFile(out) as src, zipfile.ZipFile(bad, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename.startswith("originals/"):  # one flipped bit in a sealed original
                data = data[:-1] + bytes([data[-1] ^ 1])
            dst.writestr(info, data)
    refused = run(a.home, "evidence", "check", str(bad))
    assert refused.code == 1 and "cannot be trusted" in refused.err
    assert "no item of incident" in one_line_error(run(b.home, "intake", "incident", "export", "nada",
                                                       "--out", str(tmp_path / "x.zip")))  # fmt: skip


def test_the_camera_time_reader_never_fails_an_intake(tmp_path: Path) -> None:
    """Odd or hostile EXIF times give no camera time, not an error; a stated offset is applied."""
    from tequio.plugins.evidence.camtime import camera_time

    def photo(**tags: str) -> Path:
        im = Image.new("RGB", (32, 32), (10, 20, 30))
        exif = im.getexif()
        sub = exif.get_ifd(0x8769)
        for k, v in tags.items():
            sub[{"original": 36867, "offset": 36881}[k]] = v
        out = tmp_path / f"p{len(list(tmp_path.iterdir()))}.jpg"
        im.save(out, "JPEG", exif=exif)
        return out

    assert camera_time(photo(original="2026:11:20 18:00:00", offset="-06:00")) == 1795219200000
    assert camera_time(photo(original="2026:11:20 18:00:00")) == 1795197600000
    for bad in ("", "0000:00:00 00:00:00", "\x00" * 40, "2026:13:45 99:99:99", "x" * 5000):
        assert camera_time(photo(original=bad)) is None
    assert camera_time(photo(original="2026:11:20 18:00:00", offset="+99:zz")) == 1795197600000
    garbage = tmp_path / "garbage.jpg"
    garbage.write_bytes(b"\xff\xd8" + bytes(100))
    assert camera_time(garbage) is None
