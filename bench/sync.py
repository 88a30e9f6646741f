"""Two real nodes on loopback, 100,000 records in 1,000 feeds: catch-up, in-sync and small-delta syncs.

    python bench/sync.py [--records 100000] [--feeds 1000] [--rounds 3]

Node A holds the records, node B starts empty. Both serve their federation listener in this process
on 127.0.0.1 (aiohttp, as ``tequio serve`` does), and each listener sits behind a small TCP relay that
counts the bytes it carries each way, so the byte figures are what crosses the wire, HTTP framing
included. The transport meter (boxed bodies plus the ``Tequio-Auth`` values) is reported beside them.

Figures, one JSON object per line:

- ``catch_up``: B syncs from A until in sync, in records/s, as a ratio of the rate at which
  ``Node.import_stream`` (what ``tequio records import`` runs) loads the same records from a file into a
  fresh node. The rounds interleave the two, each into a fresh node, and the best of each is compared.
- ``in_sync``: one more sync once in sync, at the full record count: round trips and bytes each way.
- ``delta_1``: A gets one new record, B syncs: round trips and the bytes beyond the record's own.
- ``delta_1000``: A gets one new record in each of the 1,000 feeds, B syncs: the same.

Targets are written into the JSON next to the measurement; nothing is asserted on a timing.
Progress goes to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web
from nacl.signing import SigningKey

from tequio.federation.sync import SyncResult
from tequio.node import Node
from tequio.node.federation import Federation
from tequio.schemas import Payload, encode, make_record

WORDS = [
    "la",
    "marcha",
    "avanzó",
    "por",
    "la",
    "avenida",
    "central",
    "cuando",
    "llegaron",
    "las",
    "patrullas",
    "y",
    "detuvieron",
    "a",
    "tres",
    "estudiantes",
    "frente",
    "a",
    "la",
    "escuela",
    "normal",
    "testigos",
    "grabaron",
    "desde",
    "los",
    "balcones",
    "vecinos",
    "del",
    "barrio",
    "denunciaron",
    "cortes",
    "de",
    "agua",
    "durante",
    "tres",
    "días",
    "en",
    "la",
    "colonia",
    "norte",
    "la",
    "asamblea",
    "acordó",
    "pedir",
    "información",
    "al",
    "municipio",
    "sobre",
    "el",
    "censo",
    "de",
    "pozos",
    "comunitarios",
]
T0 = 1_767_225_600_000


def log(msg: str) -> None:
    print(f"[sync] {msg}", file=sys.stderr, flush=True)


def note_text(rnd: random.Random) -> str:
    """Words until the text is 60 to 200 bytes of UTF-8 long (the length itself drawn uniformly)."""
    want = rnd.randint(60, 200)
    words: list[str] = []
    while len(" ".join(words).encode()) < want:
        words.append(rnd.choice(WORDS))
    while len(" ".join(words).encode()) > 200:
        words.pop()
    return " ".join(words)


class Feeds:
    """``n`` public feeds of ``core.note`` records, one author each, extended in order."""

    def __init__(self, n: int, seed: int = 7) -> None:
        self.rnd = random.Random(seed)
        self.keys = [SigningKey(self.rnd.randbytes(32)) for _ in range(n)]
        self.heads: list[tuple[int, bytes | None]] = [(0, None)] * n

    def next(self, i: int) -> bytes:
        seq, prev = self.heads[i]
        payload = Payload("core.note", {"text": note_text(self.rnd)}).encode()
        rec = make_record(self.keys[i], "public", seq + 1, prev, T0 + 1000 * seq + i, payload)
        self.heads[i] = (seq + 1, rec.id)
        return rec.wire

    def interleaved(self, records: int) -> list[bytes]:
        """``records`` new records spread evenly over the feeds, shuffled, each feed in order."""
        order = [i % len(self.keys) for i in range(records)]
        self.rnd.shuffle(order)
        return [self.next(i) for i in order]


# -- the wire: listeners and counting relays -----------------------------------------------------------------


@dataclass
class Relay:
    """A TCP relay on 127.0.0.1 in front of one listener; ``up`` counts client-to-server bytes."""

    target: int
    up: int = 0
    down: int = 0
    addr: str = ""
    _server: asyncio.Server | None = None
    _writers: list[asyncio.StreamWriter] = field(default_factory=list)

    async def start(self) -> str:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        self.addr = f"127.0.0.1:{port}"
        return self.addr

    async def _accept(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        server_r, server_w = await asyncio.open_connection("127.0.0.1", self.target)
        self._writers += [client_w, server_w]
        await asyncio.gather(self._pipe(client_r, server_w, True), self._pipe(server_r, client_w, False))

    async def _pipe(self, r: asyncio.StreamReader, w: asyncio.StreamWriter, up: bool) -> None:
        try:
            while data := await r.read(1 << 16):
                if up:
                    self.up += len(data)
                else:
                    self.down += len(data)
                w.write(data)
                await w.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            w.close()

    def counts(self) -> tuple[int, int]:
        return self.up, self.down

    async def close(self) -> None:
        for w in self._writers:
            w.close()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()


@dataclass
class Served:
    fed: Federation
    runner: web.AppRunner
    relay: Relay

    @property
    def key(self) -> bytes:
        return self.fed.node.key

    async def close(self) -> None:
        await self.fed.aclose()
        await self.runner.cleanup()
        await self.relay.close()
        self.fed.node.close()


async def serve(node: Node) -> Served:
    """The node's federation listener on 127.0.0.1 (as ``tequio serve`` builds it), behind a relay."""
    fed = Federation(node)
    runner, addr = await fed.listen("127.0.0.1", 0)  # behind its connection guard, as in serve
    relay = Relay(int(addr.rsplit(":", 1)[1]))
    await relay.start()
    return Served(fed, runner, relay)


