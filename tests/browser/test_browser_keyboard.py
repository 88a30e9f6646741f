"""A keyboard-only walk over the handbook and bots pages in Chromium at 360×640: Tab reaches every control
in reading order, and wherever focus lands it is visible (a focus outline, on screen); the controls work
from the keyboard (a checklist ticked with Space, a search sent with Enter)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tequio.plugins.bots.synthetic import make_benchmark, write_rows
from tests.test_handbook_kit import umbrella_tree

from .conftest import login
from .live import LiveNode, nodes
from .test_browser_handbook import _book

SELECTOR = (
    "a[href], button:not([disabled]), input:not([type=hidden]):not([disabled]), select, textarea, "
    'summary, [tabindex="0"]'
)
# Marks each rendered tab stop in document order. A radio group is one stop (arrows move inside it),
# placed where Tab enters it: at its checked radio, or at its first when none is checked.
MARK = """(sel) => { const order = []; let i = 0;
  const stop = (el) => { const g = [...document.querySelectorAll('input[type=radio]')]
    .filter(r => r.name === el.name && r.form === el.form);
    return (g.find(r => r.checked) || g[0]) === el; };
  for (const el of document.querySelectorAll(sel)) {
    if (!el.getClientRects().length || getComputedStyle(el).visibility === 'hidden') continue;
    const kb = el.type === 'radio' ? 'radio:' + el.name : String(i++);
    el.dataset.kb = kb; if (el.type !== 'radio' || stop(el)) order.push(kb); }
  return order; }"""
# What has focus, and whether a sighted keyboard user can see it: an outline of 2px or more (or a
# focus shadow) in a colour other than transparent, on an element inside the viewport.
FOCUSED = """() => { const el = document.activeElement;
  if (!el || el === document.body || !el.dataset.kb) return null;
  const cs = getComputedStyle(el), r = el.getBoundingClientRect();
  const ring = (cs.outlineStyle !== 'none' && parseFloat(cs.outlineWidth) >= 2
                && cs.outlineColor !== 'rgba(0, 0, 0, 0)') || cs.boxShadow !== 'none';
  const seen = r.width > 0 && r.height > 0 && r.bottom > 0 && r.right > 0
               && r.top < innerHeight && r.left < innerWidth;
  return {kb: el.dataset.kb, what: el.tagName + ' ' + (el.getAttribute('aria-label') || el.name
          || el.textContent || '').trim().slice(0, 40), ring, seen}; }"""


def tab_walk(page: Any, name: str) -> int:
    """Tab from the top of the page through every stop; returns how many there were."""
    order = page.evaluate(MARK, SELECTOR)
    assert order, f"{name}: no controls at all"
    page.evaluate("document.activeElement && document.activeElement.blur(); window.scrollTo(0, 0)")
    visited: list[str] = []
    for _ in range(len(order) + 3):
        page.keyboard.press("Tab")
        got = page.evaluate(FOCUSED)
        if got is None:
            continue
        assert got["ring"], f"{name}: focus is not visible on {got['what']}"
        assert got["seen"], f"{name}: the focused {got['what']} is off screen"
        if got["kb"] not in visited:
            visited.append(got["kb"])
    assert visited == order, f"{name}: Tab reached {visited}, the page has {order} in reading order"
    return len(order)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveNode, dict[str, str]]]:
    base = tmp_path_factory.mktemp("kb")
    with nodes(base / "n", "Casa de la Memoria") as (a,):
        book, page_id = _book(a, umbrella_tree(base / "u"))
        bench = make_benchmark(3, n_users=300, n_posts=5000, days=2.0, group_size=12, events=10, control=100)
        write_rows(bench.rows, base / "posts.csv")
        yield a, {"book": book, "page": page_id, "posts": str(base / "posts.csv")}


def _pages(s: dict[str, str], aid: str | None) -> dict[str, str]:
    book, page = s["book"], s["page"]
    out = {
        "handbook": "handbook/",
        "book (es)": f"handbook/{book}/es",
        "book (en)": f"handbook/{book}/en",
        "page with a checklist": f"handbook/{book}/es/p/{page}",
        "page history": f"handbook/{book}/es/p/{page}/history",
        "search results": f"handbook/{book}/es/search?q=contrasenas",
        "bots": "bots/",
    }
    if aid is not None:
        out["bots analysis"] = f"bots/a/{aid}"
    return out


def test_tab_reaches_every_control_of_the_handbook_and_bots_pages_with_focus_visible(
    browser: Any, site: Any
) -> None:
    a, s = site
    ctx = browser.new_context(viewport={"width": 360, "height": 640})
    try:
        page = ctx.new_page()
        login(page, a)
        page.goto(a.url + "bots/")
        page.locator("input[type=file]").set_input_files(s["posts"])  # a file chooser is the OS's, not ours
        page.locator("form[action*='/bots/analyze'] button[type=submit]").click()
        page.wait_for_url("**/bots/a/*")
        aid = page.url.rstrip("/").rsplit("/", 1)[1]
        page.goto(a.url + "bots/?lang=es")  # Spanish from here on (remembered)
        counts = {}
        for name, path in _pages(s, aid).items():
            page.goto(a.url + path, wait_until="load")
            counts[name] = tab_walk(page, name)
        assert all(n >= 3 for n in counts.values()), counts  # the menu, the language switch, the page's own
    finally:
        ctx.close()


def test_a_visitor_ticks_a_checklist_and_searches_by_keyboard_alone(browser: Any, site: Any) -> None:
    a, s = site
    ctx = browser.new_context(
        viewport={"width": 360, "height": 640}, extra_http_headers={"Accept-Language": "es"}
    )
    try:
        page = ctx.new_page()
        page.goto(f"{a.url}handbook/{s['book']}/es/p/{s['page']}", wait_until="load")
        tab_walk(page, "page (visitor)")
        first_box = page.get_by_role("checkbox").first
        page.evaluate("document.activeElement && document.activeElement.blur(); window.scrollTo(0, 0)")
        for _ in range(200):  # Tab until the first checkbox has focus, then tick it with Space
            page.keyboard.press("Tab")
            if first_box.evaluate("el => el === document.activeElement"):
                break
        else:
            raise AssertionError("Tab never reached the checklist")
        page.keyboard.press("Space")
        assert first_box.is_checked()
        box = page.get_by_role("searchbox")
        page.evaluate("document.activeElement && document.activeElement.blur(); window.scrollTo(0, 0)")
        for _ in range(200):
            page.keyboard.press("Tab")
            if box.evaluate("el => el === document.activeElement"):
                break
        else:
            raise AssertionError("Tab never reached the search box")
        page.keyboard.type("contrasenas")
        page.keyboard.press("Enter")
        page.wait_for_url("**/search?**")
        assert page.locator("mark").count() >= 1
        tab_walk(page, "search results (visitor)")
    finally:
        ctx.close()


def test_the_walk_fails_where_focus_is_hidden(browser: Any, site: Any) -> None:
    """The check can fail: the same page with the focus outline taken away is refused."""
    a, s = site
    ctx = browser.new_context(viewport={"width": 360, "height": 640}, bypass_csp=True)  # to add a style
    try:
        page = ctx.new_page()
        page.goto(f"{a.url}handbook/{s['book']}/en", wait_until="load")
        page.add_style_tag(content="*:focus { outline: none !important; box-shadow: none !important }")
        with pytest.raises(AssertionError, match="focus is not visible"):
            tab_walk(page, "no outline")
    finally:
        ctx.close()
