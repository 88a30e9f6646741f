"""What federation needs from the node, as narrow Protocols: federation never imports ``node``."""

from __future__ import annotations

from collections.abc import Awaitable, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple, Protocol

__all__ = ["IngestSummary", "SyncHead", "SyncHost"]


class SyncHead(NamedTuple):
    """One feed's newest record as sync exchanges it (the store's own row is ``node.store.FeedHead``)."""

    author: bytes
    scope: str
    seq: int
    head: bytes


@dataclass
class IngestSummary:
    """The part of an ingest report federation acts on."""

    accepted: int = 0
    duplicates: int = 0
    #: (index, reason) of each rejected record
    rejected: list[tuple[int, str]] = field(default_factory=list)


class SyncHost(Protocol):
    """A node's store and policy, seen from sync."""

    @property
    def key(self) -> bytes:
        """This node's public key."""
        ...

    def epoch(self) -> bytes:
        """Names this store's sequence of positions; changes if the store is replaced."""
        ...

    def position(self) -> int:
        """Grows with every record the store accepts."""
        ...

    def visible_heads(self, peer: bytes, since: int = 0) -> list[SyncHead]:
        """Heads of the feeds ``peer`` may read that moved after position ``since``, sorted."""
        ...

    def own_heads(self, feeds: Sequence[tuple[bytes, str]]) -> dict[tuple[bytes, str], int]:
        """Our seq for each of these feeds (absent when we hold none)."""
        ...

    def may_read(self, reader: bytes, author: bytes, scope: str) -> bool:
        """Whether the node with key ``reader`` may read the feed ``(author, scope)``."""
        ...

    def feed_records(
        self, author: bytes, scope: str, from_seq: int, max_count: int, max_bytes: int
    ) -> list[bytes]:
        """Wire records of one feed from ``from_seq``, in order, bounded."""
        ...

    def records_since(self, position: int, limit: int) -> list[tuple[bytes, str, bytes, int]]:
        """(author, scope, wire, position) of records accepted after ``position``, oldest first."""
        ...

    def visible_since(self, peer: bytes, position: int, limit: int) -> list[tuple[bytes, str, bytes, int]]:
        """Like ``records_since``, only records of feeds ``peer`` may read (``limit`` of those)."""
        ...

    def visible_groups(self, peer: bytes) -> list[str]:
        """The group scopes ``peer`` may read (as members), of the groups this node holds."""
        ...

    def ingest(self, wires: Sequence[bytes], source: str) -> IngestSummary | Awaitable[IngestSummary]:
        """Run records through the node's one ingest pipeline (a host may return an awaitable, to
        ingest off the event loop)."""
        ...
