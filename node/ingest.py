"""The one ingest pipeline: every record a node keeps, its own included, passes through ``Ingestor``.

Steps 1-7 (``schemas.parse_wire``) need only the bytes and run before the write lock is taken.
Steps 8-13 need the store and run inside one write transaction per batch:

    8 duplicate  9 gap  10 fork  11 not-permitted  12 undecryptable  13 invalid-body

A batch is sorted by feed and seq first, so records arriving out of order within one batch chain up.
A rejected record never blocks the others: it is reported with its index and the batch goes on.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from schemas import (
    PUBLIC,
    RETRYABLE,
    ForkProof,
    Payload,
    PayloadError,
    Reason,
    Record,
    RecordError,
    fork_between,
    parse_payload,
    parse_wire,
)

from .kinds import Kind, body_error
from .records import StoredRecord
from .store import FeedHead, Store

__all__ = ["AccessPolicy", "IngestReport", "Ingestor", "PublicOnly", "Rejection"]

log = logging.getLogger(__name__)


class AccessPolicy(Protocol):
    """What governance decides for the pipeline: who may write where, and how to read a payload."""

    def may_write(self, author: bytes, scope: str, kind: str | None) -> bool:
        """Step 11. Called with ``kind=None`` before the payload is opened, then again with its kind."""
        ...

    def open_payload(self, record: Record) -> bytes | None:
        """Step 12. The plaintext payload map bytes, or None if this node cannot read it."""
        ...


class PublicOnly:
    """The policy before governance is wired in: anyone may write; only public payloads are readable."""

    def may_write(self, author: bytes, scope: str, kind: str | None) -> bool:
        return True

    def open_payload(self, record: Record) -> bytes | None:
        return record.payload if record.scope == PUBLIC else None


@dataclass(frozen=True, slots=True)
class Rejection:
    index: int
    reason: Reason
    detail: str
    id: bytes | None = None

    @property
    def retryable(self) -> bool:
        return self.reason in RETRYABLE

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"index": self.index, "reason": str(self.reason), "detail": self.detail}
        if self.id is not None:
            out["id"] = self.id.hex()
        return out


@dataclass
class IngestReport:
    """What happened to each input: accepted (ids kept unless merged), duplicate, or rejected with reason."""

    accepted: int = 0
    duplicates: int = 0
    rejected: list[Rejection] = field(default_factory=list)
    ids: list[bytes] = field(default_factory=list)

    def merge(self, other: IngestReport, keep_ids: bool = False) -> None:
        self.accepted += other.accepted
        self.duplicates += other.duplicates
        self.rejected.extend(other.rejected)
        if keep_ids:
            self.ids.extend(other.ids)

    def to_json(self) -> dict[str, Any]:
        return {
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "rejected": [r.to_json() for r in self.rejected],
        }


class _Feed:
    """One feed's state while a batch is applied: its top seq, ids known from the store or this batch."""

    __slots__ = ("changed", "forked", "ids", "top", "why", "wires")

    def __init__(self, top: int, forked: bool, ids: dict[int, bytes]) -> None:
        self.top = top
        self.forked = forked
        self.ids = ids
        self.wires: dict[int, bytes] = {}  # records accepted in this batch, not yet in the store
        self.changed = False
        self.why = ""


def _feed_order(item: tuple[int, Record]) -> tuple[bytes, str, int]:
    r = item[1]
    return r.author, r.scope, r.seq


