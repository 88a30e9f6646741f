"""Checks shared by the methods: counts, option lists, fractions, and grouping identical rankings."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from .result import TallyError

__all__ = [
    "check_count",
    "check_electorate",
    "check_params",
    "fraction",
    "group_rankings",
    "pairs",
    "ranked_choice",
    "resolve_options",
]


def check_count(index: int, count: Any) -> int:
    """A ballot's count: a whole number of at least 1 (a bool is not a number here)."""
    if type(count) is not int:
        raise TallyError(f"ballot {index}: count must be a whole number, not {count!r}")
    if count < 1:
        raise TallyError(f"ballot {index}: count must be at least 1, not {count}")
    return count


def check_electorate(electorate: Any, cast: int) -> int | None:
    """The number of eligible voters, if given: a whole number no smaller than the ballots cast."""
    if electorate is None:
        return None
    if type(electorate) is not int or electorate < 0:
        raise TallyError(f"electorate must be a whole number of at least 0, not {electorate!r}")
    if cast > electorate:
        raise TallyError(f"{cast} ballots were cast but the electorate is only {electorate}")
    return electorate


def check_params(method: str, params: Mapping[str, Any] | None, allowed: Iterable[str]) -> dict[str, Any]:
    """The parameters as a dict, refusing names the method does not take rather than ignoring them."""
    given = dict(params or {})
    allowed = set(allowed)
    for name in given:
        if name not in allowed:
            takes = ", ".join(sorted(allowed)) or "none"
            raise TallyError(f"{method} takes no parameter {name!r} (it takes: {takes})")
    return given


def fraction(name: str, value: Any) -> tuple[int, int]:
    """A [numerator, denominator] pair of whole numbers with 0 <= num <= den and den >= 1."""
    if (
        not isinstance(value, list | tuple)
        or len(value) != 2
        or any(type(v) is not int for v in value)
        or value[1] < 1
        or not 0 <= value[0] <= value[1]
    ):
        raise TallyError(
            f"{name} must be [numerator, denominator] with 0 <= numerator <= denominator, not {value!r}"
        )
    return value[0], value[1]


def _check_option(index: int, option: Any, known: set[str] | None) -> str:
    if type(option) is not str:
        raise TallyError(f"ballot {index}: an option is a string, not {option!r}")
    if known is not None and option not in known:
        raise TallyError(f"ballot {index}: {option!r} is not one of the options")
    return option


def resolve_options(options: Sequence[str] | None, named: Iterable[tuple[int, Iterable[Any]]]) -> list[str]:
    """The candidate list: ``options`` checked (distinct non-empty strings), else the sorted union of
    the options the ballots name. ``named`` yields (ballot index, options that ballot names)."""
    if options is None:
        found: set[str] = set()
        for index, names in named:
            found.update(_check_option(index, o, None) for o in names)
        result = sorted(found)
    else:
        if isinstance(options, str | bytes) or not isinstance(options, Sequence):
            raise TallyError(f"options must be a list of strings, not {options!r}")
        result = list(options)
        for o in result:
            if type(o) is not str or not o:
                raise TallyError(f"an option must be a non-empty string, not {o!r}")
        if len(set(result)) != len(result):
            dup = sorted({o for o in result if result.count(o) > 1})
            raise TallyError(f"options repeat: {', '.join(dup)}")
        known = set(result)
        for index, names in named:
            for o in names:
                _check_option(index, o, known)
    if "" in result:
        raise TallyError("an option must be a non-empty string")
    return result


def ranked_choice(index: int, choice: Any) -> tuple[str, ...]:
    """A ranked ballot: a list of distinct options, best first (options left out are tied last)."""
    if not isinstance(choice, list | tuple):
        raise TallyError(f"ballot {index}: a ranked ballot is a list of options, best first, not {choice!r}")
    ranking = tuple(choice)
    for o in ranking:
        _check_option(index, o, None)
    if len(set(ranking)) != len(ranking):
        dup = sorted({o for o in ranking if ranking.count(o) > 1})
        raise TallyError(
            f"ballot {index}: a ranked ballot names each option once, but repeats {', '.join(dup)}"
        )
    return ranking


def group_rankings(
    ballots: Sequence[tuple[Any, int]], options: Sequence[str] | None
) -> tuple[list[str], dict[tuple[str, ...], int], int]:
    """(options, count per distinct ranking, total count): methods then cost per distinct ranking."""
    grouped: dict[tuple[str, ...], int] = {}
    first: dict[tuple[str, ...], int] = {}
    total = 0
    for index, ballot in enumerate(ballots):
        choice, count = _pair(index, ballot)
        ranking = ranked_choice(index, choice)
        n = check_count(index, count)
        if ranking in grouped:
            grouped[ranking] += n
        else:
            grouped[ranking] = n
            first[ranking] = index
        total += n
    # Options are checked once per distinct ranking (reported by its first ballot), not per ballot.
    resolved = resolve_options(options, ((first[r], r) for r in grouped))
    return resolved, grouped, total


def _pair(index: int, ballot: Any) -> tuple[Any, Any]:
    if not isinstance(ballot, list | tuple) or len(ballot) != 2:
        raise TallyError(f"ballot {index}: expected a (choice, count) pair, not {ballot!r}")
    return ballot[0], ballot[1]


def pairs(ballots: Sequence[tuple[Any, int]]) -> list[tuple[int, Any, int]]:
    """(index, choice, count) for each ballot, with the count checked."""
    out = []
    for index, ballot in enumerate(ballots):
        choice, count = _pair(index, ballot)
        out.append((index, choice, check_count(index, count)))
    return out
