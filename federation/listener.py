"""The federation listener's defences against strangers: connection caps, timeouts, body budget.

The listener binds 0.0.0.0 on a mesh, so anyone on it can open connections. Each connection costs
a file descriptor; a process that runs out of them serves nobody, the local API included. So:

- at most ``max_per_host`` connections per source address and ``max_connections`` in all (never
  more than the file-descriptor limit minus ``fd_reserve``); a connection over a cap is closed at
  once, and at the total cap the oldest connection that has not authenticated makes room first,
  so trusted peers (whose connections have authenticated) are still served;
- a connection must deliver a request head within ``header_timeout_s`` of opening, or of its
  previous response (aiohttp's keep-alive timer, which also closes idle connections);
- bodies arrive within ``body_timeout_s`` between chunks, count against a shared in-flight budget,
  and the lines that refusals cause are summarised at most once a minute.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import resource
import ssl
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

__all__ = [
    "ConnectionGuard",
    "GuardedSite",
    "ListenerLimits",
    "RefusalLog",
    "start_listener",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ListenerLimits:
    """What one listener tolerates from the network (docs/operations.md, ``[federation]``)."""

    max_connections: int = 256
    max_per_host: int = 16
    fd_reserve: int = 160
    header_timeout_s: float = 10.0
    body_timeout_s: float = 30.0
    max_unauthenticated_body: int = 4096
    inflight_bytes: int = 64 * 1024 * 1024
    unauthenticated_per_minute: int = 60

    def total_cap(self) -> int:
        """``max_connections``, lowered so that ``fd_reserve`` descriptors stay free for the rest."""
        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft == resource.RLIM_INFINITY:
            return self.max_connections
        return max(4, min(self.max_connections, soft - self.fd_reserve))


class RefusalLog:
    """Counts refusals by reason and logs one summary line at most every ``every_s`` seconds.

    A flood of refusals must not become a flood of log lines (asyncio once wrote 59 MB of
    tracebacks in 30 s): the first refusal is logged at once, the rest as counts.
    """

    def __init__(self, what: str, clock: Callable[[], float], every_s: float = 60.0) -> None:
        self.what = what
        self.clock = clock
        self.every = every_s
        self.counts: collections.Counter[str] = collections.Counter()
        self.total: collections.Counter[str] = collections.Counter()
        self._last = -every_s

    def note(self, reason: str) -> None:
        self.counts[reason] += 1
        self.total[reason] += 1
        now = self.clock()
        if now - self._last >= self.every:
            self.flush(now)

    def flush(self, now: float | None = None) -> None:
        if self.counts:
            parts = ", ".join(f"{n} {r}" for r, n in sorted(self.counts.items()))
            log.warning("%s refused: %s (summarised once a minute)", self.what, parts)
            self.counts.clear()
        self._last = self.clock() if now is None else now


def _abort(transport: asyncio.BaseTransport) -> None:
    abort = getattr(transport, "abort", None)
    if abort is not None:
        abort()
    else:  # pragma: no cover - every TCP transport has abort()
        transport.close()


class _Conn(asyncio.Protocol):
    """One accepted connection: admitted or refused by the guard, then handed to aiohttp's protocol."""

    __slots__ = ("authenticated", "guard", "host", "inner", "transport")

    def __init__(self, guard: ConnectionGuard, inner: asyncio.Protocol) -> None:
        self.guard = guard
        self.inner: asyncio.Protocol | None = inner
        self.transport: asyncio.BaseTransport | None = None
        self.host = ""
        self.authenticated = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        peer = transport.get_extra_info("peername")
        self.host = str(peer[0]) if peer else ""
        if not self.guard.admit(self):
            self.inner = None
            _abort(transport)  # frees the descriptor now; the stranger sees a reset
            return
        assert self.inner is not None
        self.inner.connection_made(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self.guard.release(self)
        if self.inner is not None:
            self.inner.connection_lost(exc)
            self.inner = None

    def data_received(self, data: bytes) -> None:
        if self.inner is not None:
            self.inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self.inner.eof_received() if self.inner is not None else None

    def pause_writing(self) -> None:
        if self.inner is not None:
            self.inner.pause_writing()

    def resume_writing(self) -> None:
        if self.inner is not None:
            self.inner.resume_writing()


class ConnectionGuard:
    """Admits connections within the caps; remembers which have authenticated (trusted peers)."""

    def __init__(self, limits: ListenerLimits, refusals: RefusalLog) -> None:
        self.limits = limits
        self.refusals = refusals
        self.cap = limits.total_cap()
        self._open: collections.OrderedDict[asyncio.BaseTransport, _Conn] = collections.OrderedDict()
        self._per_host: collections.Counter[str] = collections.Counter()
        self._budget = limits.inflight_bytes
        self._hosts_seen: collections.OrderedDict[str, collections.deque[float]] = collections.OrderedDict()

    @property
    def open(self) -> int:
        return len(self._open)

    def factory(self, inner: Callable[[], asyncio.Protocol]) -> Callable[[], asyncio.Protocol]:
        return lambda: _Conn(self, inner())

    def admit(self, conn: _Conn) -> bool:
        if self._per_host[conn.host] >= self.limits.max_per_host:
            self.refusals.note("connections over the per-address cap")
            return False
        if len(self._open) >= self.cap and not self._evict():
            self.refusals.note("connections over the total cap")
            return False
        assert conn.transport is not None
        self._open[conn.transport] = conn
        self._per_host[conn.host] += 1
        return True

    def _evict(self) -> bool:
        """Close the oldest connection that has not authenticated, to make room for a new one."""
        victim = next((c for c in self._open.values() if not c.authenticated), None)
        if victim is None or victim.transport is None:
            return False
        self.release(victim)
        _abort(victim.transport)
        self.refusals.note("unauthenticated connections closed to make room")
        return True

    def release(self, conn: _Conn) -> None:
        if conn.transport is not None and self._open.pop(conn.transport, None) is not None:
            self._per_host[conn.host] -= 1
            if self._per_host[conn.host] <= 0:
                del self._per_host[conn.host]

    def authenticated(self, transport: Any) -> None:
        """A request on this connection passed authentication: it is a trusted peer's."""
        conn = self._open.get(transport)
        if conn is not None:
            conn.authenticated = True

    def host_of(self, transport: Any) -> str:
        conn = self._open.get(transport)
        if conn is not None:
            return conn.host
        peer = transport.get_extra_info("peername") if transport is not None else None
        return str(peer[0]) if peer else ""

    def allow_unauthenticated(self, host: str, now: float) -> bool:
        """At most ``unauthenticated_per_minute`` requests from unknown keys (handshakes) per address."""
        recent = self._hosts_seen.get(host)
        if recent is None:
            recent = self._hosts_seen[host] = collections.deque()
            if len(self._hosts_seen) > 4096:
                self._hosts_seen.popitem(last=False)
        else:
            self._hosts_seen.move_to_end(host)
        while recent and recent[0] <= now - 60:
            recent.popleft()
        if len(recent) >= self.limits.unauthenticated_per_minute:
            return False
        recent.append(now)
        return True

    @contextlib.asynccontextmanager
    async def body_budget(self, size: int) -> AsyncIterator[bool]:
        """Reserve ``size`` bytes of the in-flight body budget; yields False when there is no room."""
        if size > self._budget:
            yield False
            return
        self._budget -= size
        try:
            yield True
        finally:
            self._budget += size


class GuardedSite(web.TCPSite):
    """A TCP site whose connections pass through a ConnectionGuard first."""

    def __init__(
        self,
        runner: web.BaseRunner,
        host: str,
        port: int,
        guard: ConnectionGuard,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        super().__init__(runner, host, port, backlog=128, ssl_context=ssl_context)
        self.guard = guard

    async def start(self) -> None:
        await web.BaseSite.start(self)  # registers the site with its runner
        server = self._runner.server
        assert server is not None
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            self.guard.factory(server),
            self._host,
            self._port,
            backlog=self._backlog,
            ssl=self._ssl_context,
        )
        self._bound_port = self._server.sockets[0].getsockname()[1] if self._server.sockets else self._port


async def start_listener(
    app: web.Application,
    host: str,
    port: int,
    guard: ConnectionGuard,
    ssl_context: ssl.SSLContext | None = None,
) -> tuple[web.AppRunner, list[tuple[str, int]]]:
    """Serve ``app`` on ``host:port`` behind ``guard``; returns the runner and the bound addresses.

    aiohttp's keep-alive timer, set to the header timeout, closes a connection that has not sent a
    complete request head within that time of opening or of its previous response. Unread request
    bodies are not drained (no lingering): the connection is closed instead.
    """
    runner = web.AppRunner(
        app,
        handle_signals=False,
        access_log=None,
        keepalive_timeout=guard.limits.header_timeout_s,
        lingering_time=0,
        max_line_size=4096,
        max_field_size=4096,
        max_headers=32,
    )
    await runner.setup()
    try:
        await GuardedSite(runner, host, port, guard, ssl_context).start()
    except BaseException:
        await runner.cleanup()
        raise
    return runner, [(str(a[0]), int(a[1])) for a in runner.addresses]
