"""Yes-no and consent: a question passes or fails, judged with whole-number fractions only."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .ballots import check_electorate, check_params, fraction, pairs
from .result import Result, TallyError

__all__ = ["consent", "yes_no"]


def _no_options(method: str, options: Sequence[str] | None) -> None:
    if options:
        raise TallyError(f"{method} asks a question: it takes no options, but got {list(options)!r}")


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def _quorum(quorum: tuple[int, int], cast: int, electorate: int | None) -> dict[str, Any]:
    """Quorum is met when the ballots cast (abstentions included) are at least num/den of the electorate."""
    num, den = quorum
    if num and electorate is None:
        raise TallyError(f"a quorum of {num}/{den} needs the electorate (the number of eligible voters)")
    needed = _ceil_div(num * (electorate or 0), den)
    return {"fraction": [num, den], "needed": needed, "reached": cast, "met": cast >= needed}


def yes_no(
    ballots: Sequence[tuple[Any, int]],
    options: Sequence[str] | None,
    electorate: int | None,
    params: Mapping[str, Any] | None,
    tie_seed: bytes,
) -> Result:
    """Passes iff the quorum is met and yes/(yes+no) is above (or, not strict, at least) the threshold."""
    _no_options("yes-no", options)
    given = check_params("yes-no", params, ("quorum", "threshold", "strict"))
    counts = {"yes": 0, "no": 0, "abstain": 0}
    for index, choice, n in pairs(ballots):
        if type(choice) is not str or choice not in counts:
            raise TallyError(f"ballot {index}: a yes-no ballot is 'yes', 'no' or 'abstain', not {choice!r}")
        counts[choice] += n
    quorum = fraction("quorum", given.get("quorum", [1, 2]))
    tnum, tden = fraction("threshold", given.get("threshold", [1, 2]))
    strict = given.get("strict", True)
    if type(strict) is not bool:
        raise TallyError(f"strict must be true or false, not {strict!r}")
    if strict and tnum == tden:
        raise TallyError(f"a threshold of strictly above {tnum}/{tden} can never be met")
    yes, no = counts["yes"], counts["no"]
    cast = yes + no + counts["abstain"]
    electorate = check_electorate(electorate, cast)
    q = _quorum(quorum, cast, electorate)
    decisive = yes + no
    # Smallest yes count that meets the threshold: yes*den > num*decisive (strict) or >= (at least).
    needed = tnum * decisive // tden + 1 if strict else _ceil_div(tnum * decisive, tden)
    words = "strictly above" if strict else "at least"
    t_met = decisive > 0 and yes >= needed
    passed = q["met"] and t_met
    if not q["met"]:
        summary = f"failed: quorum not met ({cast} voted, {q['needed']} needed)"
    elif decisive == 0:
        summary = "failed: no yes or no votes, only abstentions"
    else:
        verdict = "passed" if t_met else "failed"
        rel = "is" if t_met else "is not"
        summary = (
            f"{verdict}: {yes} yes of {decisive} yes+no votes {rel} {words} {tnum}/{tden} "
            f"({needed} needed); quorum met ({cast} voted, {q['needed']} needed)"
        )
    explanation: dict[str, Any] = {
        **counts,
        "cast": cast,
        "electorate": electorate,
        "quorum": q,
        "threshold": {
            "fraction": [tnum, tden],
            "comparison": words,
            "yes": yes,
            "decisive": decisive,
            "needed": needed,
            "met": t_met,
        },
        "summary": summary,
    }
    return Result("yes-no", ["yes" if passed else "no"], [], passed, explanation)


def _objection(index: int, choice: Any) -> str | None:
    """The reason of an objection ballot, or None for 'object' without one."""
    if choice == "object":
        return None
    if isinstance(choice, dict) and list(choice) == ["object"]:
        reason = choice["object"]
        if reason is not None and type(reason) is not str:
            raise TallyError(f"ballot {index}: an objection's reason is text, not {reason!r}")
        return reason or None
    raise TallyError(
        f"ballot {index}: a consent ballot is 'yes', 'object', {{'object': reason}} or 'abstain', "
        f"not {choice!r}"
    )


def consent(
    ballots: Sequence[tuple[Any, int]],
    options: Sequence[str] | None,
    electorate: int | None,
    params: Mapping[str, Any] | None,
    tie_seed: bytes,
) -> Result:
    """Passes iff nobody objects (and the quorum, if one is set, is met); every objection is listed."""
    _no_options("consent", options)
    given = check_params("consent", params, ("quorum",))
    counts = {"yes": 0, "object": 0, "abstain": 0}
    reasons: dict[str, int] = {}
    unexplained = 0
    for index, choice, n in pairs(ballots):
        if type(choice) is str and choice in ("yes", "abstain"):
            counts[choice] += n
            continue
        reason = _objection(index, choice)
        counts["object"] += n
        if reason is None:
            unexplained += n
        else:
            reasons[reason] = reasons.get(reason, 0) + n
    cast = sum(counts.values())
    electorate = check_electorate(electorate, cast)
    q = _quorum(fraction("quorum", given.get("quorum", [0, 1])), cast, electorate)
    # Aggregated by reason and sorted, so the explanation does not depend on the order of the ballots.
    objections: list[dict[str, Any]] = [{"reason": r, "count": reasons[r]} for r in sorted(reasons)]
    if unexplained:
        objections.insert(0, {"reason": None, "count": unexplained})
    passed = q["met"] and counts["object"] == 0
    if not q["met"]:
        summary = f"failed: quorum not met ({cast} voted, {q['needed']} needed)"
    elif counts["object"]:
        summary = f"failed: {counts['object']} objection{'s' if counts['object'] != 1 else ''}"
    else:
        summary = f"passed: no objection ({counts['yes']} yes, {counts['abstain']} abstain)"
    explanation: dict[str, Any] = {
        **counts,
        "cast": cast,
        "electorate": electorate,
        "quorum": q,
        "objections": objections,
        "summary": summary,
    }
    return Result("consent", ["yes" if passed else "no"], [], passed, explanation)
