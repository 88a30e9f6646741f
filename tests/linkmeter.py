"""Measurements across emulated links (``tests/netlink.py``), run from the test process with sockets
made inside the hosts' namespaces: a bulk TCP transfer, a UDP echo round trip, one-way UDP loss, a
UDP flood's arrival rate and the outages seen by a stream of probes. ``figures`` checks a link
against what it claims; ``python -m tests.netlink`` prints those checks as JSON, one per line.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import math
import socket
import statistics
import struct
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from tests.netlink import ETH_BYTES, LINK_A, LINK_B, Host, Lan, Link, NetlinkError, Shape

UDP_OVERHEAD = ETH_BYTES + 20 + 8  # Ethernet, IPv4, UDP headers
TCP_OVERHEAD = ETH_BYTES + 20 + 32  # Ethernet, IPv4, TCP with timestamps
_PROBE = struct.Struct("!Id")  # sequence number, send time (time.monotonic)


def _udp(host: Host, bind: bool = True) -> socket.socket:
    s = host.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    if bind:
        s.bind((host.ip, 0))
    return s


def _drain_s(src: Host, dst: Host) -> float:
    """How long a datagram can still be on its way: both delays, both shaper queues, a margin."""
    up, down = src.link.up, dst.link.down
    queued = sum(s.queue_ms for s in (up, down) if s.rate_kbit)
    return (up.delay_ms + down.delay_ms + queued) / 1000 + 0.5


# -- round trip ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RoundTrip:
    sent: int
    received: int
    rtts_ms: list[float]

    @property
    def median_ms(self) -> float:
        return statistics.median(self.rtts_ms) if self.rtts_ms else float("nan")


def round_trip(client: Host, server: Host, count: int = 20, interval_s: float = 0.05) -> RoundTrip:
    """UDP echo: ``count`` probes from ``client`` to a responder on ``server``, one every ``interval_s``."""
    srv, cli = _udp(server), _udp(client)
    srv.settimeout(0.1)
    stop = threading.Event()

    def echo() -> None:
        while not stop.is_set():
            try:
                data, peer = srv.recvfrom(2048)
            except TimeoutError:
                continue
            srv.sendto(data, peer)

    responder = threading.Thread(target=echo, daemon=True)
    responder.start()
    rtts: dict[int, float] = {}
    done = threading.Event()

    def receive() -> None:
        cli.settimeout(0.1)
        while not done.is_set() and len(rtts) < count:
            try:
                data = cli.recv(2048)
            except TimeoutError:
                continue
            seq, sent = _PROBE.unpack_from(data)
            rtts.setdefault(seq, (time.monotonic() - sent) * 1000)

    receiver = threading.Thread(target=receive, daemon=True)
    receiver.start()
    try:
        cli.connect(srv.getsockname())
        for i in range(count):
            cli.send(_PROBE.pack(i, time.monotonic()) + b"p" * 20)
            time.sleep(interval_s)  # pacing the probes, not waiting for something
        receiver.join(_drain_s(client, server) + _drain_s(server, client))
    finally:
        done.set()
        stop.set()
        receiver.join(1)
        responder.join(1)
        cli.close()
        srv.close()
    return RoundTrip(count, len(rtts), sorted(rtts.values()))


# -- one-way loss ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Loss:
    sent: int
    received: int

    @property
    def pct(self) -> float:
        return 100 * (self.sent - self.received) / self.sent


def one_way_loss(src: Host, dst: Host, count: int = 4000, size: int = 16) -> Loss:
    """``count`` small datagrams from ``src`` to ``dst``, paced under the path's rate so that only the
    emulated loss (not the shaper's queue) drops them; how many arrive."""
    rates = [s.rate_kbit for s in (src.link.up, dst.link.down) if s.rate_kbit]
    frame_bits = (size + _PROBE.size + UDP_OVERHEAD) * 8
    pps = min(rates) * 1000 * 0.6 / frame_bits if rates else 20_000
    rx, tx = _udp(dst), _udp(src)
    seen: set[int] = set()
    done = threading.Event()

    def receive() -> None:
        rx.settimeout(0.1)
        while not done.is_set():
            try:
                seen.add(_PROBE.unpack_from(rx.recv(2048))[0])
            except TimeoutError:
                continue

    t = threading.Thread(target=receive, daemon=True)
    t.start()
    try:
        tx.connect(rx.getsockname())
        start = time.monotonic()
        for i in range(count):
            due = start + i / pps
            if (wait := due - time.monotonic()) > 0:
                time.sleep(wait)  # pacing
            tx.send(_PROBE.pack(i, time.monotonic()) + b"l" * size)
        time.sleep(_drain_s(src, dst))  # the last datagrams' flight: nothing signals a loss
    finally:
        done.set()
        t.join(1)
        rx.close()
        tx.close()
    return Loss(count, len(seen))


# -- rate --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Throughput:
    payload_bytes: int
    seconds: float  # from the first send (TCP: the connect) to the last byte's arrival
    goodput_kbit: float  # payload, in the steady part (after the first quarter)
    wire_kbit: float  # the same, counted as frames on the wire

    @property
    def average_kbit(self) -> float:
        """Payload over the whole time, slow start and retransmissions included."""
        return self.payload_bytes * 8 / self.seconds / 1000


def _steady(samples: list[tuple[float, int]], frame: float) -> tuple[float, float]:
    """Goodput and wire kbit/s over the samples after the first quarter of the bytes (slow start,
    the shaper's burst and its first queue are behind by then)."""
    total = samples[-1][1]
    t1, b1 = next((t, b) for t, b in samples if b >= total / 4)
    t2 = samples[-1][0]
    if t2 <= t1:
        return float("nan"), float("nan")
    good = (total - b1) * 8 / (t2 - t1) / 1000
    return good, good * frame


def bulk_tcp(src: Host, dst: Host, nbytes: int, timeout_s: float = 60) -> Throughput:
    """One TCP connection from ``src`` sending ``nbytes`` to ``dst``; the receiver's view of the rate."""
    lsock = dst.listen()
    lsock.settimeout(timeout_s)
    samples: list[tuple[float, int]] = []
    errors: list[BaseException] = []

    def receive() -> None:
        try:
            conn, _ = lsock.accept()
            with conn:
                conn.settimeout(timeout_s)
                got, buf = 0, bytearray(65536)
                while got < nbytes:
                    n = conn.recv_into(buf)
                    if n == 0:
                        break
                    got += n
                    samples.append((time.monotonic(), got))
        except BaseException as e:
            errors.append(e)

    t = threading.Thread(target=receive, daemon=True)
    t.start()
    start = time.monotonic()
    with src.socket() as s:
        s.settimeout(timeout_s)
        s.connect(lsock.getsockname())
        mss = s.getsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG)
        s.sendall(b"x" * nbytes)
        t.join(timeout_s)
    lsock.close()
    if errors or not samples or samples[-1][1] != nbytes:
        raise RuntimeError(f"bulk transfer incomplete: {samples[-1][1] if samples else 0}/{nbytes} {errors}")
    good, wire = _steady(samples, (mss + TCP_OVERHEAD) / mss)
    return Throughput(nbytes, samples[-1][0] - start, good, wire)


