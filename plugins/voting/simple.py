"""Approval, plurality and score: a total per option, the highest total wins."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .ballots import check_params, pairs, resolve_options
from .outcome import choice_result
from .result import Result, TallyError
from .ties import Ties

__all__ = ["approval", "plurality", "score"]


def _by_totals(
    method: str,
    options: list[str],
    totals: dict[str, int],
    total: int,
    electorate: int | None,
    tie_seed: bytes,
    details: dict[str, Any],
) -> Result:
    ties = Ties(options, tie_seed)
    ranking = ties.rank(totals) if total else []
    top = [o for o in options if totals[o] == totals[ranking[0]]] if ranking else []
    return choice_result(
        method, options, total, electorate, ties, ranking, top, {**details, "totals": totals}
    )


def plurality(
    ballots: Sequence[tuple[Any, int]],
    options: Sequence[str] | None,
    electorate: int | None,
    params: Mapping[str, Any] | None,
    tie_seed: bytes,
) -> Result:
    """Each ballot names one option; the most named wins."""
    check_params("plurality", params, ())
    checked = pairs(ballots)
    for index, choice, _ in checked:
        if type(choice) is not str:
            raise TallyError(f"ballot {index}: a plurality ballot is one option, not {choice!r}")
    opts = resolve_options(options, ((i, [c]) for i, c, _ in checked))
    totals = dict.fromkeys(opts, 0)
    for _, choice, n in checked:
        totals[choice] += n
    return _by_totals("plurality", opts, totals, sum(n for *_, n in checked), electorate, tie_seed, {})


def approval(
    ballots: Sequence[tuple[Any, int]],
    options: Sequence[str] | None,
    electorate: int | None,
    params: Mapping[str, Any] | None,
    tie_seed: bytes,
) -> Result:
    """Each ballot lists the options it approves of (possibly none); the most approved wins."""
    check_params("approval", params, ())
    checked = pairs(ballots)
    for index, choice, _ in checked:
        if not isinstance(choice, list | tuple):
            raise TallyError(f"ballot {index}: an approval ballot is a list of options, not {choice!r}")
        for o in choice:
            if type(o) is not str:
                raise TallyError(f"ballot {index}: an option is a string, not {o!r}")
        if len(set(choice)) != len(choice):
            dup = sorted({o for o in choice if choice.count(o) > 1})
            raise TallyError(
                f"ballot {index}: an approval ballot names each option once, but repeats {', '.join(dup)}"
            )
    opts = resolve_options(options, ((i, c) for i, c, _ in checked))
    totals = dict.fromkeys(opts, 0)
    for _, choice, n in checked:
        for o in choice:
            totals[o] += n
    return _by_totals("approval", opts, totals, sum(n for *_, n in checked), electorate, tie_seed, {})


def score(
    ballots: Sequence[tuple[Any, int]],
    options: Sequence[str] | None,
    electorate: int | None,
    params: Mapping[str, Any] | None,
    tie_seed: bytes,
) -> Result:
    """Each ballot scores options from min to max (an option left out gets min); the highest sum wins."""
    given = check_params("score", params, ("min", "max"))
    low, high = given.get("min", 0), given.get("max", 5)
    if type(low) is not int or type(high) is not int or low >= high:
        raise TallyError(f"score needs whole numbers min < max, not min={low!r} max={high!r}")
    checked = pairs(ballots)
    for index, choice, _ in checked:
        if not isinstance(choice, dict):
            raise TallyError(f"ballot {index}: a score ballot maps options to scores, not {choice!r}")
        for o, s in choice.items():
            if type(s) is not int or not low <= s <= high:
                raise TallyError(
                    f"ballot {index}: the score of {o!r} must be a whole number {low}..{high}, not {s!r}"
                )
    opts = resolve_options(options, ((i, list(c)) for i, c, _ in checked))
    total = sum(n for *_, n in checked)
    totals = dict.fromkeys(opts, low * total)
    for _, choice, n in checked:
        for o, s in choice.items():
            totals[o] += (s - low) * n
    return _by_totals("score", opts, totals, total, electorate, tie_seed, {"min": low, "max": high})