def befriend(a: Served, b: Served) -> None:
    """What a completed invite does, with each peer's address pointing at the other's relay."""
    a.fed.peers.trust(b.key, b.fed.node.name, [b.relay.addr])
    b.fed.peers.trust(a.key, a.fed.node.name, [a.relay.addr])


@dataclass
class Traffic:
    """Bytes and round trips of some syncs started by ``b`` with ``a`` (so all through ``a``'s relay)."""

    round_trips: int = 0
    calls: int = 0
    wire_up: int = 0
    wire_down: int = 0
    meter_sent: int = 0
    meter_received: int = 0
    message_up: int = 0  # canonical msgpack of the messages, before boxing
    message_down: int = 0
    seconds: float = 0.0
    results: list[SyncResult] = field(default_factory=list)

    def json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "round_trips": self.round_trips,
            "sync_calls": self.calls,
            "wire_bytes_up": self.wire_up,
            "wire_bytes_down": self.wire_down,
            "meter_bytes_up": self.meter_sent,
            "meter_bytes_down": self.meter_received,
        }
        if self.message_up:
            # Where the bytes go: the messages themselves; the boxes and Tequio-Auth values (meter
            # minus messages); the rest of HTTP (request and status lines, other headers: wire minus meter).
            out["split_up"] = {
                "message": self.message_up,
                "box_and_auth": self.meter_sent - self.message_up,
                "http_other": self.wire_up - self.meter_sent,
            }
            out["split_down"] = {
                "message": self.message_down,
                "box_and_auth": self.meter_received - self.message_down,
                "http_other": self.wire_down - self.meter_received,
            }
        return out


