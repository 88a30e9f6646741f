"""What the client knows about each peer's link, and what it does with it (issue 15 §2, §3).

- ``LinkEstimate``: a peer's measured round trip (the kernel's smoothed RTT of our connections to
  it, ``TCP_INFO``) and throughput (bytes moved per second by calls that moved enough to tell).
  Timeouts and blob range sizes are derived from it: a slow link never trips a fixed short timeout.
- ``Watch``: a call is given up when *nothing moves* for ``stall_s``, not when it is long. Progress
  is the bytes the kernel saw acknowledged by or received from that peer's address on any of our
  connections to it (``TCP_INFO`` ``bytes_acked`` + ``bytes_received``), plus the bytes the
  application read; so a 1 MiB range over 64 kbit/s (two minutes) goes through, and a cut link is
  noticed ``stall_s`` after its last byte.
- ``Budget``: a per-peer token bucket (``federation.peer_kbit``) so that one peer cannot take the
  whole of a thin link: what we send to and fetch from a peer, and what we answer it, are charged.

Everything here is advisory and local: nothing a peer says changes it, only what our own sockets
measure.
"""

from __future__ import annotations

import asyncio
import socket
import struct
import sys
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["Budget", "LinkBook", "LinkEstimate", "Stalled", "TcpInfo", "tcp_info"]

#: Linux ``struct tcp_info`` fields used here: (name, offset, format).
_FIELDS = {
    "rto_us": (8, "I"),
    "rtt_us": (68, "I"),
    "bytes_acked": (120, "Q"),
    "bytes_received": (128, "Q"),
    "bytes_retrans": (208, "Q"),
}
_TCP_INFO_LEN = 232


class Stalled(TimeoutError):
    """Nothing moved on the link to the peer for the stall window."""


@dataclass(frozen=True)
class TcpInfo:
    rtt_s: float
    rto_s: float
    bytes_acked: int
    bytes_received: int
    bytes_retrans: int


