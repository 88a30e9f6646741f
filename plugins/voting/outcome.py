"""How a choice method's count becomes a Result: one winner after the tie rule, the ranking, the log."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .ballots import check_electorate
from .result import Result
from .ties import Ties

__all__ = ["choice_result"]


def choice_result(
    method: str,
    options: Sequence[str],
    total: int,
    electorate: int | None,
    ties: Ties,
    ranking: list[str],
    tied: Sequence[str],
    details: dict[str, Any],
) -> Result:
    """``ranking`` is final (tie rule applied); ``tied`` the options the tie rule picked the winner from.

    With no ballots (or no options) there is no winner: nobody is elected by default.
    """
    explanation: dict[str, Any] = {
        "ballots": total,
        "electorate": check_electorate(electorate, total),
        "options": list(options),
    }
    if total == 0 or not options:
        explanation["summary"] = "no ballots: no winner" if options else "no options: no winner"
        explanation.update({"tie_seed": ties.seed.hex(), "tie_order": list(ties.order), "ties": []})
        return Result(method, [], [], None, explanation)
    explanation.update(details)
    explanation.update(ties.explain())
    winner = ranking[0]
    if len(tied) > 1:
        explanation["tied"] = sorted(tied)
        explanation["summary"] = (
            f"{winner} wins: tied with {_others(tied, winner)}, chosen by the tie-break order"
        )
    else:
        explanation["summary"] = f"{winner} wins"
    return Result(method, [winner], ranking, None, explanation)


def _others(tied: Sequence[str], winner: str) -> str:
    return ", ".join(o for o in sorted(tied) if o != winner)
