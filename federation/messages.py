"""The sync messages (docs/protocol.md section 12) and their strict validation.

Everything a peer sends is hostile until checked: each parser checks types, sizes and counts and
raises MessageError naming the field, so a handler never sees a malformed value.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tequio.schemas import is_valid_scope

from .host import FeedHead

__all__ = [
    "ExchangeReply",
    "ExchangeRequest",
    "Limits",
    "MessageError",
    "SyncReply",
    "SyncRequest",
    "parse_exchange_reply",
    "parse_exchange_request",
    "parse_push",
    "parse_push_reply",
    "parse_sync_reply",
    "parse_sync_request",
]


@dataclass(frozen=True)
class Limits:
    """Bounds on what one message may carry; a peer exceeding them is refused, and penalised."""

    max_body: int = 16 * 1024 * 1024  # one request or response body, bytes
    max_records: int = 2000  # records in one message
    batch_bytes: int = 4 * 1024 * 1024  # record bytes a responder puts in one reply
    max_wants: int = 5000  # feeds asked for in one exchange
    max_changes: int = 50_000  # feed heads in one sync reply (more are paged)
    small_records: int = 100  # a delta this small travels inside the sync request or reply
    small_bytes: int = 256 * 1024


class MessageError(ValueError):
    """A message from a peer does not have the agreed shape."""


def _get(msg: Any, name: str, typ: type, *, size: int | None = None, optional: bool = False) -> Any:
    if type(msg) is not dict:
        raise MessageError("message is not a map")
    if name not in msg:
        if optional:
            return None
        raise MessageError(f"{name} is missing")
    value: Any = msg[name]
    if value is None and optional:
        return None
    right_type = type(value) is typ  # a bool, so that the type checker does not narrow ``value``
    if not right_type:
        raise MessageError(f"{name} is not {typ.__name__}")
    if size is not None and len(value) != size:
        raise MessageError(f"{name} is not {size} bytes")
    if typ is int and value < 0:
        raise MessageError(f"{name} is negative")
    return value


def _feed(item: Any, what: str) -> tuple[bytes, str]:
    if not (
        type(item) is list
        and len(item) >= 2
        and type(item[0]) is bytes
        and len(item[0]) == 32
        and type(item[1]) is str
        and is_valid_scope(item[1])
    ):
        raise MessageError(f"{what}: not [author, scope, ...]")
    return item[0], item[1]


def _records(msg: Any, limits: Limits) -> list[bytes]:
    records = _get(msg, "records", list)
    if len(records) > limits.max_records:
        raise MessageError(f"more than {limits.max_records} records in one message")
    if any(type(r) is not bytes for r in records):
        raise MessageError("records holds something that is not bytes")
    return records


def _heads(msg: Any, name: str, limit: int) -> list[FeedHead]:
    items = _get(msg, name, list)
    if len(items) > limit:
        raise MessageError(f"more than {limit} entries in {name}")
    out = []
    for item in items:
        author, scope = _feed(item, name)
        if (
            len(item) != 4
            or type(item[2]) is not int
            or item[2] < 1
            or type(item[3]) is not bytes
            or len(item[3]) != 32
        ):
            raise MessageError(f"{name}: not [author, scope, seq, head]")
        out.append(FeedHead(author, scope, item[2], item[3]))
    return out


@dataclass(frozen=True)
class SyncRequest:
    digest: bytes
    epoch: bytes | None
    since: int
    after: tuple[bytes, str] | None
    records: list[bytes]


def _small_records(msg: Any, limits: Limits) -> list[bytes]:
    if type(msg) is not dict or "records" not in msg:
        return []
    records = _records(msg, limits)
    if len(records) > limits.small_records or sum(map(len, records)) > limits.small_bytes:
        raise MessageError(
            f"more than {limits.small_records} records or {limits.small_bytes} bytes in a sync"
        )
    return records


def parse_sync_request(msg: Any, limits: Limits) -> SyncRequest:
    after = _get(msg, "after", list, optional=True)
    return SyncRequest(
        _get(msg, "digest", bytes, size=32),
        _get(msg, "epoch", bytes, size=16, optional=True),
        _get(msg, "since", int),
        _feed(after, "after") if after is not None else None,
        _small_records(msg, limits),
    )


@dataclass(frozen=True)
class SyncReply:
    in_sync: bool
    epoch: bytes
    position: int
    full: bool
    changes: list[FeedHead]
    more: bool
    records: list[bytes]
    accepted: int


def parse_sync_reply(msg: Any, limits: Limits) -> SyncReply:
    in_sync = _get(msg, "in_sync", bool)
    epoch = _get(msg, "epoch", bytes, size=16)
    position = _get(msg, "position", int)
    accepted = _get(msg, "accepted", int, optional=True) or 0
    if in_sync:
        return SyncReply(True, epoch, position, False, [], False, [], accepted)
    return SyncReply(
        False,
        epoch,
        position,
        _get(msg, "full", bool),
        _heads(msg, "changes", limits.max_changes),
        _get(msg, "more", bool),
        _small_records(msg, limits),
        accepted,
    )


@dataclass(frozen=True)
class ExchangeRequest:
    wants: list[tuple[bytes, str, int]]
    records: list[bytes]


def parse_exchange_request(msg: Any, limits: Limits) -> ExchangeRequest:
    wants_raw = _get(msg, "wants", list)
    if len(wants_raw) > limits.max_wants:
        raise MessageError(f"more than {limits.max_wants} wants")
    wants = []
    for item in wants_raw:
        author, scope = _feed(item, "wants")
        if len(item) != 3 or type(item[2]) is not int or item[2] < 1:
            raise MessageError("wants: not [author, scope, from_seq]")
        wants.append((author, scope, item[2]))
    return ExchangeRequest(wants, _records(msg, limits))


@dataclass(frozen=True)
class ExchangeReply:
    records: list[bytes]
    more: bool
    heads: list[tuple[bytes, str, int]]
    accepted: int
    rejected: int


def parse_exchange_reply(msg: Any, limits: Limits) -> ExchangeReply:
    heads = []
    for item in _get(msg, "heads", list)[: limits.max_wants + limits.max_records]:
        author, scope = _feed(item, "heads")
        if len(item) != 3 or type(item[2]) is not int or item[2] < 0:
            raise MessageError("heads: not [author, scope, seq]")
        heads.append((author, scope, item[2]))
    return ExchangeReply(
        _records(msg, limits),
        _get(msg, "more", bool),
        heads,
        _get(msg, "accepted", int),
        _get(msg, "rejected", int),
    )


def parse_push(msg: Any, limits: Limits) -> list[bytes]:
    return _records(msg, limits)


def parse_push_reply(msg: Any) -> tuple[int, int]:
    return _get(msg, "accepted", int), _get(msg, "rejected", int)
