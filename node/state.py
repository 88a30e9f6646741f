"""Per-node plugin state: typed keys into ``node.state``, so that many nodes can share one process."""

from __future__ import annotations

from typing import Generic, TypeVar

__all__ = ["NodeKey", "NodeState"]

T = TypeVar("T")


class NodeKey(Generic[T]):
    """A typed key for per-node plugin state in ``node.state`` (no module globals: many nodes per process)."""

    def __init__(self, name: str, t: type[T]) -> None:
        self.name = name
        self.t = t

    def __repr__(self) -> str:
        return f"NodeKey({self.name!r})"


class NodeState(dict):
    """``node.state``: a dict whose typed keys give typed values."""

    def __getitem__(self, key: NodeKey[T]) -> T:
        return super().__getitem__(key)
