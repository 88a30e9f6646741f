"""Scopes name who may read a feed: everyone, one group, or the two ends of a direct conversation."""

from __future__ import annotations

import re

__all__ = ["PUBLIC", "direct_scope", "group_scope", "is_valid_scope", "scope_target"]

PUBLIC = "public"
_GROUP = re.compile(r"g:[0-9a-f]{32}")
_DIRECT = re.compile(r"d:[0-9a-f]{64}")


def is_valid_scope(scope: str) -> bool:
    """True for ``public``, ``g:`` + 32 lowercase hex, or ``d:`` + 64 lowercase hex, and nothing else."""
    return scope == PUBLIC or bool(_GROUP.fullmatch(scope) or _DIRECT.fullmatch(scope))


def group_scope(gid: bytes) -> str:
    """The scope of the group with 16-byte id ``gid``."""
    if len(gid) != 16:
        raise ValueError("a group id is 16 bytes")
    return "g:" + gid.hex()


def direct_scope(key: bytes) -> str:
    """The scope of direct records addressed to the 32-byte node key ``key``."""
    if len(key) != 32:
        raise ValueError("a node key is 32 bytes")
    return "d:" + key.hex()


def scope_target(scope: str) -> tuple[str, bytes | None]:
    """Split a valid scope into its form (``public``, ``group``, ``direct``) and its id bytes."""
    if scope == PUBLIC:
        return "public", None
    if not is_valid_scope(scope):
        raise ValueError(f"not a scope: {scope!r}")
    return ("group" if scope[0] == "g" else "direct"), bytes.fromhex(scope[2:])
