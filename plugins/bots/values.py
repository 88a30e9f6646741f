"""Cells of exported posts: what counts as missing, timestamps in the common formats, snowflake ids.

Everything here is a pure function of its input, so that two organisations reading the same export
get the same posts.
"""

from __future__ import annotations

import ast
import datetime as dt
import email.utils
import json
import math
import re
from typing import Any

__all__ = [
    "MISSING",
    "TWITTER_EPOCH_MS",
    "is_missing",
    "parse_bool",
    "parse_list",
    "parse_time",
    "snowflake_ms",
    "text_or_none",
]

#: Cell values that mean "no value" (compared after stripping spaces). Empty cells, ``NA`` and
#: ``None`` are the ones the issue names; the others are what R, pandas and SQL exports write.
MISSING = frozenset({"", "NA", "N/A", "NaN", "nan", "None", "null", "NULL", "<NA>"})

#: Twitter's snowflake epoch (2010-11-04T01:42:54.657Z): id >> 22 is milliseconds since then.
TWITTER_EPOCH_MS = 1_288_834_974_657
_MAX_ID_DIGITS = 20  # a 64-bit id; anything longer is not a snowflake
_EARLIEST_MS = 0  # 1970: an export may hold relative or synthetic clocks
_LATEST_MS = 32_503_680_000_000  # year 3000: beyond that a number is not a plausible time
_TWITTER_FMT = "%a %b %d %H:%M:%S %z %Y"
_MAX_LIST = 10_000  # items in one cell: a hostile cell must not become a million objects


def is_missing(value: Any) -> bool:
    """None, NaN, an empty or NA-like string: never a value (a shared empty URL links no one)."""
    if value is None:
        return True
    if isinstance(value, float):
        return math.isnan(value)
    if isinstance(value, str):
        return value.strip() in MISSING
    if isinstance(value, list | tuple | dict):
        return len(value) == 0
    return False


def text_or_none(value: Any, limit: int = 100_000) -> str | None:
    """A cell as text, or None when missing; numbers (JSON ids) become their decimal text."""
    if is_missing(value):
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if not isinstance(value, str):
        return None
    value = value.strip()
    return value[:limit]


def parse_bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    t = text_or_none(value)
    if t is None:
        return None
    t = t.lower()
    if t in ("true", "t", "yes", "1"):
        return True
    if t in ("false", "f", "no", "0"):
        return False
    return None


def parse_list(value: Any, separator: str | None = " ") -> list[str]:
    """A list cell: a JSON or Python-literal list (``['a', 'b']``, X's archive), or separated text."""
    if is_missing(value):
        return []
    if isinstance(value, list | tuple):
        items: list[Any] = list(value)[:_MAX_LIST]
    else:
        t = text_or_none(value)
        if t is None:
            return []
        items = []
        if t.startswith("[") and t.endswith("]"):
            parsed: Any = None
            try:
                parsed = json.loads(t)
            except ValueError:
                try:
                    parsed = ast.literal_eval(t) if len(t) <= 1_000_000 else None
                except (ValueError, SyntaxError, MemoryError, RecursionError):
                    parsed = None
            if isinstance(parsed, list):
                items = parsed[:_MAX_LIST]
            else:  # [a, b] without quotes
                items = [p.strip().strip("'\"") for p in t[1:-1].split(",")][:_MAX_LIST]
        else:
            items = (t.split(separator) if separator else t.split())[:_MAX_LIST]
    out = []
    for item in items:
        s = text_or_none(item.get("text") or item.get("tag") if isinstance(item, dict) else item)
        if s is not None:
            out.append(s)
    return out


def snowflake_ms(message_id: str | None) -> int | None:
    """The creation time of a Twitter/X (or Discord-like) snowflake id, when the id is one."""
    if not message_id or not message_id.isdigit() or len(message_id) > _MAX_ID_DIGITS:
        return None
    n = int(message_id)
    if n >= 1 << 63 or n < 1 << 32:
        return None  # pre-2010 sequential ids (and small numbers) carry no time
    ms = (n >> 22) + TWITTER_EPOCH_MS
    return ms if ms < _LATEST_MS else None


def _number_ms(x: float) -> int | None:
    if not math.isfinite(x) or x < 0:
        return None
    if x >= 1e14:  # microseconds
        x /= 1000.0
    elif x < 1e11:  # seconds (until the year 5138)
        x *= 1000.0
    ms = round(x)
    return ms if _EARLIEST_MS <= ms < _LATEST_MS else None


def _datetime_ms(d: dt.datetime) -> int | None:
    if d.tzinfo is None:
        d = d.replace(tzinfo=dt.UTC)  # exports without a zone are read as UTC, and the report says so
    try:
        ms = round(d.timestamp() * 1000)
    except (OverflowError, OSError, ValueError):
        return None
    return ms if _EARLIEST_MS <= ms < _LATEST_MS else None


_NUMERIC = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


def parse_time(value: Any, fmt: str | None = None) -> int | None:
    """Milliseconds since the Unix epoch from epoch seconds/ms/µs, ISO 8601, Twitter's created_at,
    RFC 2822, or a given strptime format; None when it is missing or not a time."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return _number_ms(float(value))
    if isinstance(value, str) and value[:1].isdigit() and fmt is None:
        try:  # the common case: epoch seconds (CNT, CooRTweet)
            return _number_ms(float(value))
        except ValueError:
            pass
    t = text_or_none(value, limit=100)
    if t is None:
        return None
    if fmt:
        try:
            return _datetime_ms(dt.datetime.strptime(t, fmt))
        except ValueError:
            return None
    if _NUMERIC.fullmatch(t):
        return _number_ms(float(t))
    iso = t[:-1] + "+00:00" if t.endswith(("Z", "z")) else t
    try:
        return _datetime_ms(dt.datetime.fromisoformat(iso))
    except ValueError:
        pass
    try:
        return _datetime_ms(dt.datetime.strptime(t, _TWITTER_FMT))
    except ValueError:
        pass
    try:
        return _datetime_ms(email.utils.parsedate_to_datetime(t))
    except (TypeError, ValueError, IndexError):
        return None
