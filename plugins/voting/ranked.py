"""Instant-runoff and Borda over ranked ballots (partial rankings allowed: unranked options tie last)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .ballots import check_params, group_rankings
from .outcome import choice_result
from .result import Result
from .ties import RULE_ELIMINATE, Ties

__all__ = ["borda", "irv"]


def borda(
    ballots: Sequence[tuple[Any, int]],
    options: Sequence[str] | None,
    electorate: int | None,
    params: Mapping[str, Any] | None,
    tie_seed: bytes,
) -> Result:
    """An option scores, per ballot, the number of options that ballot ranks below it (unranked: 0).

    With n options a full ranking gives n-1, n-2, ..., 0 points; a partial one gives the ranked
    options the same points as if the unranked ones followed, and the unranked ones 0.
    """
    check_params("borda", params, ())
    opts, grouped, total = group_rankings(ballots, options)
    n = len(opts)
    scores = dict.fromkeys(opts, 0)
    for ranking, c in grouped.items():
        for i, o in enumerate(ranking):
            scores[o] += (n - 1 - i) * c
    ties = Ties(opts, tie_seed)
    order = ties.rank(scores) if total else []
    top = [o for o in opts if scores[o] == scores[order[0]]] if order else []
    return choice_result("borda", opts, total, electorate, ties, order, top, {"scores": scores})


def irv(
    ballots: Sequence[tuple[Any, int]],
    options: Sequence[str] | None,
    electorate: int | None,
    params: Mapping[str, Any] | None,
    tie_seed: bytes,
) -> Result:
    """Rounds: an option with more than half the continuing ballots' first preferences wins; else the
    option with the fewest is eliminated (tied: the latest in tie-break order) and its ballots move on.

    A ballot that ranks no continuing option is exhausted and stops counting; ranking: the winner, the
    other options left at the end by their last count, then the eliminated in reverse order.
    """
    check_params("irv", params, ())
    opts, grouped, total = group_rankings(ballots, options)
    ties = Ties(opts, tie_seed)
    continuing = set(opts)
    eliminated: list[str] = []
    rounds: list[dict[str, Any]] = []
    tied: list[str] = []
    winner = ""
    while total and continuing:
        k = len(rounds) + 1
        counts = {o: 0 for o in opts if o in continuing}
        exhausted = 0
        for ranking, c in grouped.items():
            for o in ranking:
                if o in continuing:
                    counts[o] += c
                    break
            else:
                exhausted += c
        active = total - exhausted
        rnd: dict[str, Any] = {
            "round": k,
            "counts": counts,
            "continuing_ballots": active,
            "exhausted": exhausted,
        }
        rounds.append(rnd)
        top = max(counts.values())
        if len(continuing) == 1:
            winner = next(iter(continuing))
            rnd["winner"] = winner
            rnd["why"] = "the only option left"
            break
        if 2 * top > active:
            winner = next(o for o in counts if counts[o] == top)
            rnd["winner"] = winner
            rnd["why"] = f"a majority: {top} of {active} continuing ballots"
            break
        low = min(counts.values())
        lowest = [o for o in counts if counts[o] == low]
        out = ties.eliminate(lowest, f"round {k} elimination")
        rnd["eliminated"] = out
        if len(lowest) > 1:
            rnd["why"] = (
                f"fewest first preferences ({low}), tied with {_others(lowest, out)}: {RULE_ELIMINATE}"
            )
            if len(lowest) == len(continuing) == 2:
                tied = sorted(lowest)  # the last two were tied: the tie rule picked the winner
        else:
            rnd["why"] = f"fewest first preferences ({low})"
        continuing.discard(out)
        eliminated.append(out)
    order: list[str] = []
    if total and opts:
        last = rounds[-1]["counts"]
        rest = {o: last[o] for o in last if o != winner}
        order = (
            [winner, *ties.rank(rest, 1), *reversed(eliminated)] if rest else [winner, *reversed(eliminated)]
        )
    return choice_result("irv", opts, total, electorate, ties, order, tied, {"rounds": rounds})


def _others(group: Sequence[str], chosen: str) -> str:
    return ", ".join(o for o in sorted(group) if o != chosen)
