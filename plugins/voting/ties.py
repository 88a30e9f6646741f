"""The one tie rule of every method: an order of the options nobody can choose after seeing the ballots.

The tie-break order sorts the options by SHA-256(tie_seed + option as UTF-8), ascending; in a node the
seed is the proposal's record id, fixed before any ballot exists. Where one of several tied options
must be preferred, the earliest in that order is; where one must be eliminated (IRV), the latest is.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

__all__ = ["RULE_ELIMINATE", "RULE_PREFER", "Ties", "place", "tie_order"]

RULE_PREFER = "earliest in tie-break order preferred"
RULE_ELIMINATE = "latest in tie-break order eliminated"


def tie_order(options: Iterable[str], tie_seed: bytes = b"") -> list[str]:
    """The tie-break order: by SHA-256(tie_seed + option), the option itself only if two digests collide."""
    return sorted(options, key=lambda o: (hashlib.sha256(tie_seed + o.encode("utf-8")).digest(), o))


def place(start: int, size: int) -> str:
    """Human words for the places a group occupies in a ranking, counted from 1."""
    return f"place {start + 1}" if size == 1 else f"places {start + 1}-{start + size}"


class Ties:
    """Applies the tie rule and logs every use of it, so the explanation shows each tie it decided."""

    def __init__(self, options: Sequence[str], tie_seed: bytes) -> None:
        self.seed = tie_seed
        self.order = tie_order(options, tie_seed)
        self.pos = {o: i for i, o in enumerate(self.order)}
        self.log: list[dict[str, Any]] = []

    def arrange(self, group: Iterable[str]) -> list[str]:
        """``group`` in tie-break order (no logging: for callers that log the use themselves)."""
        return sorted(group, key=self.pos.__getitem__)

    def prefer(self, among: Iterable[str], step: str) -> str:
        """The earliest of ``among`` in tie-break order, logged when there was a real choice."""
        tied = self.arrange(among)
        if len(tied) > 1:
            self.log.append({"step": step, "among": sorted(tied), "chose": tied[0], "rule": RULE_PREFER})
        return tied[0]

    def eliminate(self, among: Iterable[str], step: str) -> str:
        """The latest of ``among`` in tie-break order, logged when there was a real choice."""
        tied = self.arrange(among)
        if len(tied) > 1:
            self.log.append({"step": step, "among": sorted(tied), "chose": tied[-1], "rule": RULE_ELIMINATE})
        return tied[-1]

    def rank(self, scores: Mapping[str, int], offset: int = 0) -> list[str]:
        """Options by score, highest first; each group of equal scores in tie-break order, logged
        with its places counted from ``offset`` (where this ranking continues a longer one)."""
        ranking = sorted(scores, key=lambda o: (-scores[o], self.pos[o]))
        start = 0
        while start < len(ranking):
            end = start
            while end + 1 < len(ranking) and scores[ranking[end + 1]] == scores[ranking[start]]:
                end += 1
            if end > start:
                group = ranking[start : end + 1]
                self.log.append(
                    {
                        "step": place(offset + start, len(group)),
                        "among": sorted(group),
                        "chose": group[0],
                        "order": group,
                        "rule": RULE_PREFER,
                    }
                )
            start = end + 1
        return ranking

    def explain(self) -> dict[str, Any]:
        """The tie part of every choice method's explanation."""
        return {"tie_seed": self.seed.hex(), "tie_order": list(self.order), "ties": self.log}
