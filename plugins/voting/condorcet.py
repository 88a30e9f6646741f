"""Schulze, Copeland and ranked pairs: methods built on the pairwise matrix of the ranked ballots.

Pairwise, a ballot prefers a to b when it ranks a above b, or ranks a and leaves b out; two options
it leaves out are tied for it, and count for neither.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .ballots import check_params, group_rankings
from .outcome import choice_result
from .result import Result
from .ties import Ties, place

__all__ = ["copeland", "pairwise", "ranked_pairs", "schulze"]

Matrix = list[list[int]]
PAIR_RULE = "equal margins: the pair whose winner, then loser, is earlier in tie-break order first"


def pairwise(options: Sequence[str], grouped: Mapping[tuple[str, ...], int]) -> Matrix:
    """d[a][b]: how many voters prefer options[a] to options[b]; one pass per distinct ranking."""
    idx = {o: i for i, o in enumerate(options)}
    n = len(options)
    d = [[0] * n for _ in range(n)]
    for ranking, c in grouped.items():
        r = [idx[o] for o in ranking]
        ranked = set(r)
        below = [j for j in range(n) if j not in ranked]
        for i in range(len(r) - 1, -1, -1):
            row = d[r[i]]
            for j in below:
                row[j] += c
            below.append(r[i])
    return d


def _as_map(options: Sequence[str], m: Matrix) -> dict[str, dict[str, int]]:
    return {a: {b: m[i][j] for j, b in enumerate(options) if j != i} for i, a in enumerate(options)}


def _setup(
    method: str,
    ballots: Sequence[tuple[Any, int]],
    options: Sequence[str] | None,
    params: Any,
    tie_seed: bytes,
) -> tuple[list[str], int, Matrix, Ties]:
    check_params(method, params, ())
    opts, grouped, total = group_rankings(ballots, options)
    return opts, total, pairwise(opts, grouped), Ties(opts, tie_seed)


def _pick_order(opts: list[str], ties: Ties, beaten: list[set[int]]) -> tuple[list[str], list[str]]:
    """A full order from an acyclic 'beaten by' relation: each place goes to an option no remaining
    option beats (several: the tie rule). Returns the order and the options unbeaten at the start."""
    remaining = set(range(len(opts)))
    order: list[str] = []
    first: list[str] = []
    while remaining:
        free = [opts[i] for i in remaining if not beaten[i] & remaining]
        if not order:
            first = free
        chosen = ties.prefer(free, place(len(order), 1))
        order.append(chosen)
        remaining.discard(opts.index(chosen))
    return order, first


def schulze(
    ballots: Sequence[tuple[Any, int]],
    options: Sequence[str] | None,
    electorate: int | None,
    params: Mapping[str, Any] | None,
    tie_seed: bytes,
) -> Result:
    """Widest paths with winning-votes strength: a beats b when the strongest path a->b is stronger
    than b->a; the winner is an option nobody beats."""
    opts, total, d, ties = _setup("schulze", ballots, options, params, tie_seed)
    n = len(opts)
    p = [[d[i][j] if i != j and d[i][j] > d[j][i] else 0 for j in range(n)] for i in range(n)]
    for k in range(n):
        pk = p[k]
        for i in range(n):
            pik = p[i][k]
            if i == k or not pik:
                continue
            pi = p[i]
            for j in range(n):
                if j != i and j != k:
                    v = pik if pik < pk[j] else pk[j]
                    if v > pi[j]:
                        pi[j] = v
    beaten = [{j for j in range(n) if p[j][i] > p[i][j]} for i in range(n)]
    order, first = _pick_order(opts, ties, beaten) if total else ([], [])
    details = {"pairwise": _as_map(opts, d), "strongest_paths": _as_map(opts, p)}
    return choice_result("schulze", opts, total, electorate, ties, order, first, details)


def copeland(
    ballots: Sequence[tuple[Any, int]],
    options: Sequence[str] | None,
    electorate: int | None,
    params: Mapping[str, Any] | None,
    tie_seed: bytes,
) -> Result:
    """Score = 2 x pairwise wins + pairwise draws (a win is 1, a draw 1/2, doubled to stay whole)."""
    opts, total, d, ties = _setup("copeland", ballots, options, params, tie_seed)
    wins = dict.fromkeys(opts, 0)
    losses = dict.fromkeys(opts, 0)
    draws = dict.fromkeys(opts, 0)
    for i, a in enumerate(opts):
        for j in range(len(opts)):
            if i != j:
                if d[i][j] > d[j][i]:
                    wins[a] += 1
                elif d[i][j] < d[j][i]:
                    losses[a] += 1
                else:
                    draws[a] += 1
    scores = {o: 2 * wins[o] + draws[o] for o in opts}
    order = ties.rank(scores) if total else []
    top = [o for o in opts if scores[o] == scores[order[0]]] if order else []
    details = {"pairwise": _as_map(opts, d), "wins": wins, "losses": losses, "draws": draws, "scores": scores}
    return choice_result("copeland", opts, total, electorate, ties, order, top, details)


def _reaches(succ: list[set[int]], start: int, goal: int) -> bool:
    seen = {start}
    stack = [start]
    while stack:
        for nxt in succ[stack.pop()]:
            if nxt == goal:
                return True
            if nxt not in seen:
                seen.add(nxt)
                stack.append(nxt)
    return False


def ranked_pairs(
    ballots: Sequence[tuple[Any, int]],
    options: Sequence[str] | None,
    electorate: int | None,
    params: Mapping[str, Any] | None,
    tie_seed: bytes,
) -> Result:
    """Tideman: lock the pairs won (by margin, largest first) unless they close a cycle with pairs
    already locked; the winner is an option no locked pair defeats."""
    opts, total, d, ties = _setup("ranked-pairs", ballots, options, params, tie_seed)
    n = len(opts)
    pos = [ties.pos[o] for o in opts]
    won = [(i, j, d[i][j] - d[j][i]) for i in range(n) for j in range(n) if d[i][j] > d[j][i]]
    won.sort(key=lambda e: (-e[2], pos[e[0]], pos[e[1]]))
    succ: list[set[int]] = [set() for _ in range(n)]
    considered: list[dict[str, Any]] = []
    start = 0
    while start < len(won):
        margin = won[start][2]
        end = start
        while end < len(won) and won[end][2] == margin:
            end += 1
        group = won[start:end]
        before = [set(s) for s in succ]
        skipped = []
        for i, j, m in group:
            locked = not _reaches(succ, j, i)
            if locked:
                succ[i].add(j)
            else:
                skipped.append((i, j))
            considered.append({"pair": [opts[i], opts[j]], "margin": m, "locked": locked})
        # The order within a group mattered only if a pair was skipped because of a pair of the group.
        if any(not _reaches(before, j, i) for i, j in skipped):
            ties.log.append(
                {
                    "step": f"order of the pairs with margin {margin}",
                    "among": sorted([opts[i], opts[j]] for i, j, _ in group),
                    "chose": [[opts[i], opts[j]] for i, j, _ in group if (i, j) not in skipped],
                    "order": [[opts[i], opts[j]] for i, j, _ in group],
                    "skipped": [[opts[i], opts[j]] for i, j in skipped],
                    "rule": PAIR_RULE,
                }
            )
        start = end
    beaten = [{i for i in range(n) if j in succ[i]} for j in range(n)]
    order, first = _pick_order(opts, ties, beaten) if total else ([], [])
    details = {
        "pairwise": _as_map(opts, d),
        "pairs": considered,
        "locked": [c["pair"] for c in considered if c["locked"]],
    }
    return choice_result("ranked-pairs", opts, total, electorate, ties, order, first, details)
