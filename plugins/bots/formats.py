"""The export formats: our generic schema, CNT's CSV, Twitter API v1.1 and v2, X's information-operations
archive, CooRTweet's layout, and a column-mapping file for anything else.

Each reader turns a row into a :class:`RawPost` or says why the row is skipped; the input record
(file, SHA-256, rows, skips, parser version, mapping) is what makes an analysis reproducible.
"""

from __future__ import annotations

import hashlib
import json
import re
import tomllib
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from .posts import PostsBuilder, RawPost
from .readers import HashingFile, InputError, csv_rows, json_records, open_text
from .values import MISSING, is_missing, parse_bool, parse_list, parse_time, snowflake_ms, text_or_none

__all__ = [
    "FORMATS",
    "PARSER_VERSION",
    "InputRecord",
    "Mapping",
    "detect_format",
    "load_file",
    "load_mapping",
]

PARSER_VERSION = "tequio-bots-import/1"
FORMATS = ("tequio", "cnt", "twitter-v1", "twitter-v2", "x-io", "coortweet")
CNT_HEADER = ["message_id", "user_id", "username", "repost_id", "reply_id", "message", "timestamp", "urls"]
_SOURCE_TAG = re.compile(r"<[^>]*>")
_FIELDS = (
    "message_id",
    "user_id",
    "username",
    "timestamp",
    "repost_id",
    "reply_id",
    "reply_to_user",
    "text",
    "urls",
    "hashtags",
    "mentions",
    "client",
    "account_created",
)
# Our generic schema: these column names (first found wins) for each field.
_ALIASES = {
    "message_id": ("message_id", "id", "post_id", "content_id"),
    "user_id": ("user_id", "account_id", "author_id"),
    "username": ("username", "screen_name", "handle", "user_name"),
    "timestamp": ("timestamp", "created_at", "time", "date"),
    "repost_id": ("repost_id", "retweet_id", "share_of", "object_id"),
    "reply_id": ("reply_id", "in_reply_to_id"),
    "reply_to_user": ("reply_to_user", "in_reply_to_user"),
    "text": ("text", "message", "body", "content"),
    "urls": ("urls", "links"),
    "hashtags": ("hashtags", "tags"),
    "mentions": ("mentions",),
    "client": ("client", "source", "app"),
    "account_created": ("account_created", "user_created_at"),
}


@dataclass
class Mapping:
    """A column-mapping file: which column (or dotted JSON path) holds each field."""

    columns: dict[str, str]
    container: str = "csv"  # csv or jsonl
    delimiter: str | None = None
    list_separator: str = " "
    time_format: str | None = None
    missing: frozenset[str] = frozenset()
    name: str = ""
    sha256: str = ""


@dataclass
class InputRecord:
    """What was read from one file, for findings.json's ``input``."""

    file: str
    format: str
    sha256: str = ""
    bytes: int = 0
    rows: int = 0
    posts: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    first_skipped: list[list[Any]] = field(default_factory=list)
    times: Counter[str] = field(default_factory=Counter)
    mapping: dict[str, str] | None = None

    def skip(self, row: int, reason: str) -> None:
        self.skipped[reason] += 1
        if len(self.first_skipped) < 20:
            self.first_skipped.append([row, reason])

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "file": self.file,
            "sha256": self.sha256,
            "bytes": self.bytes,
            "format": self.format,
            "parser": PARSER_VERSION,
            "rows": self.rows,
            "posts": self.posts,
            "skipped": dict(sorted(self.skipped.items())),
            "first_skipped": self.first_skipped,
            "timestamps": dict(sorted(self.times.items())),
        }
        if self.mapping:
            out["mapping"] = self.mapping
        return out


