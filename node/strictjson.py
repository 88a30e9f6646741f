"""JSON as Tequio reads it from people and peers: no key twice in one object, no NaN or Infinity,
and nesting bounded, so that two readers of one text never see different values."""

from __future__ import annotations

import json
from typing import Any

__all__ = ["MAX_DEPTH", "StrictJSONError", "loads_strict"]

MAX_DEPTH = 64


class StrictJSONError(ValueError):
    """The text is not JSON Tequio accepts; the message says where or why."""


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise StrictJSONError(f"the key {k!r} appears twice in one object")
        out[k] = v
    return out


def _constant(name: str) -> Any:
    raise StrictJSONError(f"{name} is not a number JSON may hold")


def _depth_ok(text: str) -> bool:
    """Bracket depth outside strings, before the parser recurses (3,000 levels would crash it)."""
    depth = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                return False
        elif ch in "]}":
            depth -= 1
    return True


def loads_strict(text: str | bytes) -> Any:
    """Parse ``text``; raise StrictJSONError (a ValueError) in one line on anything else."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as e:
            raise StrictJSONError(f"not UTF-8 at byte {e.start}") from None
    if not _depth_ok(text):
        raise StrictJSONError(f"nested more than {MAX_DEPTH} levels deep")
    try:
        return json.loads(text, object_pairs_hook=_pairs, parse_constant=_constant)
    except json.JSONDecodeError as e:
        raise StrictJSONError(f"not JSON: {e.msg} at line {e.lineno} column {e.colno}") from None
