"""One headless Chromium (Debian's, driven by Playwright) for the whole browser tier; a context per test.

The browser is package-scoped, not session-scoped: while Playwright's sync API is open, its event
loop counts as running in this thread, and the tests after this package start loops of their own.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .live import CHROMIUM, CHROMIUM_ARGS, PASSWORD, LiveNode

AXE_VERSION = "4.10.3"


@pytest.fixture(scope="package")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (.ci/run does)")
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def phone(browser: Any) -> Iterator[Any]:
    """A fresh browser profile at a cheap phone's viewport (360×640)."""
    ctx = browser.new_context(viewport={"width": 360, "height": 640}, locale="en-US")
    ctx.set_default_timeout(30_000)
    try:
        yield ctx
    finally:
        ctx.close()


def login(page: Any, live: LiveNode, name: str = "ana") -> None:
    page.goto(live.url + "login")
    page.get_by_label("Name").fill(name)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(live.url)


@pytest.fixture(scope="session")
def axe_js() -> str:
    """axe-core from the npm registry, fetched once into a cache directory (never committed)."""
    cache = (
        Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
        / "tequio-tests"
        / f"axe-{AXE_VERSION}"
    )
    js = cache / "node_modules" / "axe-core" / "axe.min.js"
    if not js.exists():
        cache.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["npm", "install", "--no-audit", "--no-fund", "--prefix", str(cache), f"axe-core@{AXE_VERSION}"],
            check=True,
            capture_output=True,
            timeout=300,
        )
    return js.read_text(encoding="utf-8")
