"""The offline ballot file: JSON, a list of {"choice", "count", "reason"} entries, optionally wrapped
in {"options": [...], "ballots": [...]}. Turned into the (choice, count) pairs ``tally`` takes."""

from __future__ import annotations

import json
from typing import Any

from tequio.schemas import StrictJSONError, loads_strict

from .result import TallyError

__all__ = ["BallotFile", "parse_ballot_file"]

_ENTRY_KEYS = {"choice", "count", "reason"}


class BallotFile:
    """The ballots of a file, and the options it lists (None when it lists none)."""

    def __init__(self, ballots: list[tuple[Any, int]], options: list[str] | None) -> None:
        self.ballots = ballots
        self.options = options


def parse_ballot_file(text: str, method: str) -> BallotFile:
    """Parse and shape-check the file; the choices themselves are checked by the method."""
    try:
        data = loads_strict(text, holder="this file")
    except StrictJSONError as e:
        raise TallyError(str(e)) from None
    options = None
    if isinstance(data, dict):
        extra = set(data) - {"ballots", "options"}
        if extra or "ballots" not in data:
            raise TallyError(
                'the file is a list of ballots or an object {"ballots": [...], "options": [...]}'
            )
        options = data.get("options")
        if options is not None and (
            not isinstance(options, list) or not all(isinstance(o, str) and o for o in options)
        ):
            raise TallyError('"options" must be a list of non-empty strings')
        data = data["ballots"]
    if not isinstance(data, list):
        raise TallyError('the file is a list of ballots or an object {"ballots": [...], "options": [...]}')
    ballots = [_entry(i, e, method) for i, e in enumerate(data)]
    return BallotFile(ballots, options)


def _entry(index: int, entry: Any, method: str) -> tuple[Any, int]:
    if not isinstance(entry, dict) or "choice" not in entry:
        raise TallyError(
            f'ballot {index}: expected {{"choice": ..., "count": N}}, not {json.dumps(entry)[:80]}'
        )
    extra = set(entry) - _ENTRY_KEYS
    if extra:
        raise TallyError(
            f"ballot {index}: unknown key {sorted(extra)[0]!r} (a ballot has choice, count, reason)"
        )
    choice = entry["choice"]
    count = entry.get("count", 1)
    if "reason" in entry:
        reason = entry["reason"]
        if method != "consent" or choice != "object":
            raise TallyError(f"ballot {index}: only a consent objection (choice 'object') carries a reason")
        if not isinstance(reason, str):
            raise TallyError(f"ballot {index}: a reason is text, not {json.dumps(reason)}")
        choice = {"object": reason}
    return choice, count
