"""E6, never relayed (issue 9 §1): a record that lost authority after the fact is not handed on.

Real nodes on real SQLite, federating over real HTTP (aiohttp listeners on 127.0.0.1): C holds B's note
written after B's removal (it arrived before the removal did). C never sends it to a member in sync,
gossip push or a bundle, advertises B's feed only up to the head the removal recorded, and neither C nor
its peers (one of which holds more of B's feed) is penalised.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from tequio.federation.bundle_file import read_bundle
from tequio.federation.wire import SigningKeyring
from tequio.governance import ADMIT, REMOVE, ROLES, RULES
from tequio.node import Node
from tequio.node.bundle_io import export_bundle, import_bundle
from tequio.node.federation import Federation
from tequio.node.groups import act, create_group
from tequio.schemas import parse_wire
from tests.test_governance_fold import BY_MEMBER

LATE = "escrito después de la remoción"


def _real_clock() -> int:
    return time.time_ns() // 1_000_000


def _node(tmp_path: Path, name: str) -> Node:
    return Node.create(tmp_path / name, name=f"Org {name}", clock=_real_clock, kdf_profile="interactive")


def _scenario(tmp_path: Path) -> tuple[dict[str, Node], str, bytes, bytes]:
    """A founds a group with B, C, D, E and G, and removes B; B, not told, writes ``b2``. C and G get
    ``b2`` before the removal; C then gets the removal (``b2`` is hidden), G does not. D and E hold
    none of B's feed."""
    n = {x: _node(tmp_path, x) for x in "ABCDEG"}
    rules = {ADMIT: BY_MEMBER, REMOVE: BY_MEMBER, ROLES: BY_MEMBER, RULES: BY_MEMBER}
    _gid, scope = create_group(n["A"], "Red", [(n[x].key, x, []) for x in "BCDEG"], rules)
    for x in "BCDEG":
        n[x].ingest(list(n["A"].export(scope)))
    b1 = n["B"].publish("core.note", {"text": "antes"}, scope=scope)
    n["A"].ingest([b1.record.wire])
    before = list(n["A"].export(scope))
    assert not act(n["A"], scope, REMOVE, {"key": n["B"].key}).proposal
    f = tmp_path / "adjunto.txt"
    f.write_bytes(b"descarguen esto " * 500)
    ref, keys = n["B"].attach(f, scope, "text/plain")
    b2 = n["B"].publish("core.note", {"text": LATE}, scope=scope, blobs=[ref], keys=keys)
    for x in "CG":
        n[x].ingest(before)
        n[x].ingest(list(n["B"].export(scope)))
        assert n[x].get(b2.id) is not None
    n["C"].ingest(list(n["A"].export(scope)))  # the removal arrives after b2: b2 is hidden
    assert b2.id in n["C"].governance.hidden()
    for x in "DE":
        n[x].ingest([w for w in n["A"].export(scope) if parse_wire(w).author != n["B"].key])
        assert n[x].get(b1.id) is None
    return n, scope, b1.id, b2.id


