"""The node: identity, store, ingest pipeline, plugin host, config, CLI and local API.

This module is the public API plugins may use; everything else in ``node`` is internal, but for the
public modules ``tequio.node.media`` (metadata stripping) and ``tequio.node.cli``'s helpers.
``Federation`` (a node's peers, sync and gossip) loads on first use: it brings in aiohttp.
"""

from typing import TYPE_CHECKING, Any

from .errors import PublishError, TequioError
from .groups import GroupError, close, create_group, group_state, propose
from .hookspecs import hookimpl
from .ingest import AccessPolicy
from .kinds import Kind
from .migrations import MigrationSet
from .names import org_name, peer_name, resolve_key
from .node import Node, NodeKey, system_clock
from .records import StoredRecord
from .reports import IngestReport, Rejection

if TYPE_CHECKING:
    from .federation import Federation

__all__ = [
    "AccessPolicy",
    "Federation",
    "GroupError",
    "IngestReport",
    "Kind",
    "MigrationSet",
    "Node",
    "NodeKey",
    "PublishError",
    "Rejection",
    "StoredRecord",
    "TequioError",
    "close",
    "create_group",
    "group_state",
    "hookimpl",
    "org_name",
    "peer_name",
    "propose",
    "resolve_key",
    "system_clock",
]


def __getattr__(name: str) -> Any:
    if name == "Federation":
        from .federation import Federation

        return Federation
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
