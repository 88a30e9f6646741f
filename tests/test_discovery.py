"""LAN discovery: strict reading of adverts, the candidate and peer tables, the signed address probe,
and real ``tequio serve`` processes finding each other with real zeroconf on a real (namespaced) LAN.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from nacl.signing import SigningKey
from zeroconf import ServiceInfo

from tequio.federation.discovery import (
    MAX_ADDRS,
    MAX_NAME_BYTES,
    SERVICE_TYPE,
    Advert,
    advertised_ips,
    answers_as,
    display_name,
    encode_txt,
    instance_name,
    parse_addrs,
    parse_txt,
    record_candidate,
    refresh_trusted,
)
from tequio.federation.http import make_fed_app
from tequio.federation.peers import PeerBook
from tequio.node import Node
from tequio.node.federation import Federation
from tests import lannodes, netlink
from tests.conftest import TEQUIO
from tests.lannodes import tequio_init
from tests.lannodes import trust as _trust
from tests.netlink import NetlinkError

KEY = SigningKey(b"k" * 32).verify_key.encode()  # real keys: only usable keys can be trusted
OTHER = SigningKey(b"o" * 32).verify_key.encode()


def txt(*entries: bytes) -> bytes:
    """A raw TXT record: length-prefixed strings, as they travel."""
    return b"".join(bytes([len(e)]) + e for e in entries)


def good(key: bytes = KEY, name: bytes = b"Casa") -> list[bytes]:
    return [b"v=1", b"key=" + key.hex().encode(), b"name=" + name]


# -- TXT -----------------------------------------------------------------------------------------------


def test_our_advert_as_zeroconf_encodes_it_parses_back() -> None:
    info = ServiceInfo(
        SERVICE_TYPE,
        instance_name(KEY),
        port=7348,
        properties=encode_txt(KEY, "Casa de la Mujer"),
        addresses=[socket.inet_aton("10.1.2.3")],
    )
    assert parse_txt(info.text) == Advert(KEY, "Casa de la Mujer")
    assert instance_name(KEY) == f"tequio-{KEY.hex()[:16]}.{SERVICE_TYPE}"
    assert parse_txt(txt(*good(), b"later=feature")) == Advert(KEY, "Casa")  # unknown keys: allowed
    assert parse_txt(txt(*good(), b"")) == Advert(KEY, "Casa")  # empty strings are skipped


HOSTILE = {
    "empty": b"",
    "no version": txt(*good()[1:]),
    "version 2": txt(b"v=2", *good()[1:]),
    "version 01": txt(b"v=01", *good()[1:]),
    "no key": txt(good()[0], good()[2]),
    "no name": txt(*good()[:2]),
    "key 63 hex": txt(b"v=1", b"key=" + KEY.hex()[:63].encode(), b"name=x"),
    "key 65 hex": txt(b"v=1", b"key=" + KEY.hex().encode() + b"0", b"name=x"),
    "key upper hex": txt(b"v=1", b"key=" + KEY.hex().upper().encode(), b"name=x"),
    "key not hex": txt(b"v=1", b"key=" + b"zz" * 32, b"name=x"),
    "key twice": txt(*good(), b"key=" + OTHER.hex().encode()),
    "upper-case entry name": txt(b"V=1", *good()[1:]),
    "entry without =": txt(*good(), b"junk"),
    "empty entry name": txt(*good(), b"=x"),
    "empty name": txt(*good(name=b"")),
    "name not utf-8": txt(*good(name=b"Casa\xff")),
    "name with escape": txt(*good(name=b"Casa\x1b[2J")),
    "name with newline": txt(*good(name=b"Casa\nroot")),
    "name padded": txt(*good(name=b" Casa")),
    "name too long": txt(*good(name=b"x" * (MAX_NAME_BYTES + 1))),
    "length overruns": txt(*good())[:-1],
    "length byte only": b"\x40",
    "oversized": txt(*good(), *[b"pad%d=" % i + b"x" * 200 for i in range(5)]),
    "too many entries": txt(*good(), *[b"k%d=1" % i for i in range(14)]),
}


@pytest.mark.parametrize("text", HOSTILE.values(), ids=HOSTILE.keys())
def test_a_malformed_or_hostile_advert_is_ignored(text: bytes) -> None:
    assert parse_txt(text) is None


def test_not_bytes_is_ignored() -> None:
    assert parse_txt("v=1") is None  # type: ignore[arg-type]


def test_display_name_is_cut_on_a_character_boundary_and_passes_our_own_checks() -> None:
    name = "Colectivo de Defensoras Ñuu Savi " + "ñ" * 200
    shown = display_name(name)
    assert len(shown.encode()) <= MAX_NAME_BYTES and name.startswith(shown)
    assert parse_txt(txt(*good(name=shown.encode()))) == Advert(KEY, shown)
    assert display_name("Casa\x1b[2J\nX") == "Casa [2J X"
    assert display_name("\n\t") == "?"
    with pytest.raises(ValueError):
        encode_txt(KEY[:31], "x")


# -- addresses -----------------------------------------------------------------------------------------


def test_only_usable_ipv4_addresses_of_an_advert_are_kept() -> None:
    ips = ["10.0.0.2", "127.0.0.1", "169.254.1.1", "224.0.0.251", "0.0.0.0", "255.255.255.255", "::1", "x"]
    assert parse_addrs([*ips, "10.0.0.2", "192.168.1.9"], 7348) == ["10.0.0.2:7348", "192.168.1.9:7348"]
    many = [f"10.0.1.{i}" for i in range(1, 30)]
    assert parse_addrs(many, 7348) == [f"{ip}:7348" for ip in many[:MAX_ADDRS]]


@pytest.mark.parametrize("port", [0, -1, 65536, None, True, "7348", 7348.0])
def test_an_advert_with_a_bad_port_has_no_address(port: Any) -> None:
    assert parse_addrs(["10.0.0.2"], port) == []


def test_what_a_listener_advertises() -> None:
    host = lambda: ["10.0.0.2", "192.168.1.9"]  # noqa: E731
    assert advertised_ips([("0.0.0.0", 7348)], host) == ["10.0.0.2", "192.168.1.9"]
    assert advertised_ips([("10.5.0.1", 7348), ("10.5.0.1", 7348)], host) == ["10.5.0.1"]
    assert advertised_ips([("127.0.0.1", 7348)], host) == []  # this machine only: nothing for the LAN
    assert advertised_ips([("::1", 7348), ("not an ip", 1)], host) == []
    assert advertised_ips([], host) == []


# -- the node's tables ---------------------------------------------------------------------------------


def _book(node: Node) -> PeerBook:
    return PeerBook(node.store.conn, node.store.write, node.clock)


def _candidates(node: Node) -> dict[bytes, tuple[str, list[str], int]]:
    return {k: (n, a, s) for k, n, a, s in _book(node).candidates()}


def test_record_candidate_upserts_and_trusts_nobody(node: Node) -> None:
    record_candidate(node.store.conn, KEY, "Casa", ["10.0.0.2:7348"], 1000)
    record_candidate(node.store.conn, OTHER, "Otra", ["10.0.0.3:7348"], 1500)
    record_candidate(node.store.conn, KEY, "Casa Nueva", ["10.0.0.9:7348", "10.0.0.2:7348"], 2000)
    assert _candidates(node) == {
        KEY: ("Casa Nueva", ["10.0.0.9:7348", "10.0.0.2:7348"], 2000),
        OTHER: ("Otra", ["10.0.0.3:7348"], 1500),
    }
    assert [k for k, *_ in _book(node).candidates()] == [KEY, OTHER]  # most recently seen first
    assert _book(node).all() == []
    assert not node.store.conn.in_transaction


def test_the_candidate_table_does_not_grow_with_a_flood(node: Node) -> None:
    for i in range(50):
        record_candidate(node.store.conn, bytes([i]) * 32, f"n{i}", ["10.0.0.2:7348"], 1000 + i, keep=10)
    kept = _candidates(node)
    assert set(kept) == {bytes([i]) * 32 for i in range(40, 50)}


@pytest.mark.parametrize(
    ("key", "name", "addrs"),
    [(KEY[:31], "x", []), (KEY + b"\0", "x", []), (KEY, b"x", []), (KEY, "x", [b"10.0.0.2:1"])],
)
def test_record_candidate_refuses_bad_input(node: Node, key: bytes, name: Any, addrs: Any) -> None:
    with pytest.raises(ValueError):
        record_candidate(node.store.conn, key, name, addrs, 1)
    assert _candidates(node) == {}


def test_refresh_changes_only_a_trusted_peers_addresses(node: Node) -> None:
    book = _book(node)
    conn = node.store.conn
    assert not refresh_trusted(conn, KEY, ["10.0.0.2:7348"])  # unknown: not added
    assert book.all() == []
    book.trust(KEY, "Casa", ["10.99.99.99:7348"])
    assert refresh_trusted(conn, KEY, ["10.0.0.2:7348"])
    assert book.get(KEY).addrs == ["10.0.0.2:7348", "10.99.99.99:7348"]  # type: ignore[union-attr]
    assert not refresh_trusted(conn, KEY, ["10.0.0.2:7348"])  # nothing new
    assert not refresh_trusted(conn, KEY, [])
    assert refresh_trusted(conn, KEY, ["10.99.99.99:7348"])  # reordered: the fresh one first
    assert book.get(KEY).addrs == ["10.99.99.99:7348", "10.0.0.2:7348"]  # type: ignore[union-attr]
    book.trust(OTHER, "Otra", ["10.0.0.5:7348"])
    with book.write():
        book.set_state(OTHER, "blocked")
    assert not refresh_trusted(conn, OTHER, ["10.0.0.6:7348"])
    blocked = book.get(OTHER)
    assert blocked is not None and blocked.addrs == ["10.0.0.5:7348"] and blocked.state == "blocked"
    assert {p.key for p in book.all()} == {KEY, OTHER}


def test_refresh_keeps_a_bounded_list_and_survives_a_corrupt_row(node: Node) -> None:
    book = _book(node)
    book.trust(KEY, "Casa", [f"10.0.0.{i}:7348" for i in range(1, MAX_ADDRS + 1)])
    assert refresh_trusted(node.store.conn, KEY, ["10.0.1.1:7348"])
    addrs = book.get(KEY).addrs  # type: ignore[union-attr]
    assert len(addrs) == MAX_ADDRS and addrs[0] == "10.0.1.1:7348" and f"10.0.0.{MAX_ADDRS}:7348" not in addrs
    node.store.conn.execute('UPDATE fed_peers SET addrs = \'{"not": "a list"\' WHERE key = ?', (KEY,))
    assert refresh_trusted(node.store.conn, KEY, ["10.0.1.2:7348"])
    assert book.get(KEY).addrs == ["10.0.1.2:7348"]  # type: ignore[union-attr]


# -- the signed probe ----------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_an_address_counts_only_once_the_peer_signs_from_it(make_node: Callable[..., Node]) -> None:
    a, b, c = (Federation(make_node(name=n, seed=i)) for i, n in enumerate("ABC", 1))
    a.peers.trust(b.node.key, "B", [])
    b.peers.trust(a.node.key, "A", [])

    async def liar(request: web.Request) -> web.Response:  # answers like a listener, signs nothing
        return web.Response(status=404, body=b"x", headers={"Tequio-Auth": "AAAA"})

    other = web.Application()
    other.router.add_post("/{tail:.*}", liar)
    runners = [
        web.AppRunner(make_fed_app(b.service, b.keyring, b.node.clock, b.limits)),
        web.AppRunner(other),
    ]
    addrs = []
    try:
        for r in runners:
            await r.setup()
            await web.TCPSite(r, "127.0.0.1", 0).start()
            addrs.append(f"127.0.0.1:{r.addresses[0][1]}")
        at_b, at_liar = addrs
        assert await answers_as(a.keyring, b.node.key, at_b, a.node.clock)
        assert not await answers_as(a.keyring, c.node.key, at_b, a.node.clock)  # B cannot answer for C
        assert not await answers_as(c.keyring, b.node.key, at_b, c.node.clock)  # B does not trust C
        assert not await answers_as(a.keyring, b.node.key, at_liar, a.node.clock)
        assert not await answers_as(a.keyring, b.node.key, f"127.0.0.1:{_free_port()}", a.node.clock)
        assert b.peers.get(a.node.key).penalty == 0  # type: ignore[union-attr]  # probing costs nothing
    finally:
        for r in runners:
            await r.cleanup()
        for f in (a, b, c):
            await f.aclose()


# -- real nodes on a real LAN: network namespaces on a bridge ------------------------------------------

SUBNET = "10.213.0"
PORT = 7348
SERVE = ("--fed-host", "0.0.0.0", "--fed-port", str(PORT), "--api-port", "0")
ENV = {**{k: v for k, v in os.environ.items() if not k.startswith("TEQUIO_")}, "TEQUIO_LOG": "INFO"}

#: Adverts of a hostile host: each is invalid in one way except the last two.
MALLORY = r"""
import asyncio, json, socket, sys
from zeroconf import IPVersion
from zeroconf.asyncio import AsyncServiceInfo, AsyncZeroconf