async def measured(b: Served, a: Served, until_in_sync: bool, messages: bool = True) -> Traffic:
    """``b.syncer.sync(a)`` once, or until a round finds the two in sync; what it cost.

    With ``messages``, the plaintext size of every message is counted too (re-encoding each one,
    which is why the timed catch-up does without).
    """
    http = b.fed.http
    assert http is not None
    meter = http.meter
    up0, down0 = a.relay.counts()
    sent0, recv0 = meter.sent, meter.received
    t = Traffic()
    if messages:
        call = http.call

        async def counting(peer: bytes, method: str, message: Any) -> Any:
            t.message_up += len(encode(message))
            reply = await call(peer, method, message)
            t.message_down += len(encode(reply))
            return reply

        http.call = counting  # type: ignore[method-assign]
    start = time.perf_counter()
    try:
        while True:
            res = await b.fed.syncer.sync(a.key)
            t.results.append(res)
            t.round_trips += res.round_trips
            t.calls += 1
            if res.in_sync or not until_in_sync:
                break
    finally:
        t.seconds = time.perf_counter() - start
        if messages:
            del http.call
    up, down = a.relay.counts()
    t.wire_up, t.wire_down = up - up0, down - down0
    t.meter_sent, t.meter_received = meter.sent - sent0, meter.received - recv0
    return t


class Timed:
    """Wraps a callable and adds up the seconds spent in it (to split a sync into its phases)."""

    def __init__(self, fn: Callable[..., Any]) -> None:
        self.fn = fn
        self.seconds = 0.0
        self.calls = 0

    def __call__(self, *args: Any, **kw: Any) -> Any:
        t = time.perf_counter()
        try:
            return self.fn(*args, **kw)
        finally:
            self.seconds += time.perf_counter() - t
            self.calls += 1


# -- the run -----------------------------------------------------------------------------------------------


def new_node(home: Path, name: str) -> Node:
    return Node.create(home, name=name, kdf_profile="interactive")


def local_import(stream: Path, home: Path, n: int) -> float:
    """Seconds for ``Node.import_stream`` of the stream into a fresh node (the node's opening excluded)."""
    node = new_node(home, "import")
    try:
        with stream.open("rb") as f:
            t = time.perf_counter()
            report = node.import_stream(f, "bench")
            elapsed = time.perf_counter() - t
        if report.accepted != n:
            raise SystemExit(f"import accepted {report.accepted} of {n}: {report.rejected[:3]}")
        return elapsed
    finally:
        node.close()
        shutil.rmtree(home, ignore_errors=True)


async def catch_up(a: Served, home: Path, n: int) -> tuple[Served, Traffic, dict[str, float]]:
    """A fresh node B, trusted both ways with A, syncing from A until in sync."""
    b = await serve(new_node(home, "B"))
    befriend(a, b)
    ingest_b = Timed(b.fed.host.ingest)
    read_a = Timed(a.fed.host.feed_records)
    b.fed.host.ingest = ingest_b  # type: ignore[method-assign]
    a.fed.host.feed_records = read_a  # type: ignore[method-assign]
    try:
        t = await measured(b, a, until_in_sync=True, messages=False)
    finally:
        del b.fed.host.ingest, a.fed.host.feed_records
    held = b.fed.node.count()
    if held != n:
        raise SystemExit(f"B holds {held} of {n} records after catch-up")
    phases = {
        "b_ingest_s": round(ingest_b.seconds, 3),
        "a_read_records_s": round(read_a.seconds, 3),
        "rest_s": round(t.seconds - ingest_b.seconds - read_a.seconds, 3),
    }
    return b, t, phases


