"""Exports: a PDF whose pages, rendered to PNG by pdftoppm, carry the revision code and a QR code that
decodes to it; check-print saying current, superseded (which pages) and unknown; a static HTML
folder whose search works offline in a real headless Chromium from file://; a ZIM file libzim
checks, indexes and searches."""

from __future__ import annotations

import html.parser
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tequio.node import Node, TequioError
from tequio.plugins.handbook.editions import check_code, export_book, normalise_code
from tequio.plugins.handbook.publish import import_dir
from tequio.plugins.handbook.recordkinds import page_id
from tests.test_handbook_kit import new_book, umbrella_tree

CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip


@pytest.fixture
def book(make_node: Callable[..., Node], tmp_path: Path) -> tuple[Node, bytes, Path]:
    node = make_node()
    bid = new_book(node, ["en", "es"], source="en")
    tree = umbrella_tree(tmp_path / "u")
    import_dir(node, bid, tree)
    return node, bid, tree


def _pages_png(pdf: Path, out: Path) -> list[Path]:
    out.mkdir()
    subprocess.run(["pdftoppm", "-r", "110", "-png", str(pdf), str(out / "p")], check=True, timeout=300)
    return sorted(out.glob("p-*.png"))


def test_pdf_every_page_shows_the_code_and_a_qr_of_it(book: tuple[Node, bytes, Path], tmp_path: Path) -> None:
    import zxingcpp
    from PIL import Image

    node, bid, _ = book
    pdf = tmp_path / "manual.pdf"
    out = export_book(node, bid, "es", "pdf", pdf)
    code = out["code"]
    assert pdf.read_bytes().startswith(b"%PDF") and out["published"]
    pngs = _pages_png(pdf, tmp_path / "png")
    assert len(pngs) >= 2 + out["pages"]  # cover, contents, then at least a page each
    for png in pngs:
        found = {r.text for r in zxingcpp.read_barcodes(Image.open(png))}
        assert code in found, f"{png.name}: QR codes read {found}"
    text = subprocess.run(
        ["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    pages = text.split("\f")[1:-1]  # after the cover, every page prints the code in its footer
    assert all(code in p for p in pages)
    # Contents with page numbers, checklists as tick boxes, the Spanish title and the image's page.
    assert "Contenido" in text and "☐" in text and "Cómo crear una contraseña segura" in text
    assert "No reutilices contraseñas" in text
    first_pages = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
    assert "Pages:" in first_pages


def test_large_type_makes_more_pages(make_node: Callable[..., Node], tmp_path: Path) -> None:
    from tests.test_handbook_kit import write

    node = make_node()
    bid = new_book(node, ["en"])
    long = "---\ntitle: Long\n---\n" + "\n\n".join(
        "Keep backups offline and encrypted. " * 12 for _ in range(40)
    )
    import_dir(node, bid, write(tmp_path / "t", {"long.md": long}), "suffix")
    export_book(node, bid, "en", "pdf", tmp_path / "a.pdf", publish=False)
    export_book(node, bid, "en", "pdf", tmp_path / "b.pdf", large_type=True, publish=False)

    def pages(p: Path) -> int:
        info = subprocess.run(["pdfinfo", str(p)], capture_output=True, text=True, check=True).stdout
        return int(next(line.split()[1] for line in info.splitlines() if line.startswith("Pages:")))

    assert pages(tmp_path / "b.pdf") > pages(tmp_path / "a.pdf")


def test_check_print_current_then_superseded_after_an_edit(
    book: tuple[Node, bytes, Path], tmp_path: Path
) -> None:
    node, bid, tree = book
    code = export_book(node, bid, "es", "pdf", tmp_path / "m.pdf")["code"]
    assert check_code(node, code)["status"] == "current"
    assert check_code(node, code.lower().replace("-", " "))["status"] == "current"  # as typed by a person
    seg = tree / "es/information/passwords/beginner/s_how-to-make-a-strong-password.md"
    seg.write_text(seg.read_text() + "\nUsa frases largas.\n")
    assert import_dir(node, bid, tree)["published"] == 1
    res = check_code(node, code)
    assert res["status"] == "superseded"
    key = "information/passwords/beginner/s_how-to-make-a-strong-password"
    assert [(c["page"], c["change"]) for c in res["changed"]] == [(page_id(bid, key).hex(), "revised")]
    assert check_code(node, "TQH-AAAA-BBBB-CCCC")["status"] == "unknown"
    with pytest.raises(TequioError, match="not a revision code"):
        normalise_code("hello")


def test_check_print_on_another_node_through_the_edition_record(
    book: tuple[Node, bytes, Path], make_node: Callable[..., Node], tmp_path: Path
) -> None:
    from tequio.plugins.handbook.publish import follow

    node, bid, tree = book
    code = export_book(node, bid, "es", "html", tmp_path / "h")["code"]
    seg = tree / "en/tools/encryption/s_keepassxc.md"
    seg.write_text(seg.read_text() + "\nNew.\n")
    import_dir(node, bid, tree)
    other = make_node(name="Otra", seed=7)
    assert check_code(other, code)["status"] == "unknown"
    other.ingest(node.export())
    follow(other, bid)
    res = check_code(other, code)
    assert res["status"] == "superseded" and res["changed"][0]["change"] == "revised"


class _Links(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for k, v in attrs:
            if k in ("href", "src", "action") and v:
                self.urls.append(v)


def test_html_export_opens_from_a_usb_stick_with_offline_search(
    book: tuple[Node, bytes, Path], tmp_path: Path
) -> None:
    node, bid, _ = book
    usb = tmp_path / "usb" / "manual"
    out = export_book(node, bid, "es", "html", usb)
    files = [p for p in usb.rglob("*") if p.is_file()]
    assert (
        (usb / "index.html").is_file()
        and (usb / "search.html").is_file()
        and any(p.suffix == ".png" for p in files)
    )
    # Every link is relative and reaches a file of the folder; nothing is loaded from anywhere else.
    for page in [p for p in files if p.suffix == ".html"]:
        parser = _Links()
        parser.feed(page.read_text("utf-8"))
        for url in parser.urls:
            parts = urlsplit(url)
            if parts.scheme in ("http", "https", "mailto"):
                assert not url.endswith((".png", ".js", ".css")), url
                continue
            assert not parts.scheme and not url.startswith("/"), f"{page.name}: {url}"
            target = (page.parent / parts.path).resolve() if parts.path else page
            assert target.is_file() and usb.resolve() in target.parents, f"{page.name}: {url}"
    # Moving the folder (another mount point) changes nothing.
    moved = tmp_path / "elsewhere"
    shutil.move(str(usb), moved)
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    assert chromium, "headless Chromium is needed for this test (.ci/run installs it)"
    dom = subprocess.run(
        [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom",
         f"file://{moved}/search.html?q=contrasenas"],
        capture_output=True, text=True, timeout=120,
    ).stdout  # fmt: skip
    assert 'class="hit"' in dom and "Cómo crear una contraseña segura" in dom and "contraseñas" in dom
    none = subprocess.run(
        [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile2'}", "--dump-dom",
         f"file://{moved}/search.html?q=zzzzqqq"],
        capture_output=True, text=True, timeout=120,
    ).stdout  # fmt: skip
    assert "Nada encontrado." in none and 'class="hit"' not in none
    assert out["pages"] > 0
    # A second export into the same folder replaces it; a folder with other files is refused.
    export_book(node, bid, "es", "html", moved, publish=False)
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "thesis.docx").write_text("mine")
    with pytest.raises(TequioError, match="not empty"):
        export_book(node, bid, "es", "html", tmp_path / "mine", publish=False)
    assert (tmp_path / "mine" / "thesis.docx").read_text() == "mine"


def test_zim_export_is_a_valid_indexed_zim(book: tuple[Node, bytes, Path], tmp_path: Path) -> None:
    from libzim.reader import Archive
    from libzim.search import Query, Searcher

    node, bid, _ = book
    zim = tmp_path / "manual.zim"
    out = export_book(node, bid, "es", "zim", zim, publish=False)
    archive = Archive(str(zim))
    assert archive.check()  # libzim's own integrity check (what Kiwix relies on)
    assert archive.has_main_entry and archive.has_fulltext_index and archive.has_title_index
    assert archive.get_metadata("Language") == b"spa" and archive.has_illustration(48)
    assert out["code"].encode() in archive.get_metadata("Flavour")
    hits = list(Searcher(archive).search(Query().set_query("contraseñas")).getResults(0, 10))
    assert sum(1 for h in hits if h.startswith("pages/")) >= 3
    main = bytes(archive.main_entry.get_item().content).decode()
    assert "Contenido" in main and "Cómo crear una contraseña segura" in main
    assert any(archive.get_entry_by_path(h).get_item().mimetype == "image/png" for h in _paths(archive))


def _paths(archive: object) -> list[str]:
    out = []
    for i in range(archive.all_entry_count):  # type: ignore[attr-defined]
        out.append(archive._get_entry_by_id(i).path)  # type: ignore[attr-defined]
    return out
