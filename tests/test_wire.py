"""The federation listener over real HTTP on 127.0.0.1: authentication, encryption and hostile clients."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import aiohttp
import pytest
from aiohttp import web
from nacl.signing import SigningKey

from tequio.federation.http import HttpTransport, make_fed_app
from tequio.federation.service import FedError
from tequio.federation.sync import Unreachable, digest
from tequio.federation.wire import (
    AUTH_HEADER,
    AuthError,
    ReplayGuard,
    SigningKeyring,
    check_request,
    check_response,
    close_message,
    open_message,
    sign_request,
    sign_response,
)
from tequio.node import Node
from tequio.node.federation import Federation
from tests.conftest import seeded_rng


@dataclass
class Served:
    fed: Federation
    url: str
    addr: str


async def _start(node: Node) -> tuple[Federation, web.AppRunner, str]:
    fed = Federation(node)
    runner = web.AppRunner(make_fed_app(fed.service, fed.keyring, node.clock, fed.limits))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    fed.record_listen([(host, port)])
    return fed, runner, f"{host}:{port}"


@pytest.fixture
async def pair(make_node: Callable[..., Node]) -> AsyncIterator[tuple[Served, Served]]:
    """Two real nodes, each with a federation listener on 127.0.0.1, trusting each other."""
    made = []
    for name, seed in (("A", 1), ("B", 2)):
        node = make_node(name=name, seed=seed, clock=lambda: __import__("time").time_ns() // 1_000_000)
        fed, runner, addr = await _start(node)
        made.append((Served(fed, f"http://{addr}/fed/v1/", addr), runner))
    (a, _), (b, _) = made
    a.fed.peers.trust(b.fed.node.key, "B", [b.addr])
    b.fed.peers.trust(a.fed.node.key, "A", [a.addr])
    yield a, b
    for served, runner in made:
        await served.fed.aclose()
        await runner.cleanup()


def _closed_port() -> int:
    """A port on 127.0.0.1 where nothing listens (bound, then closed: not 9, which may be open)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _raw_request(
    sender: SigningKeyring,
    receiver: bytes,
    method: str,
    message: object,
    now: int,
    nonce: bytes = b"\x01" * 16,
) -> tuple[bytes, dict[str, str]]:
    body = close_message(sender, receiver, message)
    auth = sign_request(sender, receiver, "POST", f"/fed/v1/{method}", body, now, nonce)
    return body, {AUTH_HEADER: auth}


async def test_sync_over_real_http_moves_records_both_ways(pair: tuple[Served, Served]) -> None:
    a, b = pair
    for i in range(3):
        a.fed.node.publish("core.note", {"text": f"por la red {i}"})
    b.fed.node.publish("core.note", {"text": "de vuelta"})
    res = await a.fed.syncer.sync(b.fed.node.key)
    assert (res.accepted_there, res.accepted_here) == (3, 1)
    again = await b.fed.syncer.sync(a.fed.node.key)
    assert again.in_sync and again.round_trips == 1
    meter = a.fed.http.meter
    assert meter.calls == 2 and meter.sent > 0 and meter.received > 0


async def test_every_authentication_failure_is_a_bare_401(pair: tuple[Served, Served]) -> None:
    a, b = pair
    import time

    now = time.time_ns() // 1_000_000
    me = SigningKeyring(SigningKey(seeded_rng(9)(32)))  # a key B has never heard of
    a_keys = a.fed.keyring
    bkey = b.fed.node.key
    cases = []
    body, headers = _raw_request(me, bkey, "sync", {}, now)
    cases.append(("unknown-key", body, headers))
    cases.append(("no-auth", body, {}))
    cases.append(("bad-auth", body, {AUTH_HEADER: "not base64 at all!"}))
    body, headers = _raw_request(a_keys, bkey, "sync", {}, now - 10 * 60 * 1000, b"\x02" * 16)
    cases.append(("stale", body, headers))
    body, headers = _raw_request(a_keys, bkey, "sync", {}, now, b"\x03" * 16)
    cases.append(("bad-signature", body + b"x", headers))  # body changed after signing
    body, headers = _raw_request(
        a_keys, a.fed.node.key, "sync", {}, now, b"\x04" * 16
    )  # signed for A, sent to B
    cases.append(("bad-signature", body, headers))
    async with aiohttp.ClientSession() as http:
        for code, data, hdrs in cases:
            async with http.post(b.url + "sync", data=data, headers=hdrs) as r:
                assert (r.status, await r.text()) == (401, code), code
                assert AUTH_HEADER not in r.headers