T = "_tequio._tcp.local."

async def main(adverts):
    azc = AsyncZeroconf(ip_version=IPVersion.V4Only)
    infos = [
        AsyncServiceInfo(T, f"evil-{i}.{T}", port=port, properties=bytes.fromhex(text),
                         server=f"evil-{i}.local.", addresses=[socket.inet_aton(ip)])
        for i, (text, ip, port) in enumerate(adverts)
    ]
    await asyncio.gather(*(azc.async_register_service(i) for i in infos))
    print("ready", flush=True)
    await asyncio.Event().wait()

asyncio.run(main(json.loads(sys.argv[1])))
"""


@dataclass
class LanNode:
    label: str
    ns: str
    home: Path
    key: bytes
    ip: str
    proc: subprocess.Popen[bytes] | None = None
    log: Path | None = None

    @property
    def addr(self) -> str:
        return f"{self.ip}:{PORT}"

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log and self.log.exists() else ""


class Lan(netlink.Lan):
    """The emulated LAN (``tests/netlink.py``, ideal links) with Tequio nodes on some hosts."""

    def __init__(self, root: Path) -> None:
        super().__init__(root, subnet=SUBNET)
        self.nodes: dict[str, LanNode] = {}

    def node(self, label: str, n: int, name: str) -> LanNode:
        host = self.host(label, n=n)
        home = self.root / label
        node = LanNode(label, host.ns, home, tequio_init(home, name), host.ip)
        self.nodes[label] = node
        return node

    def serve(self, node: LanNode, *extra: str) -> None:
        node.log = self.root / f"{node.label}.log"
        with node.log.open("wb") as out:
            node.proc = subprocess.Popen(
                [
                    *("ip", "netns", "exec", node.ns, TEQUIO, "--home", str(node.home), "serve"),
                    *SERVE,
                    *extra,
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=ENV,
            )
        self.procs.append(node.proc)


def candidates(node: LanNode) -> dict[bytes, dict[str, Any]]:
    return lannodes.candidates(node.home)


def peers(node: LanNode) -> dict[bytes, tuple[str, list[str]]]:
    return lannodes.peers(node.home)


def wait_for(what: str, check: Callable[[], bool], lan: Lan, timeout: float = 30.0) -> None:
    """Poll ``check`` until it holds; fail with every node's output if it does not in time."""
    deadline = time.monotonic() + timeout
    while not check():
        dead = [n.label for n in lan.nodes.values() if n.proc is not None and n.proc.poll() is not None]
        if dead or time.monotonic() > deadline:
            logs = "\n".join(f"--- {n.label}\n{n.output()[-3000:]}" for n in lan.nodes.values())
            pytest.fail(
                f"{'node ' + ', '.join(dead) + ' exited' if dead else 'timed out'} waiting for {what}\n{logs}"
            )
        time.sleep(0.25)