def load_mapping(path: Path) -> Mapping:
    """Read and check a mapping file (TOML, or JSON when it ends in .json)."""
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise InputError(f"cannot read the mapping file {path.name}: {e.strerror}") from None
    if len(raw) > 1 << 20:
        raise InputError("the mapping file is over 1 MiB: it is not a mapping")
    try:
        text = raw.decode("utf-8")
        data = json.loads(text) if path.suffix.lower() == ".json" else tomllib.loads(text)
    except (UnicodeDecodeError, ValueError, tomllib.TOMLDecodeError) as e:
        raise InputError(f"the mapping file {path.name} does not parse: {str(e)[:120]}") from None
    if not isinstance(data, dict):
        raise InputError("the mapping file must be a table of settings")
    allowed = {"format", "delimiter", "list_separator", "time_format", "missing", "columns"}
    if unknown := sorted(set(data) - allowed):
        raise InputError(f"unknown setting(s) in the mapping file: {', '.join(unknown)} (see docs/bots.md)")
    cols = data.get("columns")
    if not isinstance(cols, dict) or not all(isinstance(v, str) and v for v in cols.values()):
        raise InputError('the mapping file needs a [columns] table of field = "column name"')
    if bad := sorted(set(cols) - set(_FIELDS)):
        raise InputError(f"unknown field(s) in [columns]: {', '.join(bad)}; known: {', '.join(_FIELDS)}")
    for need in ("message_id", "user_id"):
        if need not in cols:
            raise InputError(f"the mapping file must say which column holds {need}")
    container = data.get("format", "csv")
    if container not in ("csv", "jsonl"):
        raise InputError("format in the mapping file is csv or jsonl")
    missing = data.get("missing", [])
    if not isinstance(missing, list) or not all(isinstance(m, str) for m in missing):
        raise InputError("missing in the mapping file is a list of strings")
    for key in ("delimiter", "list_separator", "time_format"):
        if key in data and (not isinstance(data[key], str) or not data[key]):
            raise InputError(f"{key} in the mapping file is a non-empty string")
    return Mapping(
        columns=dict(cols),
        container=container,
        delimiter=data.get("delimiter"),
        list_separator=data.get("list_separator", " "),
        time_format=data.get("time_format"),
        missing=frozenset(missing),
        name=path.name,
        sha256=hashlib.sha256(raw).hexdigest(),
    )


def detect_format(path: Path) -> str:
    """Sniff the first bytes: JSON (v1.1 has ``id_str`` and ``user``, v2 ``author_id`` or ``data``)
    or a CSV header (X's archive has ``tweetid``, CooRTweet ``object_id`` and ``content_id``)."""
    raw = HashingFile(path)
    try:
        text = open_text(raw)
        head = text.read(1 << 16)
    except (OSError, EOFError) as e:
        raise InputError(f"cannot read {path.name}: {e}") from None
    finally:
        raw.close()
    s = head.lstrip()
    if s[:1] in ("{", "["):
        if '"id_str"' in head and '"user"' in head:
            return "twitter-v1"
        if '"author_id"' in head or '"data"' in head or '"referenced_tweets"' in head:
            return "twitter-v2"
        return "tequio"
    header = [h.strip().strip('"').lower() for h in re.split(r"[,;\t|]", s.split("\n", 1)[0])]
    if "tweetid" in header and "userid" in header:
        return "x-io"
    if "object_id" in header and "content_id" in header:
        return "coortweet"
    if header == CNT_HEADER:
        return "cnt"
    return "tequio"


