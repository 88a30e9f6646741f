"""Fetching blobs from trusted peers, one range at a time, within a disk quota.

Kept apart from ``blobs.py`` (the store), so that a command that only reads blobs does not import
the sync machinery.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable
from typing import Any, Protocol

from tequio.schemas import fingerprint

from .blobs import CHUNK, BlobError, BlobStore
from .messages import MessageError, PeerViolation
from .peers import PeerBook
from .service import FedError
from .sync import Transport, Unreachable

__all__ = ["BlobFetcher", "BlobHost"]

log = logging.getLogger(__name__)


class BlobHost(Protocol):
    def wanted_blobs(self, limit: int) -> list[tuple[bytes, int]]:
        """(hash, size) of blobs that records we hold refer to and that we do not hold yet."""
        ...

    def may_fetch(self, peer: bytes, h: bytes) -> bool:
        """Whether ``peer`` may read some record referring to blob ``h``."""
        ...


class BlobFetcher:
    """Fetches wanted blobs from trusted peers, one range at a time, within a disk quota."""

    def __init__(
        self,
        store: BlobStore,
        host: BlobHost,
        transport: Transport,
        peers: PeerBook,
        quota: int,
        rng: random.Random,
        chunk: int = CHUNK,
    ) -> None:
        self.store = store
        self.host = host
        self.transport = transport
        self.peers = peers
        self.quota = quota
        self.rng = rng
        self.chunk = chunk
        #: Why the last attempt at a blob failed, for the operator.
        self.problems: dict[bytes, str] = {}
        #: Held while a range is fetched from a peer: the peer's sync lock, so that records (and the
        #: governance among them) go before files on a thin link (issue 15 §3).
        self.gate: Callable[[bytes], asyncio.Lock] | None = None

    # -- serving --------------------------------------------------------------------------------------

    def on_blob(self, peer: bytes, message: Any) -> dict[str, Any]:
        if not (
            type(message) is dict
            and set(message) == {"hash", "offset", "length"}
            and type(message["hash"]) is bytes
            and len(message["hash"]) == 32
            and type(message["offset"]) is int
            and message["offset"] >= 0
            and type(message["length"]) is int
            and 0 < message["length"] <= CHUNK
        ):
            raise MessageError("F10: blob: expected exactly {hash: 32 bytes, offset >= 0, length: 1..1 MiB}")
        h = message["hash"]
        size = self.store.size(h)
        # The same answer for "not held" and "not for you": a refusal reveals nothing.
        if size is None or not self.host.may_fetch(peer, h):
            raise FedError(404, "no-such-blob", "")
        if message["offset"] >= size:  # 2^62, say: a malformed request, not a server error
            raise MessageError(f"F10: blob: offset {message['offset']} is not below the blob's size")
        return {"data": self.store.read(h, message["offset"], message["length"]), "size": size}

    # -- fetching -------------------------------------------------------------------------------------

    async def fetch_from(self, peer: bytes, h: bytes, size: int) -> None:
        """Fetch (or resume) one blob from one peer; raises on any failure, keeping the partial file."""
        offset = start = self.store.partial_size(h)
        while offset < size:
            want = min(self._range(peer), size - offset)
            lock = self.gate(peer) if self.gate is not None else contextlib.nullcontext()
            async with lock:
                reply = await self.transport.call(peer, "blob", {"hash": h, "offset": offset, "length": want})
            data = reply.get("data") if isinstance(reply, dict) else None
            if type(data) is not bytes or not data or len(data) > want:
                raise PeerViolation("F10", f"a malformed range of blob {h.hex()[:16]}")
            self.store.append(h, offset, data)
            offset += len(data)
        try:
            self.store.finish(h, size)
        except BlobError as e:
            if start == 0:  # every byte came from this peer in this call: the fault is its own
                raise PeerViolation("F10", str(e)) from None
            raise

    def _range(self, peer: bytes) -> int:
        """A range that takes some seconds on this peer's link, as measured (issue 15 §2): a cut then
        loses at most that range, and a slow link never waits on a whole MiB."""
        link = getattr(self.transport, "link", None)
        return min(self.chunk, link(peer).range_bytes()) if link is not None else self.chunk

    async def run_once(self, limit: int = 100) -> int:
        """Try every wanted blob once; returns how many were completed."""
        done = 0
        for h, size in self.host.wanted_blobs(limit):
            if self.store.usage() + size - self.store.partial_size(h) > self.quota:
                self.problems[h] = f"over the blob quota ({self.quota} bytes)"
                continue
            peers = [p.key for p in self.peers.trusted()]
            self.rng.shuffle(peers)
            for peer in peers:
                try:
                    await self.fetch_from(peer, h, size)
                except FedError as e:
                    if e.code != "no-such-blob":
                        self.problems[h] = f"{fingerprint(peer)}: {e.code}"
                    continue
                except Unreachable as e:
                    self.problems[h] = f"{fingerprint(peer)}: unreachable ({e})"
                    continue
                except MessageError as e:  # the peer's signed replies broke a rule: it costs
                    self.problems[h] = f"{fingerprint(peer)}: {e}"
                    self.peers.penalise(peer, self.peers.rules.per_bad_message, f"blob: {e}")
                    continue
                except BlobError as e:
                    self.problems[h] = str(e)
                    log.info("blob %s from %s: %s", h.hex()[:16], fingerprint(peer), e)
                    continue
                self.problems.pop(h, None)
                done += 1
                break
        return done

    async def run(self, stop: asyncio.Event, every_s: float = 5.0) -> None:
        while not stop.is_set():
            try:
                await self.run_once()
            except Exception:
                log.exception("blob fetching failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), every_s)