KEY_S = SigningKey(b"s" * 32).verify_key.encode()  # a stranger, advertised validly by mallory
KEY_T = SigningKey(b"t" * 32).verify_key.encode()  # trusted by A; mallory claims it from another host
KEY_U = SigningKey(b"u" * 32).verify_key.encode()  # advertised in ways that are all invalid


@pytest.fixture(scope="module")
def lan(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lan]:
    """Five hosts on one bridge: A and B discover (and already trust each other, at stale addresses;
    A also trusts T, which is not there), C runs with ``--no-discovery``, D with
    ``federation.discovery = false``, and M advertises garbage and lies."""
    try:
        net = Lan(tmp_path_factory.mktemp("lan"))
    except NetlinkError as e:  # never a skip: CI runs as root, a LAN that cannot be built is a failure
        pytest.fail(f"cannot build the emulated LAN: {e}")
    try:
        a, b = net.node("a", 1, "Node A"), net.node("b", 2, "Node B")
        c, d = net.node("c", 3, "Node C"), net.node("d", 4, "Node D")
        cfg = d.home / "tequio.toml"
        cfg.write_text(cfg.read_text().replace("discovery = true", "discovery = false"))
        assert "discovery = false" in cfg.read_text()
        _trust(a.home, b.key, "Node B", ["10.99.99.99:7348"])
        _trust(a.home, KEY_T, "Node T", ["10.99.0.1:7348"])
        _trust(b.home, a.key, "Node A", ["10.99.99.98:7348"])
        for n, extra in ((a, ()), (b, ()), (c, ("--no-discovery",)), (d, ())):
            net.serve(n, *extra)
        m = net.host("m", n=9)
        m_ns, m_ip = m.ns, m.ip
        entry = lambda text, ip=m_ip: [text.hex(), ip, PORT]  # noqa: E731
        adverts = [
            entry(txt(b"v=1", b"key=" + KEY_U.hex().upper().encode(), b"name=Upper")),
            entry(txt(b"v=1", b"key=" + KEY_U.hex()[:63].encode(), b"name=Short")),
            entry(txt(*good(KEY_U, b"Evil\x1b[2J"))),
            entry(txt(b"v=2", *good(KEY_U)[1:])),
            entry(txt(*good(KEY_U))[:-1]),
            entry(txt(*good(KEY_U), *[b"pad%d=" % i + b"x" * 240 for i in range(6)])),
            entry(txt(*good(KEY_U), b"key=" + OTHER.hex().encode())),
            entry(txt(*good(KEY_S, b"Stranger"))),
            entry(txt(*good(KEY_T, b"Node T")), c.ip),  # T's key, at C's address: C cannot sign as T
        ]
        mallory = subprocess.Popen(
            ["ip", "netns", "exec", m_ns, sys.executable, "-c", MALLORY, json.dumps(adverts)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=ENV,
        )
        net.procs.append(mallory)
        yield net
    finally:
        net.close()


def test_nodes_on_a_lan_find_each_other_as_candidates(lan: Lan) -> None:
    a, b = lan.nodes["a"], lan.nodes["b"]

    def sees(x: LanNode, y: LanNode) -> bool:
        c = candidates(x).get(y.key)
        return c is not None and y.addr in c["addrs"]

    wait_for("A and B to list each other at their LAN addresses", lambda: sees(a, b) and sees(b, a), lan)
    seen = candidates(a)[b.key]
    assert seen["name"] == "Node B" and seen["addrs"][0] == b.addr
    assert candidates(b)[a.key]["name"] == "Node A"
    assert "advertising 10.213.0.1 on port 7348" in a.output()


def test_disabled_discovery_advertises_and_browses_nothing(lan: Lan) -> None:
    a, b, c, d = (lan.nodes[x] for x in "abcd")
    # A stranger advertised by a third host is heard by both; so would C and D be, if they advertised.
    wait_for("A and B to hear the stranger", lambda: KEY_S in candidates(a) and KEY_S in candidates(b), lan)
    wait_for("A and B to hear each other", lambda: b.key in candidates(a) and a.key in candidates(b), lan)
    for x in (a, b):
        assert not {c.key, d.key} & set(candidates(x)), f"{x.label} saw a node that has discovery off"
    assert candidates(c) == {} and candidates(d) == {}  # they do not browse either
    assert "discovery" not in c.output() and "discovery" not in d.output()


def test_hostile_adverts_are_ignored_and_the_nodes_live_on(lan: Lan) -> None:
    a, b = lan.nodes["a"], lan.nodes["b"]
    wait_for(
        "A and B to hear mallory's valid adverts",
        lambda: {KEY_S, KEY_T} <= set(candidates(a)) and {KEY_S, KEY_T} <= set(candidates(b)),
        lan,
    )
    assert candidates(a)[KEY_S]["addrs"] == [f"{SUBNET}.9:{PORT}"]
    assert set(candidates(a)) == {b.key, KEY_S, KEY_T}  # the seven malformed ones left nothing
    assert set(candidates(b)) == {a.key, KEY_S, KEY_T}
    assert all(n.proc is not None and n.proc.poll() is None for n in lan.nodes.values())


def test_candidates_are_never_trusted_automatically(lan: Lan) -> None:
    a, b = lan.nodes["a"], lan.nodes["b"]
    wait_for("A to hear B and the stranger", lambda: {b.key, KEY_S} <= set(candidates(a)), lan)
    assert set(peers(a)) == {b.key, KEY_T}  # what the operator trusted, nothing more
    assert set(peers(b)) == {a.key}
    for x in ("c", "d"):
        assert peers(lan.nodes[x]) == {}
    listed = candidates(a)[KEY_S]
    assert listed.get("trusted", False) is False


def test_a_trusted_peer_is_refreshed_only_from_an_address_that_proves_it(lan: Lan) -> None:
    a, b, c = lan.nodes["a"], lan.nodes["b"], lan.nodes["c"]
    wait_for(
        "A and B to refresh each other's address",
        lambda: peers(a)[b.key][1][:1] == [b.addr] and peers(b)[a.key][1][:1] == [a.addr],
        lan,
    )
    assert peers(a)[b.key] == ("trusted", [b.addr, "10.99.99.99:7348"])  # the old one is kept, last
    assert "discovery: trusted peer 'Node B'" in a.output()
    # Mallory claims T's key at C's address: A hears it, probes, C cannot sign as T: nothing changes.
    wait_for("A to hear the impostor", lambda: c.addr in candidates(a).get(KEY_T, {}).get("addrs", []), lan)
    deadline = time.monotonic() + 3  # the probe is answered at once; give it time to (wrongly) land
    while time.monotonic() < deadline:
        assert peers(a)[KEY_T] == ("trusted", ["10.99.0.1:7348"])
        time.sleep(0.25)
    assert "Node T" not in a.output()


def test_a_trusted_peer_that_moves_is_followed(lan: Lan) -> None:
    """Last: it changes B's address, as a mesh or DHCP would."""
    a, b = lan.nodes["a"], lan.nodes["b"]
    wait_for("A to know B's first address", lambda: peers(a)[b.key][1][:1] == [b.addr], lan)
    old = b.addr
    moved = f"{SUBNET}.12"
    lan.hosts["b"].move(moved)
    b.ip = moved
    wait_for("A to store B's new address first", lambda: peers(a)[b.key][1][:1] == [b.addr], lan, timeout=40)
    assert peers(a)[b.key] == ("trusted", [b.addr, old, "10.99.99.99:7348"])
    assert b.addr in candidates(a)[b.key]["addrs"]
    assert f"advertising {moved} on port 7348" in b.output()
