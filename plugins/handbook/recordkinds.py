"""The handbook's record kinds: books, editor lists, page revisions, approvals, sources and editions.

Every handbook record is public (scope ``public``): a reader need not belong to the coalition that
edits the book. Bodies are checked here only for what a record says about itself (its own hashes,
its page id); whether its author may write it is the trust fold's (``authority.py``), which every
node computes alike from public records.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from tequio.governance import Action
from tequio.node import Kind
from tequio.schemas import Payload, Record

__all__ = [
    "ACTIONS",
    "APPROVE",
    "EDIT",
    "EDITORS",
    "KINDS",
    "KIND_APPROVAL",
    "KIND_BOOK",
    "KIND_EDITION",
    "KIND_EDITORS",
    "KIND_REVISION",
    "KIND_SOURCE",
    "LANG_RE",
    "MAX_INLINE_TEXT",
    "ApprovalBody",
    "BookBody",
    "EditionBody",
    "EditorsBody",
    "RevisionBody",
    "SourceBody",
    "content_hash",
    "group_commitment",
    "page_id",
]

KIND_BOOK = "handbook.book"
KIND_EDITORS = "handbook.editors"
KIND_REVISION = "handbook.revision"
KIND_APPROVAL = "handbook.approval"
KIND_SOURCE = "handbook.source"
KIND_EDITION = "handbook.edition"

EDIT = "handbook.edit"
APPROVE = "handbook.approve"
EDITORS = "handbook.editors"

#: Text longer than this (UTF-8 bytes) travels as a blob beside the revision (a record's payload is
#: at most 64 KiB, and a revision carries more than its text).
MAX_INLINE_TEXT = 48_000
LANG_RE = re.compile(r"[a-z]{2,3}(-[a-z0-9]{2,8})?")
_STRICT = ConfigDict(strict=True, extra="ignore", defer_build=True)  # built when first used: start-up
_PAGE_DOMAIN = b"tequio/handbook/page/v1\n"
_GROUP_DOMAIN = b"tequio/handbook/group/v1\n"


def page_id(book: bytes, key: str) -> bytes:
    """The stable id of a page (all its translations): derived from the book and the page's key, so a
    re-import finds the same page and anyone can check the id."""
    return hashlib.sha256(_PAGE_DOMAIN + book + key.encode("utf-8")).digest()[:16]


def content_hash(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8")).digest()


def group_commitment(gid: bytes) -> bytes:
    """What a public book says of its editors' coalition: members can check it, outsiders learn nothing."""
    return hashlib.sha256(_GROUP_DOMAIN + gid).digest()


Key32 = bytes


def _keys(v: list[bytes]) -> list[bytes]:
    if any(len(k) != 32 for k in v):
        raise ValueError("keys are 32 bytes")
    if len(set(v)) != len(v):
        raise ValueError("a key is listed twice")
    return v


class EditorSet(BaseModel):
    """Who may do what on a book: edit (publish revisions), approve them, keep the editor list."""

    model_config = _STRICT
    editors: list[bytes] = Field(default_factory=list, max_length=256)
    approvers: list[bytes] = Field(default_factory=list, max_length=256)
    keepers: list[bytes] = Field(min_length=1, max_length=256)
    names: dict[str, str] = Field(default_factory=dict, max_length=768)

    _check = field_validator("editors", "approvers", "keepers")(_keys)


class BookBody(BaseModel):
    model_config = _STRICT
    title: str = Field(min_length=1, max_length=200)
    languages: list[str] = Field(min_length=1, max_length=32)
    source: str
    approvals: int = Field(default=0, ge=0, le=16)
    description: str = Field(default="", max_length=2000)
    group: bytes | None = Field(default=None, min_length=32, max_length=32)
    editors: EditorSet

    @field_validator("languages")
    @classmethod
    def _langs(cls, v: list[str]) -> list[str]:
        if any(not LANG_RE.fullmatch(x) for x in v) or len(set(v)) != len(v):
            raise ValueError("languages are distinct codes such as es, en, pt-br")
        return v


class Revocation(BaseModel):
    model_config = _STRICT
    key: bytes = Field(min_length=32, max_length=32)
    #: The last seq of the key's public feed that keeps its rights (H5).
    upto: int = Field(ge=0)
    rights: list[Literal["edit", "approve", "keep"]] = Field(min_length=1, max_length=3)


class EditorsBody(EditorSet):
    book: bytes = Field(min_length=32, max_length=32)
    prev: bytes = Field(min_length=32, max_length=32)
    revoked: list[Revocation] = Field(default_factory=list, max_length=256)
    #: Governance records of the editors' coalition this list follows (members can check them).
    basis: list[bytes] = Field(default_factory=list, max_length=64)
    group: bytes | None = Field(default=None, min_length=32, max_length=32)
    note: str = Field(default="", max_length=500)


class ImageRef(BaseModel):
    model_config = _STRICT
    name: str = Field(min_length=1, max_length=300)
    hash: bytes = Field(min_length=32, max_length=32)


class LinkRef(BaseModel):
    """An internal link as the importer resolved it: the target as written and the page it reaches."""

    model_config = _STRICT
    target: str = Field(max_length=1000)
    page: bytes | None = Field(default=None, min_length=16, max_length=16)
    anchor: str = Field(default="", max_length=300)