async def test_a_replayed_request_is_refused(pair: tuple[Served, Served]) -> None:
    a, b = pair
    import time

    body, headers = _raw_request(
        a.fed.keyring,
        b.fed.node.key,
        "sync",
        {"digest": digest([]), "epoch": None, "since": 0},
        time.time_ns() // 1_000_000,
    )
    async with aiohttp.ClientSession() as http:
        async with http.post(b.url + "sync", data=body, headers=headers) as r:
            assert r.status == 200
            reply = open_message(a.fed.keyring, b.fed.node.key, await r.read())
            assert reply["in_sync"] is True  # both empty
        async with http.post(b.url + "sync", data=body, headers=headers) as r:
            assert (r.status, await r.text()) == (401, "replay")


async def test_an_undecryptable_body_is_refused_and_costs(pair: tuple[Served, Served]) -> None:
    a, b = pair
    import time

    garbage = b"\x00" * 80
    auth = sign_request(
        a.fed.keyring,
        b.fed.node.key,
        "POST",
        "/fed/v1/sync",
        garbage,
        time.time_ns() // 1_000_000,
        b"\x05" * 16,
    )
    headers = {AUTH_HEADER: auth}
    async with aiohttp.ClientSession() as http, http.post(b.url + "sync", data=garbage, headers=headers) as r:
        assert r.status == 400
        err = open_message(a.fed.keyring, b.fed.node.key, await r.read())
        assert err["error"] == "bad-box"
    assert b.fed.peers.get(a.fed.node.key).penalty > 0


