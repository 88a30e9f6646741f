"""The public drop over a real aiohttp server: a call, a witness's files sealed as they stream, a codename."""

from __future__ import annotations

import re
import tempfile
from collections.abc import Callable
from pathlib import Path

import aiohttp

from tequio.node import Node, create_group
from tequio.plugins.intake import calls as C
from tequio.plugins.intake.codename import bits, hash_codename, new_codename, wordlist
from tests.conftest import seeded_rng
from tests.webkit import Site

MARKER = b"MARCADOR-TESTIGO-7f3a9c"
UA = "Testigo/9.9 (UnicoAgente-41c2)"
_CSRF = re.compile(r"csrf_token=([^\"&]+)")


def _call(node: Node, peer: Node, **kw: object) -> C.Call:
    gid, _scope = create_group(node, "Coalición", [(peer.key, "Colectivo", [])])
    rec = C.open_call(
        node, gid.hex() if isinstance(gid, bytes) else str(gid), "Marcha", "Manden fotos", "Send photos", **kw
    )  # type: ignore[arg-type]
    return C.host(node, rec.id.hex())


def _home_contains(home: Path, needle: bytes) -> list[str]:
    found = []
    for p in home.rglob("*"):
        if p.is_file() and needle in p.read_bytes():
            found.append(str(p))
    return found


async def _drop(
    site: Site, call: C.Call, files: list[tuple[str, bytes, str]], **fields: str
) -> tuple[int, str]:
    client = site.new_client()
    try:
        async with client.get(f"/intake/c/{call.id.hex()}?lang=es", headers={"User-Agent": UA}) as r:
            html = await r.text()
        m = _CSRF.search(html)
        assert m, html[:500]
        form = aiohttp.FormData()
        for k, v in {
            "account": "Vi todo",
            "when": "ayer 18h",
            "where": "Zócalo",
            "consent": "court",
            **fields,
        }.items():
            form.add_field(k, v)
        for name, data, mime in files:
            form.add_field("files", data, filename=name, content_type=mime)
        async with client.post(
            f"/intake/c/{call.id.hex()}?csrf_token={m.group(1)}", data=form, headers={"User-Agent": UA}
        ) as r:
            return r.status, await r.text()
    finally:
        await client.close()


def test_word_lists_are_long_enough() -> None:
    assert len(wordlist("es")) >= 7776 and len(wordlist("en")) >= 7776
    assert bits("es") >= 77 and bits("en") >= 77
    code = new_codename("es", seeded_rng(3))
    assert len(code.split()) == 7 and all(w in wordlist("es") for w in code.split())
    call = b"\x01" * 32
    assert hash_codename(call, code) == hash_codename(call, "  " + code.upper().replace(" ", " . ") + " ")
    assert hash_codename(call, code) != hash_codename(b"\x02" * 32, code)


async def test_submission_is_sealed_and_codename_returns(make_node: Callable[..., Node]) -> None:
    a, b = make_node("A", 1), make_node("B", 2)
    call = _call(a, b)
    text = b"Lo que vi: " + MARKER + b"\n" * 1000
    async with Site(a) as site:
        status, html = await _drop(
            site,
            call,
            [("relato.txt", text, "text/plain"), ("foto.bin", b"\x89PNG" + b"\0" * 5000, "image/png")],
        )
        assert status == 200, html[:800]
        m = re.search(r'id="codename">([^<]+)<', html)
        assert m
        codename = m.group(1)
        assert len(codename.split()) == 7
        # nothing in clear anywhere: home (db, WAL, blobs, logs) and the temp dir
        assert _home_contains(a.home, MARKER) == []
        assert not [
            p for p in Path(tempfile.gettempdir()).glob("*") if p.is_file() and MARKER in p.read_bytes()
        ]
        assert _home_contains(a.home, UA.encode()) == []
        # the witness's address is the loopback one: only the node's own config (its bind address) names it
        assert [Path(p).name for p in _home_contains(a.home, b"127.0.0.1")] in ([], ["tequio.toml"])
        assert _home_contains(a.home, bytes([127, 0, 0, 1])) == []
        assert _home_contains(a.home, codename.encode()) == []
        # the submission is a group record, its files readable by members
        subs = C.submissions(a, call)
        assert len(subs) == 1
        body = subs[0].body or {}
        assert body["consent"] == "court" and body["hour"].endswith(":00Z")
        assert subs[0].record.ts % 3_600_000 == 0 and subs[0].received % 3_600_000 == 0
        plain = b"".join(a.open_blob(subs[0].payload.blobs[0].hash))  # type: ignore[union-attr]
        assert plain == text
        # the witness comes back with the codename and answers
        client = site.new_client()
        async with client.get(f"/intake/c/{call.id.hex()}/status?lang=es") as r:
            page = await r.text()
        tok = re.search(r'name="csrf_token" value="([^"]+)"', page)
        assert tok
        async with client.post(
            f"/intake/c/{call.id.hex()}/status",
            data={"csrf_token": tok.group(1), "codename": codename.upper(), "answer": "Eran tres patrullas"},
        ) as r:
            page = await r.text()
            assert r.status == 200 and "Recibido" in page and "Eran tres patrullas" in page
        async with client.post(
            f"/intake/c/{call.id.hex()}/status",
            data={"csrf_token": tok.group(1), "codename": "no es mi clave"},
        ) as r:
            assert r.status == 404
        await client.close()


async def test_limits_refuse_and_keep_nothing(make_node: Callable[..., Node]) -> None:
    a, b = make_node("A", 1), make_node("B", 2)
    call = _call(a, b, max_mb=1, max_files=2)
    async with Site(a) as site:
        status, _html = await _drop(site, call, [(f"f{i}.txt", b"x" * 10, "text/plain") for i in range(3)])
        assert status == 413
        status, _html = await _drop(
            site, call, [("big.bin", b"y" * (1024 * 1024 + 10), "application/octet-stream")]
        )
        assert status == 413
        status, _html = await _drop(site, call, [("a.txt", b"z", "text/plain")], consent="everyone")
        assert status == 400
        assert C.submissions(a, call) == []
        status, _html = await _drop(site, call, [("a.txt", b"z", "text/plain")])
        assert status == 200
        # a page for a call this node does not host is not there
        async with site.new_client() as c, c.get("/intake/c/" + "ab" * 32) as r:
            assert r.status == 404


async def test_member_node_holds_the_submission(make_node: Callable[..., Node]) -> None:
    """The submission is a record in the coalition's scope: a member node reads it after sync."""
    import io

    a, b = make_node("A", 1), make_node("B", 2)
    call = _call(a, b)
    async with Site(a) as site:
        status, _html = await _drop(site, call, [("relato.txt", b"lo que vi", "text/plain")])
        assert status == 200
    b.import_stream(io.BytesIO(b"".join(a.export())), "test")
    at_b = C.find_call(b, call.id.hex())
    subs = C.submissions(b, at_b)
    assert len(subs) == 1 and (subs[0].body or {})["account"] == "Vi todo"
    assert not at_b.hosted_here and at_b.hosts == 1
