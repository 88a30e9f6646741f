"""The public drop in a real browser: a witness with no account sends two photos and an account through
resumable uploads (the page's script, progress bar, proof-of-work), gets a codename, comes back with
it and adds a file; a browser without JavaScript sends through the plain form. The coalition's other
node holds every submission; no byte of the marker file is ever in clear on either node's disk."""

from __future__ import annotations

import os
import re
import tempfile
import time
from pathlib import Path
from typing import Any

from tequio.node.groups import create_group
from tequio.plugins.intake import calls as C
from tequio.plugins.intake.web_drop import POW

from .live import LiveNode, make_photo, nodes

MARKER = b"MARCADOR-NAVEGADOR-5c0ffee"


def _has(root: Path, needle: bytes, skip: Path | None = None, since: float = 0.0) -> list[str]:
    """Files under ``root`` written since ``since`` (not under ``skip``, the witness's own folder)
    that hold ``needle``."""
    out = []
    for folder, _dirs, names in os.walk(root):  # a folder that vanishes meanwhile is skipped
        if skip is not None and Path(folder).is_relative_to(skip):
            continue
        for name in names:
            p = Path(folder) / name
            try:
                if p.is_symlink() or not p.is_file() or p.stat().st_mtime < since:
                    continue
                if needle in p.read_bytes():
                    out.append(str(p))
            except OSError:
                continue
    return out


def _open_call(a: LiveNode, b: LiveNode) -> C.Call:
    a.connect(b)
    scope = a.call(lambda n: create_group(n, "Coalición Marcha", [(b.node.key, b.name, [])])[1])
    b.wait_for(lambda n: n.governance.state(scope))

    def do(n: Any) -> C.Call:
        rec = C.open_call(n, scope[2:], "Marcha del 2 de octubre", "Manden fotos y videos", "Send photos")
        return C.host(n, rec.id.hex())

    return a.call(do)


def test_witness_sends_by_tus_gets_codename_and_adds_files(browser: Any, tmp_path: Path) -> None:
    started = time.time() - 5
    with nodes(tmp_path / "n", "Casa de la Memoria", "Colectivo Madres") as (a, b):
        call = _open_call(a, b)
        cid = call.id.hex()
        mine = tmp_path / "witness"  # the witness's own files, on their phone
        mine.mkdir()
        photos = [mine / "IMG_0001.jpg", mine / "IMG_0002.jpg"]
        for p in photos:
            make_photo(p)
        big = mine / "relato.txt"
        big.write_bytes((b"Lo que vi: " + MARKER + b"\n") * 150_000)  # ~4 MB: several tus chunks
        ctx = browser.new_context(viewport={"width": 360, "height": 640}, locale="es-MX")
        ctx.set_default_timeout(60_000)
        try:
            page = ctx.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(f"{a.url}intake/c/{cid}?lang=es")
            assert "Tor Browser" in page.content()
            page.get_by_label("Lo que viste, con tus palabras").fill("Vi cómo se llevaban a tres estudiantes")
            page.get_by_label("Cuándo ocurrió").fill("2 de octubre, 18:30")
            page.get_by_label("Dónde pasó").fill("Zócalo")
            page.get_by_label("Solo abogados y el juzgado").check()
            page.get_by_label("Fotos, videos, audio o documentos").set_input_files([str(p) for p in photos])
            spent = len(POW._spent)
            page.get_by_role("button", name="Enviar").click()
            codename = page.locator("#codename").inner_text(timeout=120_000).strip()
            assert len(codename.split()) == 7, codename
            assert errors == []
            assert len(POW._spent) == spent + 3  # two tus uploads and the form, each with its own proof
            subs = a.call(lambda n: C.submissions(n, call))
            assert len(subs) == 1
            files = (subs[0].body or {})["files"]
            assert [f["name"] for f in files] == ["IMG_0001.jpg", "IMG_0002.jpg"]
            assert {f["mime"] for f in files} == {"image/jpeg"}
            blobs = subs[0].payload.blobs
            got = a.call(lambda n: b"".join(n.open_blob(blobs[0].hash)))
            assert got == photos[0].read_bytes()  # the sealed original, byte for byte

            # back with the codename: the status, then one more file through the same uploads
            page.goto(f"{a.url}intake/c/{cid}/status?lang=es")
            page.get_by_label("Tu nombre clave").fill(codename.upper())
            page.get_by_role("button", name="Ver el estado").click()
            assert page.locator("#state").inner_text() == "Recibido"
            page.get_by_label("Fotos, videos, audio o documentos").set_input_files(str(big))
            page.get_by_role("button", name="Enviar los archivos").click()
            page.locator("#added").wait_for(timeout=120_000)
            assert "3" in page.locator("#files-count").inner_text()
            assert errors == []
            assert (
                _has(a.home, MARKER) == [] and _has(Path(tempfile.gettempdir()), MARKER, mine, started) == []
            )
        finally:
            ctx.close()

        # the same page without JavaScript: a plain multipart form, no proof-of-work (the quota)
        plain = browser.new_context(java_script_enabled=False, locale="en-US")
        try:
            page = plain.new_page()
            page.goto(f"{a.url}intake/c/{cid}?lang=en")
            page.get_by_label("What you saw, in your own words").fill("From my window")
            page.get_by_label("Not outside the coalition").check()
            page.get_by_label("Photos, videos, audio or documents").set_input_files(str(photos[1]))
            spent = len(POW._spent)
            page.get_by_role("button", name="Send").click()
            english = page.locator("#codename").inner_text().strip()
            assert len(english.split()) == 7 and english != codename
            assert len(POW._spent) == spent  # no script, no proof: the call's hourly quota instead
        finally:
            plain.close()

        # the coalition's other node holds all three submission records after sync
        def three(n: Any) -> list[Any] | None:
            at_b = C.find_call(n, cid)
            got = C.submissions(n, at_b)
            return got if len(got) == 3 else None

        at_b = b.wait_for(three)
        follow = [s for s in at_b if (s.body or {}).get("follows")]
        assert len(follow) == 1 and (follow[0].body or {})["files"][0]["size"] == big.stat().st_size
        assert _has(b.home, MARKER) == []
        assert re.search(r"[0-9a-f]{64}", cid)
