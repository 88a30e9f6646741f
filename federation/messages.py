"""The sync messages (docs/protocol.md section 12) and their strict validation.

Everything a peer sends is hostile until checked: each parser checks types, sizes and counts and
raises MessageError naming the field, so a handler never sees a malformed value.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tequio.schemas import is_valid_scope

from .host import SyncHead

__all__ = [
    "ExchangeReply",
    "ExchangeRequest",
    "Limits",
    "MessageError",
    "PeerViolation",
    "SyncReply",
    "SyncRequest",
    "parse_exchange_reply",
    "parse_exchange_request",
    "parse_push",
    "parse_push_reply",
    "parse_sync_reply",
    "parse_sync_request",
]


#: The longest wire record that can pass the ingest checks: fixarray(9), version, author (bin8 32),
#: the longest scope (str8 of 66), seq and ts (uint64), prev and payload hash (bin8 32), sig (bin8 64),
#: and a payload of 65,536 bytes (bin32). Anything longer is not a record, whatever it holds.
MAX_WIRE_RECORD = 1 + 1 + 34 + 68 + 9 + 34 + 9 + 34 + 66 + 5 + 65_536


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
    max_values: int = 300_000  # msgpack values in one message (F3)
    max_record: int = MAX_WIRE_RECORD  # bytes of one wire record in a message (F4)
    round_heads: int = 100_000  # changed feeds one sync round may announce, all pages together (F7)
    round_exchanges: int = 64  # exchanges in one round; the next round goes on from there (F8)
    round_bytes: int = 256 * 1024 * 1024  # record bytes received in one round (F8)


class MessageError(ValueError):
    """A message from a peer does not have the agreed shape."""


class PeerViolation(MessageError):
    """A signed message or reply from a peer broke a protocol rule; ``rule`` is its number (F1-F13).

    Raised on the side that started the exchange (the peer's *reply* was wrong); it costs the peer
    as much as a malformed message, and ``peer list`` shows the sentence.
    """

    def __init__(self, rule: str, detail: str) -> None:
        super().__init__(f"{rule}: {detail}")
        self.rule = rule


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


def _keys(msg: Any, what: str, required: frozenset[str], optional: frozenset[str] = frozenset()) -> None:
    """Rule F4: a message map has exactly the keys of its table; optional ones are omitted, not nil."""
    if type(msg) is not dict:
        raise MessageError(f"{what} is not a map")
    missing = required - msg.keys()
    if missing:
        raise MessageError(f"{what}: {sorted(missing)[0]} is missing")
    unknown = msg.keys() - required - optional
    if unknown:
        raise MessageError(f"{what}: unknown key {sorted(unknown)[0]!r}")
    for name in optional & msg.keys():
        if msg[name] is None:
            raise MessageError(f"{what}: {name} is nil (leave it out instead)")


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
    if any(len(r) > limits.max_record for r in records):
        raise MessageError(f"a record longer than {limits.max_record} bytes, the largest a record can be")
    return records


def _heads(msg: Any, name: str, limit: int) -> list[SyncHead]:
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
        out.append(SyncHead(author, scope, item[2], item[3]))
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
    if not records:
        raise MessageError("records is empty (leave it out instead)")
    if len(records) > limits.small_records or sum(map(len, records)) > limits.small_bytes:
        raise MessageError(
            f"more than {limits.small_records} records or {limits.small_bytes} bytes in a sync"
        )
    return records


_SYNC_REQUEST = frozenset({"digest", "epoch", "since"})
_SYNC_REQUEST_OPT = frozenset({"after", "records"})
_IN_SYNC = frozenset({"in_sync", "epoch", "position"})
_CHANGES = _IN_SYNC | {"full", "changes", "more"}
_REPLY_OPT = frozenset({"accepted"})


def parse_sync_request(msg: Any, limits: Limits) -> SyncRequest:
    _keys(msg, "sync", _SYNC_REQUEST, _SYNC_REQUEST_OPT)
    after = _get(msg, "after", list, optional=True)
    return SyncRequest(
        _get(msg, "digest", bytes, size=32),
        _get(msg, "epoch", bytes, size=16, optional=True),
        _get(msg, "since", int),
        _after(after),
        _small_records(msg, limits),
    )


def _after(after: Any) -> tuple[bytes, str] | None:
    if after is None:
        return None
    if len(after) != 2:
        raise MessageError("after: not [author, scope]")
    return _feed(after, "after")


@dataclass(frozen=True)
class SyncReply:
    in_sync: bool
    epoch: bytes
    position: int
    full: bool
    changes: list[SyncHead]
    more: bool
    records: list[bytes]
    accepted: int


def parse_sync_reply(msg: Any, limits: Limits, after: tuple[bytes, str] | None = None) -> SyncReply:
    """A sync reply; ``after`` is the feed the request paged from (every change must follow it)."""
    in_sync = _get(msg, "in_sync", bool)
    if in_sync:
        _keys(msg, "sync reply", _IN_SYNC, _REPLY_OPT)
    else:
        _keys(msg, "sync reply", _CHANGES, _REPLY_OPT | {"records"})
    epoch = _get(msg, "epoch", bytes, size=16)
    position = _get(msg, "position", int)
    accepted = _get(msg, "accepted", int, optional=True) or 0
    if in_sync:
        return SyncReply(True, epoch, position, False, [], False, [], accepted)
    changes = _heads(msg, "changes", limits.max_changes)
    last = after
    for h in changes:  # F7: sorted, no repeats, and all after the page's start
        feed = (h.author, h.scope)
        if last is not None and feed <= last:
            raise PeerViolation("F7", "changes are not sorted by (author, scope), or repeat the last page")
        last = feed
    more = _get(msg, "more", bool)
    if more and not changes:
        raise PeerViolation("F7", "an empty page of changes that says more follow")
    return SyncReply(
        False,
        epoch,
        position,
        _get(msg, "full", bool),
        changes,
        more,
        _small_records(msg, limits),
        accepted,
    )


@dataclass(frozen=True)
class ExchangeRequest:
    wants: list[tuple[bytes, str, int]]
    records: list[bytes]


def parse_exchange_request(msg: Any, limits: Limits) -> ExchangeRequest:
    _keys(msg, "exchange", frozenset({"wants", "records"}))
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
    _keys(msg, "exchange reply", frozenset({"records", "more", "heads", "accepted", "rejected"}))
    heads = []
    items = _get(msg, "heads", list)
    if len(items) > limits.max_records:  # one per feed the request's records touched
        raise MessageError(f"more than {limits.max_records} entries in heads")
    for item in items:
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
    _keys(msg, "push", frozenset({"records"}))
    records = _records(msg, limits)
    if not records:
        raise MessageError("push: records is empty")
    return records


def parse_push_reply(msg: Any) -> tuple[int, int]:
    _keys(msg, "push reply", frozenset({"accepted", "rejected"}))
    return _get(msg, "accepted", int), _get(msg, "rejected", int)