def _path(obj: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        if isinstance(obj, dict):
            obj = obj.get(part)
        elif isinstance(obj, list) and part.isdigit() and int(part) < len(obj):
            obj = obj[int(part)]
        else:
            return None
    return obj


def _finish(
    rec: InputRecord, mid: str | None, uid: str | None, ts: Any, fmt: str | None = None, **kw: Any
) -> RawPost | str:
    if mid is None:
        return "no message id"
    if uid is None:
        return "no user id"
    t = parse_time(ts, fmt)
    if t is None:
        t = snowflake_ms(mid)
        if t is None:
            return "no readable timestamp" if is_missing(ts) else f"unreadable timestamp {str(ts)[:30]!r}"
        rec.times["snowflake"] += 1
    else:
        rec.times["field"] += 1
    return RawPost(message_id=mid, user_id=uid, time_ms=t, **kw)


def _named_row(
    rec: InputRecord, get: Callable[[str], Any], time_format: str | None, sep: str
) -> RawPost | str:
    def lst(field_name: str) -> list[str] | None:
        v = get(field_name)
        return None if v is _ABSENT else parse_list(v, sep)

    def txt(field_name: str) -> str | None:
        v = get(field_name)
        return None if v is _ABSENT else text_or_none(v)

    created = get("account_created")
    return _finish(
        rec,
        txt("message_id"),
        txt("user_id"),
        get("timestamp") if get("timestamp") is not _ABSENT else None,
        time_format,
        username=txt("username"),
        repost_id=txt("repost_id"),
        reply_id=txt("reply_id"),
        reply_to_user=txt("reply_to_user"),
        text=txt("text"),
        urls=lst("urls"),
        hashtags=lst("hashtags"),
        mentions=lst("mentions"),
        client=_client(txt("client")),
        account_created_ms=None if created is _ABSENT else parse_time(created),
    )


_ABSENT = object()


def _client(source: str | None) -> str | None:
    if source is None:
        return None
    return _SOURCE_TAG.sub("", source).strip()[:100] or None


def _obj(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _v1(rec: InputRecord, t: dict[str, Any]) -> RawPost | str:
    user = _obj(t.get("user"))
    rt = _obj(t.get("retweeted_status")) or None
    ext = _obj(t.get("extended_tweet"))
    text = t.get("full_text") or ext.get("full_text") or t.get("text")
    ent = _obj((ext or t).get("entities"))
    mid = text_or_none(t.get("id_str")) or text_or_none(t.get("id"))
    return _finish(
        rec,
        mid,
        text_or_none(user.get("id_str")) or text_or_none(user.get("id")),
        None if snowflake_ms(mid) else t.get("created_at"),
        username=text_or_none(user.get("screen_name")),
        repost_id=(text_or_none(rt.get("id_str")) or text_or_none(rt.get("id"))) if rt else None,
        reply_id=text_or_none(t.get("in_reply_to_status_id_str"))
        or text_or_none(t.get("in_reply_to_status_id")),
        reply_to_user=text_or_none(t.get("in_reply_to_screen_name")),
        text=text_or_none(text),
        urls=[
            u.get("expanded_url") or u.get("url") or "" for u in ent.get("urls") or [] if isinstance(u, dict)
        ],
        hashtags=[h.get("text", "") for h in ent.get("hashtags") or [] if isinstance(h, dict)],
        mentions=[m.get("screen_name", "") for m in ent.get("user_mentions") or [] if isinstance(m, dict)],
        client=_client(text_or_none(t.get("source"))),
        account_created_ms=parse_time(user.get("created_at")),
    )


def _v2_tweets(value: Any) -> Iterator[tuple[dict[str, Any], dict[str, dict[str, Any]]]]:
    """Tweets of a v2 API page (``data`` + ``includes.users``), a flattened tweet, or a list of them."""
    if not isinstance(value, dict):
        return
    if "data" in value and isinstance(value["data"], list | dict):
        inc = _obj(value.get("includes"))
        users = {str(u.get("id")): u for u in inc.get("users") or [] if isinstance(u, dict)}
        data = value["data"] if isinstance(value["data"], list) else [value["data"]]
        for t in data:
            if isinstance(t, dict):
                yield t, users
    elif "id" in value:
        author = _obj(value.get("author"))
        yield value, {str(value.get("author_id")): author}


def _v2(rec: InputRecord, t: dict[str, Any], users: dict[str, dict[str, Any]]) -> RawPost | str:
    refs = {
        r.get("type"): text_or_none(r.get("id"))
        for r in t.get("referenced_tweets") or []
        if isinstance(r, dict)
    }
    uid = text_or_none(t.get("author_id"))
    user = users.get(uid or "", {})
    ent = _obj(t.get("entities"))
    mid = text_or_none(t.get("id"))
    return _finish(
        rec,
        mid,
        uid,
        None if snowflake_ms(mid) else t.get("created_at"),
        username=text_or_none(user.get("username")),
        repost_id=refs.get("retweeted"),
        reply_id=refs.get("replied_to"),
        reply_to_user=text_or_none(t.get("in_reply_to_user_id")),
        text=text_or_none(t.get("text")),
        urls=[
            u.get("unwound_url") or u.get("expanded_url") or u.get("url") or ""
            for u in ent.get("urls") or []
            if isinstance(u, dict)
        ],
        hashtags=[h.get("tag", "") for h in ent.get("hashtags") or [] if isinstance(h, dict)],
        mentions=[m.get("username", "") for m in ent.get("mentions") or [] if isinstance(m, dict)],
        client=_client(text_or_none(t.get("source"))),
        account_created_ms=parse_time(user.get("created_at")),
    )


def _xio(rec: InputRecord, row: dict[str, str]) -> RawPost | str:
    g = row.get
    is_rt = parse_bool(g("is_retweet"))
    return _finish(
        rec,
        text_or_none(g("tweetid")),
        text_or_none(g("userid")),
        g("tweet_time"),
        username=text_or_none(g("user_screen_name")),
        repost_id=text_or_none(g("retweet_tweetid")) if is_rt is not False else None,
        reply_id=text_or_none(g("in_reply_to_tweetid")),
        reply_to_user=text_or_none(g("in_reply_to_userid")),
        text=text_or_none(g("tweet_text")),
        urls=parse_list(g("urls"), ","),
        hashtags=parse_list(g("hashtags"), ","),
        mentions=parse_list(g("user_mentions"), ","),
        client=_client(text_or_none(g("tweet_client_name"))),
        account_created_ms=parse_time(g("account_creation_date")),
    )


def _cell(v: str) -> str | None:
    v = v.strip()
    return None if v in MISSING else v


def _cnt(rec: InputRecord, row: list[str]) -> RawPost | str:
    if len(row) < len(CNT_HEADER):
        return f"{len(row)} columns, CNT's layout has {len(CNT_HEADER)}"
    mid, uid, name, repost, reply, message = row[:6]
    # CNT reads the last column as the URLs and the seventh as the time, whatever follows
    urls = _cell(row[-1])
    return _finish(
        rec,
        _cell(mid),
        _cell(uid),
        row[6],
        username=_cell(name),
        repost_id=_cell(repost),
        reply_id=_cell(reply),
        text=_cell(message),
        urls=urls.split(" ") if urls else [],
    )


def _coortweet(rec: InputRecord, row: dict[str, str]) -> RawPost | str:
    g = row.get
    return _finish(
        rec,
        text_or_none(g("content_id")),
        text_or_none(g("account_id") or g("id_user")),
        g("timestamp_share"),
        repost_id=text_or_none(g("object_id")),
        urls=[],
        hashtags=[],
        mentions=[],
    )


def load_file(
    path: Path,
    fmt: str,
    builder: PostsBuilder,
    mapping: Mapping | None = None,
    progress: Callable[[int], None] | None = None,
) -> InputRecord:
    """Read one export into ``builder``; returns its input record (hash, rows, skips)."""
    try:
        size = path.stat().st_size
        raw = HashingFile(path, progress)
    except OSError as e:
        raise InputError(f"cannot read {path.name}: {e.strerror}") from None
    if fmt == "auto":
        fmt = "mapping" if mapping else detect_format(path)
    rec = InputRecord(file=path.name, format=fmt, bytes=size)
    if mapping is not None:
        rec.mapping = {"file": mapping.name, "sha256": mapping.sha256}
    try:
        text = open_text(raw)
        for row, post in _posts(path, fmt, text, rec, size, mapping):
            rec.rows += 1
            if isinstance(post, str):
                rec.skip(row, post)
                continue
            why = builder.add(post)
            if why is None:
                rec.posts += 1
            else:
                rec.skip(row, why)
        rec.sha256 = raw.finish()
    except (OSError, EOFError) as e:  # gzip truncated or corrupt
        raise InputError(f"{path.name}: {e}") from None
    finally:
        raw.close()
    return rec


def _posts(
    path: Path, fmt: str, text: Any, rec: InputRecord, size: int, mapping: Mapping | None
) -> Iterator[tuple[int, RawPost | str]]:
    if fmt == "mapping" or mapping is not None:
        if mapping is None:
            raise InputError("--format mapping needs --map FILE")
        yield from _mapped(text, rec, size, mapping)
        return
    if fmt in ("twitter-v1", "twitter-v2") or (
        fmt == "tequio" and path.suffix.lower() in (".json", ".jsonl")
    ):
        for line, value in json_records(text, size, rec.skip):
            if fmt == "twitter-v1":
                yield line, _v1(rec, value) if isinstance(value, dict) else "not a tweet object"
            elif fmt == "twitter-v2":
                found = False
                for tweet, users in _v2_tweets(value):
                    found = True
                    yield line, _v2(rec, tweet, users)
                if not found:
                    yield line, "not a v2 tweet or page"
            else:
                if not isinstance(value, dict):
                    yield line, "not a JSON object"
                    continue
                keys = {f: next((a for a in _ALIASES[f] if a in value), None) for f in _FIELDS}
                yield line, _named_row(rec, partial(_json_get, value, keys), None, " ")
        return
    header, rows = csv_rows(text, None, rec.skip)
    if fmt == "cnt":
        for i, row in enumerate(rows, 2):
            yield i, _cnt(rec, row)
        return
    index = {h.lower(): i for i, h in reversed(list(enumerate(header)))}
    if fmt == "x-io":
        need = {"tweetid", "userid", "tweet_time"}
        if not need <= set(index):
            raise InputError(f"not X's archive layout: missing {', '.join(sorted(need - set(index)))}")
    elif fmt == "coortweet":
        if not {"object_id", "content_id", "timestamp_share"} <= set(index) or not (
            "account_id" in index or "id_user" in index
        ):
            raise InputError("not CooRTweet's layout: object_id, account_id, content_id, timestamp_share")
    else:
        cols: dict[str, int | None] = {
            f: next((index[a] for a in _ALIASES[f] if a in index), None) for f in _FIELDS
        }
        if cols["message_id"] is None or cols["user_id"] is None:
            raise InputError(
                f"{path.name}: no message_id and user_id columns; give --format or a --map file "
                f"(docs/bots.md)"
            )
    for i, row in enumerate(rows, 2):
        if fmt in ("x-io", "coortweet"):
            d = {h: row[j] for h, j in index.items() if j < len(row)}
            yield i, _xio(rec, d) if fmt == "x-io" else _coortweet(rec, d)
        else:
            yield i, _named_row(rec, partial(_row_get, row, cols, None), None, " ")


def _mapped(text: Any, rec: InputRecord, size: int, m: Mapping) -> Iterator[tuple[int, RawPost | str]]:
    if m.container == "jsonl":
        for line, value in json_records(text, size, rec.skip):
            if not isinstance(value, dict):
                yield line, "not a JSON object"
                continue
            yield line, _named_row(rec, partial(_path_get, value, m), m.time_format, m.list_separator)
        return
    header, rows = csv_rows(text, m.delimiter, rec.skip)
    index = {h: i for i, h in reversed(list(enumerate(header)))}
    if missing := sorted(c for c in m.columns.values() if c not in index):
        raise InputError(f"columns named in the mapping file are not in the header: {', '.join(missing[:5])}")
    where: dict[str, int | None] = {f: index[c] for f, c in m.columns.items()}
    for i, row in enumerate(rows, 2):
        yield i, _named_row(rec, partial(_row_get, row, where, m.missing), m.time_format, m.list_separator)


def _json_get(value: dict[str, Any], keys: dict[str, str | None], f: str) -> Any:
    key = keys.get(f)
    return value.get(key) if key else _ABSENT


def _row_get(row: list[str], cols: dict[str, int | None], missing: frozenset[str] | None, f: str) -> Any:
    j = cols.get(f)
    if j is None:
        return _ABSENT
    if j >= len(row):
        return None
    v = row[j]
    return None if missing and v.strip() in missing else v


def _path_get(value: dict[str, Any], m: Mapping, f: str) -> Any:
    if f not in m.columns:
        return _ABSENT
    v = _path(value, m.columns[f])
    return None if isinstance(v, str) and v.strip() in m.missing else v
