"""The built-in ``core`` plugin: the first real record kind, ``core.note``."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from tequio.node import Kind, hookimpl

__all__ = ["MAX_NOTE", "Note"]

MAX_NOTE = 10_000


class Note(BaseModel):
    """A short signed text: an announcement, a field note, a statement."""

    # strict: a number is not text. Unknown keys are ignored so that a later version may add some
    # without older nodes rejecting (and so stalling) the feeds that use them.
    model_config = ConfigDict(strict=True, extra="ignore")

    text: str = Field(min_length=1, max_length=MAX_NOTE)


@hookimpl
def register_kinds() -> list[Kind]:
    return [Kind("core.note", Note, "A signed text note of at most 10,000 characters.")]
