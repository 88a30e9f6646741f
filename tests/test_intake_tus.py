"""Resumable uploads (tus 1.0.0) and the proof-of-work on the drop, over a real aiohttp server.

A witness's upload cut in the middle keeps what arrived and resumes from the offset the server
reports; no byte of it is ever in clear on disk; hostile requests get a clear refusal and the node
keeps answering.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import os
import re
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import aiohttp
import pytest
from yarl import URL

from tequio.node import Node, create_group
from tequio.plugins.intake import calls as C
from tequio.plugins.intake import web_drop as drop
from tequio.plugins.intake.pow import NoScriptQuota, PowGate, leading_zero_bits, solve
from tests.webkit import Site

MARKER = b"MARCADOR-TUS-d41e77"
UA = "Testigo-Tus/3.1 (AgenteUnico-9b7e)"
XFF = "198.51.100.213"
_DATA = re.compile(r'data-(csrf|pow|bits|tus)="([^"]*)"')


def _call(node: Node, peer: Node, **kw: object) -> C.Call:
    gid, _scope = create_group(node, "Coalición", [(peer.key, "Colectivo", [])])
    rec = C.open_call(
        node, str(gid.hex() if isinstance(gid, bytes) else gid), "Marcha", "Manden", "Send", **kw
    )
    return C.host(node, rec.id.hex())


def _everywhere(home: Path, needle: bytes, since: float = 0.0) -> list[str]:
    """Files under the home, and files written in the temporary folder since ``since``, holding ``needle``."""
    found = []
    for root, recent in ((home, 0.0), (Path(tempfile.gettempdir()), since)):
        for folder, _dirs, names in os.walk(root):  # a folder that vanishes meanwhile is skipped
            for name in names:
                p = Path(folder) / name
                try:
                    if p.is_symlink() or not p.is_file() or p.stat().st_mtime < recent:
                        continue
                    if needle in p.read_bytes():
                        found.append(str(p))
                except OSError:
                    continue  # another test's file went away while we looked
    return found


class Witness:
    """A browser-like client of one call's drop: its session, its page's challenge, tus requests."""

    def __init__(self, site: Site, call: C.Call) -> None:
        self.site, self.call = site, call
        self.client = site.new_client()
        self.base = f"/intake/c/{call.id.hex()}"
        self.csrf = self.pow = ""
        self.bits = 0
        self.next = 0
        self.headers = {"User-Agent": UA, "X-Forwarded-For": XFF, "X-Real-IP": XFF, "Forwarded": f"for={XFF}"}

    async def open(self, path: str = "?lang=es") -> str:
        async with self.client.get(self.base + path, headers=self.headers) as r:
            assert r.status == 200
            html = await r.text()
        data = dict(_DATA.findall(html))
        self.csrf, self.pow, self.bits = data["csrf"], data["pow"], int(data["bits"])
        assert data["tus"] == self.base + "/tus"
        return html

    def nonce(self) -> str:
        n = solve(self.pow, self.bits, self.next)
        self.next = int(n) + 1
        return n

    async def create(self, length: int, name: str = "relato.txt", **extra: str) -> aiohttp.ClientResponse:
        meta = {"filename": name, "filetype": "text/plain", "pow": f"{self.pow}:{self.nonce()}"}
        header = ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in meta.items())
        h = {
            **self.headers,
            "Tus-Resumable": "1.0.0",
            "Upload-Length": str(length),
            "Upload-Metadata": header,
            "Content-Type": "application/offset+octet-stream",
            **extra,
        }
        async with self.client.post(f"{self.base}/tus?csrf_token={self.csrf}", headers=h) as r:
            await r.read()
            return r

    async def new_upload(self, length: int, name: str = "relato.txt") -> str:
        r = await self.create(length, name)
        assert r.status == 201, r.status
        return r.headers["Location"]

    async def patch(self, url: str, offset: int, data: bytes, **extra: str) -> aiohttp.ClientResponse:
        h = {
            **self.headers,
            "Tus-Resumable": "1.0.0",
            "Upload-Offset": str(offset),
            "Content-Type": "application/offset+octet-stream",
            **extra,
        }
        async with self.client.patch(f"{url}?csrf_token={self.csrf}", data=data, headers=h) as r:
            await r.read()
            return r

    async def offset(self, url: str) -> int:
        async with self.client.head(
            f"{url}?csrf_token={self.csrf}", headers={**self.headers, "Tus-Resumable": "1.0.0"}
        ) as r:
            assert r.status == 200, r.status
            assert r.headers["Cache-Control"] == "no-store"
            return int(r.headers["Upload-Offset"])

    async def submit(self, uploads: list[str], path: str = "", **fields: str) -> tuple[int, str]:
        form = aiohttp.FormData(default_to_multipart=True)  # as the page's enctype says
        values = {
            "pow": self.pow,
            "pow_nonce": self.nonce(),
            "uploads": " ".join(u.rsplit("/", 1)[-1] for u in uploads),
        }
        values |= (
            {"account": "Vi todo", "when": "ayer", "where": "Zócalo", "consent": "court"} if not path else {}
        )
        for k, v in {**values, **fields}.items():
            form.add_field(k, v)
        async with self.client.post(
            f"{self.base}{path}?csrf_token={self.csrf}", data=form, headers=self.headers
        ) as r:
            return r.status, await r.text()

    async def cut(self, url: str, offset: int, total: int, data: bytes) -> None:
        """A PATCH that announces ``total`` bytes, sends ``data`` and then the link drops."""
        cookies = self.client.cookie_jar.filter_cookies(URL(self.site.base))
        cookie = "; ".join(f"{k}={m.value}" for k, m in cookies.items())
        host, port = self.site.base.removeprefix("http://").split(":")
        _reader, writer = await asyncio.open_connection(host, int(port))
        head = (
            f"PATCH {url}?csrf_token={self.csrf} HTTP/1.1\r\nHost: {host}:{port}\r\nCookie: {cookie}\r\n"
            f"Tus-Resumable: 1.0.0\r\nUpload-Offset: {offset}\r\nContent-Length: {total}\r\n"
            "Content-Type: application/offset+octet-stream\r\n"
            f"User-Agent: {UA}\r\nX-Forwarded-For: {XFF}\r\n\r\n"
        )
        writer.write(head.encode() + data)
        await writer.drain()
        # the link drops once the server has taken some of it in (bytes still in its socket buffer
        # when the connection dies are lost, as on a real network: the offset says what was kept)
        for _ in range(1000):
            if await self.offset(url) > offset:
                break
            await asyncio.sleep(0.01)
        writer.close()
        await writer.wait_closed()

    async def close(self) -> None:
        await self.client.close()


async def _resume(w: Witness, url: str, data: bytes) -> tuple[int, aiohttp.ClientResponse]:
    """What a tus client does after a cut: ask where the upload stands and send the rest from there
    (409 while the server still finishes the broken request: ask again)."""
    for _ in range(1000):
        at = await w.offset(url)
        r = await w.patch(url, at, data[at:])
        if r.status != 409:
            return at, r
        await asyncio.sleep(0.01)
    raise AssertionError("the upload never became resumable")


def test_pow_gate_accepts_once_and_refuses_forgeries() -> None:
    now = [1_000_000.0]
    gate = PowGate(bits=8, clock=lambda: now[0])
    call, other = b"\x01" * 32, b"\x02" * 32
    ch = gate.challenge(call)
    n = solve(ch, 8)
    assert leading_zero_bits(b"\x00\x0f" + b"\xff" * 30) == 12
    assert gate.check(other, ch, n) == "not ours"  # a challenge is bound to its call
    assert gate.check(call, ch[:-2] + ("AA" if ch[-2:] != "AA" else "BB"), n) == "not ours"
    bad = next(
        str(i)
        for i in range(1000)
        if leading_zero_bits(__import__("hashlib").sha256(f"{ch}:{i}".encode()).digest()) < 8
    )
    assert gate.check(call, ch, bad) == "too easy"
    assert gate.check(call, ch, "12a") == "malformed" and gate.check(call, "###", "1") == "malformed"
    assert gate.check(call, ch, n) is None
    assert gate.check(call, ch, n) == "spent"  # one upload per solution
    assert gate.check(call, ch, "0" + n) is not None  # another spelling is another (unsolved) nonce
    ch2 = gate.challenge(call)
    now[0] += 7 * 3600
    assert gate.check(call, ch2, solve(ch2, 8)) == "expired"


async def test_upload_cut_in_the_middle_resumes_and_nothing_is_in_clear(
    make_node: Callable[..., Node], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    started = time.time() - 5
    a, b = make_node("A", 1), make_node("B", 2)
    call = _call(a, b)
    text = (b"Lo que vi en la marcha: " + MARKER + b"\n") * 4000  # ~130 KB: several secretstream pieces
    half = len(text) // 2
    async with Site(a) as site:
        w = Witness(site, call)
        await w.open()
        url = await w.new_upload(len(text))
        await w.cut(url, 0, len(text), text[:half])
        # during the upload: the marker is nowhere on disk (home: db, WAL, blobs, partial; temp dir)
        assert _everywhere(a.home, MARKER, started) == []
        kept, r = await _resume(w, url, text)
        assert 0 < kept <= half  # what arrived before the cut was kept: the rest only is sent again
        assert r.status == 204 and r.headers["Upload-Offset"] == str(len(text))
        # a stale offset is refused with where the upload stands
        r = await w.patch(url, 0, text)
        assert r.status == 409 and r.headers["Upload-Offset"] == str(len(text))
        r = await w.patch(url, len(text), b"x")
        assert r.status == 409  # complete: nothing more is taken
        status, html = await w.submit([url])
        assert status == 200, re.sub(r"\s+", " ", html[html.find("<main") :])[:400]
        codename = re.search(r'id="codename">([^<]+)<', html)
        assert codename
        await w.close()
    subs = C.submissions(a, call)
    assert len(subs) == 1
    body = subs[0].body or {}
    assert body["files"] == [{"name": "relato.txt", "mime": "text/plain", "size": len(text)}]
    assert b"".join(a.open_blob(subs[0].payload.blobs[0].hash)) == text
    assert _everywhere(a.home, MARKER, started) == []
    # nothing of the witness's connection: no user agent, no forwarded address, no codename
    for needle in (UA.encode(), XFF.encode(), codename.group(1).encode()):
        assert _everywhere(a.home, needle, started) == [], needle
    logs = "\n".join(r.getMessage() for r in caplog.records)
    assert UA not in logs and XFF not in logs and "127.0.0.1" not in logs


async def test_hostile_tus_requests_are_refused_and_the_node_answers(make_node: Callable[..., Node]) -> None:
    a, b = make_node("A", 1), make_node("B", 2)
    call = _call(a, b, max_mb=1, max_files=2)
    async with Site(a) as site:
        w = Witness(site, call)
        await w.open()
        assert (await w.create(1024 * 1024 + 1)).status == 413  # over the call's size
        assert (await w.create(0)).status == 400
        assert (await w.create(10, **{"Tus-Resumable": "0.2.2"})).status == 412
        assert (await w.create(10, **{"Upload-Length": "lots"})).status == 400
        assert (await w.create(10, **{"Upload-Metadata": "filename ***"})).status == 400
        assert (
            await w.create(10, **{"Upload-Metadata": "pow " + base64.b64encode(b"x:1").decode()})
        ).status == 403
        # a solution is good for one upload only
        n = w.nonce()
        meta = "pow " + base64.b64encode(f"{w.pow}:{n}".encode()).decode()
        assert (await w.create(10, **{"Upload-Metadata": meta})).status == 201
        assert (await w.create(10, **{"Upload-Metadata": meta})).status == 403
        # without the session's CSRF token, or from another session, nothing is created
        async with w.client.post(
            f"{w.base}/tus",
            headers={
                "Tus-Resumable": "1.0.0",
                "Upload-Length": "5",
                "Content-Type": "application/offset+octet-stream",
            },
        ) as r:
            assert r.status == 403
        url = await w.new_upload(100)
        assert (await w.patch(url, 0, b"y" * 101)).status == 413  # more than announced: dropped
        assert (await w.patch(url, 0, b"y")).status == 404
        assert (await w.patch(url.replace(url[-8:], "AAAAAAAA"), 0, b"y")).status == 404
        url = await w.new_upload(100)
        assert (await w.patch(url, 0, b"y" * 10, **{"Upload-Offset": "ten"})).status == 400
        assert (await w.patch(url, 0, b"y" * 10, **{"Tus-Resumable": "9"})).status == 412
        other = Witness(site, call)
        await other.open()
        r = await other.patch(url, 0, b"y" * 10)  # another session with the upload's address
        assert r.status == 404 and await w.offset(url) == 0
        async with other.client.head(url) as r:
            assert r.status == 404
        # an unfinished upload, an unknown id, or more uploads than the call takes: no submission
        assert (await w.submit([url]))[0] == 409
        assert (await w.submit(["nope"]))[0] == 409
        ids = [await w.new_upload(3) for _ in range(3)]
        for u in ids:
            assert (await w.patch(u, 0, b"abc")).status == 204
        assert (await w.submit(ids))[0] == 413
        assert (await w.submit(ids[:2], pow_nonce="1"))[0] == 403  # a bad proof for the form itself
        assert C.submissions(a, call) == []
        status, _html = await w.submit(ids[:2])
        assert status == 200
        assert (await w.submit(ids[:2]))[0] == 409  # an upload names one submission only
        async with w.client.get(w.base + "?lang=en") as r:
            assert r.status == 200
        await w.close()
        await other.close()
    subs = C.submissions(a, call)
    assert len(subs) == 1 and [f["size"] for f in (subs[0].body or {})["files"]] == [3, 3]


async def test_without_script_a_small_quota_per_call_and_hour(make_node: Callable[..., Node]) -> None:
    a, b = make_node("A", 1), make_node("B", 2)
    call = _call(a, b)
    saved = drop.QUOTA
    drop.QUOTA = NoScriptQuota(per_hour=2, clock=lambda: 0.0)  # its own count, one fixed hour
    try:
        async with Site(a) as site:
            w = Witness(site, call)
            await w.open()
            for _ in range(2):
                assert (await w.submit([], pow_nonce=""))[0] == 200
            status, html = await w.submit([], pow_nonce="")
            assert status == 429 and "JavaScript" in html
            assert (await w.submit([]))[0] == 200  # with the proof-of-work it goes on
            await w.close()
    finally:
        drop.QUOTA = saved
    assert len(C.submissions(a, call)) == 3


async def test_witness_adds_files_by_codename(make_node: Callable[..., Node]) -> None:
    a, b = make_node("A", 1), make_node("B", 2)
    call = _call(a, b)
    async with Site(a) as site:
        w = Witness(site, call)
        await w.open()
        status, html = await w.submit([], account="Primero el relato")
        assert status == 200
        m = re.search(r'id="codename">([^<]+)<', html)
        assert m
        code = m.group(1)
        url = await w.new_upload(5, "segunda.txt")
        assert (await w.patch(url, 0, b"hola!")).status == 204
        status, html = await w.submit([url], path="/add", codename=code.upper(), account="Otra foto")
        assert status == 200 and 'id="added"' in html, html[:500]
        # the plain form works too (no script: multipart, no proof, the quota)
        form = aiohttp.FormData()
        form.add_field("codename", code)
        form.add_field("files", b"tercera", filename="tercera.txt", content_type="text/plain")
        async with w.client.post(f"{w.base}/add?csrf_token={w.csrf}", data=form) as r:
            assert r.status == 200 and 'id="added"' in await r.text()
        status, _html = await w.submit([], path="/add", codename="no es mi clave", account="x")
        assert status == 404
        await w.close()
    subs = C.submissions(a, call)
    first = next(s for s in subs if (s.body or {}).get("follows") is None)
    more = [s for s in subs if (s.body or {}).get("follows") == first.id]
    assert sorted(f["name"] for s in more for f in (s.body or {})["files"]) == ["segunda.txt", "tercera.txt"]
    assert all((s.body or {})["codename"] == (first.body or {})["codename"] for s in more)
    assert all(s.body and s.body["hour"].endswith(":00Z") for s in more)


async def test_an_abandoned_upload_expires_and_leaves_nothing(make_node: Callable[..., Node]) -> None:
    from tequio.plugins.intake import tus

    a, b = make_node("A", 1), make_node("B", 2)
    call = _call(a, b)
    async with Site(a) as site:
        w = Witness(site, call)
        await w.open()
        url = await w.new_upload(300_000)
        assert (await w.patch(url, 0, b"z" * 100_000)).status == 204
        up = tus.REGISTRY.get(call.id, url.rsplit("/", 1)[1], tus.owner_of_token(w.csrf))
        assert up is not None and up.started
        partial = a.home / "blobs" / "partial"
        for _ in range(1000):  # the seal thread opens its partial file as it starts
            if partial.is_dir() and any(partial.iterdir()):
                break
            await asyncio.sleep(0.01)
        assert any(partial.iterdir())  # its ciphertext so far
        tus.REGISTRY.sweep(now=time.monotonic() + tus.IDLE_S + 1)  # an hour later, nobody came back
        with pytest.raises(tus.Aborted):
            await asyncio.wrap_future(up.result)
        assert not any(partial.iterdir())
        async with w.client.head(f"{url}?csrf_token={w.csrf}", headers={"Tus-Resumable": "1.0.0"}) as r:
            assert r.status == 404
        assert (await w.patch(url, 100_000, b"z")).status == 404
        await w.close()