class Ingestor:
    """Runs the pipeline against one store with the node's kinds, policy and hooks."""

    def __init__(
        self,
        store: Store,
        kinds: Mapping[str, Kind],
        access: AccessPolicy,
        clock: Callable[[], int],
        keep_rejections: int,
        on_stored: Callable[[list[StoredRecord]], None],
        on_fork: Callable[[ForkProof], None],
    ) -> None:
        self.store = store
        self.kinds = kinds
        self.access = access
        self.clock = clock
        self.keep_rejections = keep_rejections
        self.on_stored = on_stored
        self.on_fork = on_fork

    def ingest(self, raws: Iterable[bytes], source: str, base_index: int = 0) -> IngestReport:
        """Verify and store one batch in one transaction; indexes in the report start at ``base_index``."""
        report = IngestReport()
        items: list[tuple[int, Record]] = []
        for i, raw in enumerate(raws, base_index):
            try:
                items.append((i, parse_wire(raw)))
            except RecordError as e:
                report.rejected.append(Rejection(i, e.reason, e.detail))
        with self.store.write():
            self.apply(items, source, report)
        return report

    def apply(self, items: list[tuple[int, Record]], source: str, report: IngestReport) -> None:
        """Steps 8-13 and the write, inside the caller's write transaction."""
        now = self.clock()
        items.sort(key=_feed_order)
        feeds: dict[tuple[bytes, str], _Feed] = {}
        accepted: list[tuple[Record, Payload | None]] = []
        logged: list[tuple] = [self._log_row(now, source, r, None) for r in report.rejected]

        def reject(index: int, rec: Record, reason: Reason, detail: str) -> None:
            rej = Rejection(index, reason, detail, rec.id)
            report.rejected.append(rej)
            logged.append(self._log_row(now, source, rej, rec))

        for index, rec in items:
            key = (rec.author, rec.scope)
            feed = feeds.get(key)
            if feed is None:  # first (lowest seq) record of this feed in the batch
                feed = feeds[key] = self._load_feed(rec)
            # 8. duplicate. A feed holds every seq from 1 to its top, so only a record at or below the
            # top can be held; there it is either the one we hold (duplicate) or a fork.
            if rec.seq <= feed.top:
                held = feed.ids[rec.seq]
                if held == rec.id:
                    report.duplicates += 1
                    continue
                self._fork(feed, rec, rec.seq, now, source)
                reject(index, rec, Reason.FORK, feed.why)
                continue
            if feed.forked:
                reject(index, rec, Reason.FORK, f"feed frozen since a fork at or before seq {feed.top}")
                continue
            # 9. gap.
            if rec.seq > feed.top + 1:
                reject(
                    index,
                    rec,
                    Reason.GAP,
                    f"seq {rec.seq} needs seq {feed.top + 1} first (we hold up to {feed.top})",
                )
                continue
            # 10. fork: a successor of a predecessor other than the one we hold.
            if feed.top and rec.prev != feed.ids[feed.top]:
                self._fork(feed, rec, feed.top, now, source)
                reject(index, rec, Reason.FORK, feed.why)
                continue
            # 11. not-permitted, at the scope level (the kind is not known before the payload is open).
            if not self.access.may_write(rec.author, rec.scope, None):
                reject(index, rec, Reason.NOT_PERMITTED, f"author may not write to {rec.scope}")
                continue
            payload = None
            if rec.payload is not None:
                # 12. undecryptable.
                plain = self.access.open_payload(rec)
                if plain is None:
                    reject(index, rec, Reason.UNDECRYPTABLE, f"no key to read {rec.scope} here")
                    continue
                try:
                    payload = parse_payload(plain)
                except PayloadError as e:
                    reject(index, rec, Reason.MALFORMED, str(e))
                    continue
                # 11, again, now that the kind is known.
                if not self.access.may_write(rec.author, rec.scope, payload.kind):
                    reject(
                        index,
                        rec,
                        Reason.NOT_PERMITTED,
                        f"author may not write {payload.kind} to {rec.scope}",
                    )
                    continue
                # 13. invalid-body, for kinds a local plugin defines; others are kept and relayed.
                spec = self.kinds.get(payload.kind)
                if spec is not None and (err := body_error(spec, rec, payload)) is not None:
                    reject(index, rec, Reason.INVALID_BODY, err)
                    continue
            feed.top = rec.seq
            feed.ids[rec.seq] = rec.id
            feed.wires[rec.seq] = rec.wire
            feed.changed = True
            accepted.append((rec, payload))

        if accepted:
            self.store.insert_records(
                (r.id, r.author, r.scope, r.seq, p.kind if p else None, r.wire, now) for r, p in accepted
            )
        self.store.set_heads(
            FeedHead(a, s, f.top, f.ids[f.top], f.forked) for (a, s), f in feeds.items() if f.changed
        )
        self.store.add_rejections(logged, self.keep_rejections)
        report.accepted += len(accepted)
        report.ids.extend(r.id for r, _ in accepted)
        if accepted:
            last = self.store.conn.execute("SELECT last_insert_rowid()").fetchone()[0]
            first = last - len(accepted) + 1  # one executemany under the write lock: consecutive rowids
            self.on_stored([StoredRecord(r, p, now, first + i) for i, (r, p) in enumerate(accepted)])

    def _load_feed(self, first: Record) -> _Feed:
        """The stored state of ``first``'s feed, with the ids from ``first.seq`` up to the head."""
        head = self.store.head(first.author, first.scope)
        if head is None:
            return _Feed(0, False, {})
        ids = {head.seq: head.head}
        if first.seq < head.seq:
            ids.update(self.store.ids_between(first.author, first.scope, first.seq, head.seq))
        return _Feed(head.seq, head.forked, ids)

    def _fork(self, feed: _Feed, rec: Record, at: int, now: int, source: str) -> None:
        """Keep the proof (the held record at ``at`` and ``rec``), freeze the feed, alert."""
        other = feed.wires.get(at) or self.store.wire_at(rec.author, rec.scope, at)
        if other is None:  # cannot happen: a feed holds every seq from 1 to its head
            raise RuntimeError(f"store inconsistent: feed {rec.scope} has no seq {at}")
        feed.why = fork_between(parse_wire(other), rec) or "inconsistent feed"
        self.store.add_fork(rec.author, rec.scope, rec.seq, other, rec.wire, now, source)
        feed.forked = feed.changed = True
        log.warning("fork in feed %s/%s: %s (from %s)", rec.author.hex()[:16], rec.scope, feed.why, source)
        self.on_fork(ForkProof(other, rec.wire))

    @staticmethod
    def _log_row(now: int, source: str, rej: Rejection, rec: Record | None) -> tuple:
        return (
            now,
            source,
            str(rej.reason),
            rej.detail,
            rec.id if rec else None,
            rec.author if rec else None,
            rec.scope if rec else None,
            rec.seq if rec else None,
        )
