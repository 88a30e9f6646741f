"""Gossip: new records are pushed at once; anti-entropy rounds repair whatever a push missed.

Every tick the node looks at its store's position: records accepted since the last look (published
here, by a CLI command in another process, or received from a peer) are pushed to every trusted,
reachable peer allowed to read them, in batches of what that peer may read. Every ``interval``
(jittered), it also syncs with ``fanout`` random peers. A peer that cannot be reached is skipped
with exponential back-off.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from tequio.schemas import fingerprint

from .host import SyncHost
from .messages import MessageError
from .peers import PeerBook
from .service import FedError
from .sync import Syncer, SyncResult, Unreachable
from .wire import AuthError

__all__ = ["Gossip", "GossipConfig"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class GossipConfig:
    interval_ms: int = 5000
    jitter: float = 0.3  # each interval is scaled by a random factor in [1 - jitter, 1 + jitter]
    fanout: int = 3  # peers synced with per anti-entropy round
    tick_ms: int = 500  # how often new records are looked for and pushed
    push_batch: int = 500  # records per push message
    backoff_base_ms: int = 5000
    backoff_max_ms: int = 300_000


class Gossip:
    def __init__(
        self,
        syncer: Syncer,
        peers: PeerBook,
        host: SyncHost,
        config: GossipConfig,
        rng: random.Random,
        clock: Callable[[], int],
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        storage_full: Callable[[BaseException], bool] = lambda e: False,
    ) -> None:
        """``sleep`` waits between retries of a busy peer; injected so tests need no wall time.
        ``storage_full`` tells a full disk from a bug: a tick it stops is said in one line a minute."""
        self.syncer = syncer
        self.storage_full = storage_full
        self._full_said = -1.0
        self.sleep = sleep
        self.peers = peers
        self.host = host
        self.config = config
        self.rng = rng
        self.clock = clock
        self.pushed = host.position()  # records before this were there when we started
        self._locks: dict[bytes, asyncio.Lock] = {}
        self._wake: asyncio.Event | None = None

    def wake(self) -> None:
        """New records in this process: push now rather than at the next tick."""
        if self._wake is not None:
            self._wake.set()

    def _lock(self, peer: bytes) -> asyncio.Lock:
        # One sync in flight per peer, whoever starts it (a round, a push, `tequio sync`).
        return self._locks.setdefault(peer, asyncio.Lock())

    def _ready(self) -> list[bytes]:
        now = self.clock()
        return [p.key for p in self.peers.trusted() if p.next_try <= now and p.quarantined_until <= now]

    async def sync_with(self, peer: bytes) -> SyncResult | None:
        """One round with one peer; failures are recorded (back-off) and returned as None."""
        async with self._lock(peer):
            try:
                result = await self._retry_busy(peer)
            except Unreachable as e:
                wait = self.peers.unreachable(
                    peer, str(e), self.config.backoff_base_ms, self.config.backoff_max_ms
                )
                log.info("peer %s unreachable (%s); next try in %d s", fingerprint(peer), e, wait // 1000)
                return None
            except (FedError, AuthError) as e:
                what = f"{e.code}: {e.detail}"
                self.peers.unreachable(peer, what, self.config.backoff_base_ms, self.config.backoff_max_ms)
                log.info("peer %s refused or failed sync: %s", fingerprint(peer), what)
                return None
            except MessageError as e:  # its signed replies broke a rule (F3-F9): penalised, backed off
                self.violated(peer, f"sync: {e}")
                return None
            self.peers.reached(peer)
            return result

    def violated(self, peer: bytes, what: str) -> None:
        """A peer's signed answers broke a protocol rule: it costs as a malformed message, the
        round stops, and we wait before trying it again; ``peer list`` shows the sentence."""
        updated = self.peers.penalise(peer, self.peers.rules.per_bad_message, what)
        self.peers.unreachable(peer, what, self.config.backoff_base_ms, self.config.backoff_max_ms)
        status = updated.status(self.clock(), self.peers.rules) if updated else "unknown"
        log.warning("peer %s broke the protocol (%s): %s", fingerprint(peer), status, what)

    async def _retry_busy(self, peer: bytes, attempts: int = 5) -> SyncResult:
        """A peer answers one request from us at a time; another process of ours (``tequio sync``
        beside ``serve``) may be mid-request: wait a little and try again rather than fail."""
        for i in range(attempts):
            try:
                return await self.syncer.sync(peer)
            except FedError as e:
                if e.code != "busy" or i == attempts - 1:
                    raise
                await self.sleep(0.2 * 2**i * self.rng.uniform(0.5, 1.5))
        raise AssertionError("unreachable")  # the loop returns or raises

    async def round(self) -> list[SyncResult]:
        """Anti-entropy: sync with up to ``fanout`` random ready peers, concurrently."""
        ready = self._ready()
        chosen = self.rng.sample(ready, min(self.config.fanout, len(ready)))
        results = await asyncio.gather(*(self.sync_with(p) for p in chosen))
        return [r for r in results if r is not None]

    async def push_new(self) -> int:
        """Push records accepted since the last call to every ready peer that may read them.

        Each peer's records are read and batched from what that peer may read only, so where one
        push ends and the next begins says nothing of records hidden from it (rule F12). Returns
        how far the store's position moved (0: nothing new)."""
        top = self.host.position()
        if top <= self.pushed:
            return 0
        start, self.pushed = self.pushed, top
        await asyncio.gather(*(self._push_to(p, start, top) for p in self._ready()))
        return top - start

    async def _push_to(self, peer: bytes, start: int, top: int) -> None:
        mark = start
        while mark < top:
            rows = [r for r in self.host.visible_since(peer, mark, self.config.push_batch) if r[3] <= top]
            if not rows:
                return
            mark = rows[-1][3]
            records = [w for a, _, w, _ in rows if a != peer]
            if records and not await self._push_batch(peer, records):
                return  # unreachable or refusing: anti-entropy repairs the rest

    async def _push_batch(self, peer: bytes, records: list[bytes]) -> bool:
        async with self._lock(peer):
            try:
                await self.syncer.push(peer, records)
                self.peers.reached(peer)
                return True
            except Unreachable as e:
                self.peers.unreachable(peer, str(e), self.config.backoff_base_ms, self.config.backoff_max_ms)
            except (FedError, AuthError) as e:
                log.info("peer %s refused push: %s", fingerprint(peer), e)
            except MessageError as e:
                self.violated(peer, f"push: {e}")
        return False

    def next_interval(self) -> float:
        j = self.config.jitter
        return self.config.interval_ms / 1000 * self.rng.uniform(1 - j, 1 + j)

    async def run(self, stop: asyncio.Event) -> None:
        """Until ``stop`` is set: push what is new every tick, and run a round every interval."""
        loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        next_round = loop.time() + self.next_interval()
        while not stop.is_set():
            self._wake.clear()
            try:
                while await self.push_new():
                    pass
                if loop.time() >= next_round:
                    await self.round()
                    next_round = loop.time() + self.next_interval()
            except Exception as e:  # a bug must not stop gossip for good; it is logged and retried
                if not self.storage_full(e):
                    log.exception("gossip tick failed")
                elif loop.time() - self._full_said >= 60 or self._full_said < 0:
                    self._full_said = loop.time()
                    log.warning("gossip: the disk is full; what peers send is refused until there is space")
            waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self._wake.wait())]
            with contextlib.suppress(TimeoutError):
                await asyncio.wait(
                    waiters, timeout=self.config.tick_ms / 1000, return_when=asyncio.FIRST_COMPLETED
                )
            for w in waiters:
                w.cancel()
