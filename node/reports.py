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
