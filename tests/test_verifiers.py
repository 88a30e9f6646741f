"""Verifier processes judge exactly as the node's own thread does, and a dead one loses nothing."""

from __future__ import annotations

import logging
import os
import signal
from collections.abc import Callable

import msgpack
import pytest

from tequio.node import Node
from tequio.node.verifiers import VerifierPool, _chunks, parse_chunk
from tequio.schemas.verify_worker import MAX_REQUEST
from tests.conftest import Feed, key


def _mixed_batch(n_good: int) -> list[bytes]:
    """Good records of 20 feeds with bad ones spliced in at known places."""
    feeds = [Feed(key(200 + i)) for i in range(20)]
    batch = [feeds[i % 20].next().wire for i in range(n_good)]
    forged = bytearray(batch[7])
    forged[-1] ^= 1
    batch[7] = bytes(forged)  # bad-payload-hash
    batch.insert(100, b"\xc1")  # malformed
    batch.insert(900, msgpack.packb([2, "future"]))  # unsupported-version
    bad_sig = bytearray(batch[1500])
    bad_sig[-70] ^= 1  # inside the signature
    batch[1500] = bytes(bad_sig)
    return batch


def test_pool_judges_like_the_node_itself() -> None:
    batch = _mixed_batch(3000)
    inline_items, inline_rejected = parse_chunk(batch, 10)
    pool = VerifierPool(2)
    try:
        items, rejected = pool.submit(batch, 10)()
    finally:
        pool.close()
    assert [(i, r.id, r.wire) for i, r in items] == [(i, r.id, r.wire) for i, r in inline_items]
    assert items == inline_items  # every field of every record
    assert [(r.index, r.reason, r.detail) for r in rejected] == [
        (r.index, r.reason, r.detail) for r in inline_rejected
    ]
    assert {r.index for r in rejected} >= {17, 110, 910}


def test_large_imports_use_the_pool_and_report_the_same(make_node: Callable[..., Node]) -> None:
    batch = _mixed_batch(3000)
    with_pool, without = make_node(seed=1), make_node(seed=2)
    with_pool.ingestor.close()
    with_pool.ingestor.verifiers = VerifierPool(2)  # whatever the machine's core count
    without.ingestor.close()
    without.ingestor.verifiers = None
    a, b = with_pool.ingest(batch), without.ingest(batch)
    assert (a.accepted, a.duplicates) == (b.accepted, b.duplicates)
    assert [r.to_json() for r in a.rejected] == [r.to_json() for r in b.rejected]
    assert [r.id for r in with_pool.records(limit=None)] == [r.id for r in without.records(limit=None)]


def test_a_dead_worker_is_replaced_and_its_chunk_checked_here(caplog: pytest.LogCaptureFixture) -> None:
    batch = _mixed_batch(2000)
    pool = VerifierPool(2)
    try:
        first = pool.submit(batch, 0)()
        for w in pool._workers:
            os.kill(w.proc.pid, signal.SIGKILL)
            w.proc.wait()
        with caplog.at_level(logging.WARNING):
            again = pool.submit(batch, 0)()
        assert "verifier process failed" in caplog.text
        assert again[0] == first[0] and [r.to_json() for r in again[1]] == [r.to_json() for r in first[1]]
        third = pool.submit(batch, 0)()  # the replacements work
        assert third[0] == first[0]
    finally:
        pool.close()


def test_chunks_respect_count_and_size() -> None:
    raws = [b"x" * 10] * 10
    assert [(len(c), b) for c, b in _chunks(raws, 5, 3)] == [(4, 5), (4, 9), (2, 13)]
    big = [b"y" * (MAX_REQUEST // 5)] * 6
    chunks = _chunks(big, 0, 1)
    assert len(chunks) == 3 and all(sum(map(len, c)) <= MAX_REQUEST // 2 for c, _ in chunks)
    assert [b for _, b in chunks] == [0, 2, 4]
