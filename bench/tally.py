"""Schulze, ranked pairs and IRV on 10,000 random full rankings of 10 options, against counting the
first preferences of the same ballots, in the same run.

    python bench/tally.py [--ballots 10000] [--options 10] [--rounds 5] [--seed 7]

Prints one JSON object per figure. Rounds interleave the baseline and the tally, and the best of
each is compared, since the machine is shared and noisy. Target: under 1 s per tally.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from collections.abc import Callable
from functools import partial
from typing import Any

from tequio.plugins.voting.methods import tally

FIGURES = ("schulze", "ranked-pairs", "irv")


def make_ballots(n: int, options: int, seed: int) -> list[tuple[Any, int]]:
    """``n`` ballots of one voter each, every one a uniformly random full ranking."""
    rnd = random.Random(seed)
    names = [f"option-{i:02d}" for i in range(options)]
    return [(rnd.sample(names, options), 1) for _ in range(n)]


def first_preferences(ballots: list[tuple[Any, int]]) -> dict[str, int]:
    """The baseline: the least any count must do, one look at each ballot."""
    counts: dict[str, int] = {}
    for ranking, n in ballots:
        counts[ranking[0]] = counts.get(ranking[0], 0) + n
    return counts


def best(fn: Callable[[], object], rounds: int, other: Callable[[], object]) -> tuple[float, float]:
    """Best time of ``fn`` and of ``other``, run alternately ``rounds`` times each."""
    a = b = float("inf")
    for _ in range(rounds):
        t = time.perf_counter()
        fn()
        a = min(a, time.perf_counter() - t)
        t = time.perf_counter()
        other()
        b = min(b, time.perf_counter() - t)
    return a, b


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ballots", type=int, default=10_000)
    ap.add_argument("--options", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    ballots = make_ballots(args.ballots, args.options, args.seed)
    distinct = len({tuple(r) for r, _ in ballots})
    for method in FIGURES:
        seconds, baseline = best(
            partial(tally, method, ballots), args.rounds, partial(first_preferences, ballots)
        )
        winner = tally(method, ballots).winners
        figure = {
            "figure": method,
            "ballots": args.ballots,
            "options": args.options,
            "distinct_rankings": distinct,
            "seconds": round(seconds, 4),
            "baseline": "count first preferences",
            "baseline_seconds": round(baseline, 5),
            "ratio": round(seconds / baseline, 1),
            "winner": winner,
        }
        print(json.dumps(figure), flush=True)


if __name__ == "__main__":
    main()