def tcp_info(sock: socket.socket) -> TcpInfo | None:
    """The kernel's view of one TCP connection, or None (not Linux, closed, or an old kernel)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        raw = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, _TCP_INFO_LEN)
    except (OSError, ValueError):
        return None
    if len(raw) < 216:
        return None
    get = {k: struct.unpack_from("=" + f, raw, off)[0] for k, (off, f) in _FIELDS.items()}
    rtt, rto = get["rtt_us"] / 1e6, get["rto_us"] / 1e6
    return TcpInfo(rtt, rto, get["bytes_acked"], get["bytes_received"], get["bytes_retrans"])


@dataclass
class LinkEstimate:
    """One peer's link as measured from here; None until measured."""

    rtt_s: float | None = None
    rate_bps: float | None = None  # bytes per second
    calls: int = 0
    stalls: int = 0

    #: A call is abandoned after this long without progress, at least.
    STALL_FLOOR_S = 30.0
    STALL_CAP_S = 300.0

    def note_rtt(self, rtt_s: float) -> None:
        if rtt_s <= 0:
            return
        self.rtt_s = rtt_s if self.rtt_s is None else 0.75 * self.rtt_s + 0.25 * rtt_s

    def note_transfer(self, nbytes: int, seconds: float) -> None:
        """A call that moved ``nbytes`` (both ways) in ``seconds``; small ones say little of the rate."""
        self.calls += 1
        if nbytes < 32 * 1024 or seconds <= 0:
            return
        busy = max(seconds - (self.rtt_s or 0.0), seconds / 4, 0.01)
        sample = nbytes / busy
        self.rate_bps = sample if self.rate_bps is None else 0.7 * self.rate_bps + 0.3 * sample

    def stall_s(self, floor: float | None = None) -> float:
        """How long a call may go without any byte moving: the floor, or 16 round trips on a link
        whose round trip is long (TCP's back-off after a loss burst or cut grows with it)."""
        low = self.STALL_FLOOR_S if floor is None else floor
        return min(self.STALL_CAP_S, max(low, 16 * (self.rtt_s or 0.0)))

    def connect_s(self, floor: float = 10.0) -> float:
        """Time to open a connection: four SYN retransmissions (1, 2, 4 s ...) or six round trips."""
        return min(60.0, max(floor, 6 * (self.rtt_s or 0.0)))

    def range_bytes(self, target_s: float = 8.0, low: int = 64 * 1024, high: int = 1 << 20) -> int:
        """A blob range that takes about ``target_s`` on this link (so a cut loses little)."""
        if self.rate_bps is None:
            return high if self.rtt_s is None or self.rtt_s < 0.05 else 256 * 1024
        want = int(self.rate_bps * target_s)
        return max(low, min(high, want // (16 * 1024) * (16 * 1024)))

    def as_dict(self) -> dict[str, Any]:
        return {
            "rtt_ms": None if self.rtt_s is None else round(self.rtt_s * 1000, 1),
            "kbit_s": None if self.rate_bps is None else round(self.rate_bps * 8 / 1000, 1),
            "calls": self.calls,
            "stalls": self.stalls,
        }


class LinkBook:
    """Per-peer estimates, and the sockets our connector made (to read their ``TCP_INFO``)."""

    def __init__(self, make_socket: Callable[[Any], socket.socket] | None = None) -> None:
        self._est: dict[bytes, LinkEstimate] = {}
        self._sockets: weakref.WeakSet[socket.socket] = weakref.WeakSet()
        self._make = make_socket or _plain_socket

    def get(self, peer: bytes) -> LinkEstimate:
        est = self._est.get(peer)
        if est is None:
            if len(self._est) > 4096:  # bounded: forget the oldest
                self._est.pop(next(iter(self._est)))
            est = self._est[peer] = LinkEstimate()
        return est

    def known(self) -> dict[bytes, LinkEstimate]:
        return dict(self._est)

    def socket_factory(self, addr_info: Any) -> socket.socket:
        """aiohttp's ``TCPConnector(socket_factory=...)``: a socket we can read ``TCP_INFO`` of."""
        s = self._make(addr_info)
        self._sockets.add(s)
        return s

    def progress(self, addr: str) -> tuple[int, float | None]:
        """Bytes acknowledged by and received from ``addr`` over all live connections to it, and the
        smallest kernel RTT among them."""
        total, rtt = 0, None
        for s in list(self._sockets):
            try:
                if s.fileno() < 0:
                    continue
                peer = s.getpeername()
            except OSError:
                continue
            if f"{peer[0]}:{peer[1]}" != addr and f"[{peer[0]}]:{peer[1]}" != addr:
                continue
            info = tcp_info(s)
            if info is None:
                continue
            total += info.bytes_acked + info.bytes_received
            if info.rtt_s > 0:
                rtt = info.rtt_s if rtt is None else min(rtt, info.rtt_s)
        return total, rtt


def _plain_socket(addr_info: Any) -> socket.socket:
    family, type_, proto, *_ = addr_info
    s = socket.socket(family, type_, proto)
    s.setblocking(False)
    return s


class Watch:
    """Progress of one call: bytes the application saw, beside the kernel's for the address."""

    def __init__(self, links: LinkBook, addr: str) -> None:
        self.links = links
        self.addr = addr
        self.app_bytes = 0
        self.rtt_s: float | None = None

    def moved(self, n: int) -> None:
        self.app_bytes += n

    def mark(self) -> int:
        kernel, rtt = self.links.progress(self.addr)
        if rtt is not None:
            self.rtt_s = rtt
        return kernel + self.app_bytes

    async def run(self, work: asyncio.Future[Any], stall_s: float, tick_s: float = 1.0) -> Any:
        """``work``'s result, or ``Stalled`` (``work`` cancelled) once nothing moved for ``stall_s``."""
        last, since = self.mark(), time.monotonic()
        tick = min(tick_s, stall_s / 4)
        while True:
            done, _ = await asyncio.wait({work}, timeout=tick)
            if done:
                self.mark()  # the connection is still pooled: its round trip, even for a short call
                return work.result()
            now, mark = time.monotonic(), self.mark()
            if mark != last:
                last, since = mark, now
            elif now - since >= stall_s:
                work.cancel()
                with _suppress_all():
                    await work
                raise Stalled(f"nothing moved for {stall_s:g} s")


class _suppress_all:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> bool:
        return True


class Budget:
    """A token bucket per peer: ``kbit_s`` (1000 bit/s), bursts of two seconds' worth (64 KiB at
    least). ``spend`` charges bytes and waits off any debt first; 0 means no budget."""

    def __init__(self, kbit_s: float = 0, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = kbit_s * 1000 / 8
        self.burst = max(64 * 1024, 2 * self.rate)
        self.clock = clock
        self._tokens: dict[bytes, tuple[float, float]] = {}  # peer -> (tokens, at)
        self.waited_s: dict[bytes, float] = {}

    def _level(self, peer: bytes) -> float:
        tokens, at = self._tokens.get(peer, (self.burst, self.clock()))
        now = self.clock()
        return min(self.burst, tokens + (now - at) * self.rate)

    def debt_s(self, peer: bytes) -> float:
        """How long until ``peer`` is out of debt."""
        if not self.rate:
            return 0.0
        level = self._level(peer)
        return 0.0 if level >= 0 else -level / self.rate

    def charge(self, peer: bytes, nbytes: int) -> None:
        if not self.rate:
            return
        if len(self._tokens) > 4096 and peer not in self._tokens:
            self._tokens.pop(next(iter(self._tokens)))
        self._tokens[peer] = (self._level(peer) - nbytes, self.clock())

    async def wait(self, peer: bytes, at_most_s: float | None = None) -> float:
        """Sleep off ``peer``'s debt (at most ``at_most_s``); returns the time slept."""
        wait = self.debt_s(peer)
        if at_most_s is not None:
            wait = min(wait, at_most_s)
        if wait > 0:
            self.waited_s[peer] = self.waited_s.get(peer, 0.0) + wait
            await asyncio.sleep(wait)
        return wait
