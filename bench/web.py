"""Page weights and the dashboard's first load over a slow, distant link, in Debian's headless Chromium.

    python bench/web.py [--rounds 5] [--screenshots DIR]

Two real nodes (store, federation, pages on 127.0.0.1) with a coalition, proposals and an evidence item,
so that every page has something to show. Prints one JSON object per figure:

- each page's weight: bytes on the wire (compressed, headers included) for the page and what it loads,
  user images aside; target at most 60 KB;
- the dashboard's first load (empty cache, logged in) over Chromium's emulated 256 kbit/s with 300 ms
  latency, best of the rounds, against the baseline of one empty request over the same emulated link in
  the same run (the link's own round trip); target under 3 s.

``--screenshots DIR`` also writes phone-size (360×640) PNGs of the main pages, in English and Spanish.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.browser.live import CHROMIUM, CHROMIUM_ARGS, PASSWORD, nodes, populate  # noqa: E402

LINK = {
    "offline": False,
    "latency": 300,
    "downloadThroughput": 256_000 // 8,
    "uploadThroughput": 256_000 // 8,
}
# Every resource of the page as the browser received it: (url, compressed body bytes, decoded bytes);
# cached or not, so that a page is weighed as a first visit would load it.
WEIGHTS = """() => [...performance.getEntriesByType('navigation'),
  ...performance.getEntriesByType('resource')]
  .map(e => [e.name, e.encodedBodySize, e.decodedBodySize])"""
SHOTS = (
    "login",
    "dashboard",
    "coalition",
    "proposal (open)",
    "proposal (IRV result)",
    "evidence item",
    "peers",
)


def emit(**fields: Any) -> None:
    print(json.dumps(fields, ensure_ascii=False), flush=True)


def login(page: Any, url: str) -> None:
    page.goto(url + "login")
    page.get_by_label("Name").fill("ana")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(url)


def throttled(ctx: Any, url: str, path: str) -> float:
    """Milliseconds until the load event of ``path`` with an empty cache over the emulated link."""
    page = ctx.new_page()
    cdp = ctx.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send("Network.clearBrowserCache")
    cdp.send("Network.emulateNetworkConditions", LINK)
    page.goto(url + path, wait_until="load")
    ms = float(page.evaluate("performance.getEntriesByType('navigation')[0].loadEventEnd"))
    page.close()
    return ms


def main() -> None:
    from playwright.sync_api import sync_playwright

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--screenshots", type=Path)
    args = ap.parse_args()
    base = Path(tempfile.mkdtemp(prefix="tequio-bench-web-"))
    with nodes(base, "Casa de la Memoria", "Colectivo Madres en Búsqueda") as (a, b), sync_playwright() as pw:
        pages = populate(a, b, base)
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        ctx = browser.new_context(viewport={"width": 360, "height": 640})
        page = ctx.new_page()
        login(page, a.url)
        for name, path in pages.items():
            page.goto(a.url + path, wait_until="load")
            own = [x for x in page.evaluate(WEIGHTS) if not x[0].endswith("/working")]  # user images aside
            emit(
                figure="page weight",
                page=name,
                bytes_compressed=sum(x[1] for x in own),
                bytes_uncompressed=sum(x[2] for x in own),
                requests=len(own),
                target_bytes=60 * 1024,
            )
        page.close()
        loads, baselines = [], []
        for _ in range(args.rounds):  # interleaved: the baseline and the page see the same machine
            baselines.append(throttled(ctx, a.url, "robots.txt"))
            loads.append(throttled(ctx, a.url, ""))
        emit(
            figure="dashboard first load, 256 kbit/s + 300 ms (Chromium emulation)",
            ms=round(min(loads)),
            baseline_ms=round(min(baselines)),
            ratio=round(min(loads) / min(baselines), 2),
            rounds=args.rounds,
            target_ms=3000,
        )
        if args.screenshots:
            args.screenshots.mkdir(parents=True, exist_ok=True)
            for lang in ("en", "es"):
                shot = ctx.new_page()
                for name in SHOTS:
                    shot.goto(f"{a.url}{pages[name]}?lang={lang}", wait_until="load")
                    out = (
                        args.screenshots
                        / f"{name.split(' ')[0]}{'-result' if 'IRV' in name else ''}-{lang}.png"
                    )
                    shot.screenshot(path=str(out), full_page=False)
                shot.close()
            emit(figure="screenshots", folder=str(args.screenshots), files=len(SHOTS) * 2)
        browser.close()


if __name__ == "__main__":
    main()
