"""Blobs: content-addressed files, fetched in ranges, resumed, verified, within a quota, in bounded memory."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tequio.federation.blobs import BlobError, BlobStore
from tequio.federation.service import FedError
from tequio.federation.sync import Unreachable
from tequio.node import Node
from tequio.schemas import BlobRef, Payload, direct_scope, make_record
from tests.conftest import TEQUIO, key
from tests.fedkit import make_cluster
from tests.test_ingest import StandInPolicy

#: Runs a command and prints its peak RSS (KiB). A small process forks it: ru_maxrss survives exec,
#: so a child forked straight from a large test process would report that process's size.
PEAK_RSS = (
    "import os, subprocess, sys; p = subprocess.Popen(sys.argv[1:]); _, st, ru = os.wait4(p.pid, 0); "
    "sys.stdout.flush(); print(ru.ru_maxrss); sys.exit(os.waitstatus_to_exitcode(st))"
)


def _file(tmp_path: Path, size: int, name: str = "photo.jpg", seed: int = 1) -> Path:
    p = tmp_path / name
    block = hashlib.sha256(str(seed).encode()).digest() * 2048  # 64 KiB, not all zeros
    with p.open("wb") as f:
        for i in range(0, size, len(block)):
            f.write(block[: min(len(block), size - i)])
    return p


def _attach(node: Node, path: Path) -> BlobRef:
    h, size = node.blobs.put_file(path)
    ref = BlobRef(h, size, "image/jpeg")
    node.publish("core.note", {"text": f"foto {path.name}"}, blobs=[ref])
    return ref


def test_store_is_content_addressed_and_deduplicates(tmp_path: Path) -> None:
    store = BlobStore(tmp_path / "blobs")
    src = _file(tmp_path, 300_000)
    h, size = store.put_file(src)
    assert h == hashlib.sha256(src.read_bytes()).digest() and size == 300_000
    assert store.put_file(src) == (h, size) and store.usage() == 300_000  # stored once
    assert store.read(h, 1000, 10) == src.read_bytes()[1000:1010]
    assert list((tmp_path / "blobs" / "partial").iterdir()) == []  # no leftovers


def test_partial_ranges_must_continue_and_are_verified(tmp_path: Path) -> None:
    store = BlobStore(tmp_path / "b")
    data = os.urandom(5000)
    h = hashlib.sha256(data).digest()
    store.append(h, 0, data[:2000])
    with pytest.raises(BlobError, match="does not continue"):
        store.append(h, 3000, data[3000:])
    store.append(h, 2000, data[2000:])
    store.finish(h, 5000)
    assert store.has(h) and store.partial_size(h) == 0
    wrong = hashlib.sha256(b"something else").digest()
    store.append(wrong, 0, data)
    with pytest.raises(BlobError, match="do not hash to"):
        store.finish(wrong, 5000)
    assert not store.has(wrong) and store.partial_size(wrong) == 0


async def test_a_peer_fetches_the_blobs_of_records_it_accepted(
    make_node: Callable[..., Node], tmp_path: Path
) -> None:
    c = make_cluster(make_node, 2)
    c.trust(0, 1)
    ref = _attach(c[0].node, _file(tmp_path, 2_500_000))
    await c[1].syncer.sync(c[0].node.key)
    assert c[1].host.wanted_blobs(10) == [(ref.hash, ref.size)]
    assert await c[1].blobs.run_once() == 1
    assert c[1].node.blobs.has(ref.hash) and c[1].host.wanted_blobs(10) == []
    got = c[1].node.blobs.path(ref.hash).read_bytes()
    assert hashlib.sha256(got).digest() == ref.hash


class Flaky:
    """A transport that loses the connection after ``budget`` blob calls, and records offsets asked."""

    def __init__(self, inner: Any, budget: int) -> None:
        self.inner = inner
        self.budget = budget
        self.offsets: list[int] = []

    async def call(self, peer: bytes, method: str, message: Any) -> Any:
        if method == "blob":
            self.offsets.append(message["offset"])
            if self.budget <= 0:
                raise Unreachable("link dropped")
            self.budget -= 1
        return await self.inner.call(peer, method, message)


async def test_an_interrupted_transfer_resumes_where_it_stopped(
    make_node: Callable[..., Node], tmp_path: Path
) -> None:
    c = make_cluster(make_node, 2)
    c.trust(0, 1)
    ref = _attach(c[0].node, _file(tmp_path, 1_000_000))
    await c[1].syncer.sync(c[0].node.key)
    fetcher = c[1].blobs
    fetcher.chunk = 100_000
    flaky = Flaky(c[1].transport, budget=4)
    fetcher.transport = flaky
    assert await fetcher.run_once() == 0
    assert c[1].node.blobs.partial_size(ref.hash) == 400_000 and "unreachable" in fetcher.problems[ref.hash]
    flaky.budget = 100
    flaky.offsets.clear()
    assert await fetcher.run_once() == 1
    assert flaky.offsets[0] == 400_000  # resumed, not restarted
    assert len(flaky.offsets) == 6 and c[1].node.blobs.has(ref.hash)


async def test_corrupted_bytes_are_never_used(make_node: Callable[..., Node], tmp_path: Path) -> None:
    c = make_cluster(make_node, 2)
    c.trust(0, 1)
    ref = _attach(c[0].node, _file(tmp_path, 300_000))
    stored = c[0].node.blobs.path(ref.hash)
    data = bytearray(stored.read_bytes())
    data[150_000] ^= 0xFF  # the holder's copy rots, same size
    stored.write_bytes(bytes(data))
    await c[1].syncer.sync(c[0].node.key)
    assert await c[1].blobs.run_once() == 0
    assert not c[1].node.blobs.has(ref.hash) and c[1].node.blobs.partial_size(ref.hash) == 0
    assert "do not hash to" in c[1].blobs.problems[ref.hash]


async def test_the_quota_is_respected(make_node: Callable[..., Node], tmp_path: Path) -> None:
    c = make_cluster(make_node, 2)
    c.trust(0, 1)
    ref = _attach(c[0].node, _file(tmp_path, 600_000))
    await c[1].syncer.sync(c[0].node.key)
    c[1].blobs.quota = 500_000
    assert await c[1].blobs.run_once() == 0
    assert "quota" in c[1].blobs.problems[ref.hash] and not c[1].node.blobs.has(ref.hash)


async def test_blobs_of_a_direct_scope_are_refused_to_others_as_if_absent(
    make_node: Callable[..., Node], tmp_path: Path
) -> None:
    c = make_cluster(make_node, 3)
    a, b, other = c[0], c[1], c[2]
    scope = direct_scope(b.node.key)
    for fed in (a, b):
        fed.node.access = StandInPolicy(readable=(scope,))
    c.trust(0, 1)
    c.trust(0, 2)
    h, size = a.node.blobs.put_file(_file(tmp_path, 10_000))
    ref = BlobRef(h, size, "image/jpeg")
    payload = Payload("core.note", {"text": "solo para B"}, blobs=(ref,)).encode()
    assert a.node.ingest([make_record(key(70), scope, 1, None, 1, payload).wire]).accepted == 1
    message = {"hash": ref.hash, "offset": 0, "length": 100}
    with pytest.raises(FedError) as refused:
        await other.transport.call(a.node.key, "blob", message)
    with pytest.raises(FedError) as absent:
        await other.transport.call(a.node.key, "blob", {**message, "hash": bytes(32)})
    assert (
        (refused.value.status, refused.value.code)
        == (absent.value.status, absent.value.code)
        == (404, "no-such-blob")
    )
    reply = await b.transport.call(a.node.key, "blob", message)  # the recipient may
    assert len(reply["data"]) == 100 and reply["size"] == 10_000


@pytest.mark.parametrize(
    "message",
    [
        {"hash": b"x", "offset": 0, "length": 1},
        {"hash": bytes(32), "offset": -1, "length": 1},
        {"hash": bytes(32), "offset": 0, "length": 10_000_000},
        "nope",
    ],
)
async def test_malformed_blob_requests(make_node: Callable[..., Node], message: object) -> None:
    c = make_cluster(make_node, 2)
    c.trust(0, 1)
    with pytest.raises(FedError) as e:
        await c[1].transport.call(c[0].node.key, "blob", message)
    assert e.value.status == 400


async def test_a_large_transfer_stays_within_bounded_memory(
    make_node: Callable[..., Node], tmp_path: Path
) -> None:
    c = make_cluster(make_node, 2)
    c.trust(0, 1)
    ref = _attach(c[0].node, _file(tmp_path, 48 * 1024 * 1024, "video.mp4"))
    await c[1].syncer.sync(c[0].node.key)
    tracemalloc.start()
    try:
        assert await c[1].blobs.run_once() == 1
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert c[1].node.blobs.has(ref.hash)
    assert peak < 12 * 1024 * 1024, f"peak {peak / 2**20:.1f} MiB for a 48 MiB blob"


def test_cli_attaches_a_300_mb_file_without_reading_it_into_memory(cli, tmp_path: Path) -> None:
    big = tmp_path / "grabacion.mp4"
    with big.open("wb") as f:
        f.truncate(300 * 1024 * 1024)  # sparse: cheap to make, real to read
    assert cli("init", "--name", "Casa").code == 0
    env = {k: v for k, v in os.environ.items() if not k.startswith("TEQUIO_")} | {
        "TEQUIO_HOME": str(cli.home)
    }
    cmd = [
        TEQUIO,
        "publish",
        "core.note",
        "--body",
        '{"text": "video"}',
        "--attach",
        str(big),
        "--keep-metadata",
    ]
    r = subprocess.run(
        [sys.executable, "-c", PEAK_RSS, *cmd], env=env, capture_output=True, text=True, timeout=300
    )
    assert r.returncode == 0, r.stderr
    *lines, peak_kib = r.stdout.strip().splitlines()
    out = "\n".join(lines)
    assert int(peak_kib) < 120 * 1024, f"peak RSS {int(peak_kib) / 1024:.0f} MiB"
    assert f"{300 * 1024 * 1024} bytes  video/mp4" in out