async def test_a_hidden_record_is_never_relayed_in_sync_push_or_bundle(tmp_path: Path) -> None:
    n, scope, b1, b2 = _scenario(tmp_path)
    feds = {x: Federation(n[x]) for x in "CDEG"}
    runners = []
    try:
        addrs = {}
        for x, f in feds.items():
            runner, addrs[x] = await f.listen()
            runners.append(runner)
        for x, f in feds.items():
            for y in feds:
                if y != x:
                    f.peers.trust(n[y].key, y, [addrs[y]])
        c = n["C"]
        cut = c.governance.relay_cuts().get((n["B"].key, scope))
        b1_rec = c.get(b1)
        assert b1_rec is not None and cut == (b1_rec.record.seq, b1)
        (blob,) = c.store.conn.execute("SELECT hash FROM blob_refs WHERE record = ?", (b2,)).fetchone()
        assert not feds["C"].host.may_fetch(n["D"].key, blob)  # nor its blob
        assert feds["G"].host.may_fetch(n["D"].key, blob)  # (G, without the removal, would)
        # sync, both ways: D gets b1 and not b2; a second round is in sync (the heads agree)
        rounds = [await feds["D"].syncer.sync(c.key), await feds["C"].syncer.sync(n["D"].key)]
        assert [(r.rejected_here, r.rejected_there) for r in rounds] == [(0, 0), (0, 0)]
        assert n["D"].get(b1) is not None and n["D"].get(b2) is None
        assert (await feds["D"].syncer.sync(c.key)).in_sync
        assert (await feds["C"].syncer.sync(n["D"].key)).in_sync
        # gossip push of everything C holds: E gets b1 and not b2
        feds["C"].gossip.pushed = 0
        feds["C"].peers.set_state(n["D"].key, "paused")
        feds["C"].peers.set_state(n["G"].key, "paused")
        assert await feds["C"].gossip.push_new() > 0
        assert n["E"].get(b1) is not None and n["E"].get(b2) is None
        for x in "DE":  # never even offered: nothing of it in their rejection logs
            assert b2 not in {row[4] for row in n[x].store.rejections(1000)}, x
        # G holds more of B's feed (b2) and lacks the removal: syncing with it penalises no one,
        # G learns of the removal from C, and then hides b2 too
        feds["C"].peers.set_state(n["G"].key, "trusted")
        await feds["G"].syncer.sync(c.key)
        await feds["C"].syncer.sync(n["G"].key)
        assert b2 in n["G"].governance.hidden()
        assert (await feds["G"].syncer.sync(c.key)).in_sync
        for x, f in feds.items():
            for p in f.peers.all():
                assert p.penalty == 0 and not p.why and not p.quarantined_until, (x, p)
    finally:
        for runner in runners:
            await runner.cleanup()
        for f in feds.values():
            await f.aclose()
    # a bundle for a member carries b1 and not b2 (read back with D's own key)
    out = tmp_path / "para-d.bundle"
    export_bundle(c, n["D"].key, out)
    with out.open("rb") as src:
        read = read_bundle(src, SigningKeyring(n["D"]._signing_key()), tmp_path)
    carried = {parse_wire(w).id for w in read.records}
    assert b1 in carried and b2 not in carried
    assert any(parse_wire(w).id == b2 for w in c.export(scope))  # C still holds it
    assert import_bundle(n["D"], out).report.rejected == []
    for node in n.values():
        node.close()


def test_the_evidence_index_drops_a_review_that_lost_its_authority(make_node: Callable[..., Node]) -> None:
    """E6 in a real plugin table: B's evidence review written after its removal, indexed by C before the
    removal arrived, leaves C's ``evidence_index`` when it does; the one from before stays."""
    na, nb, nc = (make_node(f"Org {x}", seed=60 + i) for i, x in enumerate("ABC"))
    rules = {ADMIT: BY_MEMBER, REMOVE: BY_MEMBER, ROLES: BY_MEMBER, RULES: BY_MEMBER}
    _gid, scope = create_group(na, "Red", [(nb.key, "B", []), (nc.key, "C", [])], rules)
    nb.ingest(list(na.export(scope)))
    review = {"sha256": b"\x11" * 32, "item": b"\x22" * 32, "status": "verified"}
    r1 = nb.publish("evidence.review", review, scope=scope)
    na.ingest([r1.record.wire])
    before = list(na.export(scope))
    assert not act(na, scope, REMOVE, {"key": nb.key}).proposal
    r2 = nb.publish("evidence.review", review | {"status": "false"}, scope=scope)  # B was not told
    nc.ingest(before)
    nc.ingest(list(nb.export(scope)))

    def indexed() -> set[bytes]:
        return {rid for (rid,) in nc.db.execute("SELECT record FROM evidence_index")}

    assert indexed() == {r1.id, r2.id}
    nc.ingest(list(na.export(scope)))  # the removal
    assert indexed() == {r1.id}
    assert r2.id in nc.governance.hidden()
