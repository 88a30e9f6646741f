"""Findings signed and shared: from node A to node B over real HTTP sync, compared with B's own
analysis of its own export, corroborated; any changed byte of the record fails on ingest; the CLI."""

from __future__ import annotations

import json
import random
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiohttp import web

from tequio.federation.http import make_fed_app
from tequio.node import Node
from tequio.node.federation import Federation
from tequio.node.groups import create_group
from tequio.plugins.bots.analysis import Params, analyze
from tequio.plugins.bots.model import FINDING
from tequio.plugins.bots.outputs import load_findings, prepare_dir, write_outputs
from tequio.plugins.bots.share import compare, finding_body, findings_on_node, publish_finding
from tequio.plugins.bots.synthetic import Benchmark, make_benchmark, write_rows
from tests.test_group_cli import Home, refused

SMALL = {"n_users": 400, "n_posts": 8000, "days": 2.0, "group_size": 15, "events": 12, "control": 200}


@dataclass
class Org:
    node: Node
    fed: Federation
    runner: web.AppRunner


@pytest.fixture
async def orgs(make_node: Callable[..., Node]) -> AsyncIterator[list[Org]]:
    made = []
    for i, name in enumerate(("Casa", "Colectivo", "Centro")):
        node = make_node(name=name, seed=40 + i, clock=lambda: time.time_ns() // 1_000_000)
        fed = Federation(node)
        runner = web.AppRunner(make_fed_app(fed.service, fed.keyring, node.clock, fed.limits))
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        made.append(Org(node, fed, runner))
    for a in made[:2]:  # A and B are linked; C is a member that never syncs (for the byte test)
        for b in made[:2]:
            if a is not b:
                host, port = b.runner.addresses[0][:2]
                a.fed.peers.trust(b.node.key, b.node.name, [f"{host}:{port}"])
    yield made
    for o in made:
        await o.fed.aclose()
        await o.runner.cleanup()


async def sync_both(orgs: list[Org]) -> None:
    """Real sync rounds over HTTP between A and B, each way."""
    for _ in range(2):
        await orgs[0].fed.syncer.sync(orgs[1].node.key)
        await orgs[1].fed.syncer.sync(orgs[0].node.key)


def export_of(bench: Benchmark, seed: int, keep: float, path: Path) -> Path:
    """One organisation's own export of the conversation: a different sample of the same posts."""
    rng = random.Random(seed)
    write_rows([r for r in bench.rows if rng.random() < keep], path)
    return path


def analysed(path: Path, out: Path) -> tuple[dict, bytes]:  # type: ignore[type-arg]
    result = analyze([path], Params(repeats=49))
    prepare_dir(out, force=True)
    write_outputs(result, out, plots=False)
    return load_findings(out)


async def test_a_finding_from_a_verifies_on_b_and_is_corroborated(orgs: list[Org], tmp_path: Path) -> None:
    a, b, c = (o.node for o in orgs)
    _, scope = create_group(a, "Red contra el acoso", [(b.key, "Colectivo", []), (c.key, "Centro", [])])
    bench = make_benchmark(5, **SMALL)  # type: ignore[arg-type]
    fa, raw_a = analysed(export_of(bench, 1, 0.9, tmp_path / "a.csv"), tmp_path / "out-a")
    rec = publish_finding(a, scope, fa, raw_a, "medium", "Campaña contra la activista", None)
    await sync_both(orgs)
    got = [r for r in findings_on_node(b) if r.id == rec.id]
    assert got and got[0].author == a.key and got[0].body == rec.body
    body = got[0].body
    assert body is not None and body["findings_sha256"] == __import__("hashlib").sha256(raw_a).hexdigest()
    assert {cl["tier"] for cl in body["clusters"]} <= {"high", "medium"} and len(body["clusters"]) == 3

    # B re-runs the same tests on its own export of the same conversation
    fb, raw_b = analysed(export_of(bench, 2, 0.9, tmp_path / "b.csv"), tmp_path / "out-b")
    result = compare(body, finding_body(fb, raw_b, "low"))
    assert result["independent_inputs"] and result["agreeing_clusters"] == 3
    assert all(row["agreement"] == "agrees" and row["match"]["jaccard"] >= 0.8 for row in result["clusters"])

    # B publishes its corroboration; it travels back to A, which sees a second organisation agreeing
    corr = publish_finding(b, scope, fb, raw_b, "medium", "", got[0])
    await sync_both(orgs)
    on_a = {r.id: r for r in findings_on_node(a)}
    assert corr.id in on_a and on_a[corr.id].author == b.key
    assert on_a[corr.id].body["corroborates"] == rec.id.hex()  # type: ignore[index]
    assert rec.id in on_a[corr.id].payload.refs  # type: ignore[union-attr]

    # any changed byte of the signed record fails, on a member that never held it
    for r in a.records(scope=scope, author=a.key):
        if r.id != rec.id:
            c.ingest([r.record.wire])
    wire = rec.record.wire
    mutated = []
    for i in range(len(wire)):
        flipped = bytearray(wire)
        flipped[i] ^= 0x01
        mutated.append(bytes(flipped))
    report = c.ingest(mutated)
    assert report.accepted == 0 and len(report.rejected) + report.duplicates == len(wire)
    assert c.get(rec.id) is None and not findings_on_node(c)
    assert c.ingest([wire]).accepted == 1
    assert [r.id for r in findings_on_node(c)] == [rec.id]


def test_share_and_compare_through_the_cli(tmp_path: Path) -> None:
    a, b = Home("Casa", tmp_path / "A"), Home("Colectivo", tmp_path / "B")
    for h in (a, b):
        h.key = h.json("init", "--name", h.name)["key"]
    gid = a.json("group", "create", "Red", "--member", f"{b.key}=Colectivo")["gid"]
    bench = make_benchmark(2, **SMALL)  # type: ignore[arg-type]
    for h, seed in ((a, 1), (b, 2)):
        path = export_of(bench, seed, 0.9, tmp_path / f"{h.path.name}.csv")
        h.ok(
            "bots",
            "analyze",
            str(path),
            "--out",
            str(tmp_path / f"out-{h.path.name}"),
            "--no-plots",
            "--repeats",
            "49",
        )
    shared = a.json("bots", "share", str(tmp_path / "out-A"), "--scope", f"g:{gid}", "--title", "Acoso")
    assert shared["clusters"] == 3 and shared["scope"] == f"g:{gid}"
    carried = tmp_path / "a.bin"
    a.ok("records", "export", "--scope", f"g:{gid}", "--out", str(carried))
    assert b.json("records", "import", str(carried))["rejected"] == []
    listed = b.json("bots", "list")
    assert [f["id"] for f in listed] == [shared["id"]] and listed[0]["author_name"] == "Casa"
    cmp = b.json("bots", "compare", shared["id"][:16], str(tmp_path / "out-B"))
    assert cmp["corroborated"] and cmp["second_organisation"] and cmp["agreeing_clusters"] == 3
    assert "Corroborated" in cmp["sentence"]["en"] and "Corroborado" in cmp["sentence"]["es"]
    mine = b.json(
        "bots", "share", str(tmp_path / "out-B"), "--scope", gid, "--corroborates", shared["id"][:16]
    )
    back = tmp_path / "b.bin"
    b.ok("records", "export", "--scope", f"g:{gid}", "--out", str(back))
    a.json("records", "import", str(back))
    on_a = {f["id"]: f for f in a.json("bots", "list")}
    assert on_a[shared["id"]]["corroborated_by"] == [{"id": mine["id"], "author_name": "Colectivo"}]
    # one changed byte in the carried file: the finding is refused, nothing else is lost
    blob = bytearray(carried.read_bytes())
    blob[-40] ^= 0xFF
    tampered = tmp_path / "tampered.bin"
    tampered.write_bytes(bytes(blob))
    fresh = Home("Centro", tmp_path / "C")
    fresh.json("init", "--name", "Centro")
    r = fresh.run("records", "import", str(tampered), "--json")
    assert r.code == 1 and json.loads(r.out)["rejected"], r.out
    # bad input: one line each
    assert "cannot read" in refused(a.run("bots", "share", str(tmp_path), "--scope", gid))
    (tmp_path / "other.json").write_text('{"clusters": 3}')
    assert "not a findings file" in refused(
        a.run("bots", "share", str(tmp_path / "other.json"), "--scope", gid)
    )
    assert refused(b.run("bots", "compare", "deadbeefdeadbeef", str(tmp_path / "out-B")))
    assert refused(a.run("bots", "share", str(tmp_path / "out-A"), "--scope", "g:" + "0" * 32))


def test_finding_kind_refuses_bad_bodies(make_node: Callable[..., Node], tmp_path: Path) -> None:
    node = make_node()
    bench = make_benchmark(1, **SMALL)  # type: ignore[arg-type]
    f, raw = analysed(export_of(bench, 1, 1.0, tmp_path / "x.csv"), tmp_path / "o")
    body = finding_body(f, raw)
    node.publish(FINDING, body)
    from tequio.node import PublishError

    for broken in (
        body | {"findings_sha256": "zz"},
        body | {"clusters": [body["clusters"][0] | {"p": [5, 2]}]},
        body | {"clusters": [body["clusters"][0] | {"accounts": ["x", "x"]}]},
        body | {"corroborates": "ab" * 32},
        body | {"parameters": "{not json"},
    ):
        with pytest.raises(PublishError):
            node.publish(FINDING, broken)
