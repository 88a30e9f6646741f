"""The transport points docs/protocol.md settles (issue 9, section 11), checked with a clean-room client.

Each test names the rule it checks. The server is a real node's federation listener on 127.0.0.1;
the client (``fedclient``) shares no code with Tequio.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import http.client
import io
import socket
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import pytest
from aiohttp import web

from tequio.federation.peers import Penalties
from tequio.node import Node
from tequio.node.federation import Federation
from tests.conftest import Feed, key
from tests.independent import fedclient as C
from tests.independent import refimpl as R


@dataclass
class Listener:
    node: Node
    fed: Federation
    client: C.Client  # a trusted peer
    stranger: C.Client

    def penalty(self) -> float:
        peer = self.fed.peers.get(self.client.pk)
        assert peer is not None
        return peer.penalty


@pytest.fixture
async def served(make_node: Callable[..., Node]) -> AsyncIterator[Listener]:
    node = make_node(name="Casa", seed=71, clock=lambda: time.time_ns() // 1_000_000)
    fed = Federation(node)
    runner, addr = await fed.listen("127.0.0.1", 0)
    client = C.Client(hashlib.sha256(b"transport client").digest(), addr)
    stranger = C.Client(hashlib.sha256(b"transport stranger").digest(), addr)
    fed.peers.trust(client.pk, "Cliente", [])
    yield Listener(node, fed, client, stranger)
    await fed.aclose()
    assert isinstance(runner, web.AppRunner)
    await runner.cleanup()


async def post(c: C.Client, served: Listener, method: str, message: object = None, **kw: object) -> C.Reply:
    return await asyncio.to_thread(c.post, served.node.key, method, message, **kw)  # type: ignore[arg-type]


def first_sync() -> dict[str, object]:
    return {"digest": C.digest([]), "epoch": None, "since": 0}


async def test_F2_response_signature_is_bare_and_unpadded_and_padding_is_refused(served: Listener) -> None:
    r = await post(served.client, served, "sync", first_sync())
    assert r.status == 200 and r.message["in_sync"] is True  # both empty
    sig = r.headers["tequio-auth"]
    assert len(sig) == 86 and "=" not in sig and len(C.unb64url(sig)) == 64  # a bare signature
    body = served.client.seal(served.node.key, R.encode(first_sync()))
    good = served.client.auth(served.node.key, "/fed/v1/sync", body, b"\x05" * 16)
    for bad in (good + "=", good + "==", good.replace("-", "+").replace("_", "/") + "A", good + "A"):
        r = await post(served.client, served, "sync", body=body, header=bad)
        assert (r.status, r.body) == (401, b"bad-auth") and "tequio-auth" not in r.headers, bad[-4:]


async def test_F2_unknown_and_blocked_keys_get_a_plain_401(served: Listener) -> None:
    r = await post(served.stranger, served, "sync", first_sync())
    assert (r.status, r.body, r.message) == (401, b"unknown-key", None)
    served.fed.peers.set_state(served.client.pk, "blocked")
    r = await post(served.client, served, "sync", first_sync())
    assert (r.status, r.body, r.message) == (401, b"unknown-key", None)


async def test_F1_oversized_and_unsized_bodies_are_plain_refusals(served: Listener) -> None:
    for who, method, limit in (
        (served.client, "push", served.fed.limits.max_body),
        (served.stranger, "handshake", served.fed.listener_limits.max_unauthenticated_body),
    ):
        header = who.auth(served.node.key, f"/fed/v1/{method}", b"", b"\x07" * 16)  # not yet checkable
        got = await asyncio.to_thread(C.head_only, who.addr, method, limit + 1, header)
        assert got == (413, b"too-large"), got
    # No Content-Length (chunked): 411, before anything is read.
    host, port = served.client.addr.split(":")
    body = served.client.seal(served.node.key, R.encode(first_sync()))
    auth = served.client.auth(served.node.key, "/fed/v1/sync", body, b"\x06" * 16)
    got = await asyncio.to_thread(_chunked_post, host, int(port), "/fed/v1/sync", body, auth)
    assert got == (411, b"length-required"), got
    assert served.penalty() == 0  # none of these was signed over a body that was read: no blame


async def test_F3_bad_box_is_a_signed_400_that_costs(served: Listener) -> None:
    r = await post(served.client, served, "sync", body=b"\x00" * 80)
    assert r.status == 400 and r.message["error"] == "bad-box"
    assert served.penalty() == pytest.approx(20, rel=1e-3)


@pytest.mark.parametrize(
    ("message", "why"),
    [
        ({**first_sync(), "records": []}, "records is empty"),  # an optional list is left out, not sent empty
        ({**first_sync(), "after": None}, "after: nil"),
        ({**first_sync(), "extra": 1}, "unknown key"),
        ({"digest": C.digest([]), "since": 0}, "epoch is missing"),  # epoch is required, nil allowed
    ],
)
async def test_F4_optional_keys_are_omitted_and_unknown_keys_refused(
    served: Listener, message: dict[str, object], why: str
) -> None:
    r = await post(served.client, served, "sync", message)
    assert r.status == 400 and r.message["error"] == "bad-message"
    assert why.split(":")[0] in r.message["detail"], r.message


async def test_F7_changes_are_sorted_and_after_is_exclusive(served: Listener) -> None:
    feeds = [Feed(key(900 + i)) for i in range(5)]
    assert served.node.ingest([f.next().wire for f in feeds]).accepted == 5
    served.fed.syncer.limits = type(served.fed.limits)(max_changes=2)
    pages: list[list[list[object]]] = []
    after = None
    while True:
        msg = first_sync() | ({"after": after} if after else {})
        r = await post(served.client, served, "sync", msg)
        assert r.status == 200
        pages.append(r.message["changes"])
        if not r.message["more"]:
            break
        after = r.message["changes"][-1][:2]
    flat = [tuple(ch[:2]) for page in pages for ch in page]
    assert [len(p) for p in pages] == [2, 2, 1]
    assert flat == sorted(flat, key=lambda f: (f[0], f[1].encode())) and len(set(flat)) == 5
    # The empty set's digest is SHA-256 of nothing.
    assert C.digest([]) == hashlib.sha256(b"").digest()


async def test_F8_from_seq_is_inclusive_and_zero_is_refused(served: Listener) -> None:
    feed = Feed(key(950))
    wires = [r.wire for r in feed.take(4)]
    assert served.node.ingest(wires).accepted == 4
    author = key(950).verify_key.encode()
    r = await post(served.client, served, "exchange", {"wants": [[author, "public", 2]], "records": []})
    assert r.status == 200 and r.message["records"] == wires[1:]
    r = await post(served.client, served, "exchange", {"wants": [[author, "public", 0]], "records": []})
    assert r.status == 400 and r.message["error"] == "bad-message"


async def test_F5_one_request_at_a_time_per_key_busy_costs_nothing(served: Listener) -> None:
    # Slow every request down, so that two from the same key overlap (as `tequio sync` beside `serve`).
    served.fed.peers.rules = Penalties(slow_at=0, slow_delay_ms=800)
    a, b = await asyncio.gather(
        post(served.client, served, "sync", first_sync()),
        post(served.client, served, "sync", first_sync()),
    )
    statuses = sorted((a.status, b.status))
    assert statuses == [200, 429], statuses
    busy = a if a.status == 429 else b
    assert busy.message["error"] == "busy"  # signed: the peer knows it is its own other request
    assert served.penalty() == 0


async def test_F13_addresses_in_a_handshake(served: Listener) -> None:
    invite = served.fed.invite(60_000, 3)
    for addrs, status in (
        (["::1:7348"], 400),  # IPv6 without brackets is ambiguous
        (["host:0"], 400),
        (["a.example/x:80"], 400),
        (["[::1]:7348", "10.0.0.2:7348", "nodo.local:7348"], 200),
    ):
        r = await post(
            served.stranger, served, "handshake", {"token": invite.token, "name": "Extraña", "addrs": addrs}
        )
        assert r.status == status, (addrs, r.message)
    assert served.fed.peers.get(served.stranger.pk).addrs == [
        "[::1]:7348",
        "10.0.0.2:7348",
        "nodo.local:7348",
    ]


def test_F12_epoch_vectors() -> None:
    """The per-peer epoch of protocol.md section 12, computed here from the text alone."""
    seed = hashlib.sha256(b"tequio test vector seed 1").digest()
    peer = R.public_key(seed)
    assert peer.hex().startswith("b6326c26") and peer.hex().endswith("3b8b")

    def epoch(groups: list[str]) -> str:
        data = b"tequio/sync-epoch/v1\n" + b"\x11" * 16 + peer
        data += b"".join(g.encode() + b"\n" for g in sorted(groups))
        return hashlib.sha256(data).digest()[:16].hex()

    assert epoch([]) == "5f3f87e7da2e4e039b89b1b7154998c9"
    assert epoch(["g:" + "ab" * 16, "g:" + "01" * 16]) == "7b8572d28d6259fb3d7e56d5389d00fc"
    from tequio.federation.sync import peer_epoch  # and the node computes the same

    assert peer_epoch(b"\x11" * 16, peer, ["g:" + "01" * 16, "g:" + "ab" * 16]).hex() == epoch(
        ["g:" + "01" * 16, "g:" + "ab" * 16]
    )


def _chunked_post(host: str, port: int, path: str, body: bytes, auth: str) -> tuple[int, bytes]:
    """A chunked POST on a raw socket: the server may answer (and close) before the last chunk is
    sent, which http.client reports as a broken pipe; the answer is read either way."""
    with socket.create_connection((host, port), timeout=10) as sock:
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nTequio-Auth: {auth}\r\n"
            "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        )
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(head.encode() + f"{len(body):x}\r\n".encode() + body + b"\r\n0\r\n\r\n")
        data = b""
        try:
            while chunk := sock.recv(65536):
                data += chunk
        except ConnectionResetError:
            pass
    resp = http.client.HTTPResponse(_Replay(data))  # type: ignore[arg-type]
    resp.begin()
    return resp.status, resp.read()


class _Replay:
    """Bytes already received, given to http.client's parser as if they were the socket."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def makefile(self, *_: object) -> io.BytesIO:
        return io.BytesIO(self._data)
