"""The one ingest pipeline: every record a node keeps, its own included, passes through ``Ingestor``.

Steps 1-7 (``schemas.parse_wire``) need only the bytes and run before the write lock is taken.
Steps 8-13 need the store and run inside one write transaction per batch:

    8 duplicate  9 gap  10 fork  11 not-permitted  12 undecryptable  13 invalid-body

A batch is sorted by feed and seq first, so records arriving out of order within one batch chain up.
A rejected record never blocks the others: it is reported with its index and the batch goes on.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Protocol

from tequio.schemas import (
    PUBLIC,
    ForkProof,
    Payload,
    PayloadError,
    Reason,
    Record,
    fork_between,
    parse_payload,
    parse_wire,
)

from .kinds import Kind, body_error
from .recordview import StoredRecord
from .reports import IngestReport, Rejection
from .store import Store
from .verifiers import Parsed, VerifierPool, parse_chunk

__all__ = ["AccessPolicy", "IngestReport", "Ingestor", "PublicOnly", "Rejection"]

log = logging.getLogger(__name__)


class AccessPolicy(Protocol):
    """What governance decides for the pipeline: who may write where, and how to read a payload."""

    def may_write(self, record: Record, kind: str | None) -> str | None:
        """Step 11: None to allow, else why not. Called with ``kind=None`` before the payload is
        opened, then again with its kind."""
        ...

    def open_payload(self, record: Record) -> bytes | None:
        """Step 12. The plaintext payload map bytes, or None if this node cannot read it."""
        ...

    def refresh(self, stored: Sequence[StoredRecord]) -> bool:
        """Records were just stored: whether that changed what the policy allows or can open.

        When it did, the batch's retryable rejections are tried again at once, so a batch that
        holds an admission and the new member's first record accepts both, in either order.
        """
        ...


class PublicOnly:
    """The policy before governance is wired in: anyone may write; only public payloads are readable."""

    def may_write(self, record: Record, kind: str | None) -> str | None:
        return None

    def open_payload(self, record: Record) -> bytes | None:
        return record.payload if record.scope == PUBLIC else None

    def refresh(self, stored: Sequence[StoredRecord]) -> bool:
        return False


class _Feed:
    """One feed's state while a batch is applied: its top seq, ids known from the store or this batch."""

    __slots__ = ("changed", "fid", "forked", "ids", "top", "why", "wires")

    def __init__(self, fid: int | None, top: int, forked: bool, ids: dict[int, bytes]) -> None:
        self.fid = fid  # the store's number for the feed; None until its first record is accepted
        self.top = top
        self.forked = forked
        self.ids = ids
        self.wires: dict[int, bytes] = {}  # records accepted in this batch, not yet in the store
        self.changed = False
        self.why = ""


def _feed_order(item: tuple[int, Record]) -> tuple[bytes, str, int]:
    r = item[1]
    return r.author, r.scope, r.seq


#: Rejections that other records of the same batch may clear.
_RETRIED = frozenset({Reason.GAP, Reason.NOT_PERMITTED, Reason.UNDECRYPTABLE})

#: Below this many records a batch is checked on the calling thread: handing it over costs more.
_MIN_PARALLEL = 1024