async def test_an_oversized_body_is_refused_before_it_is_read(pair: tuple[Served, Served]) -> None:
    """F1/F2: a stranger gets 401 from the header alone; a trusted key's oversized body, 413 from
    its Content-Length; both plain text, unsigned, and the connection closed without reading on."""
    import time

    a, b = pair
    big = b"\x00" * (b.fed.limits.max_body + 1)
    async with aiohttp.ClientSession() as http:
        async with http.post(b.url + "push", data=big) as r:
            assert (r.status, await r.text()) == (401, "no-auth") and AUTH_HEADER not in r.headers
        _, headers = _raw_request(a.fed.keyring, b.fed.node.key, "push", {}, time.time_ns() // 1_000_000)
        async with http.post(b.url + "push", data=big, headers=headers) as r:
            assert (r.status, await r.text()) == (413, "too-large") and AUTH_HEADER not in r.headers
    assert b.fed.peers.get(a.fed.node.key).penalty == 0  # unsigned: nobody is blamed


async def test_unreachable_and_refused_are_told_apart(
    pair: tuple[Served, Served], make_node: Callable[..., Node]
) -> None:
    a, b = pair
    b.fed.peers.set_state(a.fed.node.key, "blocked")
    with pytest.raises(FedError) as e:  # B answers, unauthenticated: A is no longer known to it
        await a.fed.syncer.sync(b.fed.node.key)
    assert e.value.status == 401 and e.value.code == "unknown-key"
    closed = _closed_port()
    a.fed.peers.set_addrs(b.fed.node.key, [f"127.0.0.1:{closed}"])  # nothing listens there
    with pytest.raises(Unreachable) as u:
        await a.fed.syncer.sync(b.fed.node.key)
    assert str(u.value) == (
        f"connection refused at 127.0.0.1:{closed}: is its tequio serve running, or has it moved?"
    )


def test_response_signature_binds_status_nonce_body_and_requester() -> None:
    server = SigningKeyring(SigningKey(seeded_rng(1)(32)))
    client = SigningKeyring(SigningKey(seeded_rng(2)(32)))
    body = close_message(server, client.key, {"ok": True})
    sig = sign_response(server, client.key, 200, b"\x07" * 16, body)
    check_response(sig, server.key, client.key, 200, b"\x07" * 16, body)
    for status, nonce, data, requester in (
        (500, b"\x07" * 16, body, client.key),
        (200, b"\x08" * 16, body, client.key),
        (200, b"\x07" * 16, body[:-1] + bytes([body[-1] ^ 1]), client.key),
        (200, b"\x07" * 16, body, server.key),
    ):
        with pytest.raises(AuthError, match="bad-response"):
            check_response(sig, server.key, requester, status, nonce, data)


def test_request_checks_run_in_order() -> None:
    sender = SigningKeyring(SigningKey(seeded_rng(3)(32)))
    receiver = SigningKeyring(SigningKey(seeded_rng(4)(32)))
    body = close_message(sender, receiver.key, [1])
    auth = sign_request(sender, receiver.key, "POST", "/fed/v1/x", body, 1000, b"\x09" * 16)
    guard = ReplayGuard()
    # unknown sender is reported before a stale time or a bad signature
    with pytest.raises(AuthError, match="unknown-key"):
        check_request(auth, "POST", "/fed/v1/x", b"tampered", receiver.key, 10**12, guard, lambda k: False)
    # a forged request does not burn the nonce: the real one still goes through afterwards
    with pytest.raises(AuthError, match="bad-signature"):
        check_request(auth, "POST", "/fed/v1/x", b"tampered", receiver.key, 1000, guard, lambda k: True)
    ok = check_request(auth, "POST", "/fed/v1/x", body, receiver.key, 1000, guard, lambda k: True)
    assert ok.sender == sender.key and open_message(receiver, sender.key, body) == [1]
    with pytest.raises(AuthError, match="replay"):
        check_request(auth, "POST", "/fed/v1/x", body, receiver.key, 1000, guard, lambda k: True)


def test_boxes_hide_the_body_and_bind_both_keys() -> None:
    a = SigningKeyring(SigningKey(seeded_rng(5)(32)))
    b = SigningKeyring(SigningKey(seeded_rng(6)(32)))
    c = SigningKeyring(SigningKey(seeded_rng(7)(32)))
    secret = {"text": "nombre del testigo"}
    boxed = close_message(a, b.key, secret)
    assert (
        b"testigo" not in boxed
        and hashlib.sha256(boxed).digest() != hashlib.sha256(close_message(a, b.key, secret)).digest()
    )
    assert open_message(b, a.key, boxed) == secret
    with pytest.raises(AuthError, match="bad-box"):
        open_message(c, a.key, boxed)  # a third key cannot open it


async def test_transport_tries_each_address(pair: tuple[Served, Served]) -> None:
    a, b = pair
    a.fed.peers.set_addrs(b.fed.node.key, [f"127.0.0.1:{_closed_port()}", b.addr])  # dead, alive
    res = await a.fed.syncer.sync(b.fed.node.key)
    assert res.in_sync


async def test_http_transport_refuses_oversized_replies(pair: tuple[Served, Served]) -> None:
    a, b = pair
    for i in range(30):
        b.fed.node.publish("core.note", {"text": "x" * 9000 + str(i)})
    small = HttpTransport(
        a.fed.keyring,
        lambda peer: [b.addr],
        a.fed.node.clock,
        a.fed.node.rng,
        type(a.fed.limits)(max_body=65_536),
    )
    try:
        with pytest.raises(Unreachable, match="over the 65536-byte limit"):
            await small.call(
                b.fed.node.key, "exchange", {"wants": [[b.fed.node.key, "public", 1]], "records": []}
            )
    finally:
        await small.close()


async def test_a_hostile_trusted_peer_over_http_changes_nothing(pair: tuple[Served, Served]) -> None:
    """Forged records and garbage from a trusted peer: nothing stored, and it ends up quarantined."""
    from tequio.schemas import make_record
    from tests.conftest import key, note

    a, b = pair
    b.fed.peers.rules = type(b.fed.peers.rules)(slow_at=1000, quarantine_at=40)
    forged = []
    for i in range(50):
        w = bytearray(make_record(key(900 + i), "public", 1, None, i, note("falso")).wire)
        w[-1] ^= 1
        forged.append(bytes(w))
    reply = await a.fed.transport.call(b.fed.node.key, "push", {"records": forged})
    assert reply == {"accepted": 0, "rejected": 50}
    assert b.fed.node.count() == 0
    with pytest.raises(FedError) as e:
        await a.fed.transport.call(b.fed.node.key, "push", {"records": forged})
    assert e.value.status == 429 and e.value.code == "quarantined"
    assert b.fed.node.count() == 0 and b.fed.node.store.check() == []


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (b"\xdd" + (10**6).to_bytes(4, "big") + b"\x90" * 10**6, "F3: more than 1000 values"),
        (b"\x9f" + (b"\xdc\x00\xff" + b"\x01" * 255) * 15, "F3: more than 1000 values"),
        (b"\x91" * 40 + b"\x90", "nesting deeper than 32"),
        (b"\x92\x01", "not msgpack"),
        (b"\x01\x02", "not msgpack"),
        (b"\xcb" + bytes(8), "type float is not allowed"),
        (b"\xc4\x05ab", "not msgpack"),
    ],
)
def test_a_message_is_bounded_as_it_is_built(data: bytes, error: str) -> None:
    """F3: the decoder stops after ``max_values`` values; nothing else gets through either."""
    from tequio.federation.wire import decode_message

    with pytest.raises(AuthError, match=error) as e:
        decode_message(data, 1000)
    assert e.value.code == "bad-message"


