"""The record envelope: making, signing and the stateless checks every node runs on what it receives.

``parse_wire`` is steps 1-7 of the ingest pipeline (docs/protocol.md section 5). They depend on nothing
but the bytes, so any implementation, online or offline, reaches the same verdict with the same reason.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import msgpack
from nacl.bindings import crypto_sign_open
from nacl.signing import SigningKey

from .canonical import CanonicalError, decode, unpack
from .reasons import Reason
from .scopes import is_valid_scope

__all__ = [
    "DOMAIN",
    "MAX_INT",
    "MAX_PAYLOAD",
    "VERSION",
    "Record",
    "RecordError",
    "make_record",
    "parse_wire",
    "signed_bytes",
    "wire_bytes",
]

DOMAIN = b"tequio/record/v1\n"
VERSION = 1
MAX_PAYLOAD = 65_536
#: seq and ts are stored as SQLite INTEGER, a signed 64-bit value.
MAX_INT = 2**63 - 1


class RecordError(ValueError):
    """A record failed a check; ``reason`` is the stable code, ``detail`` says what exactly."""

    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True, slots=True)
class Record:
    """One verified record: its envelope fields, its id and the exact bytes it travelled as."""

    author: bytes
    scope: str
    seq: int
    prev: bytes | None
    ts: int
    payload_hash: bytes
    sig: bytes
    payload: bytes | None
    id: bytes
    wire: bytes

    def redacted(self) -> Record:
        """The same record with its payload dropped; the id and signature still verify."""
        wire = wire_bytes(
            self.author, self.scope, self.seq, self.prev, self.ts, self.payload_hash, self.sig, None
        )
        return Record(
            self.author,
            self.scope,
            self.seq,
            self.prev,
            self.ts,
            self.payload_hash,
            self.sig,
            None,
            self.id,
            wire,
        )


def signed_bytes(
    author: bytes, scope: str, seq: int, prev: bytes | None, ts: int, payload_hash: bytes
) -> bytes:
    """The bytes an author signs and whose SHA-256 is the record id."""
    # The envelope holds no maps, so msgpack's own output is already canonical.
    return DOMAIN + msgpack.packb([VERSION, author, scope, seq, prev, ts, payload_hash], use_bin_type=True)


def wire_bytes(
    author: bytes,
    scope: str,
    seq: int,
    prev: bytes | None,
    ts: int,
    payload_hash: bytes,
    sig: bytes,
    payload: bytes | None,
) -> bytes:
    """The wire form of a record from its fields (no checks: for fields already verified)."""
    return msgpack.packb(
        [VERSION, author, scope, seq, prev, ts, payload_hash, sig, payload], use_bin_type=True
    )


def make_record(key: SigningKey, scope: str, seq: int, prev: bytes | None, ts: int, payload: bytes) -> Record:
    """Sign a new record; the result is re-checked by ``parse_wire`` so a bad argument cannot be signed."""
    author = bytes(key.verify_key)
    payload_hash = hashlib.sha256(payload).digest()
    signed = signed_bytes(author, scope, seq, prev, ts, payload_hash)
    sig = key.sign(signed).signature
    return parse_wire(wire_bytes(author, scope, seq, prev, ts, payload_hash, sig, payload))


def _bin_header(n: int) -> int:
    return 2 if n < 0x100 else 3 if n < 0x10000 else 5


def _malformed(detail: str) -> RecordError:
    return RecordError(Reason.MALFORMED, detail)


def parse_wire(wire: bytes) -> Record:
    """Run the stateless checks (steps 1-7) on one wire record; raise RecordError with the first failure."""
    # 1. malformed: canonical msgpack, an array whose first item is an integer version.
    try:
        obj = unpack(wire)
        if type(obj) is list and len(obj) == 9 and type(obj[0]) is int and obj[0] == VERSION:
            # The shape of a version-1 record: the field checks below refuse any value that is not
            # a scalar of the right type, so only the byte comparison of ``decode`` is needed here.
            if msgpack.packb(obj, use_bin_type=True) != wire:
                raise CanonicalError("not in canonical form")
        else:
            obj = decode(wire)
    except CanonicalError as e:
        raise _malformed(str(e)) from None
    if type(obj) is not list or not obj or type(obj[0]) is not int:
        raise _malformed("not an array starting with an integer version")
    # 2. unsupported-version.
    if obj[0] != VERSION:
        raise RecordError(Reason.UNSUPPORTED_VERSION, f"version {obj[0]}; this node reads version {VERSION}")
    # 1, continued: the shape of a version-1 record.
    if len(obj) != 9:
        raise _malformed(f"a version-1 record is an array of 9, not {len(obj)}")
    _, author, scope, seq, prev, ts, payload_hash, sig, payload = obj
    if type(author) is not bytes or len(author) != 32:
        raise _malformed("author is not 32 bytes")
    if type(scope) is not str:
        raise _malformed("scope is not a string")
    if type(seq) is not int or not 1 <= seq <= MAX_INT:
        raise _malformed("seq is not an integer from 1 to 2^63-1")
    if prev is not None and (type(prev) is not bytes or len(prev) != 32):
        raise _malformed("prev is neither nil nor 32 bytes")
    if type(ts) is not int or not 0 <= ts <= MAX_INT:
        raise _malformed("ts is not an integer from 0 to 2^63-1")
    if type(payload_hash) is not bytes or len(payload_hash) != 32:
        raise _malformed("payload_hash is not 32 bytes")
    if type(sig) is not bytes or len(sig) != 64:
        raise _malformed("sig is not 64 bytes")
    if payload is not None and type(payload) is not bytes:
        raise _malformed("payload is neither nil nor bytes")
    # 3. too-large.
    if payload is not None and len(payload) > MAX_PAYLOAD:
        raise RecordError(Reason.TOO_LARGE, f"payload of {len(payload)} bytes; the limit is {MAX_PAYLOAD}")
    # 4. bad-scope.
    if not is_valid_scope(scope):
        raise RecordError(Reason.BAD_SCOPE, f"{scope[:80]!r} is not public, g:<32 hex> or d:<64 hex>")
    # 5. bad-payload-hash (a redacted record has no payload to check).
    if payload is not None and hashlib.sha256(payload).digest() != payload_hash:
        raise RecordError(Reason.BAD_PAYLOAD_HASH, "SHA-256 of the payload does not match payload_hash")
    # 6. bad-signature. The wire is canonical, so the signed part is its own prefix re-headed as an
    # array of 7: cheaper than encoding the seven fields again.
    tail = 66 + (1 if payload is None else _bin_header(len(payload)) + len(payload))  # sig, payload
    signed = DOMAIN + b"\x97" + wire[1 : len(wire) - tail]
    try:
        crypto_sign_open(sig + signed, author)
    except Exception:  # BadSignatureError, or a key that is not a valid point
        raise RecordError(Reason.BAD_SIGNATURE, "Ed25519 signature does not verify under author") from None
    # 7. bad-chain: prev is nil exactly when seq is 1.
    if (prev is None) != (seq == 1):
        raise RecordError(Reason.BAD_CHAIN, "prev must be nil when seq is 1 and only then")
    return Record(
        author, scope, seq, prev, ts, payload_hash, sig, payload, hashlib.sha256(signed).digest(), wire
    )
