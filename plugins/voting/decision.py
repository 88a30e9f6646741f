"""The voting methods as governance decision methods: what a ``gov.close`` is recomputed with."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tequio.governance import MethodError, Tally

from .methods import METHODS, TallyError, check_choice, tally

__all__ = ["VotingMethod", "decision_methods"]

#: Rule keys a method reads, when the rule (or the proposal's params) sets them.
_RULE_KEYS = ("quorum", "threshold", "strict")


class VotingMethod:
    """One method of this plugin, seen by the fold: ballots (voter, choice) in, a canonical map out."""

    counts_ballots = True

    def __init__(self, name: str) -> None:
        self.name = name
        self.spec = METHODS[name]

    def params(self, t: Tally) -> dict[str, Any]:
        """The rule snapshot's quorum/threshold/strict and the proposal's params this method takes."""
        merged = {k: t.rule[k] for k in _RULE_KEYS if k in t.rule} | dict(t.params)
        return {k: v for k, v in merged.items() if k in self.spec.params}

    def check_choice(self, choice: Any, t: Tally) -> str | None:
        return check_choice(self.name, choice, options=list(t.options) or None, params=self.params(t))

    def result(self, ballots: Sequence[tuple[bytes, Any]], t: Tally) -> dict[str, Any]:
        try:
            res = tally(
                self.name,
                [(choice, 1) for _, choice in ballots],
                options=list(t.options) or None,
                electorate=t.electorate,
                params=self.params(t),
                tie_seed=t.tie_seed,
            )
        except TallyError as e:
            raise MethodError(str(e)) from None
        return res.to_json()


def decision_methods() -> dict[str, VotingMethod]:
    return {name: VotingMethod(name) for name in METHODS}
