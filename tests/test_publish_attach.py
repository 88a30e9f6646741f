"""``tequio publish --attach``: what is stored and sent to peers is the stripped copy, never the GPS.

Through the real paths: the CLI in a subprocess on a real home, then a real peer over HTTP on
127.0.0.1 fetching the attachment, checked with exiftool and Pillow.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from tequio.federation.http import make_fed_app
from tequio.node import Node
from tequio.node.federation import Federation
from tequio.node.media import read_location
from tests.conftest import CliResult

PHOTO = (
    Path(__file__).resolve().parents[1].parent / "shared" / "data" / "evidence" / "exif-gps" / "DSCN0010.jpg"
)
MP4 = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + bytes(4000)


def exif_gps(path: Path) -> dict[str, Any]:
    assert shutil.which("exiftool"), "exiftool is needed (apt-get install libimage-exiftool-perl)"
    r = subprocess.run(["exiftool", "-j", "-G1", "-a", str(path)], capture_output=True, text=True, check=True)
    return {k: v for k, v in json.loads(r.stdout)[0].items() if k.startswith("GPS:")}


def one_line_error(r: CliResult) -> str:
    assert r.code == 1 and "Traceback" not in r.err, r.err
    assert len(r.err.strip().splitlines()) == 1, r.err
    return r.err


def test_an_attached_photo_loses_its_gps_and_a_peer_gets_the_stripped_copy(
    cli: Callable[..., CliResult], tmp_path: Path
) -> None:
    assert exif_gps(PHOTO), "the shared photo carries GPS"
    assert cli("init", "--name", "Casa").code == 0
    body = '{"text": "foto de la marcha"}'
    r = cli("publish", "core.note", "--body", body, "--attach", str(PHOTO), "--json")
    assert r.code == 0, r.err
    out = json.loads(r.out)
    (att,) = out["attachments"]
    assert att["stripped"] and {"exif", "gps"} <= set(att["removed"]) and att["mime"] == "image/jpeg"
    assert att["hash"] != hashlib.sha256(PHOTO.read_bytes()).hexdigest()
    got = tmp_path / "got.jpg"
    assert cli("blob", "get", att["hash"], "--out", str(got)).code == 0
    assert read_location(got) is None and exif_gps(got) == {}
    assert hashlib.sha256(got.read_bytes()).hexdigest() == att["hash"] == _record_blob(cli, out["id"])
    text = cli("publish", "core.note", "--body", body, "--attach", str(PHOTO))
    assert text.code == 0 and "removed: exif, gps" in text.out
    # No stripped copy is left in the node's work folder.
    assert not [p for p in (cli.home / "blobs" / "partial").glob("*") if p.is_file()]  # type: ignore[attr-defined]


def _record_blob(cli: Callable[..., CliResult], rid: str) -> str:
    shown = json.loads(cli("records", "show", rid, "--json").out)
    (blob,) = shown["blobs"]
    return str(blob["hash"])


async def test_a_peer_over_http_receives_only_the_stripped_copy(
    cli: Callable[..., CliResult], make_node: Callable[..., Node], tmp_path: Path
) -> None:
    assert cli("init", "--name", "Casa").code == 0
    r = cli("publish", "core.note", "--body", '{"text": "para la red"}', "--attach", str(PHOTO), "--json")
    assert r.code == 0, r.err
    want = json.loads(r.out)["attachments"][0]["hash"]
    a = Node.open(cli.home)  # type: ignore[attr-defined]
    b = make_node(name="Colectivo", clock=lambda: time.time_ns() // 1_000_000)
    fa = Federation(a)
    fb = Federation(b)
    runner = web.AppRunner(make_fed_app(fa.service, fa.keyring, a.clock, fa.limits))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        fa.peers.trust(b.key, b.name, [])
        fb.peers.trust(a.key, a.name, [f"{host}:{port}"])
        await fb.syncer.sync(a.key)
        assert await fb.blobs.run_once() == 1
        (note,) = b.records(kind="core.note")
        assert note.payload is not None and note.payload.blobs[0].hash.hex() == want
        received = tmp_path / "received.jpg"
        received.write_bytes(b"".join(b.open_blob(note.payload.blobs[0].hash)))
        assert read_location(received) is None and exif_gps(received) == {}
        assert b"NIKON" not in received.read_bytes()
    finally:
        await fa.aclose()
        await fb.aclose()
        await runner.cleanup()
        a.close()


def test_a_format_that_cannot_be_stripped_is_refused_unless_asked(
    cli: Callable[..., CliResult], tmp_path: Path
) -> None:
    video = tmp_path / "grabacion.mp4"
    video.write_bytes(MP4)
    assert cli("init", "--name", "Casa").code == 0
    err = one_line_error(cli("publish", "core.note", "--body", '{"text": "v"}', "--attach", str(video)))
    assert (
        "video/mp4" in err
        and "NOT removed" in err
        and "--keep-metadata" in err
        and "nothing was published" in err
    )
    assert json.loads(cli("records", "list", "--json").out) == []
    assert not [p for p in (cli.home / "blobs").rglob("*") if p.is_file()]  # type: ignore[attr-defined]
    # A stripped photo beside it does not slip through either: all or nothing.
    r = cli("publish", "core.note", "--body", '{"text": "v"}', "--attach", str(PHOTO), "--attach", str(video))
    one_line_error(r)
    assert json.loads(cli("records", "list", "--json").out) == []
    ok = cli(
        "publish", "core.note", "--body", '{"text": "v"}', "--attach", str(video), "--keep-metadata", "--json"
    )
    assert ok.code == 0, ok.err
    (att,) = json.loads(ok.out)["attachments"]
    assert (
        att["stripped"] is False
        and att["hash"] == hashlib.sha256(MP4).hexdigest()
        and att["mime"] == "video/mp4"
    )


def test_keep_metadata_attaches_a_photo_as_it_is(cli: Callable[..., CliResult], tmp_path: Path) -> None:
    assert cli("init", "--name", "Casa").code == 0
    r = cli("publish", "core.note", "--body", '{"text": "x"}', "--attach", str(PHOTO), "--keep-metadata")
    assert r.code == 0, r.err
    assert "metadata was NOT removed (--keep-metadata)" in r.out
    assert hashlib.sha256(PHOTO.read_bytes()).hexdigest() in r.out


def test_bad_attachments_are_one_line(cli: Callable[..., CliResult], tmp_path: Path) -> None:
    assert cli("init", "--name", "Casa").code == 0
    empty = tmp_path / "vacia.jpg"
    empty.write_bytes(b"")
    cut = tmp_path / "cortada.jpg"
    cut.write_bytes(PHOTO.read_bytes()[:300])
    text = tmp_path / "notas.jpg"
    text.write_text("no es una foto")
    for path, words in ((empty, "cannot be stripped"), (cut, "truncated JPEG"), (text, "cannot be stripped")):
        err = one_line_error(cli("publish", "core.note", "--body", '{"text": "x"}', "--attach", str(path)))
        assert words in err and path.name in err, err
    assert json.loads(cli("records", "list", "--json").out) == []
