"""What a node answers to its peers: the chain of checks every incoming request goes through.

Order, for every method but ``handshake``: 1 the sender is a trusted peer (else 401, and nothing
else is revealed), 2 not quarantined (429), 3 within its request rate (else 429 and a penalty),
4 no other request from it in flight (429: one at a time per peer), 5 slowed peers wait, 6 the
message parses (else 400 and a penalty), 7 the handler, whose received records are weighed for
penalties. The same chain runs behind the HTTP
listener and behind the in-memory transport used by simulations.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from tequio.schemas import Reason, fingerprint

from .host import IngestSummary
from .invites import InviteBook, InviteError
from .messages import MessageError
from .peers import PeerBook
from .sync import Syncer

__all__ = ["BAD_REASONS", "FedError", "FedService"]

log = logging.getLogger(__name__)

#: Rejection reasons that only a broken or hostile sender produces; each costs it penalty points.
#: (``duplicate``, ``gap``, ``undecryptable`` and ``not-permitted`` happen to honest peers too.)
BAD_REASONS = frozenset(
    {
        Reason.MALFORMED,
        Reason.UNSUPPORTED_VERSION,
        Reason.TOO_LARGE,
        Reason.BAD_SCOPE,
        Reason.BAD_PAYLOAD_HASH,
        Reason.BAD_SIGNATURE,
        Reason.BAD_CHAIN,
        Reason.FORK,
        Reason.INVALID_BODY,
    }
)


class FedError(Exception):
    """A refusal with an HTTP-like status and a stable code."""

    def __init__(self, status: int, code: str, detail: str = "") -> None:
        super().__init__(f"{status} {code}: {detail}")
        self.status = status
        self.code = code
        self.detail = detail


class FedService:
    """The federation endpoint of one node, independent of how requests arrive."""

    def __init__(
        self,
        syncer: Syncer,
        peers: PeerBook,
        invites: InviteBook,
        identity: Callable[[], tuple[str, list[str]]],
        extra: dict[str, Callable[[bytes, Any], Awaitable[Any] | Any]] | None = None,
        storage_full: Callable[[BaseException], bool] = lambda e: False,
    ) -> None:
        #: Whether an exception means the host's storage is full: answered 507 ``disk-full``, not 500.
        self.storage_full = storage_full
        self.syncer = syncer
        self.peers = peers
        self.invites = invites
        self.identity = identity  # (our name, our addresses), asked at handshake time
        self._busy: set[bytes] = set()
        self._recent: dict[bytes, collections.deque[int]] = {}
        self._methods: dict[str, Callable[[bytes, Any], Any]] = {
            "sync": syncer.on_sync,
            "exchange": syncer.on_exchange,
            "push": syncer.on_push,
            **(extra or {}),
        }
        syncer.on_received = self.weigh

    def known(self, key: bytes) -> bool:
        """Whether requests from ``key`` are authenticated at all (handshakes aside)."""
        return self.peers.is_trusted(key)

    async def handle(self, sender: bytes, method: str, message: Any) -> Any:
        try:
            return await self._handle(sender, method, message)
        except FedError:
            raise
        except Exception as e:
            if not self.storage_full(e):
                raise
            # The write was rolled back, nothing of the request was kept; the peer tries later.
            log.warning("federation %s from %s refused: the disk is full", method, fingerprint(sender))
            raise FedError(
                507, "disk-full", "the node's disk is full; nothing of this request was kept"
            ) from None

    async def _handle(self, sender: bytes, method: str, message: Any) -> Any:
        if method == "handshake":
            name, addrs = self.identity()
            try:
                return self.invites.accept(sender, message, name, addrs)
            except InviteError as e:
                raise FedError(403, "invite-refused", str(e)) from None
            except MessageError as e:  # F11: a valid token but a malformed rest; the use is not spent
                raise FedError(400, "bad-message", str(e)) from None
        peer = self.peers.get(sender)
        if peer is None or peer.state != "trusted":
            raise FedError(401, "unknown-key", "not a trusted peer")
        now = self.peers.clock()
        if peer.quarantined_until > now:
            raise FedError(429, "quarantined", peer.why)
        recent = self._recent.setdefault(sender, collections.deque())
        while recent and recent[0] <= now - 60_000:
            recent.popleft()
        if len(recent) >= self.peers.rules.max_requests_per_minute:
            self.peers.penalise(sender, self.peers.rules.per_flood, "too many requests (flooding)")
            raise FedError(429, "too-many-requests", "slow down")
        recent.append(now)
        if sender in self._busy:
            raise FedError(429, "busy", "one request at a time per peer")
        handler = self._methods.get(method)
        if handler is None:
            raise FedError(404, "no-such-method", method)
        self._busy.add(sender)
        try:
            if peer.penalty >= self.peers.rules.slow_at:
                await asyncio.sleep(self.peers.rules.slow_delay_ms / 1000)
            try:
                result = handler(sender, message)
                if asyncio.iscoroutine(result):
                    result = await result
            except MessageError as e:
                self.peers.penalise(sender, self.peers.rules.per_bad_message, f"malformed {method}: {e}")
                raise FedError(400, "bad-message", str(e)) from None
            try:
                self.peers.reached(sender)
            except Exception as e:  # a read answered on a full disk is still an answer
                if not self.storage_full(e):
                    raise
            return result
        finally:
            self._busy.discard(sender)

    def weigh(self, peer: bytes, summary: IngestSummary) -> None:
        """Penalise a peer for the invalid records it sent (in requests or in replies)."""
        bad = [reason for _, reason in summary.rejected if reason in BAD_REASONS]
        if bad:
            worst = max(set(bad), key=bad.count)
            updated = self.peers.penalise(
                peer, len(bad) * self.peers.rules.per_bad_record, f"{len(bad)} invalid records ({worst})"
            )
            if updated is not None and updated.quarantined_until > self.peers.clock():
                log.warning("peer %s quarantined: %s", fingerprint(peer), updated.why)

    def penalise_flood(self, peer: bytes, what: str) -> None:
        """A request over the limits (body size, count): costs as much as a malformed message."""
        self.peers.penalise(peer, self.peers.rules.per_bad_message, what)
