"""Canonical msgpack: one byte string per value, so that signatures and ids are reproducible.

The rules (docs/protocol.md section 2) are the msgpack spec with shortest-form integers and headers,
``str`` for text and ``bin`` for bytes, map keys that are ``str`` sorted by their UTF-8 bytes with no
duplicates, and no floats, ext types or timestamps. msgpack-python already emits shortest forms; what
it does not do is sort keys or refuse the forbidden types, which is what this module adds. A decoder
re-encodes what it decoded and accepts the input only if the bytes are identical.
"""

from __future__ import annotations

from typing import Any

import msgpack

__all__ = ["MAX_DEPTH", "CanonicalError", "decode", "encode", "normalize", "unpack"]

#: Deepest nesting of arrays and maps accepted; deeper values are refused rather than recursed into.
MAX_DEPTH = 32


class CanonicalError(ValueError):
    """The value cannot be encoded canonically, or the bytes are not the canonical encoding of anything."""


def _refuse_ext(code: int, data: bytes) -> Any:
    raise CanonicalError(f"ext type {code} is not allowed")


def normalize(value: Any, depth: int = 0) -> Any:
    """Return ``value`` with map keys sorted and bytes-likes as ``bytes``; raise on anything not allowed."""
    t = type(value)
    if t is str or t is bytes or t is bool or value is None:
        return value
    if t is int:
        if not -(2**63) <= value < 2**64:
            raise CanonicalError(f"integer out of msgpack range: {value}")
        return value
    if depth >= MAX_DEPTH:
        raise CanonicalError(f"nesting deeper than {MAX_DEPTH}")
    if t is dict:
        out = {}
        # Code-point order of Python str equals the byte order of their UTF-8 encodings.
        for key in sorted(value, key=_key_order):
            out[key] = normalize(value[key], depth + 1)
        return out
    if t is list or t is tuple:
        return [normalize(v, depth + 1) for v in value]
    if t is bytearray or t is memoryview:
        return bytes(value)
    if t is float:
        raise CanonicalError("floats are not allowed")
    raise CanonicalError(f"type {t.__name__} is not allowed")


def _key_order(key: Any) -> str:
    if type(key) is not str:
        raise CanonicalError(f"map keys must be str, not {type(key).__name__}")
    return key


def encode(value: Any) -> bytes:
    """Encode ``value`` canonically."""
    try:
        return msgpack.packb(normalize(value), use_bin_type=True)
    except CanonicalError:
        raise
    except (ValueError, TypeError, OverflowError) as e:  # pragma: no cover - normalize rejects these first
        raise CanonicalError(str(e)) from e


_SCALARS = frozenset({str, bytes, int, bool, type(None)})


def _check(value: Any, depth: int) -> None:
    """Refuse, in place, what has no canonical form: floats, timestamps, non-str or unsorted keys, depth.

    Keys are checked in the order they were decoded, which is their order on the wire; duplicates
    collapsed by the decoder are caught by the byte comparison that follows.
    """
    t = type(value)
    if t is list or t is dict:
        if depth >= MAX_DEPTH:
            raise CanonicalError(f"nesting deeper than {MAX_DEPTH}")
        if t is dict:
            last = None
            for key in value:
                if type(key) is not str:
                    raise CanonicalError(f"map keys must be str, not {type(key).__name__}")
                if last is not None and key <= last:
                    raise CanonicalError("map keys are not in canonical order")
                last = key
            value = value.values()
        for item in value:
            ti = type(item)
            if ti is list or ti is dict:
                _check(item, depth + 1)
            elif ti not in _SCALARS:
                raise CanonicalError(f"type {ti.__name__} is not allowed")
    elif t not in _SCALARS:
        raise CanonicalError(f"type {t.__name__} is not allowed")


class _Budget:
    """Counts the values a decoder has built, container by container, and stops it past ``limit``.

    msgpack calls the hooks as each array or map is completed, so at most ``limit`` values plus the
    unfinished containers' items exist when it stops: 16 MiB of empty arrays is refused after
    ``limit`` of them, never turned into 16 million objects.
    """

    __slots__ = ("left",)

    def __init__(self, limit: int) -> None:
        self.left = limit - 1  # the root value

    def array(self, items: list[Any]) -> list[Any]:
        self.left -= len(items)
        if self.left < 0:
            raise CanonicalError("too many values")
        return items

    def map(self, items: dict[Any, Any]) -> dict[Any, Any]:
        self.left -= 2 * len(items)
        if self.left < 0:
            raise CanonicalError("too many values")
        return items


def unpack(data: bytes, max_values: int | None = None) -> Any:
    """Decode one msgpack value strictly (no ext types, no trailing bytes) without the canonical check.

    ``max_values`` bounds the values (items of arrays and maps, keys included, and the root) that
    may be built; more raise CanonicalError("too many values") before they are all built."""
    bounds: dict[str, Any] = {}
    if max_values is not None:
        budget = _Budget(max_values)
        bounds = {
            "list_hook": budget.array,
            "object_hook": budget.map,
            "max_array_len": max_values,
            "max_map_len": max_values,
        }
    try:
        value = msgpack.unpackb(
            data,
            raw=False,
            use_list=True,
            strict_map_key=True,
            ext_hook=_refuse_ext,
            timestamp=0,
            **bounds,
        )
    except CanonicalError:
        raise
    except Exception as e:  # msgpack raises several unrelated types for bad input
        raise CanonicalError(f"not msgpack: {type(e).__name__}: {e}") from e
    return value


def decode(data: bytes, max_values: int | None = None) -> Any:
    """Decode ``data``, refusing anything that is not exactly the canonical encoding of its value
    (and, with ``max_values``, anything holding more values than that; see ``unpack``)."""
    value = unpack(data, max_values)
    _check(value, 0)
    # Keys are known sorted and every value allowed, so msgpack's own output is the canonical form.
    if msgpack.packb(value, use_bin_type=True) != data:
        raise CanonicalError("not in canonical form")
    return value
