"""Issue 12 §3-§5: a curator accepts a witness's submission; each file becomes an evidence item in the
evidence plugin's own format, its working copy stripped of GPS in memory (the sealed original keeps it,
byte for byte), no plaintext ever written; the package of those items checks offline."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

from tequio.node import Node, media
from tequio.plugins.intake import calls as C
from tequio.plugins.intake.curation_accept import accept, pending
from tequio.plugins.intake.curation_queue import CurationError, ask, queue, tag
from tests.test_evidence_items import PHOTOS, ok_json, run
from tests.test_intake_drop import MARKER, _call, _drop, _home_contains
from tests.webkit import Site


def _plain(node: Node, h: bytes) -> bytes:
    return b"".join(node.open_blob(h))


async def test_accept_makes_stripped_evidence_items_that_export_and_check(
    make_node: Callable[..., Node], tmp_path: Path
) -> None:
    a, b = make_node("Casa", 1), make_node("Colectivo", 2)
    call = _call(a, b)
    photo = PHOTOS[0].read_bytes()
    assert media.read_location(PHOTOS[0]) is not None
    text = b"Lo que vi: " + MARKER + b"\n"
    async with Site(a) as site:
        status, html = await _drop(
            site, call, [("foto.jpg", photo, "image/jpeg"), ("relato.txt", text, "text/plain")],
            consent="publish", when="2026-11-20T18:00:00",
        )  # fmt: skip
        assert status == 200, html[:500]
    (sub,) = C.submissions(a, call)
    waiting = pending(a)
    assert [w["id"] for w in waiting] == [sub.id.hex()] and waiting[0]["call_title"] == "Marcha"

    shared = accept(a, sub.id.hex()[:12])
    assert len(shared) == 2
    assert pending(a) == []  # accepted: off the pending list
    try:
        accept(a, sub.id.hex())
        raise AssertionError("accepting twice must be refused")
    except CurationError as e:
        assert "already accepted" in str(e)

    # The photo's shared working copy has no GPS; the sealed original keeps it, byte for byte.
    copy = next(r for r in shared if (r.body or {})["name"] == "foto.jpg")
    body = copy.body or {}
    assert body["original"] is None and body["consent"] == "yes" and "gps" in body["removed"]
    assert body["intake"]["submission"] == sub.id and body["intake"]["consent"] == "publish"
    work = tmp_path / "working.jpg"  # written by the test, not the node, to read its tags
    work.write_bytes(_plain(a, copy.payload.blobs[0].hash))  # type: ignore[union-attr]
    assert media.read_location(work) is None
    intake_id = body["origin"]["item"]
    intake = a.get(intake_id)
    assert intake is not None and intake.scope.startswith("d:") and (intake.body or {})["nonce"]
    assert _plain(a, intake.payload.blobs[0].hash) == photo  # type: ignore[union-attr]
    assert body["camera_time"] == 1224692919000 and isinstance(body["phash"], int)

    # No plaintext of the upload on disk after accepting either: not in the home, not in the temp dir.
    assert _home_contains(a.home, MARKER) == []
    assert not [p for p in Path(tempfile.gettempdir()).glob("*") if p.is_file() and MARKER in p.read_bytes()]

    # The queue shows both items unreviewed, from the submission, the camera time beside the stated one.
    rows = {q.id: q for q in queue(a)}
    assert set(rows) == {(r.body or {})["origin"]["item"] for r in shared}
    q = rows[intake_id]
    assert q.submission == sub.id and q.state == "unreviewed" and q.time_flag  # 2008 camera vs 2026 stated

    # A curator's question reaches the witness's status page; tagging marks it as used once linked.
    ask(a, intake_id.hex(), "¿Desde qué esquina tomó la foto?")
    tag(a, intake_id.hex(), {"incident": "marcha-20n"})
    state, questions, _answers = C.status_of(a, call, sub)
    assert [(x.body or {})["text"] for x in questions] == ["¿Desde qué esquina tomó la foto?"]
    assert state in ("reviewing", "used")

    # The evidence plugin treats the accepted file as its own: the incident's package checks offline.
    out = tmp_path / "marcha.zip"
    got = ok_json(a.home, "intake", "incident", "export", "marcha-20n", "--out", str(out))
    assert got["items"] == [intake_id.hex()]
    checked = ok_json(a.home, "evidence", "check", str(out))
    assert checked["ok"] is True, checked


async def test_hostile_files_are_accepted_without_harm(make_node: Callable[..., Node]) -> None:
    """A file claiming to be a JPEG that is not one, and a text-only submission: accepted, said plainly."""
    a, b = make_node("Casa", 1), make_node("Colectivo", 2)
    call = _call(a, b)
    broken = b"\xff\xd8\xff\xe1\x00\x10Exif\x00\x00" + b"\x00" * 50  # a JPEG start, then nothing sane
    async with Site(a) as site:
        status, _ = await _drop(site, call, [("roto.jpg", broken, "image/jpeg")])
        assert status == 200
        nothing = [("", b"", "application/octet-stream")]  # no file chosen
        status, _ = await _drop(site, call, nothing, account="Solo un relato: " + MARKER.decode())
        assert status == 200
    subs = sorted(C.submissions(a, call), key=lambda r: bool((r.body or {})["files"]))
    text_only, with_file = subs
    (copy,) = accept(a, with_file.id.hex())
    assert (copy.body or {})["not_stripped"]  # could not be stripped: it says so
    (account,) = accept(a, text_only.id.hex())
    acc = account.body or {}
    assert acc["name"] == "account.txt" and acc["working"]["mime"] == "text/plain"
    assert MARKER.decode() in _plain(a, account.payload.blobs[0].hash).decode()  # type: ignore[union-attr]
    assert _home_contains(a.home, MARKER) == []
    for bad in ("zz", "0123456789abcdef0123"):
        try:
            accept(a, bad)
            raise AssertionError(bad)
        except CurationError:
            pass
    r = run(a.home, "intake", "accept", "nothex!!")
    assert r.code != 0 and "Traceback" not in r.err and "hex" in r.err


async def test_reject_and_merge_hide_but_keep(make_node: Callable[..., Node]) -> None:
    a, b = make_node("Casa", 1), make_node("Colectivo", 2)
    call = _call(a, b)
    photo = PHOTOS[0].read_bytes()
    async with Site(a) as site:
        for _ in range(3):
            assert (await _drop(site, call, [("foto.jpg", photo, "image/jpeg")]))[0] == 200
    s1, s2, s3 = C.submissions(a, call)
    r = run(a.home, "intake", "reject", s3.id.hex())
    assert r.code == 0, r.err
    assert {w["id"] for w in pending(a)} == {s1.id.hex(), s2.id.hex()}
    assert s3.id.hex() in {w["id"] for w in pending(a, show_all=True)}
    (c1,) = accept(a, s1.id.hex())
    (c2,) = accept(a, s2.id.hex())
    i1, i2 = ((c.body or {})["origin"]["item"] for c in (c1, c2))
    shown = {q.id: q for q in queue(a)}
    assert shown[i1].group == shown[i2].group  # the same photo twice: near-duplicates grouped
    got = ok_json(a.home, "intake", "tag", i2.hex(), "--duplicate-of", i1.hex())
    assert got["tags"]["duplicate_of"] == i1.hex()
    assert set(q.id for q in queue(a)) == {i1}
    assert i2 in {q.id for q in queue(a, show_all=True)}
    bad = run(a.home, "intake", "tag", i2.hex(), "--duplicate-of", "abc")
    assert bad.code != 0 and "64 hex" in bad.err
