"""Discovery on a lossy mesh (issue 15, section 5): real ``tequio serve`` processes finding each
other with zeroconf across the emulated bridge while 20 % of the frames each way are lost. A trusted
peer's new address is picked up (at start, and again when it moves); an untrusted node is only
listed. Each step awaits the node's own log line for the event, within a bound."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tequio.schemas import fingerprint
from tests.lannodes import FED_PORT, candidates, peers, tequio_init_all, tequio_serve, trust
from tests.netlink import Host, Lan, Link, Proc, open_lan

#: Each of B's and S's links loses a fifth of the frames each way; A's is ideal, so every path
#: between A and the others loses 20 % each way (and B-S 36 %).
LOSSY = Link.symmetric("lossy", loss_pct=20)
#: One failed signed probe costs a minute (REPROBE_S in node/discovery.py) before it is tried again;
#: with 20 % loss a probe fails now and then, so the bound leaves room for one retry.
BOUND_S = 100
STALE_B, STALE_A = f"10.99.99.99:{FED_PORT}", f"10.99.99.98:{FED_PORT}"


@dataclass
class Node:
    host: Host
    home: Path
    key: bytes
    proc: Proc | None = None

    @property
    def addr(self) -> str:
        return self.host.addr(FED_PORT)

    def await_log(self, pattern: str, since: int = 0) -> int:
        """Await a line of this node's log matching ``pattern``; the index after it."""
        assert self.proc is not None
        self.proc.wait_line(pattern, timeout=BOUND_S, since=since)
        return len(self.proc.lines)


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Node]]:
    """A, B and a stranger S on one bridge; A and B trust each other at stale addresses (as after
    an invite on another network); nobody trusts S."""
    root = tmp_path_factory.mktemp("mesh")
    with open_lan(root) as lan:
        nodes = _nodes(lan, root)
        for label, n in nodes.items():
            n.proc = tequio_serve(n.host, n.home, log=root / f"{label}.log")
        for n in nodes.values():
            n.await_log("Ctrl-C to stop")
        yield nodes


def _nodes(lan: Lan, root: Path) -> dict[str, Node]:
    made = (("a", "Node A", Link()), ("b", "Node B", LOSSY), ("s", "Stranger", LOSSY))
    keys = tequio_init_all([(root / label, name) for label, name, _ in made])
    nodes = {
        label: Node(lan.host(label, link), root / label, key)
        for (label, _, link), key in zip(made, keys, strict=True)
    }
    a, b = nodes["a"], nodes["b"]
    trust(a.home, b.key, "Node B", [STALE_B])
    trust(b.home, a.key, "Node A", [STALE_A])
    return nodes


def test_the_links_really_are_lossy(mesh: dict[str, Node]) -> None:
    """The emulator's own count: frames were dropped on both of B's directions while they talked."""
    b = mesh["b"]
    mesh["a"].await_log(rf"{fingerprint(b.key)} seen on the LAN")
    c = b.host.counters()
    assert c["up_lost"] > 0 and c["down_lost"] > 0, c


def test_a_trusted_peers_address_is_picked_up_under_loss(mesh: dict[str, Node]) -> None:
    a, b = mesh["a"], mesh["b"]
    a.await_log(rf"discovery: trusted peer 'Node B' \({fingerprint(b.key)}\) is at {re.escape(b.addr)}")
    assert peers(a.home)[b.key] == ("trusted", [b.addr, STALE_B])  # the stale one kept, last


def test_an_untrusted_node_is_only_listed(mesh: dict[str, Node]) -> None:
    a, s = mesh["a"], mesh["s"]
    a.await_log(rf"discovery: {fingerprint(s.key)} seen on the LAN at {re.escape(s.addr)}")
    listed = candidates(a.home)[s.key]
    assert listed["name"] == "Stranger" and listed["addrs"] == [s.addr]
    assert listed.get("trusted", False) is False
    assert s.key not in peers(a.home)
    assert set(peers(a.home)) == {mesh["b"].key}
    assert "Stranger" not in (a.proc.output() if a.proc else "")  # never announced as a peer


def test_a_trusted_peer_that_moves_is_followed_under_loss(mesh: dict[str, Node]) -> None:
    """Last: it changes B's address, as a mesh would."""
    a, b = mesh["a"], mesh["b"]
    since = a.await_log(rf"trusted peer 'Node B' \({fingerprint(b.key)}\) is at {re.escape(b.addr)}")
    old = b.addr
    b.host.move(b.host.ip.rsplit(".", 1)[0] + ".12")
    a.await_log(
        rf"trusted peer 'Node B' \({fingerprint(b.key)}\) is at {re.escape(b.addr)}, {re.escape(old)}",
        since=since,
    )
    assert peers(a.home)[b.key] == ("trusted", [b.addr, old, STALE_B])
    assert all(n.proc is not None and n.proc.popen.poll() is None for n in mesh.values())