def udp_flood(src: Host, dst: Host, kbit: float, seconds: float = 2.0, size: int = 1000) -> Throughput:
    """Datagrams of ``size`` bytes sent at ``kbit`` (counted as frames) for ``seconds``; their
    arrival rate at ``dst``. Above the path's rate it is the rate times the share not lost."""
    rx, tx = _udp(dst), _udp(src)
    frame = size + UDP_OVERHEAD
    samples: list[tuple[float, int]] = []
    done = threading.Event()

    def receive() -> None:
        rx.settimeout(0.1)
        got = 0
        while not done.is_set():
            try:
                got += len(rx.recv(65536))
            except TimeoutError:
                continue
            samples.append((time.monotonic(), got))

    t = threading.Thread(target=receive, daemon=True)
    t.start()
    try:
        tx.connect(rx.getsockname())
        pps = kbit * 1000 / 8 / frame
        start = time.monotonic()
        i = 0
        while (now := time.monotonic()) < start + seconds:
            if (wait := start + i / pps - now) > 0:
                time.sleep(wait)  # pacing
            with contextlib.suppress(OSError):  # ENOBUFS from a full shaper queue: dropped, as on a link
                tx.send(b"f" * size)
            i += 1
        time.sleep(_drain_s(src, dst))  # the queue empties
    finally:
        done.set()
        t.join(1)
        rx.close()
        tx.close()
    if len(samples) < 10:
        raise RuntimeError(f"udp flood: only {len(samples)} datagrams arrived")
    good, wire = _steady(samples, frame / size)
    return Throughput(samples[-1][1], samples[-1][0] - samples[0][0], good, wire)


