"""Hidden ballots opened after a close: the fold recounts with them, and a node shows them, the same way."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tequio.schemas.canonical import CanonicalError, decode

from .crypto import CryptoError, open_sealed
from .methods import DecisionMethod, Tally

__all__ = ["open_hidden"]


def open_hidden(
    ballots: Mapping[bytes, tuple[int, bytes, Any]], secret: bytes, method: DecisionMethod, tally: Tally
) -> tuple[list[tuple[bytes, Any]], dict[bytes, str]]:
    """(voter, choice) of the sealed ballots that open and are valid, and why the others were dropped."""
    opened: list[tuple[bytes, Any]] = []
    dropped: dict[bytes, str] = {}
    for voter in sorted(ballots):
        sealed = ballots[voter][2]
        try:
            choice = decode(open_sealed(secret, sealed["sealed"]))
        except (CryptoError, CanonicalError, KeyError, TypeError):
            dropped[voter] = "its sealed choice does not open"
            continue
        why = method.check_choice(choice, tally)
        if why is not None:
            dropped[voter] = why
            continue
        opened.append((voter, choice))
    return opened, dropped
