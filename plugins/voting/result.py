"""The outcome of a tally and the one error type, shared by every counting method."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["Result", "TallyError"]


class TallyError(ValueError):
    """An invalid ballot or parameter; the message names the ballot (index from 0) and what is wrong."""


@dataclass(frozen=True)
class Result:
    """What a method decided, with an explanation any node can recompute and sign (no floats anywhere)."""

    method: str
    winners: list[str]
    ranking: list[str]
    passed: bool | None
    explanation: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The plain map signed in a close record and printed by ``tequio vote tally --json``."""
        return {
            "method": self.method,
            "winners": list(self.winners),
            "ranking": list(self.ranking),
            "passed": self.passed,
            "explanation": self.explanation,
        }
