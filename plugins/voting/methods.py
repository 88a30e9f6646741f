"""The voting methods by name, and ``tally``: the one entry point governance and the CLI call.

Every method counts with whole numbers only and breaks ties with the rule in ``ties.py``, so any
node given the same ballots, options, parameters and tie seed computes the same Result.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .binary import consent, yes_no
from .condorcet import copeland, ranked_pairs, schulze
from .ranked import borda, irv
from .result import Result, TallyError
from .simple import approval, plurality, score
from .ties import tie_order

__all__ = ["METHODS", "Method", "Result", "TallyError", "check_choice", "tally", "tie_order"]

Counter = Callable[
    [Sequence[tuple[Any, int]], Sequence[str] | None, int | None, Mapping[str, Any] | None, bytes], Result
]

_RANKED = "a list of options, best first; options left out are tied last"


@dataclass(frozen=True)
class Method:
    """A method's name, what it does, the ballot (choice) form it takes, its parameters."""

    name: str
    description: str
    ballot: str
    params: tuple[str, ...]
    ranks: bool
    count: Counter


METHODS: dict[str, Method] = {
    m.name: m
    for m in (
        Method(
            "yes-no",
            "passes if the quorum is met and yes/(yes+no) is above the threshold (default: over half)",
            '"yes", "no" or "abstain"',
            ("quorum", "threshold", "strict"),
            False,
            yes_no,
        ),
        Method(
            "consent",
            "passes if nobody objects (and the quorum, if set, is met)",
            '"yes", "object" (or {"object": reason}) or "abstain"',
            ("quorum",),
            False,
            consent,
        ),
        Method(
            "approval",
            "the option approved by most ballots wins",
            "a list of approved options",
            (),
            True,
            approval,
        ),
        Method("plurality", "the option named by most ballots wins", "one option", (), True, plurality),
        Method(
            "score",
            "the option with the highest total score wins",
            "a map option -> whole-number score min..max (default 0..5; left out: min)",
            ("min", "max"),
            True,
            score,
        ),
        Method(
            "irv",
            "instant runoff: eliminate the fewest first preferences until a majority",
            _RANKED,
            (),
            True,
            irv,
        ),
        Method(
            "schulze",
            "Schulze: widest paths in the pairwise matrix (winning votes)",
            _RANKED,
            (),
            True,
            schulze,
        ),
        Method("borda", "Borda count: a point for each option ranked below", _RANKED, (), True, borda),
        Method("copeland", "Copeland: pairwise wins count 2, draws 1", _RANKED, (), True, copeland),
        Method(
            "ranked-pairs",
            "Tideman's ranked pairs: lock pairs by margin, skip cycles",
            _RANKED,
            (),
            True,
            ranked_pairs,
        ),
    )
}


def tally(
    method: str,
    ballots: Sequence[tuple[Any, int]],
    *,
    options: Sequence[str] | None = None,
    electorate: int | None = None,
    params: Mapping[str, Any] | None = None,
    tie_seed: bytes = b"",
) -> Result:
    """Count ``ballots`` ((choice, count) pairs, count >= 1) by ``method``; TallyError if anything is invalid.

    ``options`` is the full candidate list (None: the options the ballots name); ``electorate`` the
    number of eligible voters (needed for a quorum); ``tie_seed`` fixes the tie-break order.
    """
    m = METHODS.get(method) if isinstance(method, str) else None
    if m is None:
        raise TallyError(f"unknown method {method!r} (known: {', '.join(METHODS)})")
    if not isinstance(ballots, Sequence) or isinstance(ballots, str | bytes):
        raise TallyError(f"ballots must be a list of (choice, count) pairs, not {type(ballots).__name__}")
    if not isinstance(tie_seed, bytes):
        raise TallyError(f"tie_seed must be bytes, not {type(tie_seed).__name__}")
    if params is not None and not isinstance(params, Mapping):
        raise TallyError(f"params must be a map, not {type(params).__name__}")
    return m.count(ballots, options, electorate, params, tie_seed)


def check_choice(
    method: str, choice: Any, *, options: Sequence[str] | None = None, params: Mapping[str, Any] | None = None
) -> str | None:
    """None if ``choice`` is a valid ballot for ``method`` with these options, else why not (one line)."""
    try:
        tally(
            method,
            [(choice, 1)],
            options=options,
            params=params,
            electorate=None if method != "yes-no" else 1,
        )
    except TallyError as e:
        return str(e).removeprefix("ballot 0: ")
    return None
