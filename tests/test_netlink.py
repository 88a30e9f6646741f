"""The link emulator measured against what it claims, before any Tequio figure is taken on it:
each knob alone (rate by a bulk TCP transfer, delay by a UDP echo, loss by many datagrams, cuts by a
probe stream), then links (a) and (b) of issue 15 whole; its bad input, its failures and its cleanup.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import math
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientSession, TCPConnector, web

from tequio.node import Node
from tequio.node.federation import Federation
from tests.conftest import ROOT
from tests.lannodes import dial_from, serve_in
from tests.linkmeter import (
    Figure,
    check_cuts,
    check_link,
    check_rate,
    one_way_loss,
    outages,
    round_trip,
    tcp_figure,
)
from tests.netlink import (
    IDEAL,
    LINK_A,
    LINK_B,
    PREFIX,
    Cut,
    Lan,
    Link,
    NetlinkError,
    Shape,
    open_lan,
)


@pytest.fixture
def lan(tmp_path: Path) -> Iterator[Lan]:
    with open_lan(tmp_path) as net:
        yield net


def assert_figures(figs: list[Figure]) -> None:
    for f in figs:
        print(f.json())  # shown with -s, and on failure
    bad = [f.json() for f in figs if not f.ok]
    assert not bad, "\n".join(bad)


# -- the specification, without a network ---------------------------------------------------------------


@pytest.mark.parametrize(
    "make",
    [
        lambda: Shape(rate_kbit=0),
        lambda: Shape(rate_kbit=-256),
        lambda: Shape(rate_kbit=math.nan),
        lambda: Shape(rate_kbit=math.inf),
        lambda: Shape(rate_kbit=True),
        lambda: Shape(rate_kbit="256"),  # type: ignore[arg-type]
        lambda: Shape(delay_ms=-1),
        lambda: Shape(delay_ms=10**9),
        lambda: Shape(loss_pct=100.5),
        lambda: Shape(loss_pct=-0.1),
        lambda: Shape(queue_ms=0),
        lambda: Shape(cut=(10, 30)),  # type: ignore[arg-type]
        lambda: Cut(down_s=30, every_s=30),
        lambda: Cut(down_s=31, every_s=30),
        lambda: Cut(down_s=0, every_s=30),
        lambda: Cut(down_s=10, every_s=30, first_s=-1),
        lambda: Cut(down_s=10, every_s=math.nan),
    ],
)
def test_a_nonsensical_link_is_refused_before_anything_is_built(make: Any) -> None:
    with pytest.raises(ValueError):
        make()


def test_the_cut_schedule() -> None:
    c = Cut(down_s=10, every_s=30)  # up for 20 s, then down for 10, and again
    assert [c.is_down(t) for t in (0, 19.9, 20, 29.9, 30, 49.9, 50, 59.9, 60)] == [
        False, False, True, True, False, False, True, True, False,
    ]  # fmt: skip
    assert [c.next_change(t) for t in (0, 20, 25, 30, 55)] == [20, 30, 30, 50, 60]
    early = Cut(down_s=1, every_s=2.5, first_s=0.5)
    assert [early.is_down(t) for t in (0.4, 0.5, 1.4, 1.5, 3.0)] == [False, True, True, False, True]
    assert LINK_B.cuts_from(1).down.cut == Cut(10, 30, 1) and LINK_B.cuts_from(1).up.cut == Cut(10, 30, 1)
    assert LINK_A.rtt_ms == 300 and LINK_A.up == LINK_A.down
    assert LINK_A.up.queue_bytes == 6400 and LINK_B.up.queue_bytes == 4 * 1514


def test_bad_host_labels_and_numbers_are_refused(lan: Lan) -> None:
    lan.host("a")
    for label in ("A", "a b", "a;rm", "x" * 11, "hub", "a", "", "1a", "é"):
        with pytest.raises(ValueError):
            lan.host(label)
    for n in (0, 255, True, "3"):
        with pytest.raises(ValueError):
            lan.host("b", n=n)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        lan.host("b", link="a")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        Lan(subnet="10.0.0.0/24")
    assert list(lan.hosts) == ["a"]


# -- each knob alone ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("rate", "direction", "nbytes"), [(256, "down", 96_000), (64, "up", 24_000)])
def test_rate_is_what_a_bulk_tcp_transfer_gets(lan: Lan, rate: int, direction: str, nbytes: int) -> None:
    assert_figures([check_rate(lan, rate, direction, nbytes)])


def test_delay_is_one_way_per_direction_and_adds_up_across_two_links(lan: Lan) -> None:
    a = lan.host("a")
    base = round_trip(a, lan.host("b"), count=10, interval_s=0.02)
    assert base.received == 10 and base.median_ms < 20  # the machine itself adds little
    both = lan.host("c", Link.symmetric(delay_ms=150))
    only_up = lan.host("d", Link(up=Shape(delay_ms=200)))
    figs = []
    for host, expect in ((both, 300), (only_up, 200)):
        rt = round_trip(a, host, count=15, interval_s=0.03)
        assert rt.received == 15
        figs.append(Figure(host.label, "rtt_ms", expect, round(rt.median_ms, 1), expect, expect + 60))
    rt = round_trip(both, only_up, count=10, interval_s=0.03)  # 150 + 200 out, 150 back
    figs.append(Figure("c-d", "rtt_ms", 500, round(rt.median_ms, 1), 500, 560))
    assert_figures(figs)


def test_loss_is_per_direction(lan: Lan) -> None:
    a, b = lan.host("a"), lan.host("b", Link(up=Shape(loss_pct=20), down=Shape(loss_pct=5)))
    before = b.counters()
    down, up = one_way_loss(a, b, count=4000), one_way_loss(b, a, count=4000)
    after = b.counters()
    assert_figures(
        [
            Figure("b", "down_loss_pct", 5, down.pct, 3, 7),
            Figure("b", "up_loss_pct", 20, up.pct, 18, 22),
        ]
    )
    # The emulator's own count of what it dropped agrees with what did not arrive.
    assert after["down_lost"] - before["down_lost"] == down.sent - down.received
    assert after["up_lost"] - before["up_lost"] == up.sent - up.received


def test_cuts_come_on_schedule_and_last_what_they_claim(lan: Lan) -> None:
    link = Link.symmetric("cut", cut=Cut(down_s=0.8, every_s=2.0, first_s=0.3))
    near, far = lan.host("a"), lan.host("b", link)
    figs = check_cuts(link, near, far, seconds=4.2)
    assert_figures(figs)
    assert {f.measured for f in figs if f.what.endswith("cuts_seen")} == {2}
    starts = [e["t"] for e in far.events("cut")]
    assert len(starts) >= 2 and all(abs(b - a - 2.0) < 0.1 for a, b in itertools.pairwise(starts))
    assert far.counters()["down_cut"] > 0 and far.counters()["up_cut"] > 0


def test_a_manual_cut_holds_until_mended(lan: Lan) -> None:
    a, b = lan.host("a"), lan.host("b")
    assert round_trip(a, b, count=5, interval_s=0.01).received == 5
    with b.outage():
        assert round_trip(a, b, count=5, interval_s=0.01).received == 0
    assert round_trip(a, b, count=5, interval_s=0.01).received == 5
    b.cut("up")  # one way only: a hears nothing from b, b still hears a
    assert one_way_loss(b, a, count=200).received == 0
    assert one_way_loss(a, b, count=200).received == 200
    b.mend("up")
    assert one_way_loss(b, a, count=200).received == 200
    with pytest.raises(ValueError):
        b.cut("sideways")


# -- the links of issue 15 ------------------------------------------------------------------------------


def test_link_a_measures_as_claimed(lan: Lan) -> None:
    near, far = lan.host("near"), lan.host("far", LINK_A)
    figs = check_link(LINK_A, near, far)
    assert {f.what for f in figs} == {
        "rtt_ms",
        "down_loss_pct",
        "up_loss_pct",
        "down_flood_kbit",
        "up_flood_kbit",
    }
    figs.append(tcp_figure(LINK_A, near, far))  # for the record: what plain TCP makes of it
    assert_figures(figs)


def test_link_b_measures_as_claimed(lan: Lan) -> None:
    # The same link with its first cut early, to keep the test short; 1.5 s of link before the cut
    # and as much after it give some 300 probes to measure the loss between cuts with.
    link = LINK_B.cuts_from(1.5)
    near, far = lan.host("near"), lan.host("far", link)
    figs = check_cuts(link, near, far, seconds=13.0)
    assert {f.measured for f in figs if f.what.endswith("cuts_seen")} == {1}
    figs += check_link(link, near, far)  # the rate, between cuts (the next is 30 s after the first)
    assert_figures(figs)


def test_three_hosts_each_on_its_own_link(lan: Lan) -> None:
    hub_side = lan.host("a")
    b, c = (
        lan.host("b", Link.symmetric(delay_ms=50)),
        lan.host("c", Link.symmetric(delay_ms=100, loss_pct=50)),
    )
    assert round_trip(hub_side, b, count=5, interval_s=0.01).median_ms == pytest.approx(100, abs=30)
    rt = round_trip(b, c, count=40, interval_s=0.01)
    assert rt.median_ms == pytest.approx(300, abs=40)  # both links, both ways
    assert 0 < rt.received < 25  # c's loss, both ways: a quarter arrives on average
    assert one_way_loss(hub_side, b, count=500).received == 500


# -- in-process code on the links -----------------------------------------------------------------------


async def test_an_in_process_aiohttp_server_and_client_talk_across_a_link(lan: Lan) -> None:
    near, far = lan.host("near"), lan.host("far", Link.symmetric(delay_ms=100))

    async def hello(request: web.Request) -> web.Response:
        return web.Response(text=f"hola from {request.transport.get_extra_info('sockname')[0]}")

    app = web.Application()
    app.router.add_get("/", hello)
    runner = web.AppRunner(app)
    await runner.setup()
    sock = far.listen()
    await web.SockSite(runner, sock).start()
    try:
        async with ClientSession(connector=TCPConnector(socket_factory=near.socket_factory)) as http:
            start = time.monotonic()
            async with http.get(f"http://{far.addr(sock.getsockname()[1])}/") as resp:
                text = await resp.text()
            took = time.monotonic() - start
        assert text == f"hola from {far.ip}"
        assert took >= 0.4  # the handshake's round trip, then the request's: 2 x 200 ms
    finally:
        await runner.cleanup()


async def test_in_process_nodes_sync_across_link_a(lan: Lan, make_node: Callable[..., Node]) -> None:
    """Two real nodes in the test process, one's listener and the other's client on sockets in the
    hosts' namespaces: records cross link (a), and the link's bytes are counted."""
    near, far = lan.host("near"), lan.host("far", LINK_A)
    a, b = Federation(make_node(name="A", seed=1)), Federation(make_node(name="B", seed=2))
    runner, b_addr = await serve_in(far, b)
    try:
        dial_from(near, a)
        a.peers.trust(b.node.key, "B", [b_addr])
        b.peers.trust(a.node.key, "A", [])
        for i in range(20):
            a.node.publish("core.note", {"text": f"por el enlace {i}"})
        start = time.monotonic()
        res = await a.syncer.sync(b.node.key)
        took = time.monotonic() - start
        assert res.accepted_there == 20
        assert took >= 2 * LINK_A.rtt_ms / 1000  # the connection's handshake, then at least one exchange
        c = far.counters()
        assert c["down_bytes"] > 20 * 100 and c["up_bytes"] > 0
    finally:
        await a.aclose()
        await b.aclose()
        await runner.cleanup()


# -- failures and cleanup ---------------------------------------------------------------------------------


def _our_namespaces(tag: str) -> list[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout
    return [line.split()[0] for line in out.splitlines() if line.startswith(tag)]


def test_everything_is_removed_when_the_test_fails_midway(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="the test failed"), Lan(tmp_path) as net:
        a = net.host("a", LINK_A)
        net.host("b", LINK_B)
        helpers = [h.hold.pid for h in net.hosts.values() if h.hold]
        # A process the test started in a namespace itself, without telling the LAN.
        stray = subprocess.Popen(a.cmd("sleep", "300"))
        assert len(helpers) == 2 and len(_our_namespaces(net.tag)) == 3
        raise RuntimeError("the test failed")
    assert _our_namespaces(net.tag) == []
    assert stray.wait(10) == -9
    for pid in helpers:
        assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text()


def test_namespaces_of_a_killed_test_process_are_reaped() -> None:
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    name = f"{PREFIX}{dead.stdout.strip()}-abcdef-x"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        with Lan():
            assert name not in _our_namespaces(name)
    finally:
        subprocess.run(["ip", "netns", "del", name], capture_output=True)


def test_a_dead_helper_is_a_dead_link_not_a_silently_perfect_one(lan: Lan) -> None:
    a, b = lan.host("a"), lan.host("b", Link.symmetric(delay_ms=50))
    assert round_trip(a, b, count=3, interval_s=0.01).received == 3
    assert b.hold is not None
    b.hold.popen.kill()
    b.hold.popen.wait(5)
    assert round_trip(a, b, count=5, interval_s=0.01).received == 0


def _unprivileged(code: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all",
         sys.executable, "-c", code],
        capture_output=True, text=True, cwd=ROOT, env={**os.environ, **(env or {})}, timeout=60,
    )  # fmt: skip


def test_without_the_right_to_make_namespaces_a_test_fails_with_the_reason() -> None:
    code = "from tests.netlink import open_lan\nwith open_lan():\n    pass\n"
    r = _unprivileged(code)
    assert r.returncode != 0
    assert "Failed: cannot build the emulated LAN: cannot create network namespace" in r.stderr
    assert "need root" in r.stderr


def test_a_missing_tool_is_named_with_its_package(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("ip", "tc", "nft", "sysctl"):  # no ethtool
        (bin_dir / tool).symlink_to(str(shutil.which(tool)))
    code = "from tests.netlink import Lan\nLan()\n"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                       env={**os.environ, "PATH": str(bin_dir)}, timeout=60)  # fmt: skip
    assert r.returncode != 0
    assert "'ethtool' is not installed (Debian package ethtool" in r.stderr


def test_the_figures_script_refuses_a_bad_option() -> None:
    """``python -m tests.netlink`` refuses a bad option (the figures it prints: the two tests above)."""
    argv = [sys.executable, "-m", "tests.netlink", "--links", "z"]
    r = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert r.returncode == 2 and "links" in r.stderr and "Traceback" not in r.stderr


def test_figures_are_json_lines() -> None:
    f = Figure("a", "rtt_ms", 300, 301.2, 300, 360, {"probes": 20})
    d = json.loads(f.json())
    assert d == {**d, "bench": "netlink", "link": "a", "what": "rtt_ms", "ratio": 1.004, "ok": True}
    assert not Figure("a", "rtt_ms", 300, 1.0, 300, 360).ok


def test_ideal_links_pass_everything(lan: Lan) -> None:
    a, b = lan.host("a"), lan.host("b", IDEAL)
    assert one_way_loss(a, b, count=2000).received == 2000
    o = outages(a, b, seconds=1.0)
    assert o.gaps == [] and o.loss_outside_pct == 0
    assert b.hold is None and b.events() == []
    with pytest.raises(NetlinkError, match="closed"):
        lan.close()
        lan.host("c")


def test_nothing_blocks_an_event_loop_while_measuring(lan: Lan) -> None:
    """Measurements run in threads with their own sockets: an event loop in the test process keeps
    running (the in-process nodes of later tests live on one)."""
    a, b = lan.host("a"), lan.host("b", Link.symmetric(delay_ms=100))

    async def main() -> int:
        ticks = 0

        async def tick() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        t = asyncio.create_task(tick())
        await asyncio.to_thread(round_trip, a, b, 5, 0.05)
        t.cancel()
        return ticks

    assert asyncio.run(main()) > 20