async def run(a_args: argparse.Namespace, tmp: Path) -> None:
    n, nfeeds = a_args.records, a_args.feeds
    common = {"records": n, "feeds": nfeeds, "cpus": os.cpu_count()}

    log(f"signing {n} records in {nfeeds} feeds")
    feeds = Feeds(nfeeds)
    wires = feeds.interleaved(n)
    record_bytes = sum(len(w) for w in wires)
    node_a = new_node(tmp / "a", "A")
    for i in range(0, n, 5000):
        rep = node_a.ingest(wires[i : i + 5000], "bench")
        if rep.accepted != len(wires[i : i + 5000]):
            raise SystemExit(f"A rejected records: {rep.rejected[:3]}")
    del wires
    stream = tmp / "a.tqs"
    stream.write_bytes(b"".join(node_a.export()))
    a = await serve(node_a)
    log(f"A holds {node_a.count()} records ({record_bytes} bytes), listening behind {a.relay.addr}")

    imports: list[float] = []
    syncs: list[tuple[Traffic, dict[str, float]]] = []
    b: Served | None = None
    for r in range(a_args.rounds):
        imports.append(local_import(stream, tmp / f"import{r}", n))
        log(f"round {r + 1}: local import {n / imports[-1]:,.0f} records/s")
        if b is not None:
            await b.close()
            shutil.rmtree(tmp / f"b{r - 1}", ignore_errors=True)
        b, t, phases = await catch_up(a, tmp / f"b{r}", n)
        syncs.append((t, phases))
        log(f"round {r + 1}: catch-up {n / t.seconds:,.0f} records/s in {t.round_trips} round trips")
    assert b is not None

    best_import = min(imports)
    best, phases = min(syncs, key=lambda s: s[0].seconds)
    rate, base = n / best.seconds, n / best_import
    wire = best.wire_up + best.wire_down
    print(
        json.dumps(
            {
                "figure": "catch_up",
                **common,
                "rounds": a_args.rounds,
                "records_per_s": round(rate),
                "local_import_per_s": round(base),
                "ratio": round(rate / base, 3),
                "seconds": round(best.seconds, 3),
                "local_import_seconds": round(best_import, 3),
                "phases": phases,
                "records_per_exchange_max": a.fed.limits.max_records,
                "import_batch": node_a.config.ingest.batch_size,
                **best.json(),
                "record_bytes": record_bytes,
                "wire_over_record_bytes": round(wire / record_bytes, 3),
                "what": "B syncs from A over HTTP on loopback until in sync, vs Node.import_stream of "
                "the same records from a file, best of the rounds each",
            }
        ),
        flush=True,
    )

    t = await measured(b, a, until_in_sync=False)
    ok = t.round_trips == 1 and t.results[-1].in_sync and max(t.wire_up, t.wire_down) <= 512
    print(
        json.dumps(
            {
                "figure": "in_sync",
                **common,
                "held": node_a.count(),
                **t.json(),
                "target": {"round_trips": 1, "wire_bytes_each_way_max": 512},
                "meets_target": ok,
            }
        ),
        flush=True,
    )

    for d in (1, nfeeds):
        new = [feeds.next(i) for i in range(d)]
        if node_a.ingest(new, "bench").accepted != d:
            raise SystemExit("A did not accept the new records")
        t = await measured(b, a, until_in_sync=False)
        if b.fed.node.count() != node_a.count():
            raise SystemExit(f"B holds {b.fed.node.count()} records, A {node_a.count()}")
        own = sum(len(w) for w in new)
        overhead = t.wire_up + t.wire_down - own
        extra: dict[str, Any] = {}
        if d == 1:
            extra["target"] = {"round_trips_max": 2, "overhead_bytes_max": 1024}
            extra["meets_target"] = t.round_trips <= 2 and overhead <= 1024
        print(
            json.dumps(
                {
                    "figure": f"delta_{d}",
                    **common,
                    "new_records": d,
                    "held": node_a.count(),
                    **t.json(),
                    "new_record_bytes": own,
                    "overhead_bytes": overhead,
                    "overhead_bytes_per_record": round(overhead / d, 1),
                    "meter_overhead_bytes": t.meter_sent + t.meter_received - own,
                    **extra,
                }
            ),
            flush=True,
        )
    await b.close()
    await a.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=100_000)
    ap.add_argument("--feeds", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(run(a, Path(tmp)))


if __name__ == "__main__":
    main()
