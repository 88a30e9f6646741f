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
        items.sort(key=lambda it: (it[1].author, it[1].scope, it[1].seq))
        held = self.store.held([r.id for _, r in items])
        heads: dict[tuple[bytes, str], FeedHead | None] = {}
        batch_wire: dict[tuple[bytes, str, int], bytes] = {}  # accepted here, not yet in the store
        accepted: list[tuple[Record, Payload | None]] = []
        touched: set[tuple[bytes, str]] = set()
        logged: list[tuple] = [self._log_row(now, source, r, None) for r in report.rejected]

        def reject(index: int, rec: Record, reason: Reason, detail: str) -> None:
            rej = Rejection(index, reason, detail, rec.id)
            report.rejected.append(rej)
            logged.append(self._log_row(now, source, rej, rec))

        for index, rec in items:
            # 8. duplicate: held already, or twice in this batch.
            if rec.id in held:
                report.duplicates += 1
                continue
            feed = (rec.author, rec.scope)
            if feed not in heads:
                heads[feed] = self.store.head(*feed)
            head = heads[feed]
            top = head.seq if head else 0
            if head is not None and head.forked:
                reject(index, rec, Reason.FORK, f"feed frozen since a fork at or before seq {head.seq}")
                continue
            # 9. gap: we hold every seq from 1 to top, so anything beyond top + 1 must wait.
            if rec.seq > top + 1:
                reject(index, rec, Reason.GAP, f"seq {rec.seq} needs seq {top + 1} first (we hold up to {top})")
                continue
            # 10. fork: another record at this seq, or a predecessor other than the one we hold.
            if head is not None and (rec.seq <= top or rec.prev != head.head):
                at = min(rec.seq, top)
                other = batch_wire.get((*feed, at)) or self.store.wire_at(*feed, at)
                if other is None:  # cannot happen: a feed holds every seq from 1 to its head
                    raise RuntimeError(f"store inconsistent: feed {rec.scope} has no seq {at}")
                proof = ForkProof(other, rec.wire)
                why = fork_between(parse_wire(other), rec) or "inconsistent feed"
                self.store.add_fork(rec.author, rec.scope, rec.seq, other, rec.wire, now, source)
                heads[feed] = FeedHead(rec.author, rec.scope, top, head.head, True)
                touched.add(feed)
                reject(index, rec, Reason.FORK, why)
                log.warning("fork in feed %s/%s: %s (from %s)", rec.author.hex()[:16], rec.scope, why, source)
                self.on_fork(proof)
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
                    reject(index, rec, Reason.NOT_PERMITTED, f"author may not write {payload.kind} to {rec.scope}")
                    continue
                # 13. invalid-body, for kinds a local plugin defines; others are kept and relayed.
                spec = self.kinds.get(payload.kind)
                if spec is not None and (err := body_error(spec, rec, payload.body)) is not None:
                    reject(index, rec, Reason.INVALID_BODY, err)
                    continue
            held.add(rec.id)
            heads[feed] = FeedHead(rec.author, rec.scope, rec.seq, rec.id, False)
            touched.add(feed)
            batch_wire[(*feed, rec.seq)] = rec.wire
            accepted.append((rec, payload))

        if accepted:
            self.store.insert_records(
                (r.id, r.author, r.scope, r.seq, r.prev, r.ts, r.payload_hash, r.sig, r.payload,
                 p.kind if p else None, now)
                for r, p in accepted
            )
        self.store.set_heads(h for f in touched if (h := heads[f]) is not None)
        self.store.add_rejections(logged, self.keep_rejections)
        report.accepted += len(accepted)
        report.ids.extend(r.id for r, _ in accepted)
        if accepted:
            last = self.store.conn.execute("SELECT last_insert_rowid()").fetchone()[0]
            first = last - len(accepted) + 1  # one executemany under the write lock: consecutive rowids
            self.on_stored([StoredRecord(r, p, now, first + i) for i, (r, p) in enumerate(accepted)])

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