class Ingestor:
    """Runs the pipeline against one store with the node's kinds, policy and hooks.

    Signature checks dominate the cost, so steps 1-7 of large batches run in verifier processes
    (one per core) while steps 8-13 and the write stay on the caller's thread.
    """

    def __init__(
        self,
        store: Store,
        kinds: Mapping[str, Kind],
        access: AccessPolicy,
        clock: Callable[[], int],
        keep_rejections: int,
        on_stored: Callable[[list[StoredRecord]], None],
        on_fork: Callable[[ForkProof], None],
        verify_workers: int = 1,
        wants_stored: Callable[[], bool] = lambda: True,
    ) -> None:
        self.wants_stored = wants_stored  # building the batch for on_stored costs; skip it if unused
        self.verifiers = VerifierPool(verify_workers) if verify_workers > 1 else None
        self.store = store
        self.kinds = kinds
        self.access = access
        self.clock = clock
        self.keep_rejections = keep_rejections
        self.on_stored = on_stored
        self.on_fork = on_fork

    def close(self) -> None:
        if self.verifiers is not None:
            self.verifiers.close()

    def submit(self, raws: Sequence[bytes], base_index: int = 0) -> Callable[[], Parsed]:
        """Start steps 1-7 on a batch; the returned function waits for and merges the result.

        Returning at once lets a caller check the next batch while it writes this one.
        """
        if self.verifiers is None or len(raws) < _MIN_PARALLEL:
            done = parse_chunk(raws, base_index)
            return lambda: done
        return self.verifiers.submit(raws, base_index)

    def ingest(self, raws: Iterable[bytes], source: str, base_index: int = 0) -> IngestReport:
        """Verify and store one batch in one transaction; indexes in the report start at ``base_index``."""
        return self.write(self.submit(list(raws), base_index)(), source)

    def write(self, parsed: Parsed, source: str) -> IngestReport:
        """Steps 8-13 and the write of an already checked batch, in one transaction."""
        items, rejected = parsed
        report = IngestReport(rejected=list(rejected))
        with self.store.write():
            self.apply(items, source, report)
        report.rejected.sort(key=lambda r: r.index)
        return report

    def write_steps(
        self, parsed: Parsed, source: str, report: IngestReport, size: int = 256
    ) -> Iterator[None]:
        """``write`` in transactions of at most ``size`` records, yielding after each one.

        For a caller on an event loop: between slices it serves others (the local API), so a large
        batch from a peer never holds the loop for longer than one slice takes. The outcome is that
        of ``write``: slices go in feed and seq order, and the retryable rejections of every slice
        are tried again (in slices) while what was stored changes the policy, then logged once.
        """
        items, rejected = parsed
        report.rejected.extend(rejected)
        items.sort(key=_feed_order)
        pending: list[tuple[Rejection, Record]] = []
        first = True
        changed = False
        todo = items
        while True:
            deferred: list[tuple[Rejection, Record]] = []
            for start in range(0, len(todo), size):
                with self.store.write():
                    more, stored = self._apply_once(todo[start : start + size], source, report, first)
                first = False
                deferred += more
                if stored and self.access.refresh(stored):
                    changed = True
                yield
            pending = deferred
            if not pending or not changed:
                break
            changed = False
            todo = sorted(((rej.index, rec) for rej, rec in pending), key=_feed_order)
        if first:  # nothing was applied: the rejections of steps 1-7 are still to be logged
            with self.store.write():
                self._apply_once([], source, report, True)
        report.rejected.extend(rej for rej, _ in pending)
        if pending:
            now = self.clock()
            with self.store.write():
                self.store.add_rejections(
                    [self._log_row(now, source, rej, rec) for rej, rec in pending], self.keep_rejections
                )
        report.rejected.sort(key=lambda r: r.index)

    def apply(self, items: list[tuple[int, Record]], source: str, report: IngestReport) -> None:
        """Steps 8-13 and the write, inside the caller's write transaction.

        Rejections that may clear once other records of the batch are stored (``gap``,
        ``not-permitted``, ``undecryptable``) are tried again while the policy says it changed.
        """
        pending = items
        first = True
        while True:
            deferred, stored = self._apply_once(pending, source, report, first)
            first = False
            if not deferred or not stored or not self.access.refresh(stored):
                break
            pending = [(rej.index, rec) for rej, rec in deferred]
        now = self.clock()
        report.rejected.extend(rej for rej, _ in deferred)
        self.store.add_rejections(
            [self._log_row(now, source, rej, rec) for rej, rec in deferred], self.keep_rejections
        )

    def _apply_once(
        self, items: list[tuple[int, Record]], source: str, report: IngestReport, first: bool = True
    ) -> tuple[list[tuple[Rejection, Record]], list[StoredRecord]]:
        """One pass: returns the retryable rejections (not yet reported) and what was stored."""
        now = self.clock()
        deferred: list[tuple[Rejection, Record]] = []
        items.sort(key=_feed_order)
        feeds: dict[tuple[bytes, str], _Feed] = {}
        accepted: list[tuple[int, Record, Payload | None]] = []
        logged: list[tuple] = [self._log_row(now, source, r, None) for r in report.rejected] if first else []

        def reject(index: int, rec: Record, reason: Reason, detail: str) -> None:
            rej = Rejection(index, reason, detail, rec.id)
            if reason in _RETRIED:
                deferred.append((rej, rec))
                return
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
            if (why := self.access.may_write(rec, None)) is not None:
                reject(index, rec, Reason.NOT_PERMITTED, why)
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
                if (why := self.access.may_write(rec, payload.kind)) is not None:
                    reject(index, rec, Reason.NOT_PERMITTED, why)
                    continue
                # 13. invalid-body, for kinds a local plugin defines; others are kept and relayed.
                spec = self.kinds.get(payload.kind)
                if spec is not None and (err := body_error(spec, rec, payload)) is not None:
                    reject(index, rec, Reason.INVALID_BODY, err)
                    continue
            if feed.fid is None:
                feed.fid = self.store.new_feed(rec.author, rec.scope)
            feed.top = rec.seq
            feed.ids[rec.seq] = rec.id
            feed.wires[rec.seq] = rec.wire
            feed.changed = True
            accepted.append((feed.fid, rec, payload))

        if accepted:
            self.store.insert_records(
                (r.id, fid, r.seq, p.kind if p else None, r.wire, now) for fid, r, p in accepted
            )
            refs = [
                (b.hash, r.id, r.author, r.scope, b.size, b.mime)
                for _, r, p in accepted
                if p
                for b in p.blobs
            ]
            if refs:
                self.store.add_blob_refs(refs)
        self.store.set_heads(
            (f.fid, f.top, f.ids.get(f.top), f.forked)
            for f in feeds.values()
            if f.changed and f.fid is not None
        )
        self.store.add_rejections(logged, self.keep_rejections)
        report.accepted += len(accepted)
        report.ids.extend(r.id for _, r, _ in accepted)
        stored: list[StoredRecord] = []
        if accepted:
            last = self.store.conn.execute("SELECT last_insert_rowid()").fetchone()[0]
            first = last - len(accepted) + 1  # one executemany under the write lock: consecutive rowids
            stored = [StoredRecord(r, p, now, first + i) for i, (_, r, p) in enumerate(accepted)]
            if self.wants_stored():
                self.on_stored(stored)
        return deferred, stored

    def _load_feed(self, first: Record) -> _Feed:
        """The stored state of ``first``'s feed, with the ids from ``first.seq`` up to the head."""
        head = self.store.head(first.author, first.scope)
        if head is None:
            return _Feed(None, 0, False, {})
        ids = {head.seq: head.head} if head.head else {}
        if first.seq < head.seq:
            ids.update(self.store.ids_between(head.id, first.seq, head.seq))
        return _Feed(head.id, head.seq, head.forked, ids)

    def _fork(self, feed: _Feed, rec: Record, at: int, now: int, source: str) -> None:
        """Keep the proof (the held record at ``at`` and ``rec``), freeze the feed, alert."""
        assert feed.fid is not None  # a fork needs a held record
        other = feed.wires.get(at) or self.store.wire_at(feed.fid, at)
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
