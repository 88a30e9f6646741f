"""A real ``tequio serve`` process, debug logs on: after a witness's submissions (plain form and tus),
neither the home (database, WAL, blobs, partial files) nor the process's log holds the witness's
user agent, forwarded address or codename, and no byte of an uploaded file in clear."""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import aiohttp

from tests.conftest import TEQUIO, CliResult
from tests.test_intake_tus import MARKER, UA, XFF, Witness, _everywhere, _resume


class _Served:
    """What ``Witness`` needs of a site: its base address and a browser-like client."""

    def __init__(self, base: str) -> None:
        self.base = base.rstrip("/")

    def new_client(self) -> aiohttp.ClientSession:
        return aiohttp.ClientSession(self.base, cookie_jar=aiohttp.CookieJar(unsafe=True))


class _Call:
    def __init__(self, cid: str) -> None:
        self.id = bytes.fromhex(cid)


async def test_serve_keeps_no_trace_of_the_witness(cli: Callable[..., CliResult], tmp_path: Path) -> None:
    started = time.time() - 5
    assert cli("init", "--name", "Casa de la Memoria").code == 0
    home: Path = cli.home  # type: ignore[attr-defined]
    gid = json.loads(cli("group", "create", "Coalición", "--json").out)["gid"]
    opened = cli(
        "intake",
        "open",
        "--group",
        gid,
        "--title",
        "Marcha",
        "--text-es",
        "Manden",
        "--text-en",
        "Send",
        "--json",
    )
    cid = json.loads(opened.out)["id"]
    assert cli("intake", "host", cid).code == 0
    log = tmp_path / "serve.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TEQUIO_")}
    env |= {"TEQUIO_HOME": str(home), "TEQUIO_LOG": "DEBUG"}
    with log.open("w") as err:
        proc = subprocess.Popen(
            [
                TEQUIO,
                "serve",
                "--api-port",
                "0",
                "--fed-host",
                "127.0.0.1",
                "--fed-port",
                "0",
                "--no-discovery",
                "--web-port",
                "0",
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
        )
        try:
            url = ""
            for _ in range(12):
                line = proc.stdout.readline()  # type: ignore[union-attr]
                if m := re.fullmatch(r"web  (https?://\S+/)\n", line):
                    url = m.group(1)
                    break
            assert url, log.read_text()
            w = Witness(_Served(url), _Call(cid))  # type: ignore[arg-type]
            await w.open()
            text = (b"Vi esto: " + MARKER + b"\n") * 5000
            up = await w.new_upload(len(text))
            await w.cut(up, 0, len(text), text[: len(text) // 2])
            _at, r = await _resume(w, up, text)
            assert r.status == 204
            status, html = await w.submit([up])
            assert status == 200, html[:300]
            code = re.search(r'id="codename">([^<]+)<', html)
            assert code
            status, _html = await w.submit([], pow_nonce="", account="sin script")  # the plain path
            assert status == 200
            await w.close()
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.communicate(timeout=60)
    assert proc.returncode == 0
    logged = log.read_bytes()
    for needle in (UA.encode(), XFF.encode(), code.group(1).encode(), MARKER):
        assert needle not in logged, needle
        assert _everywhere(home, needle, started) == [], needle
    # the witness came from 127.0.0.1: only the node's own configuration and its own federation
    # listener's address (table fed_state, from --fed-host 127.0.0.1) name that address
    files = {p.name for p in home.rglob("*") if p.is_file() and b"127.0.0.1" in p.read_bytes()}
    assert files <= {"tequio.toml", "tequio.sqlite", "tequio.sqlite-wal"}, files
    db = sqlite3.connect(f"file:{home / 'tequio.sqlite'}?mode=ro", uri=True)
    try:
        rows = []
        for (table,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'"):
            for row in db.execute(f'SELECT * FROM "{table}"'):
                for v in row:
                    if b"127.0.0.1" in (v if isinstance(v, bytes) else str(v).encode()):
                        rows.append((table, row))
                    if isinstance(v, bytes | str) and (UA in str(v) or XFF in str(v)):
                        rows.append((table, row))
    finally:
        db.close()
    assert [t for t, _r in rows] in ([], ["fed_state"]), rows