# -- outages -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outages:
    sent: int
    received: int
    gaps: list[tuple[float, float]]  # (last arrival before, first arrival after), time.monotonic()
    loss_outside_pct: float  # loss among the probes sent while the link was not in a gap
    first_send: float
    last_send: float

    @property
    def lengths(self) -> list[float]:
        return [b - a for a, b in self.gaps]


def outages(src: Host, dst: Host, seconds: float, interval_s: float = 0.01, gap_s: float = 0.4) -> Outages:
    """Probes from ``src`` to ``dst`` every ``interval_s`` for ``seconds``; stretches of at least
    ``gap_s`` without an arrival are outages (random loss alone does not make one that long)."""
    rx, tx = _udp(dst), _udp(src)
    arrivals: list[tuple[float, float]] = []  # (arrival, sent)
    done = threading.Event()

    def receive() -> None:
        rx.settimeout(0.1)
        while not done.is_set():
            try:
                _, sent = _PROBE.unpack_from(rx.recv(2048))
            except TimeoutError:
                continue
            arrivals.append((time.monotonic(), sent))

    t = threading.Thread(target=receive, daemon=True)
    t.start()
    sends: list[float] = []
    try:
        tx.connect(rx.getsockname())
        start = time.monotonic()
        while (now := time.monotonic()) < start + seconds:
            if (wait := start + len(sends) * interval_s - now) > 0:
                time.sleep(wait)  # pacing
            sends.append(time.monotonic())
            tx.send(_PROBE.pack(len(sends), sends[-1]))
        time.sleep(_drain_s(src, dst))
    finally:
        done.set()
        t.join(1)
        rx.close()
        tx.close()
    gaps = [(a[0], b[0]) for a, b in itertools.pairwise(arrivals) if b[0] - a[0] >= gap_s]
    # Probes sent during a gap (between the sends of its two bounding arrivals) are not random loss,
    # nor are those of an outage still going on when the probing started or stopped.
    bounds = [(a[1], b[1]) for a, b in itertools.pairwise(arrivals) if b[0] - a[0] >= gap_s]
    if not arrivals:
        bounds.append((-math.inf, math.inf))
    else:
        if arrivals[0][1] - sends[0] >= gap_s:
            bounds.append((-math.inf, arrivals[0][1]))
        if sends[-1] - arrivals[-1][1] >= gap_s:
            bounds.append((arrivals[-1][1], math.inf))
    inside = sum(1 for s in sends if any(lo < s < hi for lo, hi in bounds))
    outside = len(sends) - inside
    loss = 100 * (outside - len(arrivals)) / outside if outside else float("nan")
    return Outages(len(sends), len(arrivals), gaps, loss, sends[0], sends[-1])


# -- checking a link against its claims ---------------------------------------------------------------------


