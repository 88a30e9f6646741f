"""Decision methods: how a proposal's ballots become an outcome. Plugins register them by name.

The core ships only the two that need no ballots: ``any-member`` (any elector closes it, saying
whether it passed) and ``role-holder`` (a holder of the rule's role does). Counting methods
(``yes-no``, ranked methods, ...) come from the voting plugin through the same interface.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

__all__ = ["CORE_METHODS", "DecisionMethod", "MethodError", "Tally", "TrivialMethod"]


class MethodError(ValueError):
    """Ballots or parameters a method cannot count."""


@dataclass(frozen=True)
class Tally:
    """What a proposal asks a method to count: its options, electorate, rule and tie seed."""

    options: tuple[str, ...]
    electorate: int
    rule: Mapping[str, Any]
    params: Mapping[str, Any]
    tie_seed: bytes


class DecisionMethod(Protocol):
    """A named way of deciding; ``counts_ballots`` False means the closer's word is the decision."""

    counts_ballots: bool

    def result(self, ballots: Sequence[tuple[bytes, Any]], tally: Tally) -> dict[str, Any]:
        """The canonical result map of these (voter, choice) ballots; raises MethodError if invalid.

        It has at least ``passed`` (bool, for yes/no questions; None for choices) and ``winners``.
        """
        ...

    def check_choice(self, choice: Any, tally: Tally) -> str | None:
        """None if ``choice`` is a valid ballot choice for this method, else why not."""
        ...


class TrivialMethod:
    """A method without ballots: an authorised closer decides (``passed`` in the close)."""

    counts_ballots = False

    def __init__(self, needs_role: bool) -> None:
        self.needs_role = needs_role

    def result(self, ballots: Sequence[tuple[bytes, Any]], tally: Tally) -> dict[str, Any]:
        raise MethodError("this method counts no ballots: the closer decides")

    def check_choice(self, choice: Any, tally: Tally) -> str | None:
        return "this method takes no ballots"


CORE_METHODS: dict[str, DecisionMethod] = {
    "any-member": TrivialMethod(needs_role=False),
    "role-holder": TrivialMethod(needs_role=True),
}
