"""Evidence through the pages: a photo taken in by upload loses its GPS in the working copy, two partner
organisations review it to "verified" on their own nodes' pages, and the court package downloaded from
the pages passes ``tequio evidence check``."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from tequio.node.groups import create_group
from tequio.node.media import read_location
from tests.conftest import TEQUIO

from .conftest import login
from .live import LiveNode, make_photo, nodes


def _coalition(a: LiveNode, b: LiveNode, c: LiveNode) -> str:
    for x, y in ((a, b), (a, c), (b, c)):
        x.connect(y)
    members = [(b.node.key, b.name, []), (c.node.key, c.name, [])]
    scope = a.call(lambda n: create_group(n, "Red de Búsqueda", members)[1])
    for live in (b, c):
        live.wait_for(lambda n: n.governance.state(scope))
    return scope


def _status(n: Any, sha: bytes) -> str:
    from tequio.plugins.evidence.api import verification

    got = verification(n, sha)
    return got[0].status if got else "unreviewed"


def test_upload_review_by_two_organisations_and_export(browser: Any, tmp_path: Path) -> None:
    with nodes(tmp_path / "n", "Casa de la Memoria", "Colectivo Madres", "Red de Defensoras") as (a, b, c):
        scope = _coalition(a, b, c)
        photo = tmp_path / "IMG_0001.jpg"
        make_photo(photo)
        assert read_location(photo) is not None
        ctx = {
            x.name: browser.new_context(viewport={"width": 360, "height": 640}, accept_downloads=True)
            for x in (a, b, c)
        }
        try:
            pa = ctx[a.name].new_page()
            login(pa, a)
            pa.goto(a.url + "evidence/add")
            pa.get_by_label("Title").fill("Detención en el Zócalo")
            pa.get_by_label("Where").fill("Centro")
            pa.get_by_label("Consent of the people shown").select_option("yes")
            pa.get_by_label("File (up to").set_input_files(str(photo))
            pa.get_by_role("button", name="Take it in").click()
            assert "the working copy has its metadata removed" in pa.content()
            sha = bytes.fromhex(pa.url.rsplit("/", 1)[1])

            # The working copy the page shows has no GPS; the sealed original keeps it, byte for byte.
            img = pa.get_by_role("img", name="Working copy of Detención en el Zócalo")
            # The image decrypts on a worker: wait for it to load (or fail) before reading its size.
            loaded = img.evaluate(
                "i => i.complete ? i.naturalWidth : new Promise(r => {"
                " i.onload = () => r(i.naturalWidth); i.onerror = () => r(-1); })"
            )
            assert img.is_visible() and loaded == 640
            working = pa.request.get(a.url + f"evidence/{sha.hex()}/working")
            assert working.ok and working.headers["content-type"] == "image/jpeg"
            (tmp_path / "working.jpg").write_bytes(working.body())
            assert read_location(tmp_path / "working.jpg") is None
            assert "gps" in pa.get_by_text("Removed from the working copy").inner_text()

            def original(n: Any) -> bytes:
                from tequio.plugins.evidence import api as ev

                return b"".join(n.open_blob(ev.role_refs(ev.resolve(n, sha.hex())[1])["original"].hash))

            assert a.call(original) == photo.read_bytes()

            pa.get_by_label("Coalition").select_option(label="Red de Búsqueda")
            pa.get_by_role("button", name="Share the working copy").click()
            assert "Shared: the coalition receives the working copy." in pa.content()

            # Two partner organisations review it, each on its own node's pages.
            expected = {b.name: "1 of 2 verified", c.name: "verified"}
            for live in (b, c):
                live.wait_for(lambda n: _has_working(n, sha))
                p = ctx[live.name].new_page()
                login(p, live)
                p.goto(f"{live.url}evidence/")
                p.get_by_role("link", name="Detención en el Zócalo").click()
                assert p.get_by_role("img", name="Working copy of Detención en el Zócalo").is_visible()
                p.get_by_label("Status").select_option("verified")
                p.get_by_label("source").check()
                p.get_by_label("Note").fill("Testigos confirman hora y lugar.")
                p.get_by_role("button", name="Sign the review").click()
                assert "Review signed." in p.content()
                a.wait_for(lambda n, want=expected[live.name]: _status(n, sha) == want)
                pa.reload()
                assert pa.locator(".status", has_text=expected[live.name]).first.is_visible()
            pa.goto(f"{a.url}evidence/{sha.hex()}?lang=es")
            assert pa.locator(".status", has_text="verificada").first.is_visible()
            pa.goto(f"{a.url}evidence/{sha.hex()}?lang=en")

            # The court package, downloaded from the page, checks offline.
            with pa.expect_download() as dl:
                pa.get_by_role("button", name="Export and download").click()
            pkg = tmp_path / dl.value.suggested_filename
            dl.value.save_as(pkg)
            checked = subprocess.run(
                [TEQUIO, "evidence", "check", str(pkg), "--json"], capture_output=True, text=True, timeout=120
            )
            assert checked.returncode == 0, checked.stderr
            assert json.loads(checked.stdout)["ok"] is True
            timeline = pa.reload() and pa.locator("ol.timeline").inner_text()
            assert "export" in timeline and "share" in timeline
            log = a.call(
                lambda n: [
                    (e.user, e.action)
                    for e in __import__("tequio.node.web.users", fromlist=["UserDB"])
                    .UserDB(n.home, n.clock)
                    .audit_log()
                ]
            )
            assert ("ana", "evidence export") in log and ("ana", "evidence add") in log
            assert scope
        finally:
            for x in ctx.values():
                x.close()


def _has_working(n: Any, sha: bytes) -> bool:
    from tequio.plugins.evidence import api as ev

    recs = [r for r in ev.indexed(n, sha, ["evidence.item"]) if r.scope.startswith("g:")]
    return bool(recs) and all(n.blobs.has(ref.hash) for ref in ev.role_refs(recs[-1]).values())
