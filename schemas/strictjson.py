"""JSON as Tequio reads it from people and peers: no key twice in one object, no NaN or Infinity,
nothing nested past what the parser can hold, so that two readers of one text never see different
values."""

from __future__ import annotations

import json
from typing import Any

__all__ = ["StrictJSONError", "loads_strict"]


class StrictJSONError(ValueError):
    """The text is not JSON Tequio accepts; the message says where or why."""


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise StrictJSONError(f"the key {k!r} appears twice in one object")
        out[k] = v
    return out


def loads_strict(text: str | bytes, *, holder: str = "JSON") -> Any:
    """Parse ``text``; raise StrictJSONError (a ValueError) in one line on anything else.

    ``holder`` names what the text is in the NaN message ("NaN is not a number this file may hold")."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as e:
            raise StrictJSONError(f"not UTF-8 at byte {e.start}") from None

    def constant(name: str) -> Any:
        raise StrictJSONError(f"{name} is not a number {holder} may hold")

    try:
        return json.loads(text, object_pairs_hook=_pairs, parse_constant=constant)
    except RecursionError:
        raise StrictJSONError("nested more than the parser allows (about a thousand levels)") from None
    except json.JSONDecodeError as e:
        raise StrictJSONError(f"not JSON: {e.msg} at line {e.lineno} column {e.colno}") from None
