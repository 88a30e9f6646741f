"""The handbook and bots pages in Chromium at 360×640: a Spanish reader with JavaScript off reads a
page and ticks its checklist as plain checkboxes; with JavaScript on the ticks survive a reload from
localStorage and nothing is sent to the node; a member reads a bots report; every page is light,
fits the phone and is axe-core clean."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tequio.node import Node
from tequio.plugins.bots.synthetic import make_benchmark, write_rows
from tequio.plugins.handbook.publish import import_dir
from tests.test_handbook_kit import new_book, umbrella_tree

from .conftest import login
from .live import LiveNode, nodes
from .test_browser_constraints import AXE, MAX_PAGE_BYTES, WEIGHTS


def _book(a: LiveNode, tree: Path) -> tuple[str, str]:
    def make(n: Node) -> tuple[str, str]:
        book = new_book(n, ["en", "es"], source="en")
        import_dir(n, book, tree)
        page = next(
            p for k, p in n.db.execute("SELECT DISTINCT key, page FROM hb_revisions WHERE book = ?", [book])
            if "checklist" in k
        )  # fmt: skip
        return book.hex(), page.hex()

    return a.call(make)


def _light_and_clean(page: Any, live: LiveNode, axe_js: str) -> None:
    loaded = page.evaluate(WEIGHTS)
    assert all(u.startswith(live.url) for u, _b in loaded), loaded
    assert sum(b for _u, b in loaded) <= MAX_PAGE_BYTES
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    page.add_script_tag(content=axe_js)
    assert page.evaluate(AXE) == []


def test_a_spanish_reader_ticks_a_checklist_with_js_off_and_on(
    browser: Any, tmp_path: Path, axe_js: str
) -> None:
    with nodes(tmp_path / "n", "Casa de la Memoria") as (a,):
        book, page_id = _book(a, umbrella_tree(tmp_path / "u"))
        url = f"{a.url}handbook/{book}/es/p/{page_id}"
        # JavaScript off: no login, the page in Spanish, its checklist plain checkboxes that tick.
        ctx = browser.new_context(viewport={"width": 360, "height": 640}, java_script_enabled=False,
                                  locale="es-ES", extra_http_headers={"Accept-Language": "es"})  # fmt: skip
        try:
            page = ctx.new_page()
            page.goto(url)
            assert page.locator("html").get_attribute("lang") == "es"
            assert page.get_by_text("No reutilices contraseñas").is_visible()
            assert page.get_by_text("Firma").first.is_visible()  # provenance
            box = page.get_by_role("checkbox").first
            box.check()
            assert box.is_checked()
            assert page.get_by_role("searchbox").is_visible()
        finally:
            ctx.close()
        # JavaScript on: the tick is kept in this browser (localStorage) and never sent to the node.
        ctx = browser.new_context(viewport={"width": 360, "height": 640}, bypass_csp=True,
                                  extra_http_headers={"Accept-Language": "es"})  # fmt: skip
        try:
            page = ctx.new_page()
            sent: list[str] = []
            page.on("request", lambda r: sent.append(r.method) if r.method != "GET" else None)
            page.goto(url, wait_until="load")
            page.get_by_role("checkbox").first.check()
            page.reload(wait_until="load")
            assert page.get_by_role("checkbox").first.is_checked()
            assert page.get_by_role("checkbox").nth(1).is_checked() is False
            assert sent == []
            assert page.evaluate("Object.keys(localStorage).some(k => k.startsWith('tequio-handbook:'))")
            _light_and_clean(page, a, axe_js)
            for extra in ("", "/history"):
                page.goto(url + extra, wait_until="load")
                _light_and_clean(page, a, axe_js)
            page.goto(f"{a.url}handbook/{book}/es", wait_until="load")
            _light_and_clean(page, a, axe_js)
            page.goto(f"{a.url}handbook/{book}/es/search?q=contrasenas", wait_until="load")
            assert page.locator("mark").count() >= 1
            _light_and_clean(page, a, axe_js)
        finally:
            ctx.close()


def test_a_member_reads_a_bots_report(browser: Any, tmp_path: Path, axe_js: str) -> None:
    bench = make_benchmark(3, n_users=300, n_posts=5000, days=2.0, group_size=12, events=10, control=100)
    path = tmp_path / "posts.csv"
    write_rows(bench.rows, path)
    with nodes(tmp_path / "n", "Casa de la Memoria") as (a,):
        ctx = browser.new_context(viewport={"width": 360, "height": 640}, bypass_csp=True)
        try:
            page = ctx.new_page()
            login(page, a)
            page.goto(a.url + "bots/")
            page.get_by_label("Exported posts").set_input_files(str(path))
            page.get_by_role("button", name="Analyse").click()
            page.wait_for_url("**/bots/a/*")
            assert "clusters found" in page.content()
            assert page.get_by_role("heading", name="Clusters").is_visible()
            img = page.get_by_role("img").first
            img.scroll_into_view_if_needed()  # the plots load lazily, as a phone scrolls to them
            page.wait_for_function(
                "() => { const i = document.querySelector('img'); return i.complete && i.naturalWidth > 0; }"
            )
            page.evaluate("document.querySelectorAll('img').forEach(i => i.remove())")  # user content aside
            loaded = [(u, b) for u, b in page.evaluate(WEIGHTS) if "/plot/" not in u]
            assert sum(b for _u, b in loaded) <= MAX_PAGE_BYTES
            assert page.evaluate("document.documentElement.scrollWidth") <= 360
            page.add_script_tag(content=axe_js)
            assert page.evaluate(AXE) == []
        finally:
            ctx.close()
