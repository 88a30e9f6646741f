"""Uploads are sealed as they stream: while an upload is arriving, and after it is cut, nothing of its
plaintext is on the node's disk; a spool decrypts to exactly the bytes sent, and a crash's leftovers
are swept when the pages start."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import aiohttp
import pytest

from tequio.governance.crypto import BLOB_CHUNK
from tequio.node import Node
from tequio.node.web import SealedSpool
from tequio.node.web.uploads import sweep_spools
from tequio.plugins.evidence import api as ev
from tests.webkit import Site

MARKER = b"PLAINTEXT-MARKER-7f3a91"


def _on_disk(home: Path, needle: bytes) -> list[Path]:
    """Every file under ``home`` whose bytes contain ``needle``."""
    hits = []
    for p in home.rglob("*"):
        with contextlib.suppress(OSError):
            if p.is_file() and needle in p.read_bytes():
                hits.append(p)
    return hits


def _spools(home: Path) -> list[Path]:
    folder = home / "blobs" / "partial"
    return list(folder.glob("upload-*.sealed")) if folder.is_dir() else []


@pytest.fixture
def casa(make_node: Callable[..., Node]) -> Node:
    return make_node("Casa")


@pytest.mark.parametrize("size", [0, 1, BLOB_CHUNK - 1, BLOB_CHUNK, BLOB_CHUNK + 1, 3 * BLOB_CHUNK, 200_001])
def test_a_spool_decrypts_to_exactly_the_bytes_written_and_holds_none_in_clear(
    tmp_path: Path, size: int
) -> None:
    data = (MARKER * (size // len(MARKER) + 1))[:size]
    spool = SealedSpool(tmp_path / "partial")
    for i in range(0, size, 10_007):  # pieces that do not line up with the sealing's 64 KiB
        spool.write(data[i : i + 10_007])
        if size >= len(MARKER):
            assert MARKER not in spool.path.read_bytes()
    spool.finish()
    assert oct(spool.path.stat().st_mode & 0o777) == "0o600"
    assert b"".join(spool.chunks()) == data
    with spool.plain_copy("nombre.txt") as plain:
        assert plain.name == "nombre.txt" and plain.read_bytes() == data
        assert oct(plain.stat().st_mode & 0o777) == "0o600"
    assert not plain.exists() and not plain.parent.exists()  # the plain copy lives only in the block
    spool.discard()
    assert list((tmp_path / "partial").iterdir()) == []


def test_a_damaged_spool_does_not_decrypt(tmp_path: Path) -> None:
    spool = SealedSpool(tmp_path)
    spool.write(os.urandom(100_000))
    spool.finish()
    raw = bytearray(spool.path.read_bytes())
    raw[len(raw) // 2] ^= 1
    spool.path.write_bytes(bytes(raw))
    from tequio.governance import CryptoError

    with pytest.raises(CryptoError):
        b"".join(spool.chunks())


async def _held_upload(
    s: Site, path: str, gate: asyncio.Event, sent: asyncio.Event
) -> aiohttp.ClientResponse:
    """Post a multipart upload whose file part sends ~1 MiB of marked plaintext, then waits on ``gate``."""

    async def body() -> AsyncIterator[bytes]:
        for _ in range(16):
            yield (MARKER + os.urandom(8)) * (65536 // (len(MARKER) + 8))
        sent.set()
        await gate.wait()
        yield MARKER

    tok = await s.token(path.rsplit("/", 1)[0] + "/" if "bots" in path else "/evidence/add")
    form = aiohttp.FormData()
    form.add_field("title", "Cortada")
    form.add_field("file", body(), filename="declaracion.txt", content_type="text/plain")
    assert s.client is not None
    return await s.client.post(f"{path}?csrf_token={tok}", data=form, headers={"Origin": s.base})


async def _until(check: Callable[[], bool], what: str) -> None:
    for _ in range(3000):
        if check():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"never happened: {what}")


@pytest.mark.parametrize("route", ["/evidence/add", "/bots/analyze"])
async def test_an_interrupted_upload_leaves_no_plaintext_on_disk_at_any_time(casa: Node, route: str) -> None:
    async with Site(casa) as s:
        s.user("ana", "member")
        await s.login("ana")
        gate, sent = asyncio.Event(), asyncio.Event()
        task = asyncio.create_task(_held_upload(s, route, gate, sent))
        await _until(lambda: sent.is_set(), "the client sent its first megabyte")
        # The server has the bytes (a spool of about a megabyte), the upload is still arriving:
        await _until(lambda: any(p.stat().st_size > 900_000 for p in _spools(casa.home)), "the spool filled")
        assert _on_disk(casa.home, MARKER) == []  # sealed as it streams: no plaintext anywhere
        task.cancel()  # the link is cut mid-upload
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await _until(lambda: _spools(casa.home) == [], "the cut upload's spool was deleted")
        assert _on_disk(casa.home, MARKER) == []
        assert ev.items(casa) == []
        status, _html = await s.get("/")  # the node still answers
        assert status == 200


async def test_a_whole_upload_leaves_no_plaintext_on_disk_after_intake(casa: Node, tmp_path: Path) -> None:
    doc = tmp_path / "declaracion.txt"
    doc.write_bytes((MARKER + b" testimonio\n") * 20_000)
    async with Site(casa) as s:
        s.user("ana", "member")
        await s.login("ana")
        tok = await s.token("/evidence/add")
        form = aiohttp.FormData()
        form.add_field("title", "Entera")
        form.add_field("file", doc.read_bytes(), filename=doc.name, content_type="text/plain")
        assert s.client is not None
        async with s.client.post(
            f"/evidence/add?csrf_token={tok}", data=form, headers={"Origin": s.base}
        ) as r:
            assert r.status == 200 and "/evidence/" in str(r.url)
        sha = str(r.url).rsplit("/", 1)[1]
        assert _on_disk(casa.home, MARKER) == []  # the original sealed, the plain copy gone
        assert _spools(casa.home) == [] and list((casa.home / "blobs" / "partial").glob("web-plain-*")) == []
        # And the node reads it back: the plaintext comes out of the sealed blob, not from a file.
        async with s.client.get(f"/evidence/{sha}/working") as w:
            assert MARKER in await w.read()


async def test_a_crashs_leftover_spools_are_swept_when_the_pages_start(casa: Node) -> None:
    folder = casa.home / "blobs" / "partial"
    left = SealedSpool(folder)
    left.write(MARKER * 10_000)  # a crash: never finished, its key gone with the process
    unrelated = folder / "someone-elses-file"
    unrelated.write_bytes(b"x")
    assert sweep_spools(folder) == 1 and not left.path.exists()
    left = SealedSpool(folder)
    left.write(b"y" * 10)
    async with Site(casa) as s:
        assert (await s.get("/login"))[0] == 200
        assert not left.path.exists() and unrelated.exists()
