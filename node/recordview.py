"""A record as the node holds it: the verified envelope plus its readable payload, if any."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tequio.schemas import Payload, Record, to_json

__all__ = ["StoredRecord"]


@dataclass(frozen=True, slots=True)
class StoredRecord:
    """``payload`` is None when the record was redacted or its scope cannot be read here."""

    record: Record
    payload: Payload | None
    received: int
    n: int = 0

    @property
    def id(self) -> bytes:
        return self.record.id

    @property
    def author(self) -> bytes:
        return self.record.author

    @property
    def scope(self) -> str:
        return self.record.scope

    @property
    def seq(self) -> int:
        return self.record.seq

    @property
    def kind(self) -> str | None:
        return self.payload.kind if self.payload else None

    @property
    def body(self) -> dict[str, Any] | None:
        return self.payload.body if self.payload else None

    @property
    def redacted(self) -> bool:
        return self.record.payload is None

    def to_json(self) -> dict[str, Any]:
        """The JSON view used by ``records list --json`` and the local API (bytes as ``{"$bin": hex}``)."""
        r = self.record
        p = self.payload
        return {
            "id": r.id.hex(),
            "author": r.author.hex(),
            "scope": r.scope,
            "seq": r.seq,
            "prev": r.prev.hex() if r.prev else None,
            "ts": r.ts,
            "payload_hash": r.payload_hash.hex(),
            "sig": r.sig.hex(),
            "kind": p.kind if p else None,
            "body": to_json(p.body) if p else None,
            "refs": [x.hex() for x in p.refs] if p else [],
            "blobs": [{"hash": b.hash.hex(), "size": b.size, "mime": b.mime} for b in p.blobs] if p else [],
            "redacted": r.payload is None,
            "received": self.received,
        }
