"""Body models of the governance record kinds: the shape a record must have to be stored at all.

Shape only: whether a record has authority is the fold's question (it depends on other records),
so a well-shaped record without authority is kept and shown as ignored, the same on every node.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from tequio.schemas import check_display_text

__all__ = [
    "ActBody",
    "BallotBody",
    "CloseBody",
    "GroupBody",
    "KeyBox",
    "KeysBody",
    "MemberEntry",
    "ProposalBody",
]

_STRICT = ConfigDict(strict=True, extra="ignore", defer_build=True)  # built when first used: start-up
Id = bytes


def _one_line(text: str) -> str:
    """Names and titles reach terminals and pages: no control, escape or bidi characters (issue 9 §7).
    Refused here, at ingest (step 13, ``invalid-body``), whichever node wrote them."""
    return check_display_text(text, "text")


def _lines(text: str) -> str:
    """Longer text may hold line breaks and tabs, never escapes or bidi overrides."""
    check_display_text(text.replace("\n", " ").replace("\t", " "), "text")
    return text


#: One line of plain text.
Line = Annotated[str, AfterValidator(_one_line)]
#: Plain text on any number of lines.
Lines = Annotated[str, AfterValidator(_lines)]


class KeyBox(BaseModel):
    model_config = _STRICT
    to: bytes = Field(min_length=32, max_length=32)
    box: bytes = Field(min_length=48, max_length=1 << 16)


class KeysBody(BaseModel):
    """gov.keys: an epoch key sealed to each member, with a public commitment to it."""

    model_config = _STRICT
    boxes: list[KeyBox] = Field(min_length=1, max_length=1000)
    commit: bytes = Field(min_length=32, max_length=32)
    salt: bytes | None = Field(default=None, min_length=16, max_length=16)


class MemberEntry(BaseModel):
    model_config = _STRICT
    key: bytes = Field(min_length=32, max_length=32)
    name: Line = Field(default="", max_length=200)
    roles: list[str] = Field(default_factory=list, max_length=16)


class GroupBody(BaseModel):
    """gov.group: the genesis of a group."""

    model_config = _STRICT
    name: Line = Field(min_length=1, max_length=200)
    description: Lines = Field(default="", max_length=4000)
    salt: bytes = Field(min_length=16, max_length=16)
    members: list[MemberEntry] = Field(min_length=1, max_length=1000)
    rules: dict[str, dict[str, Any]] = Field(default_factory=dict)


class ActBody(BaseModel):
    """gov.act: an action done directly by a member whose role or membership allows it."""

    model_config = _STRICT
    action: str = Field(min_length=3, max_length=64)
    args: dict[str, Any] = Field(default_factory=dict)


class ProposalBody(BaseModel):
    """gov.proposal: a question put to the group, optionally with the action it would take."""

    model_config = _STRICT
    title: Line = Field(min_length=1, max_length=300)
    text: Lines = Field(default="", max_length=20_000)
    action: dict[str, Any] | None = None
    method: str | None = Field(default=None, max_length=32)
    options: list[Annotated[Line, Field(max_length=300)]] = Field(default_factory=list, max_length=100)
    params: dict[str, Any] = Field(default_factory=dict)
    closes_at: int | None = None
    seal_key: bytes | None = Field(default=None, min_length=32, max_length=32)
    seal_nonce: bytes | None = Field(default=None, min_length=16, max_length=16)


class CloseBody(BaseModel):
    """gov.close: the ballots counted and the result, which every node recomputes."""

    model_config = _STRICT
    proposal: bytes = Field(min_length=32, max_length=32)
    ballots: list[Id] = Field(default_factory=list, max_length=100_000)
    result: dict[str, Any]
    passed: bool | None = None
    reveal: bytes | None = Field(default=None, min_length=32, max_length=32)


class BallotBody(BaseModel):
    """vote.ballot: one voter's choice on one proposal (the voting plugin defines the kind)."""

    model_config = ConfigDict(strict=True, extra="ignore")
    proposal: bytes = Field(min_length=32, max_length=32)
    choice: Any = None
    sealed: bytes | None = Field(default=None, max_length=1 << 16)


class WelcomeBody(BaseModel):
    """gov.welcome (direct to a new member): the group's earlier epoch keys, so it can read the history."""

    model_config = _STRICT
    group: str = Field(pattern=r"^g:[0-9a-f]{32}$")
    keys: list[list[bytes]] = Field(max_length=10_000)
