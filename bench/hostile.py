"""A running node under attack: its peak memory and how fast its local API answers meanwhile.

    python bench/hostile.py [--idle-s 5] [--attack-s 15] [--connections 2000] [--import-gib 2]

Each scenario starts a fresh ``tequio serve`` (a subprocess, on 127.0.0.1, with the common soft limit
of 1,024 open files) and first measures it idle for ``--idle-s`` seconds: that is the baseline, on
the same node in the same run. Then the attack runs while a thread of this process calls
``GET /api/v1/info`` every 50 ms on a connection of its own. Figures, one JSON object per scenario:

- ``idle``: the baseline alone (the first scenario's idle phase).
- ``handshake_16mib``: a stranger's handshakes, each boxing 16 MiB of empty arrays, sent whole, one
  after the other for ``--attack-s`` (the attack that once took a node to 1.34 GB and froze its API).
- ``idle_connections``: ``--connections`` idle TCP connections opened from 100 loopback addresses
  and held for ``--attack-s`` (1,100 once stopped both listeners); ``held_after_1s`` is how many
  the node kept open (its cap), ``held_at_end`` how many outlived the header timeout, and a trusted
  peer's sync during the attack is timed.
- ``hostile_responder_cli``: ``tequio sync`` against a trusted peer that answers every sync with
  20,000 new heads and ``more: true`` (once ran until killed at 2.1 GB); its own peak RSS too.
- ``hostile_responder_serve``: ``serve`` itself doing gossip rounds with that peer for ``--attack-s``.
- ``push_flood``: a trusted peer pushing valid new records of its own, 2,000 a message, one message
  after another (nothing the protocol refuses: it shows what ingest on the event loop costs).
- ``sparse_import``: ``tequio records import`` of a ``--import-gib`` GiB sparse file (all zeros) beside
  the running ``serve``, stopped after ``--attack-s`` if still running; its own peak RSS too.

``peak_rss_mb`` is the serve process's VmHWM (the most it ever held); ``api_p99_ms`` the 99th
percentile of the calls made during the attack. Targets (issue 9): peak RSS under 200 MB and API p99
under 1 s. The hostile peer and the attackers run in other processes or in this one, never in the
measured node. Progress goes to stderr; nothing is asserted on a timing.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the attack tools live with the tests

from nacl.signing import SigningKey  # noqa: E402

from tequio.federation.http import HttpTransport  # noqa: E402
from tequio.federation.messages import Limits  # noqa: E402
from tequio.federation.wire import SigningKeyring  # noqa: E402
from tequio.node import Node  # noqa: E402
from tequio.node.federation import Federation  # noqa: E402
from tequio.schemas import Payload, make_record  # noqa: E402
from tests.attackkit import (  # noqa: E402
    HostileProcess,
    Served,
    auth_headers,
    boxed,
    cli_env,
    fresh_keyring,
    init_home,
    peak_rss_mb,
    start_serve,
    trust,
)
from tests.conftest import TEQUIO  # noqa: E402
from tests.test_blobs import PEAK_RSS  # noqa: E402

MIB = 1024 * 1024
SOFT_NOFILE = 1024  # the common default soft limit, as in the report


def log(*parts: object) -> None:
    print(*parts, file=sys.stderr, flush=True)


def p99(values: list[float]) -> float:
    if len(values) < 2:
        return values[0] if values else 0.0
    return statistics.quantiles(values, n=100, method="inclusive")[98]


async def measure(
    served: Served, idle_s: float, attack: Callable[[], Awaitable[dict[str, Any]]]
) -> dict[str, Any]:
    """Idle for ``idle_s`` (the baseline), then ``attack`` while the API is called every 50 ms."""
    with served.watched(every_s=0.05):
        await asyncio.sleep(idle_s)
    idle = list(served.latencies)
    base_rss = peak_rss_mb(served.proc.pid)
    served.latencies.clear()
    with served.watched(every_s=0.05):
        extra = await attack()
    during = list(served.latencies)
    peak = peak_rss_mb(served.proc.pid)
    out = {
        "baseline_rss_mb": round(base_rss, 1),
        "baseline_p99_ms": round(p99(idle) * 1000, 1),
        "peak_rss_mb": round(peak, 1),
        "api_p99_ms": round(p99(during) * 1000, 1),
        "api_max_ms": round(max(during, default=0) * 1000, 1),
        "api_calls": len(during),
        "rss_ratio": round(peak / base_rss, 2),
        "p99_ratio": round(p99(during) / max(p99(idle), 1e-6), 1),
        "rss_target_mb": 200,
        "p99_target_ms": 1000,
    }
    out["meets_target"] = out["peak_rss_mb"] < 200 and out["api_p99_ms"] < 1000
    return out | extra


def fresh(tmp: Path, name: str, **federation: object) -> Path:
    home = tmp / name
    init_home(home, **federation)
    return home


async def raw(addr: str, data: bytes, read_s: float = 30) -> str:
    host, port = addr.split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(data)
    try:
        return (await asyncio.wait_for(reader.readline(), read_s)).decode().strip()
    except ConnectionResetError:
        return "reset"
    finally:
        writer.close()


async def handshake_16mib(tmp: Path, a: argparse.Namespace) -> dict[str, Any]:
    served = start_serve(fresh(tmp, "handshake"), nofile=SOFT_NOFILE)
    stranger = fresh_keyring(5151)
    n = 16 * MIB - 64
    body = boxed(stranger, served.key, b"\xdd" + n.to_bytes(4, "big") + b"\x90" * n)

    async def attack() -> dict[str, Any]:
        sent, answers = 0, set()
        deadline = time.monotonic() + a.attack_s
        while time.monotonic() < deadline:
            headers = auth_headers(stranger, served.key, "handshake", body, os.urandom(16))
            head = f"POST /fed/v1/handshake HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n"
            head += "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
            answers.add(await raw(served.fed, head.encode() + body))
            sent += 1
        return {"handshakes": sent, "answers": sorted(answers)}

    try:
        return {"figure": "handshake_16mib"} | await measure(served, a.idle_s, attack)
    finally:
        served.stop()


async def idle_connections(tmp: Path, a: argparse.Namespace) -> dict[str, Any]:
    home = fresh(tmp, "connections")
    friend = Node.create(tmp / "friend", name="Amiga", kdf_profile="interactive")
    fed = Federation(friend)
    trust(home, friend.key, "Amiga", [])
    served = start_serve(home, nofile=SOFT_NOFILE)
    fed.peers.trust(served.key, "Casa", [served.fed])
    host, port = served.fed.split(":")

    async def attack() -> dict[str, Any]:
        conns = []
        for i in range(a.connections):
            with contextlib.suppress(OSError):
                conns.append(
                    await asyncio.open_connection(host, int(port), local_addr=(f"127.0.0.{2 + i % 100}", 0))
                )

        def held() -> int:
            return sum(1 for r, _ in conns if not (r.at_eof() or r.exception() is not None))

        await asyncio.sleep(1)  # the resets reach us
        held_at_first = held()
        friend.publish("core.note", {"text": "durante el ataque"})
        t = time.monotonic()
        res = await fed.syncer.sync(served.key)
        sync_s = time.monotonic() - t
        await asyncio.sleep(a.attack_s)
        held_at_end = held()  # idle ones are closed after the header timeout (10 s)
        for _, w in conns:
            w.close()
        return {
            "connections": len(conns),
            "held_after_1s": held_at_first,
            "held_at_end": held_at_end,
            "trusted_sync_ms": round(sync_s * 1000, 1),
            "trusted_sync_accepted": res.accepted_there,
        }

    try:
        return {"figure": "idle_connections"} | await measure(served, a.idle_s, attack)
    finally:
        await fed.aclose()
        friend.close()
        err = served.stop()
        log(f"idle_connections: serve wrote {len(err)} bytes to stderr")


async def _cli(home: Path, *args: str, timeout: float) -> tuple[int | None, float, str]:
    """A tequio command under the peak-RSS wrapper; killed after ``timeout``. (code, peak MiB, stderr)"""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", PEAK_RSS, TEQUIO, *args,
        env=cli_env(home), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        start_new_session=True,
    )  # fmt: skip
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        rss = _group_rss_mb(proc.pid)
        os.killpg(proc.pid, signal.SIGKILL)  # the wrapper and the command it runs, both ours
        out, err = await proc.communicate()
        return None, rss, err.decode()[-300:]
    lines = out.decode().strip().splitlines()
    return (
        proc.returncode,
        int(lines[-1]) / 1024 if lines and lines[-1].isdigit() else float("nan"),
        err.decode(),
    )


def _group_rss_mb(pgid: int) -> float:
    """The largest VmHWM among the processes of a process group (ours: the wrapper and its command)."""
    best = 0.0
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            with contextlib.suppress(OSError, ValueError):
                if os.getpgid(int(d.name)) == pgid:
                    best = max(best, peak_rss_mb(int(d.name)))
    return best


async def hostile_cli(tmp: Path, a: argparse.Namespace) -> dict[str, Any]:
    home = fresh(tmp, "responder-cli", interval_ms=600_000)  # serve's own rounds: the next figure
    hostile = HostileProcess("endless-pages", 6161)
    trust(home, hostile.key, "Mala", [hostile.addr])
    served = start_serve(home, nofile=SOFT_NOFILE)

    async def attack() -> dict[str, Any]:
        t = time.monotonic()
        code, rss, _ = await _cli(home, "sync", "--json", timeout=120)
        return {
            "sync_exit": code,
            "sync_seconds": round(time.monotonic() - t, 1),
            "sync_peak_rss_mb": round(rss, 1),
        }

    try:
        return {"figure": "hostile_responder_cli"} | await measure(served, a.idle_s, attack)
    finally:
        served.stop()
        hostile.stop()


async def hostile_serve(tmp: Path, a: argparse.Namespace) -> dict[str, Any]:
    home = fresh(tmp, "responder-serve")
    served = start_serve(home, nofile=SOFT_NOFILE)
    hostile = HostileProcess("endless-pages", 7171)

    async def attack() -> dict[str, Any]:
        trust(home, hostile.key, "Mala", [hostile.addr])  # serve picks the new peer up at its next round
        await asyncio.sleep(a.attack_s)
        r = subprocess.run(
            [TEQUIO, "peer", "list", "--json"], env=cli_env(home), capture_output=True, text=True
        )
        (p,) = json.loads(r.stdout)
        return {"peer_status": p["status"], "peer_why": p["why"], "peer_penalty": p["penalty"]}

    try:
        return {"figure": "hostile_responder_serve"} | await measure(served, a.idle_s, attack)
    finally:
        served.stop()
        hostile.stop()


async def push_flood(tmp: Path, a: argparse.Namespace) -> dict[str, Any]:
    """Not an attack the protocol can refuse: a trusted peer pushing valid new records of its own
    feed, 2,000 a message, one message after another. It shows what ingest on the event loop costs."""
    home = fresh(tmp, "push-flood")
    sk = SigningKey(os.urandom(32))
    trust(home, bytes(sk.verify_key), "Prolífica", [])
    served = start_serve(home, nofile=SOFT_NOFILE)
    keyring = SigningKeyring(sk)
    transport = HttpTransport(keyring, lambda _: [served.fed], now_ms, os.urandom, Limits())
    prev, wires = None, []
    for seq in range(1, 20_001):
        rec = make_record(
            sk, "public", seq, prev, now_ms(), Payload("core.note", {"text": f"n{seq}"}).encode()
        )
        prev = rec.id
        wires.append(rec.wire)

    async def attack() -> dict[str, Any]:
        accepted, pushes, t = 0, 0, time.monotonic()
        for i in range(0, len(wires), 2000):
            reply = await transport.call(served.key, "push", {"records": wires[i : i + 2000]})
            accepted += reply["accepted"]
            pushes += 1
            if time.monotonic() - t > a.attack_s:
                break
        took = time.monotonic() - t
        return {"pushes": pushes, "accepted": accepted, "records_per_s": round(accepted / took)}

    try:
        return {"figure": "push_flood"} | await measure(served, a.idle_s, attack)
    finally:
        await transport.close()
        served.stop()


def now_ms() -> int:
    return time.time_ns() // 1_000_000


async def sparse_import(tmp: Path, a: argparse.Namespace) -> dict[str, Any]:
    home = fresh(tmp, "import")
    sparse = tmp / "zeros.bin"
    with sparse.open("wb") as f:
        f.truncate(a.import_gib * 1024 * MIB)
    served = start_serve(home, nofile=SOFT_NOFILE)

    async def attack() -> dict[str, Any]:
        t = time.monotonic()
        code, rss, err = await _cli(home, "records", "import", str(sparse), "--json", timeout=a.attack_s)
        return {
            "import_exit": code,
            "import_seconds": round(time.monotonic() - t, 1),
            "import_peak_rss_mb": round(rss, 1),
            "import_stopped": code is None,
            "import_said": err.strip().splitlines()[-1][:200] if err.strip() else "",
        }

    try:
        return {"figure": "sparse_import"} | await measure(served, a.idle_s, attack)
    finally:
        served.stop()


async def run(a: argparse.Namespace, tmp: Path) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, a.connections + 256)), hard))
    first = True
    for name, scenario in (
        ("handshake_16mib", handshake_16mib),
        ("idle_connections", idle_connections),
        ("hostile_responder_cli", hostile_cli),
        ("hostile_responder_serve", hostile_serve),
        ("push_flood", push_flood),
        ("sparse_import", sparse_import),
    ):
        if a.only and name not in a.only:
            continue
        log(f"{name} ...")
        fig = await scenario(tmp, a)
        if first:
            keys = ("baseline_rss_mb", "baseline_p99_ms")
            print(json.dumps({"figure": "idle", **{k: fig[k] for k in keys}}), flush=True)
            first = False
        print(json.dumps(fig), flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--idle-s", type=float, default=5)
    ap.add_argument("--attack-s", type=float, default=15)
    ap.add_argument("--connections", type=int, default=2000)
    ap.add_argument("--import-gib", type=int, default=2)
    ap.add_argument("--only", nargs="*", default=[])
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(run(a, Path(tmp)))


if __name__ == "__main__":
    main()
