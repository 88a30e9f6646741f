"""``tequio demo --keep`` leaves four nodes running with their web pages, and a way to log in to each."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import aiohttp

from .webkit import token_in

PASSWORD = "una contraseña larga para la demo"
_LINK = re.compile(r"^\s+(.+): (http://127\.0\.0\.1:\d+/)\s+set-up: (http://127\.0\.0\.1:\d+/setup/\w+)$")


def _start(where: Path) -> tuple[subprocess.Popen[str], list[tuple[str, str, str]]]:
    tequio = str(Path(sys.executable).with_name("tequio"))
    proc = subprocess.Popen(
        [tequio, "demo", "--keep", "--dir", str(where)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "NO_COLOR": "1"},
    )
    links: list[tuple[str, str, str]] = []
    deadline = time.monotonic() + 120
    assert proc.stdout is not None
    while len(links) < 4 and time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        m = _LINK.match(line.rstrip("\n"))
        if m:
            links.append((m.group(1), m.group(2), m.group(3)))
    return proc, links


async def test_demo_keep_prints_each_nodes_pages_and_a_set_up_link_that_logs_in(tmp_path: Path) -> None:
    proc, links = _start(tmp_path / "demo")
    try:
        assert len(links) == 4, f"demo --keep printed {len(links)} web lines; stderr: {proc.stderr}"
        assert PASSWORD not in "".join(link for _n, _u, link in links)
        name, url, setup = links[1]
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as s:
            async with s.get(setup) as r:
                assert r.status == 200
                page = await r.text()
            form = {"password": PASSWORD, "again": PASSWORD, "csrf_token": token_in(page)}
            async with s.post(setup, data=form, headers={"Origin": url.rstrip("/")}) as r:
                assert r.status == 200, await r.text()
            # the link is one-time: a second use is refused
            async with s.get(setup) as r:
                assert r.status in (403, 404, 410)
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as s:
            async with s.get(url + "login") as r:
                page = await r.text()
            form = {"name": "demo", "password": PASSWORD, "next": "/", "csrf_token": token_in(page)}
            async with s.post(url + "login", data=form, headers={"Origin": url.rstrip("/")}) as r:
                assert r.status == 200
                home = await r.text()
            assert "demo (admin)" in home and name in home
            # the coalition the story formed is on this node's pages
            async with s.get(url + "groups") as r:
                assert r.status == 200 and "Coalición por la Verdad" in await r.text()
    finally:
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=60)
    assert "Traceback" not in err, err