def test_the_value_count_includes_keys_and_the_root() -> None:
    from tequio.federation.wire import decode_message
    from tequio.schemas import encode

    small = encode({"a": [1, b"xy", None], "b": "é" * 300})  # 1 + 4 keys and values + 3 items
    assert decode_message(small, 8) == {"a": [1, b"xy", None], "b": "é" * 300}
    with pytest.raises(AuthError, match="more than 7 values"):
        decode_message(small, 7)
    big = encode({"changes": [[bytes(32), "public", 2**40, bytes(32)]] * 50_000})
    assert len(decode_message(big, 1 + 2 + 50_000 * 5)["changes"]) == 50_000


def test_the_auth_header_is_strict_unpadded_base64url() -> None:
    sender = SigningKeyring(SigningKey(seeded_rng(11)(32)))
    receiver = SigningKeyring(SigningKey(seeded_rng(12)(32)))
    body = close_message(sender, receiver.key, {})
    good = sign_request(sender, receiver.key, "POST", "/fed/v1/x", body, 1000, b"\x0a" * 16)
    assert "=" not in good
    for bad in (
        good + "=",
        good[:-1] + "+",
        good + "\n",
        good[: len(good) // 2] + " " + good[len(good) // 2 :],
    ):
        with pytest.raises(AuthError, match="bad-auth"):
            check_request(bad, "POST", "/fed/v1/x", body, receiver.key, 1000, ReplayGuard(), lambda k: True)


@pytest.mark.parametrize(
    ("addr", "ok"),
    [
        ("127.0.0.1:7348", True),
        ("[::1]:7348", True),
        ("[2001:db8::7]:1", True),
        ("nodo.red-local.org:65535", True),
        ("::1:7348", False),
        ("[fe80::1%eth0]:7348", False),
        ("999.0.0.1:80", False),
        ("host:0", False),
        ("host:65536", False),
        ("host:080", False),
        ("evil.example/x:80", False),
        ("a b:1", False),
        ("-bad.example:80", False),
        ("x" * 300 + ":80", False),
    ],
)
def test_addresses_are_host_port_and_nothing_else(addr: str, ok: bool) -> None:
    from tequio.federation.addrs import is_valid_addr

    assert is_valid_addr(addr) is ok


def test_the_guard_makes_room_by_closing_strangers_never_peers() -> None:
    """At the total cap the oldest connection that has not authenticated is closed; authenticated
    ones are kept; per-address caps refuse at once; refusals are summarised, not logged each."""
    import asyncio

    from tequio.federation.listener import ConnectionGuard, ListenerLimits, RefusalLog

    class FakeTransport(asyncio.Transport):
        def __init__(self, host: str) -> None:
            super().__init__()
            self.host, self.aborted = host, False

        def get_extra_info(self, name: str, default: object = None) -> object:
            return (self.host, 1234) if name == "peername" else default

        def abort(self) -> None:
            self.aborted = True

    class Inner(asyncio.Protocol):
        pass

    t = [0.0]
    log = RefusalLog("test listener", lambda: t[0])
    guard = ConnectionGuard(ListenerLimits(max_connections=4, max_per_host=2, fd_reserve=16), log)
    assert guard.cap == 4

    def connect(host: str) -> FakeTransport:
        tr = FakeTransport(host)
        guard.factory(Inner)().connection_made(tr)
        return tr

    peer = connect("10.0.0.1")
    guard.authenticated(peer)
    a, b, c = connect("10.0.0.2"), connect("10.0.0.3"), connect("10.0.0.4")
    assert guard.open == 4 and not any(x.aborted for x in (peer, a, b, c))
    d = connect("10.0.0.5")  # at the cap: the oldest stranger makes room; the peer stays
    assert a.aborted and not (peer.aborted or d.aborted) and guard.open == 4
    e, f = connect("10.0.0.3"), connect("10.0.0.3")  # b, then c make room in turn
    assert b.aborted and c.aborted and not (e.aborted or f.aborted)
    g = connect("10.0.0.3")  # a third from one address: refused at once, nobody else closed
    assert g.aborted and not (d.aborted or e.aborted or f.aborted or peer.aborted)
    assert log.total["connections over the per-address cap"] == 1
    assert log.total["unauthenticated connections closed to make room"] == 3