@dataclass
class Figure:
    """One measurement set against the claim it checks, with the range a working emulator stays in."""

    link: str
    what: str
    claimed: float
    measured: float
    low: float
    high: float
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.low <= self.measured <= self.high

    def json(self) -> str:
        d = asdict(self)
        return json.dumps(
            {
                "bench": "netlink",
                **d,
                "ratio": round(self.measured / self.claimed, 3) if self.claimed else None,
                "ok": self.ok,
            }
        )


def check_rate(lan: Lan, rate_kbit: float, direction: str, nbytes: int) -> Figure:
    """A bulk TCP transfer over a link with only this rate (one direction): wire kbit/s vs the rate."""
    shape = Shape(rate_kbit=rate_kbit, queue_ms=2000)  # deep: TCP meets the rate, not drops in a short queue
    link = Link(up=shape) if direction == "up" else Link(down=shape)
    near, far = lan.host(f"r{len(lan.hosts)}"), lan.host(f"s{len(lan.hosts)}", link)
    src, dst = (far, near) if direction == "up" else (near, far)
    tp = bulk_tcp(src, dst, nbytes)
    return Figure(
        f"rate {rate_kbit} {direction}",
        "tcp_wire_kbit",
        rate_kbit,
        round(tp.wire_kbit, 1),
        0.85 * rate_kbit,
        1.03 * rate_kbit,
        {"goodput_kbit": round(tp.goodput_kbit, 1), "seconds": round(tp.seconds, 2)},
    )


def check_link(link: Link, near: Host, far: Host) -> list[Figure]:
    """``far`` is on ``link``, ``near`` on an ideal one: the round trip, then each direction at once
    (on its own shaper): its loss (unless it has cuts: ``check_cuts`` measures that) and its rate,
    as the arrival rate of a UDP flood at twice the rate, which is the rate times the share not lost."""
    figs: list[Figure] = []
    name = link.name
    if link.rtt_ms:
        rt = round_trip(near, far, count=20, interval_s=0.1)
        figs.append(
            Figure(
                name,
                "rtt_ms",
                link.rtt_ms,
                round(rt.median_ms, 1),
                link.rtt_ms,
                link.rtt_ms + 60,
                {"probes": rt.sent, "answered": rt.received},
            )
        )

    def direction(d: str, src: Host, dst: Host, shape: Shape) -> None:
        if shape.cut is None:
            loss = one_way_loss(src, dst, count=600 if shape.rate_kbit else 4000)
            spread = 5.0 if shape.rate_kbit else 2.0
            figs.append(
                Figure(
                    name,
                    f"{d}_loss_pct",
                    shape.loss_pct,
                    round(loss.pct, 2),
                    max(0.0, shape.loss_pct - spread),
                    shape.loss_pct + spread,
                    asdict(loss),
                )
            )
        if shape.rate_kbit:
            keep = shape.rate_kbit * (1 - shape.loss_pct / 100)
            # About 100 frames a second at the rate, for 3.5 s: some 250 arrive after the first quarter,
            # enough for the loss to average out within the tolerance (4 sigma and more).
            size = max(32, min(1000, int(shape.rate_kbit * 1000 / 8 / 100) - UDP_OVERHEAD))
            fl = udp_flood(src, dst, 2 * shape.rate_kbit, seconds=3.5, size=size)
            note = {"note": "rate x (1 - loss)", "datagram_bytes": size}
            figs.append(Figure(name, f"{d}_flood_kbit", round(keep, 1), round(fl.wire_kbit, 1), 0.85 * keep,
                               1.12 * keep, note))  # fmt: skip

    _both(lambda: direction("down", near, far, link.down), lambda: direction("up", far, near, link.up))
    return figs


