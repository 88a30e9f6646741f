"""The payload map inside a record: what kind of fact it is, its body, and what it points at."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Any

from .canonical import CanonicalError, decode, encode

__all__ = ["MAX_BLOBS", "MAX_REFS", "BlobRef", "Payload", "PayloadError", "is_valid_kind", "parse_payload"]

MAX_REFS = 256
MAX_BLOBS = 64
MAX_KIND = 64
_KIND = re.compile(r"[a-z][a-z0-9_-]*(\.[a-z0-9_-]+)+")
_KEYS = frozenset({"kind", "body", "refs", "blobs"})


class PayloadError(ValueError):
    """The plaintext is not a well-formed payload map."""


@functools.lru_cache(maxsize=1024)
def is_valid_kind(kind: str) -> bool:
    """Kinds are ``<plugin>.<name>``: lowercase ASCII segments joined by dots, at most 64 characters."""
    return len(kind) <= MAX_KIND and bool(_KIND.fullmatch(kind))


@dataclass(frozen=True, slots=True)
class BlobRef:
    """A content-addressed file a record refers to."""

    hash: bytes
    size: int
    mime: str

    def to_map(self) -> dict[str, Any]:
        return {"hash": self.hash, "size": self.size, "mime": self.mime}


@dataclass(frozen=True, slots=True)
class Payload:
    """The decoded payload map."""

    kind: str
    body: dict[str, Any]
    refs: tuple[bytes, ...] = ()
    blobs: tuple[BlobRef, ...] = ()

    def to_map(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "body": self.body}
        if self.refs:
            out["refs"] = list(self.refs)
        if self.blobs:
            out["blobs"] = [b.to_map() for b in self.blobs]
        return out

    def encode(self) -> bytes:
        """Canonical bytes of this payload, validated as a parser would see them."""
        data = encode(self.to_map())
        parse_payload(data)
        return data


def parse_payload(data: bytes) -> Payload:
    """Decode and check a plaintext payload map; raise PayloadError saying what is wrong."""
    try:
        value = decode(data)
    except CanonicalError as e:
        raise PayloadError(f"payload: {e}") from e
    return payload_from_map(value)


def payload_from_map(value: Any) -> Payload:
    """Check an already decoded payload map."""
    if type(value) is not dict:
        raise PayloadError("payload is not a map")
    if not value.keys() <= _KEYS:
        unknown = value.keys() - _KEYS
        raise PayloadError(f"payload has unknown keys: {', '.join(sorted(unknown))}")
    kind = value.get("kind")
    if type(kind) is not str or not is_valid_kind(kind):
        raise PayloadError(f"payload kind is not '<plugin>.<name>': {kind!r}")
    body = value.get("body")
    if type(body) is not dict:
        raise PayloadError("payload body is not a map")
    refs = value.get("refs", [])
    if type(refs) is not list or len(refs) > MAX_REFS:
        raise PayloadError(f"payload refs is not a list of at most {MAX_REFS} ids")
    for ref in refs:
        if type(ref) is not bytes or len(ref) != 32:
            raise PayloadError("payload refs must be 32-byte record ids")
    if "refs" in value and not refs:
        raise PayloadError("payload refs, when present, is not empty")
    blobs = value.get("blobs", [])
    if type(blobs) is not list or len(blobs) > MAX_BLOBS:
        raise PayloadError(f"payload blobs is not a list of at most {MAX_BLOBS} maps")
    if "blobs" in value and not blobs:
        raise PayloadError("payload blobs, when present, is not empty")
    parsed = []
    for blob in blobs:
        if type(blob) is not dict or blob.keys() != {"hash", "size", "mime"}:
            raise PayloadError("each blob is a map of exactly hash, size and mime")
        h, size, mime = blob["hash"], blob["size"], blob["mime"]
        if type(h) is not bytes or len(h) != 32:
            raise PayloadError("blob hash must be 32 bytes")
        if type(size) is not int or size < 0:
            raise PayloadError("blob size must be a non-negative integer")
        if type(mime) is not str or not 0 < len(mime) <= 255:
            raise PayloadError("blob mime must be a non-empty string of at most 255 characters")
        parsed.append(BlobRef(h, size, mime))
    return Payload(kind, body, tuple(refs), tuple(parsed))
