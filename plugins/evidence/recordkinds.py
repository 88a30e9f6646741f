"""The evidence record kinds, the governance actions they need, and the index that finds an item's chain.

Every evidence record's body carries ``sha256``: the SHA-256 of the item's original file, which ties
every record about an item together across organisations. The index stores it only as a keyed hash
(``index.tag``: a key derived from the node secret), so that a seized node's store does not confirm
which photo it holds. An item's one id, the same on every node, is the id of its intake record: a
shared copy names it in ``origin`` with the intake record itself (redacted) as proof.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlite_utils import Database

from tequio.governance import Action
from tequio.node import Kind, MigrationSet, Node, StoredRecord
from tequio.schemas import PUBLIC, RecordError, parse_wire

__all__ = [
    "CHECKS",
    "CLEAR",
    "KINDS",
    "MIGRATIONS",
    "STATUSES",
    "VERIFY",
    "index_records",
    "item_of",
]

STATUSES = ("unreviewed", "in-progress", "verified", "disputed", "false", "inconclusive")
CHECKS = ("source", "technical", "content")
VERIFY = "evidence.verify"
CLEAR = "evidence.clear"
ITEM, DERIVATION, REVIEW, CUSTODY, ACK, INCIDENT = (
    "evidence.item",
    "evidence.derivation",
    "evidence.review",
    "evidence.custody",
    "evidence.ack",
    "evidence.incident",
)
_STRICT = ConfigDict(strict=True, extra="ignore", defer_build=True)  # built when first used: start-up
Hash = bytes


class FileFacts(BaseModel):
    model_config = _STRICT
    sha256: bytes = Field(min_length=32, max_length=32)
    size: int = Field(ge=0)
    mime: str = Field(min_length=1, max_length=255)


class Provenance(BaseModel):
    model_config = _STRICT
    status: str = Field(max_length=32)
    detail: str = Field(default="", max_length=4000)
    signer: str | None = Field(default=None, max_length=500)


class ItemBody(BaseModel):
    """evidence.item: intake (in the item's own scope) or a shared copy (in a group or to a partner)."""

    model_config = _STRICT
    sha256: Hash = Field(min_length=32, max_length=32)
    title: str = Field(min_length=1, max_length=500)
    description: str = Field(default="", max_length=20_000)
    when: str = Field(default="", max_length=100)
    where: str = Field(default="", max_length=500)
    source: str = Field(default="", max_length=500)
    consent: Literal["yes", "no", "unknown"] = "unknown"
    faces_at_risk: bool = False
    incident: bytes | None = Field(default=None, min_length=16, max_length=16)
    name: str = Field(default="", max_length=500)
    original: FileFacts | None = None  # None in a shared copy that carries only the working copy
    working: FileFacts | None = None
    removed: list[str] = Field(default_factory=list, max_length=64)
    kept: list[str] = Field(default_factory=list, max_length=64)
    not_stripped: list[str] = Field(default_factory=list, max_length=64)
    phash: int | None = Field(default=None, ge=0, lt=1 << 64)
    camera_time: int | None = Field(default=None, ge=0, lt=1 << 53)  # EXIF time of the original, ms
    c2pa: Provenance | None = None
    nonce: bytes | None = Field(default=None, min_length=16, max_length=16)  # intake: derives the item scope
    # shared copy: {"item": intake id, "org": capturing node key, "record": the intake record redacted}
    origin: dict[str, Any] | None = None
    org: str = Field(default="", max_length=200)  # the author's organisation, as it names itself


class DerivationBody(BaseModel):
    """evidence.derivation: the working copy was made from the original, and what was removed."""

    model_config = _STRICT
    sha256: Hash = Field(min_length=32, max_length=32)
    item: bytes = Field(min_length=32, max_length=32)
    to: bytes = Field(min_length=32, max_length=32)
    working: FileFacts | None = None  # a redaction: the new working copy (its blob is the record's)
    removed: list[str] = Field(default_factory=list, max_length=64)
    kept: list[str] = Field(default_factory=list, max_length=64)
    not_stripped: list[str] = Field(default_factory=list, max_length=64)
    tool: str = Field(max_length=200)


class ReviewBody(BaseModel):
    """evidence.review: one organisation's review; its latest one counts."""

    model_config = _STRICT
    sha256: Hash = Field(min_length=32, max_length=32)
    item: bytes = Field(min_length=32, max_length=32)
    status: Literal["unreviewed", "in-progress", "verified", "disputed", "false", "inconclusive"]
    checks: list[Literal["source", "technical", "content"]] = Field(default_factory=list, max_length=3)
    note: str = Field(default="", max_length=20_000)
    org: str = Field(default="", max_length=200)  # the author's organisation, as it names itself


class CustodyBody(BaseModel):
    """evidence.custody: share, transfer, export, fixity check, clearance, redaction, incident link."""

    model_config = _STRICT
    sha256: Hash = Field(min_length=32, max_length=32)
    item: bytes = Field(min_length=32, max_length=32)
    event: Literal["share", "transfer", "export", "fixity", "clear", "redaction", "incident", "extract"]
    detail: dict[str, Any] = Field(default_factory=dict)
    org: str = Field(default="", max_length=200)  # the author's organisation, as it names itself


class AckBody(BaseModel):
    """evidence.ack: the receiving organisation names the hashes it received and checked."""

    model_config = _STRICT
    sha256: Hash = Field(min_length=32, max_length=32)
    item: bytes = Field(min_length=32, max_length=32)  # the copy received
    original: bytes | None = Field(default=None, min_length=32, max_length=32)
    working: bytes | None = Field(default=None, min_length=32, max_length=32)
    sender: bytes = Field(min_length=32, max_length=32)
    org: str = Field(default="", max_length=200)  # the author's organisation, as it names itself


class IncidentBody(BaseModel):
    """evidence.incident: a case that groups items (a demonstration, an arrest, a disappearance)."""

    model_config = _STRICT
    incident: bytes = Field(min_length=16, max_length=16)
    title: str = Field(min_length=1, max_length=500)
    description: str = Field(default="", max_length=20_000)


KINDS = [
    Kind(ITEM, ItemBody, "An evidence item: intake, or a copy shared with a group or partner."),
    Kind(DERIVATION, DerivationBody, "A working copy derived from an original, naming both hashes."),
    Kind(REVIEW, ReviewBody, "A review of an item by one organisation."),
    Kind(CUSTODY, CustodyBody, "A custody event: share, transfer, export, fixity, clearance, redaction."),
    Kind(ACK, AckBody, "The receiving organisation's acknowledgement of the hashes it received."),
    Kind(INCIDENT, IncidentBody, "An incident that groups evidence items."),
]

ACTIONS = [
    Action(VERIFY, {"by": "member", "params": {"orgs": 2}}, "count as a verifying organisation"),
    Action(CLEAR, {"by": "member"}, "clear an item with safety flags for sharing"),
]

MIGRATIONS = MigrationSet("evidence")


@MIGRATIONS
def m001_index(db: Database) -> None:
    db.execute(
        """CREATE TABLE evidence_index (
            record BLOB PRIMARY KEY,
            sha256 BLOB NOT NULL,      -- the item's original hash: its identity everywhere
            kind TEXT NOT NULL,
            scope TEXT NOT NULL,
            author BLOB NOT NULL,
            n INTEGER NOT NULL         -- local arrival position, for ordering
        )"""
    )
    db.execute("CREATE INDEX evidence_by_sha ON evidence_index (sha256, n)")


@MIGRATIONS
def m002_keyed_index(db: Database) -> None:
    """The original's hash only as a keyed tag; the one item id beside it. Rows of m001 wait in
    ``evidence_index_plain`` until the node is next unlocked (``index.convert``), then are erased."""
    db.execute("ALTER TABLE evidence_index RENAME TO evidence_index_plain")
    db.execute("DROP INDEX evidence_by_sha")
    db.execute(
        """CREATE TABLE evidence_index (
            record BLOB PRIMARY KEY,
            tag BLOB NOT NULL,         -- keyed hash of the item's original SHA-256 (index.tag)
            item BLOB NOT NULL,        -- the item's one id: its intake record's id
            kind TEXT NOT NULL,
            scope TEXT NOT NULL,
            author BLOB NOT NULL,
            n INTEGER NOT NULL         -- local arrival position, for ordering
        )"""
    )
    db.execute("CREATE INDEX evidence_by_tag ON evidence_index (tag, n)")
    db.execute("CREATE INDEX evidence_by_item ON evidence_index (item)")
    if db.execute("SELECT 1 FROM evidence_index_plain LIMIT 1").fetchone() is None:
        db.execute("DROP TABLE evidence_index_plain")


_COLUMNS = ("record", "tag", "item", "kind", "scope", "author", "n")


def item_of(rec: StoredRecord, me: bytes) -> bytes:
    """The one id of the item an evidence.item record is about: its own id for this node's intake, the
    intake's for a copy that proves it (``origin.record``, signed by the copy's author), else its own."""
    body = rec.body or {}
    if rec.author == me and body.get("nonce"):
        return rec.id
    origin = body.get("origin")
    if type(origin) is dict and type(origin.get("record")) is bytes:
        try:
            intake = parse_wire(origin["record"])
        except RecordError:
            return rec.id
        if intake.id == origin.get("item") and intake.author == rec.author == origin.get("org"):
            return intake.id
    return rec.id


def index_records(node: Node, db: Database, records: list[StoredRecord]) -> None:
    """Index the batch's readable evidence records by the keyed tag of the item they are about.

    Public evidence records are not indexed: the plugin never writes any, so one is a stranger's.
    """
    from .index import tag

    rows = []
    for r in records:
        body = r.body
        if not (r.kind and r.kind.startswith("evidence.") and body is not None and r.scope != PUBLIC):
            continue
        sha = body.get("sha256")
        if isinstance(sha, bytes) and len(sha) == 32:
            item = item_of(r, node.key) if r.kind == ITEM else b""
            rows.append((r.id, tag(node, sha), item, r.kind, r.scope, r.author, r.n))
    if rows:
        db["evidence_index"].insert_all(  # type: ignore[union-attr]
            [dict(zip(_COLUMNS, row, strict=True)) for row in rows], ignore=True
        )
