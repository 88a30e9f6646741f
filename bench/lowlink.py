"""Sync of a coalition's records and files over emulated bad links (issue 15), as ratios against an
unshaped baseline taken in the same run. Needs root (network namespaces; see docs/testing.md).

    sudo .venv/bin/python bench/lowlink.py [--records 10000] [--mb 50] [--links a,b]

Node A holds ``--records`` public notes and ``--mb`` MB of files (1 MB each); node B, on the shaped
link, starts empty and syncs from A, then fetches the files, until it holds everything. Figures, one
JSON object per link: seconds, bytes on B's link each way (frames, from the emulator's counters),
goodput (record and file bytes delivered per second) as a share of the link's rate, the time as a
ratio of the baseline's, and the bytes asked for again after a cut (``resent_bytes``: blob ranges
requested twice; records received twice), as a share of what was in flight. Target: goodput >= 0.7 of
link (a)'s rate; resent under 5 % of what was in flight. Nothing is asserted. Progress on stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tequio.node import Node
from tequio.node.federation import Federation
from tequio.schemas import BlobRef
from tests.lannodes import dial_from, serve_in
from tests.netlink import IDEAL, LINK_A, LINK_B, Lan, Link

LINKS = {"a": LINK_A, "b": LINK_B}


def log(msg: str) -> None:
    print(f"[lowlink] {msg}", file=sys.stderr, flush=True)


class Counting:
    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.ranges: list[tuple[bytes, int, int]] = []

    def link(self, peer: bytes) -> Any:
        return self.inner.link(peer)

    async def call(self, peer: bytes, method: str, message: Any) -> Any:
        if method == "blob":
            self.ranges.append((message["hash"], message["offset"], message["length"]))
        return await self.inner.call(peer, method, message)


def make_source(root: Path, records: int, mb: int) -> Node:
    a = Node.create(root / "a", name="A", kdf_profile="interactive")
    for i in range(records):
        a.publish("core.note", {"text": f"registro {i} de la coalición, testigos y fechas " + "x" * 80})
    for i in range(mb):
        data = (f"archivo {i} ".encode() * 100_000)[:1_000_000]
        h, n = a.blobs.put_chunks([data])
        a.publish("core.note", {"text": f"foto {i}"}, blobs=[BlobRef(h, n, "image/jpeg")])
    return a


async def run_link(link: Link, src: Node, root: Path, tag: str) -> dict[str, Any]:
    (root / f"lan-{tag}").mkdir()
    with Lan(root / f"lan-{tag}") as lan:
        near, far = lan.host("near"), lan.host("far", link)
        a = Federation(src)
        b = Federation(Node.create(root / f"b-{tag}", name="B", kdf_profile="interactive"))
        runner, a_addr = await serve_in(near, a)
        dial_from(far, b)
        b.peers.trust(src.key, "A", [a_addr])
        a.peers.trust(b.node.key, "B", [])
        counting = Counting(b.transport)
        b.blobs.transport = counting
        dups = [0]

        def seen(peer: bytes, s: Any) -> None:
            dups[0] += s.duplicates

        b.syncer.on_received = seen
        start = time.monotonic()
        want = src.store.position()
        try:
            while True:
                try:
                    res = await b.syncer.sync(src.key)
                    if res.in_sync and not b.host.wanted_blobs(1):
                        break
                    if res.in_sync:
                        await b.blobs.run_once()
                except Exception as e:  # a cut: go on from what arrived
                    log(f"{tag}: {type(e).__name__}: {e}")
                    await asyncio.sleep(1)
            took = time.monotonic() - start
            c = far.counters()
        finally:
            await a.aclose()
            await b.aclose()
            await runner.cleanup()
        rec_bytes = sum(len(w) for _, _, w, _ in src.store.records_since(0, want + 1))
        file_bytes = src.blobs.usage()
        seen_r: dict[tuple[bytes, int], int] = {}
        for h, off, _ in counting.ranges:
            seen_r[(h, off)] = seen_r.get((h, off), 0) + 1
        resent = sum(n for h, off, n in counting.ranges if seen_r[(h, off)] > 1) // 2
        rate = (link.down.rate_kbit or 0) * 1000 / 8
        good = (rec_bytes + file_bytes) / took
        b.node.close()
        return {
            "bench": "lowlink",
            "link": link.name,
            "seconds": round(took, 1),
            "down_bytes": c["down_bytes"],
            "up_bytes": c["up_bytes"],
            "payload_bytes": rec_bytes + file_bytes,
            "goodput_share": round(good / rate, 3) if rate else None,
            "goodput_target": 0.7 if link.name == "a" else None,
            "resent_blob_bytes": resent,
            "records_received_twice": dups[0],
            "stalls": b.http.link(src.key).stalls if b.http else None,
        }


async def main_async(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="tequio-lowlink-") as tmp:
        root = Path(tmp)
        src = make_source(root, args.records, args.mb)
        log(f"source: {args.records} records, {args.mb} MB")
        base = await run_link(IDEAL, src, root, "ideal")
        print(json.dumps(base), flush=True)
        for name in args.links.split(","):
            fig = await run_link(LINKS[name], src, root, name)
            fig["ratio_to_baseline"] = round(fig["seconds"] / max(base["seconds"], 0.001), 1)
            print(json.dumps(fig), flush=True)
        src.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--records", type=int, default=10_000)
    ap.add_argument("--mb", type=int, default=50)
    ap.add_argument("--links", default="a,b")
    args = ap.parse_args()
    if any(x not in LINKS for x in args.links.split(",")):
        ap.error("--links: a comma-separated list of a, b")
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
