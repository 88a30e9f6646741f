"""JSON views of msgpack values: bytes become ``{"$bin": "<hex>"}`` so that no value is ambiguous.

JSON has no bytes; writing them as a bare hex string would make ``"00ff"`` the text and ``b"\\x00\\xff"``
the same JSON. The one-key ``$bin`` map is the only special form, and it is refused as an ordinary map
key on the way in so that the mapping stays one-to-one.
"""

from __future__ import annotations

from typing import Any

__all__ = ["BIN_KEY", "from_json", "to_json"]

BIN_KEY = "$bin"


def to_json(value: Any) -> Any:
    """Return a JSON-serialisable copy of a decoded msgpack value."""
    if type(value) is bytes:
        return {BIN_KEY: value.hex()}
    if type(value) is dict:
        return {k: to_json(v) for k, v in value.items()}
    if type(value) is list:
        return [to_json(v) for v in value]
    return value


def from_json(value: Any) -> Any:
    """Inverse of ``to_json``: turn ``{"$bin": hex}`` back into bytes; refuse floats."""
    if type(value) is dict:
        if BIN_KEY in value:
            if len(value) != 1 or type(value[BIN_KEY]) is not str:
                raise ValueError(f'"{BIN_KEY}" must be the only key of its map and hold a hex string')
            try:
                return bytes.fromhex(value[BIN_KEY])
            except ValueError:
                raise ValueError(f'"{BIN_KEY}" holds something that is not hex') from None
        return {k: from_json(v) for k, v in value.items()}
    if type(value) is list:
        return [from_json(v) for v in value]
    if type(value) is float:
        raise ValueError("numbers must be integers (records carry no floats)")
    return value
