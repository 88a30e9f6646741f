"""What the ingest pipeline says about each record it was given."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tequio.schemas import RETRYABLE, Reason

__all__ = ["IngestReport", "Rejection"]


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
        """The import report's entry: exactly index, reason and detail (``records rejected`` has the id)."""
        return {"index": self.index, "reason": str(self.reason), "detail": self.detail}


@dataclass
class IngestReport:
    """What happened to each input: accepted (ids kept unless merged), duplicate, or rejected with reason."""

    accepted: int = 0
    duplicates: int = 0
    rejected: list[Rejection] = field(default_factory=list)
    ids: list[bytes] = field(default_factory=list)
    #: Rejections counted by reason, including those whose details were not kept (``merge(keep_details=)``).
    by_reason: dict[str, int] = field(default_factory=dict)
    #: Rejections counted but not kept in ``rejected``, so a hostile stream cannot grow memory without end.
    dropped: int = 0

    @property
    def rejected_total(self) -> int:
        return len(self.rejected) + self.dropped

    def counts(self) -> dict[str, int]:
        """Rejections by reason: the counted ones plus those still held in ``rejected``."""
        if self.by_reason:
            return dict(self.by_reason)
        out: dict[str, int] = {}
        for r in self.rejected:
            out[str(r.reason)] = out.get(str(r.reason), 0) + 1
        return out

    def merge(self, other: IngestReport, keep_ids: bool = False, keep_details: int | None = None) -> None:
        """Add ``other``; with ``keep_details``, keep that many rejections in full and count the rest."""
        self.accepted += other.accepted
        self.duplicates += other.duplicates
        if keep_details is None:
            self.rejected.extend(other.rejected)
        else:
            for key, n in other.counts().items():
                self.by_reason[key] = self.by_reason.get(key, 0) + n
            room = max(0, keep_details - len(self.rejected))
            self.rejected.extend(other.rejected[:room])
            self.dropped += other.rejected_total - min(room, len(other.rejected))
        if keep_ids:
            self.ids.extend(other.ids)

    def add_rejection(self, rej: Rejection, keep_details: int) -> None:
        """Count one rejection, keeping its details only while fewer than ``keep_details`` are held."""
        self.merge(IngestReport(rejected=[rej]), keep_details=keep_details)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "rejected": [r.to_json() for r in self.rejected],
        }
        if self.dropped:
            out["rejected_total"] = self.rejected_total
            out["rejected_by_reason"] = self.counts()
        return out
