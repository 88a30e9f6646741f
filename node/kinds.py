"""Record kinds: the name, the pydantic model of the body, and any check beyond the model."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

from tequio.schemas import Payload, Record, is_valid_kind

__all__ = ["Kind", "body_error"]


@dataclass(frozen=True)
class Kind:
    """A record kind a plugin defines.

    ``check(record, payload, body)`` sees only the record, its payload (refs, blobs) and the validated
    body, never the store: whether a record is accepted must not depend on what else a node happens
    to hold, or nodes would disagree. It returns None to accept, or a one-line reason to reject the
    record as ``invalid-body``.
    """

    name: str
    model: type[BaseModel]
    description: str = ""
    check: Callable[[Record, Payload, Any], str | None] | None = None

    def __post_init__(self) -> None:
        if not is_valid_kind(self.name):
            raise ValueError(f"kind {self.name!r} is not '<plugin>.<name>' in lowercase ASCII")


def body_error(kind: Kind, record: Record | None, payload: Payload) -> str | None:
    """None if the payload's body is valid for ``kind`` (model, then check), else a short explanation.

    Without a record (before signing) only the model is applied.
    """
    try:
        model = kind.model.model_validate(payload.body)
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        more = f" (and {e.error_count() - 1} more)" if e.error_count() > 1 else ""
        return f"{kind.name}: {where}: {first['msg']}{more}"
    if kind.check is not None and record is not None:
        return kind.check(record, payload, model)
    return None
