"""Issue 9 §5: one peer's flood of penalty-free ``gap`` rejections cannot push every other source's entries
out of the bounded rejection log, and every rejection stays counted per (source, reason)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from tequio.node import Node
from tests.conftest import CliResult, Feed, key


def test_a_gap_flood_from_one_peer_leaves_the_others_entries(make_node: Callable[..., Node]) -> None:
    node = make_node()
    keep = node.config.store.rejections_kept
    assert keep == 1000
    # Two other sources, each with a few rejections before the flood.
    for n, source in enumerate(("peer:fiscalia", "import:casa.tqr"), start=10):
        chain = Feed(key(n)).take(4)
        report = node.ingest([r.wire for r in chain[1:]], source)  # seq 1 missing: gaps
        assert len(report.rejected) == 3
    bad = bytearray(Feed(key(20)).take(1)[0].wire)
    bad[-5] ^= 0xFF  # a broken signature or payload: not a gap
    assert node.ingest([bytes(bad)], "api").rejected
    flood = Feed(key(30)).take(3001)[1:]  # 3,000 gaps from one peer, in three batches
    for i in range(0, len(flood), 1000):
        node.ingest([r.wire for r in flood[i : i + 1000]], "peer:ruidoso")
    rows = node.store.rejections(keep + 10)
    assert len(rows) <= keep
    sources = [r[1] for r in rows]
    assert sources.count("peer:fiscalia") == 3 and sources.count("import:casa.tqr") == 3
    assert sources.count("api") == 1
    assert 0 < sources.count("peer:ruidoso") <= keep // 20  # the flood keeps only its share in detail
    counts = {(s, reason): (c, first, last) for s, reason, c, first, last in node.store.rejection_counts()}
    assert counts[("peer:ruidoso", "gap")][0] == 3000  # every one counted, with when it was last seen
    assert counts[("peer:fiscalia", "gap")][0] == 3
    first, last = counts[("peer:ruidoso", "gap")][1:]
    assert first <= last
    assert node.store.check() == []


def test_under_the_bound_nothing_is_merged_or_dropped(make_node: Callable[..., Node]) -> None:
    node = make_node()
    chain = Feed(key(40)).take(301)
    node.ingest([r.wire for r in chain[1:]], "peer:uno")
    rows = node.store.rejections(1000)
    assert len(rows) == 300  # below the bound every rejection is kept in full, whoever sent it
    assert node.store.rejection_counts()[0][:3] == ("peer:uno", "gap", 300)


def test_records_rejected_counts_shows_every_repeat(tmp_path: Path, cli: Callable[..., CliResult]) -> None:
    home = tmp_path / "home"
    with Node.create(home, name="Casa", kdf_profile="interactive") as node:
        keep = node.config.store.rejections_kept
        flood = Feed(key(50)).take(keep + 1201)[1:]  # more gaps from one peer than the log details
        for i in range(0, len(flood), 1000):
            node.ingest([r.wire for r in flood[i : i + 1000]], "peer:ruidoso")
        node.ingest([r.wire for r in Feed(key(51)).take(3)[1:]], "import:casa.tqr")
    done = cli("records", "rejected", "--counts", "--json", home_dir=home)
    assert done.code == 0, done.err
    rows = {(r["source"], r["reason"]): r for r in json.loads(done.out)}
    assert rows[("peer:ruidoso", "gap")]["count"] == keep + 1200
    assert rows[("import:casa.tqr", "gap")]["count"] == 2
    assert rows[("peer:ruidoso", "gap")]["first_at"] <= rows[("peer:ruidoso", "gap")]["last_at"]
    text = cli("records", "rejected", "--counts", home_dir=home)
    assert text.code == 0, text.err
    assert f"{keep + 1200:,}" in text.out and "peer:ruidoso" in text.out
    detailed = json.loads(cli("records", "rejected", "--json", "--limit", "5000", home_dir=home).out)
    assert len(detailed) <= keep  # the detailed log stays bounded; only the counts hold every repeat
    empty = cli("records", "rejected", "--counts", home_dir=tmp_path / "other")
    assert empty.code != 0 or "no rejections" in empty.err
