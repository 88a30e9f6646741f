"""An unauthenticated stranger costs almost nothing (issue 9, section 3), against real `tequio serve`.

Every attack goes through the real listener over TCP on 127.0.0.1, from keys and addresses the node
has never trusted, and asserts the refusal and that the node stays healthy: the local API answers
within 1 s during and after, and `tequio check` is clean.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
from collections.abc import Callable
from pathlib import Path

import aiohttp
import pytest

from tequio.node import Node
from tequio.node.federation import Federation
from tests.attackkit import (
    Served,
    auth_headers,
    boxed,
    fresh_keyring,
    init_home,
    signed_post,
    start_serve,
    store_is_healthy,
    tequio,
    trust,
    wait_for,
)
from tests.conftest import peak_rss_mb

MIB = 1024 * 1024


async def _raw(addr: str, head: str, body: bytes = b"", read_s: float = 10) -> tuple[str, bytes]:
    """Send a request head (and maybe some body) on a fresh connection; return the status line and
    whatever else comes before the server closes. Nothing waits for the body to be sent whole."""
    host, port = addr.split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(head.encode() + body)
    status, rest = b"", b""
    try:
        status = await asyncio.wait_for(reader.readline(), read_s)
        length = 0
        while (line := await asyncio.wait_for(reader.readline(), read_s)) not in (b"\r\n", b""):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        rest = await asyncio.wait_for(reader.readexactly(length), read_s)
    except ConnectionResetError:
        pass  # the node closed the connection on a body it will not read: what came first counts
    finally:
        writer.close()
    return status.decode().strip(), rest


def _head(method: str, length: int, headers: dict[str, str]) -> str:
    lines = [f"POST /fed/v1/{method} HTTP/1.1", "Host: nodo", f"Content-Length: {length}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return "\r\n".join(lines) + "\r\n\r\n"


@pytest.fixture
def served(tmp_path: Path) -> Served:
    home = tmp_path / "casa"
    init_home(home)
    return start_serve(home)


async def test_a_16_mib_handshake_of_empty_arrays_is_refused_unread(served: Served) -> None:
    """The attack that took a node to 1.34 GB and froze its API for 16 s: a fresh key, a handshake
    whose box holds 16 MiB of empty arrays. It is refused from its Content-Length (413), before a
    byte of it is read, decrypted or decoded."""
    with served.watched():
        stranger = fresh_keyring(9001)
        n = 16 * MIB - 64
        body = boxed(stranger, served.key, b"\xdd" + n.to_bytes(4, "big") + b"\x90" * n)
        headers = auth_headers(stranger, served.key, "handshake", body, os.urandom(16))
        t = time.monotonic()
        status, rest = await _raw(served.fed, _head("handshake", len(body), headers), body)
        took = time.monotonic() - t
        assert status == "HTTP/1.1 413 Request Entity Too Large", (status, rest)  # then a reset
        assert took < 2.0, took
        status, rest = await _raw(served.fed, _head("handshake", len(body), headers))
        assert (status, rest) == ("HTTP/1.1 413 Request Entity Too Large", b"too-large")
        # The same body from a stranger on any other method: 401 from the header alone.
        headers = auth_headers(stranger, served.key, "sync", body, os.urandom(16))
        status, rest = await _raw(served.fed, _head("sync", len(body), headers))  # no body sent at all
        assert status == "HTTP/1.1 401 Unauthorized" and rest.endswith(b"unknown-key")
        # Within the small limit, a box of empty arrays is decoded (bounded) and refused: no token.
        arrays = b"\xdc" + (3000).to_bytes(2, "big") + b"\x90" * 3000
        async with aiohttp.ClientSession() as http:
            status_code, reply = await signed_post(
                http, served.fed, stranger, served.key, "handshake", plaintext=arrays
            )
        assert status_code == 403 and reply["error"] == "invite-refused", reply
        await served.api_call_once()
    assert served.worst_latency() < 1.0, served.latencies
    assert peak_rss_mb(served.proc.pid) < 150
    assert served.stop().count("\n") <= 3  # one summary line for the refusals, not one per request
    store_is_healthy(served.home)


async def test_the_invite_token_is_checked_before_the_rest_of_a_handshake(served: Served) -> None:
    """F11: no token, or a wrong one, is 403 whatever else the message holds; a good token with a
    malformed rest is a signed 400 that spends nothing; then the handshake goes through."""
    r = tequio(served.home, "invite", "--ttl", "10m", "--json")
    assert r.returncode == 0, r.stderr
    from tequio.federation.invites import parse_invite

    invite = parse_invite(json.loads(r.stdout)["code"], time.time_ns() // 1_000_000)
    joiner = fresh_keyring(9002)
    async with aiohttp.ClientSession() as http:

        async def handshake(message: object) -> tuple[int, object]:
            return await signed_post(http, served.fed, joiner, served.key, "handshake", message)

        status, reply = await handshake({"token": b"\x00" * 16, "name": 5, "addrs": "nonsense"})
        assert status == 403 and reply["error"] == "invite-refused"  # type: ignore[index]
        status, reply = await handshake([1, 2, 3])
        assert status == 403 and reply["error"] == "invite-refused"  # type: ignore[index]
        for bad in (
            {"token": invite.token, "name": "", "addrs": []},
            {"token": invite.token, "name": "Amiga", "addrs": ["evil.example/x:80"]},
            {"token": invite.token, "name": "Amiga", "addrs": [], "extra": 1},
        ):
            status, reply = await handshake(bad)
            assert status == 400 and reply["error"] == "bad-message", reply  # type: ignore[index]
        status, reply = await handshake({"token": invite.token, "name": "Amiga", "addrs": ["[::1]:7348"]})
        assert status == 200 and set(reply) == {"name", "addrs"}  # type: ignore[arg-type]
        status, reply = await handshake({"token": invite.token, "name": "Otra", "addrs": []})
        assert status == 403 and "already been used" in reply["detail"]  # type: ignore[index]
    (peer,) = json.loads(tequio(served.home, "peer", "list", "--json").stdout)
    assert peer["name"] == "Amiga" and peer["addrs"] == ["[::1]:7348"]
    served.stop()


async def test_idle_connections_cannot_starve_the_api_or_trusted_peers(
    tmp_path: Path, make_node: Callable[..., Node]
) -> None:
    """The attack that stopped both listeners: more idle connections than the process has file
    descriptors (here 256, lowered to make it cheap), from 60 addresses. Connections over the caps
    are closed at once; a trusted peer still syncs; the API answers; the log stays short."""
    home = tmp_path / "casa"
    init_home(home)
    friend = make_node(name="Amiga", seed=31, clock=lambda: time.time_ns() // 1_000_000)
    fed = Federation(friend)
    trust(home, friend.key, "Amiga", [])
    served = start_serve(home, nofile=256)
    fed.peers.trust(served.key, "Casa", [served.fed])
    friend.publish("core.note", {"text": "llega igual"})
    watching = served.watched()
    watching.__enter__()
    conns: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
    host, port = served.fed.split(":")
    try:
        for i in range(600):
            src = f"127.0.0.{2 + i % 60}"
            with contextlib.suppress(OSError):  # a full backlog may refuse some: the node defending too
                conns.append(await asyncio.open_connection(host, int(port), local_addr=(src, 0)))

        def closed() -> int:
            return sum(1 for r, _ in conns if r.at_eof() or r.exception() is not None)

        # The node holds at most its cap (256 files - 160 reserved = 96) and closes the rest.
        await wait_for("the connections over the cap to be closed", lambda: closed() >= len(conns) - 96)
        res = await fed.syncer.sync(served.key)  # a trusted peer gets in: strangers make room
        assert res.accepted_there == 1
        await served.api_call_once()
    finally:
        for _, w in conns:
            w.close()
        watching.__exit__(None, None, None)
        await fed.aclose()
    assert len(conns) >= 500
    assert served.worst_latency() < 1.0, sorted(served.latencies)[-5:]
    res = await fed.syncer.sync(served.key)  # and after
    assert res.in_sync
    err = served.stop()
    assert "Too many open files" not in err and len(err) < 2000, err[:2000]
    store_is_healthy(home)


async def test_slow_heads_and_crowds_from_one_address_are_cut_off(tmp_path: Path) -> None:
    """A connection that never finishes its request head is closed after the header timeout; one
    address gets at most ``max_connections_per_host``; another address is unaffected."""
    home = tmp_path / "casa"
    init_home(home, header_timeout_s=1, max_connections_per_host=4)
    served = start_serve(home)
    host, port = served.fed.split(":")
    try:
        reader, writer = await asyncio.open_connection(host, int(port))
        t = time.monotonic()
        writer.write(b"POST /fed/v1/sync HTTP/1.1\r\nHost: x\r\n")
        closed = False
        for _ in range(40):  # a header line a drop at a time: never complete
            writer.write(b"X")
            try:
                closed = await asyncio.wait_for(reader.read(1), 0.25) == b""
            except TimeoutError:
                continue
            except ConnectionError:  # closed with our unread bytes in its buffer: a reset
                closed = True
            break
        assert closed and time.monotonic() - t < 4, time.monotonic() - t
        writer.close()
        crowd = [
            await asyncio.open_connection(host, int(port), local_addr=("127.0.0.9", 0)) for _ in range(5)
        ]
        extra = crowd[-1][0]
        with contextlib.suppress(ConnectionError):  # the fifth is closed at once (reset or EOF)
            assert await asyncio.wait_for(extra.read(), 5) == b""
        for r, _ in crowd[:4]:
            assert not r.at_eof()
        other_r, other_w = await asyncio.open_connection(host, int(port), local_addr=("127.0.0.10", 0))
        other_w.write(encode_head_only())
        assert (await asyncio.wait_for(other_r.readline(), 5)).startswith(b"HTTP/1.1 401")
        for _, w in crowd:
            w.close()
        other_w.close()
        await served.api_call_once()
    finally:
        err = served.stop()
    assert "Traceback" not in err
    store_is_healthy(home)


def encode_head_only() -> bytes:
    return b"POST /fed/v1/sync HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"
