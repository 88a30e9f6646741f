"""The intake record kinds: a call for evidence, a node hosting it, a witness's submission and answer.

All live in the coalition's group scope, so every member node holds them (encrypted at rest and on
the wire). A submission carries no address, no user agent and no exact time: only the hour.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from tequio.node import Kind

__all__ = ["ANSWER", "CALL", "CONSENTS", "HOST", "KINDS", "SUBMISSION"]

CALL, HOST, SUBMISSION, ANSWER = "intake.call", "intake.host", "intake.submission", "intake.answer"
#: May be published / only for lawyers and the court / not outside the coalition.
CONSENTS = ("publish", "court", "coalition")
_STRICT = ConfigDict(strict=True, extra="ignore", defer_build=True)  # built when first used: start-up


class CallBody(BaseModel):
    model_config = _STRICT
    title: str = Field(min_length=1, max_length=300)
    text_es: str = Field(min_length=1, max_length=20_000)
    text_en: str = Field(min_length=1, max_length=20_000)
    until: str = Field(default="", max_length=10)  # YYYY-MM-DD, inclusive; "" for no end
    max_mb: int = Field(ge=1, le=100_000)  # per submission, all files together
    max_files: int = Field(ge=1, le=1000)  # per submission
    max_submissions: int = Field(default=10_000, ge=1, le=10_000_000)  # the whole call, per hosting node


class HostBody(BaseModel):
    model_config = _STRICT
    call: bytes = Field(min_length=32, max_length=32)


class FileFacts(BaseModel):
    model_config = _STRICT
    name: str = Field(max_length=255)
    mime: str = Field(min_length=1, max_length=255)
    size: int = Field(ge=0)


class SubmissionBody(BaseModel):
    model_config = _STRICT
    call: bytes = Field(min_length=32, max_length=32)
    account: str = Field(default="", max_length=50_000)
    when: str = Field(default="", max_length=300)  # as the witness states it
    where: str = Field(default="", max_length=300)
    consent: Literal["publish", "court", "coalition"]
    contact: bool
    codename: bytes = Field(min_length=32, max_length=32)  # Argon2id of the phrase, salted by the call
    files: list[FileFacts] = Field(default_factory=list, max_length=1000)
    hour: str = Field(max_length=20)  # YYYY-MM-DDTHH:00Z: the only arrival time kept
    follows: bytes | None = Field(default=None, min_length=32, max_length=32)  # files added later
    state: Literal["unreviewed"] = "unreviewed"


class AnswerBody(BaseModel):
    model_config = _STRICT
    submission: bytes = Field(min_length=32, max_length=32)
    question: bytes | None = Field(default=None, min_length=32, max_length=32)
    text: str = Field(min_length=1, max_length=20_000)
    hour: str = Field(max_length=20)


KINDS = [
    Kind(
        CALL, CallBody, "A call for evidence opened for a coalition (what to send, who sees it, until when)."
    ),
    Kind(HOST, HostBody, "This node serves a call's public drop page."),
    Kind(SUBMISSION, SubmissionBody, "What a witness sent through a drop: files sealed, account, consent."),
    Kind(ANSWER, AnswerBody, "A witness's answer to a curator's question, given with their codename."),
]
