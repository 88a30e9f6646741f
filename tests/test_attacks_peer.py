"""A hostile trusted peer cannot run a node out of memory (issue 9, section 4).

The hostile peer is a real aiohttp server (or client) that signs and boxes exactly as a node does,
with federation's own wire code, and answers or asks what no honest node would. Each attack goes
through real HTTP against `tequio sync` or `tequio serve` subprocesses, and asserts the refusal,
the penalty (with its rule in `peer list`), bounded memory, and a healthy node.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp

from tequio.node import Node
from tequio.schemas import BlobRef
from tests.attackkit import (
    HostilePeer,
    HostileProcess,
    Served,
    cli_env,
    endless_pages,
    fresh_keyring,
    init_home,
    peers_of,
    signed_post,
    start_serve,
    store_is_healthy,
    trust,
    wait_for,
)
from tests.conftest import TEQUIO, peak_rss_mb
from tests.test_blobs import PEAK_RSS

MIB = 1024 * 1024


async def _sync_cli(home: Path, timeout: float = 120) -> tuple[int, list[dict[str, Any]], float]:
    """`tequio sync --json` in a subprocess (without blocking this test's event loop, which serves
    the hostile peer); returns its exit status, its JSON and its peak RSS in MiB."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        PEAK_RSS,
        TEQUIO,
        "sync",
        "--json",
        env=cli_env(home),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout)
    *lines, rss = out.decode().strip().splitlines()
    assert "Traceback" not in err.decode(), err.decode()
    return proc.returncode or 0, json.loads("\n".join(lines)), int(rss) / 1024


async def _against(tmp_path: Path, answer: Callable[[str, Any], Any]) -> tuple[Path, HostilePeer]:
    home = tmp_path / "casa"
    init_home(home)
    hostile = HostilePeer(4242, answer)
    await hostile.start()
    trust(home, hostile.key, "Mala", [hostile.addr])
    return home, hostile


async def test_tequio_sync_against_endless_pages_stops_and_penalises(tmp_path: Path) -> None:
    """20,000 new, correctly sorted heads a page and `more: true` for ever: `tequio sync` once ran
    until killed at 2.1 GB. Now the round stops at 100,000 heads (F7), the peer is penalised."""
    home, hostile = await _against(tmp_path, endless_pages(20_000))
    try:
        code, (entry,), rss = await _sync_cli(home)
    finally:
        await hostile.close()
    assert code == 1 and entry["ok"] is False and entry["error"].startswith("sync: F7: more than 100000")
    assert hostile.calls["sync"] == 5  # 5 pages of 20,000, then the bound
    assert rss < 200, rss
    (peer,) = peers_of(home)
    assert "F7" in peer["why"] and 19 < peer["penalty"] <= 20  # points decay as they age
    store_is_healthy(home)


async def test_tequio_sync_refuses_a_reply_of_too_many_values(tmp_path: Path) -> None:
    """A signed sync reply holding 400,000 empty arrays is refused before it is built (F3)."""

    def answer(method: str, message: Any) -> Any:
        return {
            "in_sync": False,
            "epoch": bytes(16),
            "position": 1,
            "full": True,
            "more": False,
            "changes": [[]] * 400_000,
        }

    home, hostile = await _against(tmp_path, answer)
    try:
        code, (entry,), rss = await _sync_cli(home)
    finally:
        await hostile.close()
    assert code == 1 and "F3" in entry["error"] and "more than 300000 values" in entry["error"]
    assert rss < 200, rss
    assert "F3" in peers_of(home)[0]["why"]


async def test_serve_synced_by_a_hostile_peer_stays_small_and_penalises_it(tmp_path: Path) -> None:
    """`serve` once grew to 2 GB doing gossip rounds with the endless pager; now each round is
    bounded, the peer is penalised round after round, and the local API keeps answering."""
    home = tmp_path / "casa"
    init_home(home)
    hostile = HostileProcess("endless-pages", 4242)  # its own process: its work is not timed here
    trust(home, hostile.key, "Mala", [hostile.addr])
    served = start_serve(home)
    try:
        with served.watched():
            await wait_for("the hostile peer to be penalised", lambda: "F7" in peers_of(home)[0]["why"])
            await served.api_call_once()
    finally:
        hostile.stop()
    assert peak_rss_mb(served.proc.pid) < 200
    assert served.worst_latency() < 1.0, sorted(served.latencies)[-5:]
    err = served.stop()
    assert "Traceback" not in err
    store_is_healthy(home)


async def _hostile_client(tmp_path: Path) -> tuple[Served, Any]:
    home = tmp_path / "casa"
    init_home(home)
    mala = fresh_keyring(4343)
    trust(home, mala.key, "Mala", [])
    return start_serve(home), mala


async def test_malformed_requests_from_a_trusted_peer_are_400s_that_count(tmp_path: Path) -> None:
    """A blob range at offset 2^62 once gave a 500 and a traceback; a body of 16 MiB of empty
    arrays, or a 'record' of 4 MiB of them, would be decoded into millions of objects. Each is a
    signed 400 now, costs the peer 20 points, and the node stays small and answering."""
    served, mala = await _hostile_client(tmp_path)
    photo = tmp_path / "foto.bin"
    photo.write_bytes(bytes(range(256)) * 40)
    with Node.open(served.home) as node:  # a public record with a file, as `publish --attach` makes
        blob, size = node.blobs.put_file(photo)
        node.publish("core.note", {"text": "foto"}, blobs=[BlobRef(blob, size, "application/octet-stream")])
    n = 16 * MIB - 64
    with served.watched():
        async with aiohttp.ClientSession() as http:
            status, reply = await signed_post(
                http, served.fed, mala, served.key, "blob", {"hash": blob, "offset": 2**62, "length": 1}
            )
            assert status == 400 and reply["error"] == "bad-message" and "F10" in reply["detail"], reply
            status, reply = await signed_post(
                http,
                served.fed,
                mala,
                served.key,
                "push",
                plaintext=b"\xdd" + n.to_bytes(4, "big") + b"\x90" * n,
            )
            assert status == 400 and reply["error"] == "bad-message" and "300000 values" in reply["detail"]
            status, reply = await signed_post(
                http, served.fed, mala, served.key, "push", {"records": [b"\x90" * (4 * MIB)]}
            )
            assert status == 400 and "longer than 65797 bytes" in reply["detail"], reply
            status, reply = await signed_post(
                http, served.fed, mala, served.key, "blob", {"hash": blob, "offset": 0, "length": 16}
            )
            assert status == 200 and reply["data"] == photo.read_bytes()[:16]  # honest asks still work
        await served.api_call_once()
    assert served.worst_latency() < 1.0, sorted(served.latencies)[-5:]
    assert peak_rss_mb(served.proc.pid) < 200
    err = served.stop()
    assert "Traceback" not in err and "500" not in err, err
    (peer,) = peers_of(served.home)
    assert 58 < peer["penalty"] <= 60 and "push" in peer["why"]
    store_is_healthy(served.home)