def _both(*jobs: Callable[[], None]) -> None:
    """Run measurements at once, one thread each; the first failure is raised."""
    errors: list[BaseException] = []

    def wrap(job: Callable[[], None]) -> None:
        try:
            job()
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=wrap, args=(j,), daemon=True) for j in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    if errors:
        raise errors[0]


def tcp_figure(link: Link, near: Host, far: Host, nbytes: int = 48_000) -> Figure:
    """What TCP makes of the whole link, from connect to the last byte: a figure, not a claim."""
    rate = link.down.rate_kbit or math.inf
    tcp = bulk_tcp(near, far, nbytes, timeout_s=120)
    return Figure(
        link.name,
        f"tcp_{nbytes // 1000}kB_average_kbit",
        rate,
        round(tcp.average_kbit, 1),
        0,
        rate,
        {"seconds": round(tcp.seconds, 2), "share_of_rate": round(tcp.average_kbit / rate, 3)},
    )


def check_cuts(link: Link, near: Host, far: Host, seconds: float) -> list[Figure]:
    """Probe both directions at once for ``seconds``: each cut seen as an outage of its length, at
    the time the helper cut the link; the loss between cuts."""
    figs: list[Figure] = []
    results: dict[str, Outages] = {}
    threads = [
        threading.Thread(target=lambda d=d, s=s, r=r: results.__setitem__(d, outages(s, r, seconds)))
        for d, s, r in (("down", near, far), ("up", far, near))
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(seconds + 30)
    for d, shape in (("down", link.down), ("up", link.up)):
        if shape.cut is None:
            continue
        o, c = results[d], shape.cut
        # The cuts the helper made while probes flowed, from start to end (a cut takes effect
        # within a few ms of the helper's report: it runs nft, then reports).
        cuts = [
            e["t"] for e in far.events("cut") if o.first_send < e["t"] and e["t"] + c.down_s < o.last_send
        ]
        figs.append(
            Figure(
                link.name,
                f"{d}_cuts_seen",
                len(cuts),
                len(o.gaps),
                len(cuts),
                len(cuts),
                {"gaps_s": [round(x, 2) for x in o.lengths]},
            )
        )
        for i, (gap, length) in enumerate(zip(o.gaps, o.lengths, strict=False)):
            lag = min((gap[0] - t for t in cuts), key=abs, default=float("inf"))
            figs.append(
                Figure(
                    link.name,
                    f"{d}_cut{i}_s",
                    c.down_s,
                    round(length, 2),
                    c.down_s - 0.1,
                    c.down_s + 0.5,
                    {"last_arrival_minus_helper_cut_s": round(lag, 3)},
                )
            )
        figs.append(
            Figure(
                link.name,
                f"{d}_loss_between_cuts_pct",
                shape.loss_pct,
                round(o.loss_outside_pct, 2),
                max(0.0, shape.loss_pct - 8),
                shape.loss_pct + 8,
                {"probes": o.sent},
            )
        )
    return figs


def _links(text: str) -> list[str]:
    names = text.split(",")
    if not names or any(n not in ("a", "b") for n in names):
        raise argparse.ArgumentTypeError(f"a comma-separated list of a and b, not {text!r}")
    return names


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="python -m tests.netlink", description=__doc__)
    ap.add_argument("--links", default="a,b", type=_links, help="which of a, b to measure (default both)")
    args = ap.parse_args(argv)
    try:
        with Lan() as lan:
            figs = [check_rate(lan, 256, "down", 96_000), check_rate(lan, 64, "up", 24_000)]
            for name in args.links:
                link = {"a": LINK_A, "b": LINK_B.cuts_from(1.5)}[name]
                near, far = lan.host(f"n{name}"), lan.host(f"f{name}", link)
                if link.up.cut or link.down.cut:
                    figs += check_cuts(link, near, far, 13.0)
                figs += check_link(link, near, far)
                figs.append(tcp_figure(link, near, far))
    except NetlinkError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for f in figs:
        print(f.json())
    return 0 if all(f.ok for f in figs) else 1