class RevisionBody(BaseModel):
    model_config = _STRICT
    book: bytes = Field(min_length=32, max_length=32)
    page: bytes = Field(min_length=16, max_length=16)
    key: str = Field(min_length=1, max_length=300)
    lang: str
    kind: Literal["page", "checklist", "form", "section"] = "page"
    title: str = Field(max_length=300)
    path: str = Field(default="", max_length=500)
    slug: str = Field(default="", max_length=300)
    aliases: list[str] = Field(default_factory=list, max_length=64)
    summary: str = Field(default="", max_length=4000)
    author: str = Field(default="", max_length=300)
    date: str = Field(default="", max_length=40)
    order: int = Field(default=0, ge=-1_000_000, le=1_000_000)
    section: str = Field(default="", max_length=300)
    meta: dict[str, str] = Field(default_factory=dict, max_length=32)
    text: str = Field(default="", max_length=MAX_INLINE_TEXT)
    text_blob: bytes | None = Field(default=None, min_length=32, max_length=32)
    hash: bytes = Field(min_length=32, max_length=32)
    images: list[ImageRef] = Field(default_factory=list, max_length=256)
    links: list[LinkRef] = Field(default_factory=list, max_length=1000)
    translates: bytes | None = Field(default=None, min_length=32, max_length=32)
    prev: bytes | None = Field(default=None, min_length=32, max_length=32)
    authority: bytes = Field(min_length=32, max_length=32)
    removed: bool = False

    @field_validator("lang")
    @classmethod
    def _lang(cls, v: str) -> str:
        if not LANG_RE.fullmatch(v):
            raise ValueError("a language code such as es, en, pt-br")
        return v


class ApprovalBody(BaseModel):
    model_config = _STRICT
    book: bytes = Field(min_length=32, max_length=32)
    revision: bytes = Field(min_length=32, max_length=32)
    authority: bytes = Field(min_length=32, max_length=32)


class SourceBody(BaseModel):
    """Where a book's pages came from and under which licence (one per imported tree)."""

    model_config = _STRICT
    book: bytes = Field(min_length=32, max_length=32)
    name: str = Field(max_length=300)
    format: str = Field(max_length=20)
    licence: str = Field(max_length=200)
    licence_file: str = Field(default="", max_length=300)
    licence_hash: bytes | None = Field(default=None, min_length=32, max_length=32)
    authority: bytes = Field(min_length=32, max_length=32)


class EditionBody(BaseModel):
    """A printed or exported edition: the revisions it holds, so any node can tell a printed copy's age."""

    model_config = _STRICT
    book: bytes = Field(min_length=32, max_length=32)
    lang: str = Field(max_length=20)
    code: str = Field(max_length=40)
    revisions: list[bytes] = Field(max_length=1500)


def _blob_hashes(payload: Payload) -> set[bytes]:
    return {b.hash for b in payload.blobs}


def check_revision(record: Record, payload: Payload, body: Any) -> str | None:
    b: RevisionBody = body
    if b.page != page_id(b.book, b.key):
        return "a revision's page id is derived from its book and key"
    if b.text_blob is None:
        if content_hash(b.text) != b.hash:
            return "a revision's hash is the SHA-256 of its text"
    elif b.text or b.text_blob != b.hash:
        return "a revision whose text is a blob names that blob as its hash and carries no inline text"
    blobs = _blob_hashes(payload)
    needed = {i.hash for i in b.images} | ({b.text_blob} if b.text_blob else set())
    if not needed <= blobs:
        return "a revision lists its images and text blob among the payload's blobs"
    return None


def check_book(record: Record, payload: Payload, body: Any) -> str | None:
    b: BookBody = body
    if b.source not in b.languages:
        return "a book's source language is one of its languages"
    if record.author not in b.editors.keepers:
        return "a book's founder keeps its first editor list"
    return None


def check_source(record: Record, payload: Payload, body: Any) -> str | None:
    b: SourceBody = body
    if b.licence_hash is not None and b.licence_hash not in _blob_hashes(payload):
        return "a source lists its licence file among the payload's blobs"
    return None


KINDS: tuple[Kind, ...] = (
    Kind(KIND_BOOK, BookBody, "A handbook: title, languages and its first editor list.", check=check_book),
    Kind(KIND_EDITORS, EditorsBody, "A book's public editor list, following the coalition's decisions."),
    Kind(
        KIND_REVISION, RevisionBody, "One signed revision of a handbook page in one language.", check_revision
    ),
    Kind(KIND_APPROVAL, ApprovalBody, "An approver's signature on a revision (N-of-M books)."),
    Kind(KIND_SOURCE, SourceBody, "An imported source tree of a book and its licence.", check=check_source),
    Kind(KIND_EDITION, EditionBody, "An exported or printed edition: its code and the revisions it holds."),
)

_EDITOR_ROLE = {"by": "role", "role": "editor"}
ACTIONS: tuple[Action, ...] = (
    Action(EDIT, _EDITOR_ROLE, "publish handbook revisions (the public editor list follows this rule)"),
    Action(APPROVE, _EDITOR_ROLE, "approve handbook revisions in books that need N approvals"),
    Action(EDITORS, _EDITOR_ROLE, "publish a book's public editor list"),
)
