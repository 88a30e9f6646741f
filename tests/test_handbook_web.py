"""The handbook's web pages on a real aiohttp server: a DFAK subset and an Umbrella tree imported for
real, read without login, searched, compared, downloaded; hostile ids, image names, page source and
forged revisions refused with words."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tequio.node import Node
from tequio.plugins.handbook.publish import import_dir
from tequio.plugins.handbook.recordkinds import KIND_REVISION, content_hash, page_id
from tests.test_handbook_kit import DFAK, new_book, umbrella_tree, write
from tests.webkit import Site

DFAK_PAGES = ["AccountHijacking.md", "Glossary.md", "Resources.md"]


def dfak_subset(root: Path) -> Path:
    """A few real DFAK pages in Spanish and English (the whole import is tested elsewhere)."""
    for lang in ("en", "es"):
        (root / "_pages" / lang).mkdir(parents=True)
        for name in DFAK_PAGES:
            src = DFAK / "_pages" / lang / name
            if src.is_file():
                shutil.copy(src, root / "_pages" / lang / name)
    shutil.copy(DFAK / "LICENSE.md", root / "LICENSE.md")
    return root


@pytest.fixture
async def site(
    make_node: Callable[..., Node], tmp_path: Path
) -> AsyncIterator[tuple[Site, Node, dict[str, Any]]]:
    node = make_node()
    dfak = new_book(node, ["en", "es"], source="en")
    import_dir(node, dfak, dfak_subset(tmp_path / "dfak"))
    umb = new_book(node, ["en", "es"], source="en")
    import_dir(node, umb, umbrella_tree(tmp_path / "u"))
    async with Site(node) as s:
        assert s.client is not None
        await s.client.close()  # a Spanish-speaking reader's browser
        s.client = aiohttp.ClientSession(
            s.base, cookie_jar=aiohttp.CookieJar(unsafe=True), headers={"Accept-Language": "es"}
        )
        yield s, node, {"dfak": dfak.hex(), "umb": umb.hex()}


def _pages(node: Node, book: str) -> dict[str, str]:
    rows = node.db.execute(
        "SELECT DISTINCT key, page FROM hb_revisions WHERE book = ?", [bytes.fromhex(book)]
    ).fetchall()
    return {k: p.hex() for k, p in rows}


async def test_a_reader_without_login_reads_the_book_in_spanish(site: Any) -> None:
    s, node, ids = site
    st, body = await s.get("/handbook/")
    assert st == 200 and "Manual" in body and 'href="/handbook/"' in body  # the public menu
    assert 'lang="es"' in body and "páginas" in body
    st, body = await s.get(f"/handbook/{ids['dfak']}/es")
    assert st == 200 and "Contenido" in body and 'action="/handbook/' in body
    assert "export.html" in body
    _key, page = next((k, p) for k, p in _pages(node, ids["dfak"]).items() if "ccount" in k)
    st, body = await s.get(f"/handbook/{ids['dfak']}/es/p/{page}")
    assert st == 200 and 'lang="es"' in body, body.split("<main")[-1][:600]
    assert "Firma" in body and "válida" in body and "Revisión" in body  # provenance
    assert 'hreflang="en"' in body  # the other language offered
    assert body.split('<main id="main">')[1].count("<script") == 1  # only the ticks' own script


async def test_checklists_and_forms_render_as_plain_controls(site: Any) -> None:
    s, node, ids = site
    pages = _pages(node, ids["umb"])
    check = next(p for k, p in pages.items() if "checklist" in k)
    st, body = await s.get(f"/handbook/{ids['umb']}/es/p/{check}")
    assert st == 200 and 'type="checkbox"' in body and "data-check" in body
    assert "No reutilices contraseñas" in body
    form = next(p for k, p in pages.items() if "incident" in k)
    st, body = await s.get(f"/handbook/{ids['umb']}/es/p/{form}")
    assert st == 200 and "Incidente de seguridad digital" in body and "<fieldset" in body


async def test_untranslated_and_stale_banners(site: Any, tmp_path: Path) -> None:
    s, node, ids = site
    pages = _pages(node, ids["umb"])
    only_en = next(p for k, p in pages.items() if "two-step" in k)
    st, body = await s.get(f"/handbook/{ids['umb']}/es/p/{only_en}")
    assert st == 200 and "aún no está traducida" in body and 'hreflang="en"' in body
    # The English source changes after the translation: the Spanish page says so.
    tree = tmp_path / "u"
    f = tree / "en/information/passwords/beginner/s_how-to-make-a-strong-password.md"
    f.write_text(f.read_text(encoding="utf-8") + "\nAlso: never share it.\n", encoding="utf-8")
    import_dir(node, bytes.fromhex(ids["umb"]), tree)
    strong = next(p for k, p in pages.items() if "strong-password" in k)
    st, body = await s.get(f"/handbook/{ids['umb']}/es/p/{strong}")
    assert st == 200 and "La versión en inglés cambió después de esta traducción" in body
    # History lists both English revisions; the diff shows the added line.
    st, body = await s.get(f"/handbook/{ids['umb']}/en/p/{strong}/history")
    assert st == 200
    revs = [
        r
        for r in node.db.execute(
            "SELECT id FROM hb_revisions WHERE page = ? AND lang = 'en' ORDER BY n", [bytes.fromhex(strong)]
        )
    ]
    assert len(revs) == 2 and revs[0][0].hex() in body
    st, body = await s.get(
        f"/handbook/{ids['umb']}/en/p/{strong}/diff?a={revs[0][0].hex()}&b={revs[1][0].hex()}"
    )
    assert st == 200 and "<ins>+Also: never share it.</ins>" in body


async def test_search_box_ranks_with_snippets_accent_insensitive(site: Any) -> None:
    s, _node, ids = site
    st, body = await s.get(f"/handbook/{ids['umb']}/es/search", params={"q": "contrasenas"})
    assert st == 200 and "<mark>" in body and "Cómo crear una contraseña segura" in body
    assert body.index("<mark>") > body.index('class="hb-results"')  # snippets with the matches marked
    st, body = await s.get(f"/handbook/{ids['umb']}/es/search", params={"q": "x" * 501})
    assert st == 200 and 'role="alert"' in body
    st, body = await s.get(f"/handbook/{ids['umb']}/es/search", params={"q": "<script>alert(1)</script>"})
    assert st == 200 and "<script>alert" not in body


async def test_images_come_from_blobs_and_only_the_books_own(site: Any) -> None:
    s, node, ids = site
    pages = _pages(node, ids["umb"])
    strong = next(p for k, p in pages.items() if "strong-password" in k)
    st, body = await s.get(f"/handbook/{ids['umb']}/en/p/{strong}")
    src = body.split(f'src="/handbook/{ids["umb"]}/img/')[1].split('"')[0]
    assert s.client is not None
    async with s.client.get(f"/handbook/{ids['umb']}/img/{src}") as r:
        assert r.status == 200 and r.content_type == "image/png"
        assert (await r.read()).startswith(b"\x89PNG")
    # The same image asked through another book, a traversal, or a blob no page shows: refused.
    for bad in (
        f"/handbook/{ids['dfak']}/img/{src}",
        f"/handbook/{ids['umb']}/img/..%2F..%2Fetc%2Fpasswd",
        f"/handbook/{ids['umb']}/img/../../tequio.toml",
        f"/handbook/{ids['umb']}/img/{'0' * 64}",
    ):
        st, body = await s.get(bad)
        assert st == 404, bad
    st, body = await s.get(f"/handbook/{ids['umb']}/img/{'0' * 64}")
    assert "no such image" in body or "ninguna imagen" in body


async def test_unknown_ids_are_404_with_words(site: Any) -> None:
    s, _node, ids = site
    for path in (
        "/handbook/nothex",
        f"/handbook/{'ab' * 32}/es",
        f"/handbook/{ids['umb']}/es/p/{'cd' * 32}",
        f"/handbook/{ids['umb']}/es/p/zz",
        f"/handbook/{ids['umb']}/es/p/{'cd' * 32}/history",
        f"/handbook/{ids['umb']}/es/export.exe",
    ):
        st, body = await s.get(path, headers={"Accept-Language": "en"})
        assert st == 404 and "no such" in body, path
    assert (await s.get("/"))[0] in (200, 303)  # still answering


async def test_xss_in_page_source_is_sanitised(make_node: Callable[..., Node], tmp_path: Path) -> None:
    node = make_node()
    book = new_book(node, ["en"], source="en")
    tree = write(tmp_path / "x", {
        "LICENSE.md": "CC BY 4.0\n",
        "evil.md": "---\ntitle: Evil <script>alert(1)</script>\n---\n# Hi\n\n<script>alert(2)</script>"
        '<img src=x onerror="alert(3)"><a href="javascript:alert(4)">x</a>\n{% include evil %}\n',
    })  # fmt: skip
    import_dir(node, book, tree, fmt="suffix")
    page = node.db.execute("SELECT page FROM hb_revisions WHERE book = ?", [book]).fetchone()[0]
    async with Site(node) as s:
        st, body = await s.get(f"/handbook/{book.hex()}/en/p/{page.hex()}")
    assert st == 200
    main = body.split('<main id="main">')[1]
    assert "<script>alert" not in main and "onerror" not in main and "javascript:" not in main


async def test_a_forged_revision_is_never_served(site: Any, make_node: Callable[..., Node]) -> None:
    s, node, ids = site
    book = bytes.fromhex(ids["umb"])
    stranger = make_node(name="Evil", seed=9)  # not an editor of the book
    text = "Send your passwords to evil@example.org\n"
    page = page_id(book, "Intro")
    body = {
        "book": book, "page": page, "key": "Intro", "lang": "en", "title": "Forged",
        "text": text, "hash": content_hash(text), "authority": book,
    }  # fmt: skip
    rec = stranger.publish(KIND_REVISION, body)
    node.ingest(list(stranger.export()))
    st_row = node.db.execute("SELECT status FROM hb_status WHERE id = ?", [rec.id]).fetchone()
    assert st_row is not None and st_row[0] == "untrusted"
    for path in (
        f"/handbook/{ids['umb']}/en/p/{page.hex()}?rev={rec.id.hex()}",
        f"/handbook/{ids['umb']}/en/p/{page.hex()}",
    ):
        st, html = await s.get(path)
        assert st in (403, 404) and "evil@example.org" not in html, path
    st, html = await s.get(f"/handbook/{ids['umb']}/en/search", params={"q": "passwords evil"})
    assert "evil@example.org" not in html
    # The history names it as untrusted, without its text, and refuses to diff it.
    st, html = await s.get(f"/handbook/{ids['umb']}/en/p/{page.hex()}/history")
    assert st == 200 and rec.id.hex()[:16] in html and "no válida" in html and "evil@" not in html
    st, html = await s.get(f"/handbook/{ids['umb']}/en/p/{page.hex()}/diff?a={rec.id.hex()}&b={rec.id.hex()}")
    assert st == 403 and "evil@" not in html


async def test_export_downloads(site: Any) -> None:
    s, _node, ids = site
    assert s.client is not None
    async with s.client.get(f"/handbook/{ids['umb']}/es/export.html") as r:
        assert r.status == 200 and r.content_type == "application/zip"
        data = await r.read()
    import io
    import zipfile

    names = zipfile.ZipFile(io.BytesIO(data)).namelist()
    assert "book-es/index.html" in names and "book-es/search.html" in names
    from tequio.plugins.handbook.web import pdf_available

    async with s.client.get(f"/handbook/{ids['umb']}/es/export.pdf", headers={"Accept-Language": "en"}) as r:
        data = await r.read()
    if pdf_available():
        assert r.status == 200 and data.startswith(b"%PDF")
    else:
        assert r.status == 404 and b"tequio[pdf]" in data


def test_cli_history_and_diff_of_a_page(tmp_path: Path) -> None:
    """``tequio handbook diff PAGE REV1 REV2 --lang L --json`` next to ``history --json``, in a subprocess."""
    import json

    from tests.test_handbook_cli import _tequio

    home = tmp_path / "home"

    def j(*args: str) -> Any:
        r = _tequio(home, *args)
        assert r.code == 0, r.err
        return json.loads(r.out)

    assert _tequio(home, "init", "--name", "Casa").code == 0
    key = j("info", "--json")["key"]
    book = j("handbook", "create", "Manual", "--languages", "en", "--editor", key, "--json")["book"]
    tree = write(
        tmp_path / "s", {"LICENSE.md": "CC BY 4.0\n", "phones.md": "---\ntitle: Phones\n---\nLock it.\n"}
    )
    j("handbook", "import", str(tree), "--book", book, "--format", "suffix", "--json")
    (tree / "phones.md").write_text("---\ntitle: Phones\n---\nLock it.\nEncrypt it.\n", encoding="utf-8")
    j("handbook", "import", str(tree), "--book", book, "--format", "suffix", "--json")
    revs = j("handbook", "history", "phones", "--json")
    assert [r["lang"] for r in revs] == ["en", "en"] and all(r["trusted"] for r in revs)
    got = j("handbook", "diff", "phones", "1", "2", "--lang", "en", "--json")
    assert got["old"] == revs[0]["revision"] and got["new"] == revs[1]["revision"]
    assert "+Encrypt it." in got["diff"] and set(got["status"].values()) <= {"current", "superseded"}
    same = j("handbook", "diff", "phones", revs[0]["revision"][:12], revs[1]["revision"][:12], "--json")
    assert same["diff"] == got["diff"]
    bad = _tequio(home, "handbook", "diff", "phones", "9", "1", "--lang", "en")
    assert bad.code != 0 and "not one revision" in bad.err and "Traceback" not in bad.err
