"""Fork proofs: two records, both signed by one author, that cannot both belong to one honest feed."""

from __future__ import annotations

from dataclasses import dataclass

from .record import Record, RecordError, parse_wire

__all__ = ["ForkProof", "fork_between"]


@dataclass(frozen=True, slots=True)
class ForkProof:
    """Anyone can check it offline: ``verify()`` needs nothing but the two wire records."""

    held: bytes
    incoming: bytes

    def verify(self) -> str:
        """Raise ValueError unless the two records prove a fork; return a one-line description."""
        try:
            a, b = parse_wire(self.held), parse_wire(self.incoming)
        except RecordError as e:
            raise ValueError(f"not a fork proof: {e}") from None
        why = fork_between(a, b)
        if why is None:
            raise ValueError("not a fork proof: the two records are consistent")
        return why


def fork_between(a: Record, b: Record) -> str | None:
    """Why ``a`` and ``b`` contradict each other as members of one feed, or None if they do not."""
    if a.author != b.author or a.scope != b.scope or a.id == b.id:
        return None
    if a.seq == b.seq:
        return f"two different records at seq {a.seq}"
    lo, hi = (a, b) if a.seq < b.seq else (b, a)
    if hi.seq == lo.seq + 1 and hi.prev != lo.id:
        return f"seq {hi.seq} names a different predecessor than the seq {lo.seq} held"
    return None
