"""The node: identity, store, ingest pipeline, plugin host, config, CLI and local API.

This module is the public API plugins may use; everything else in ``node`` is internal, but for the
public modules ``tequio.node.media`` (metadata stripping) and ``tequio.node.cli``'s helpers.
Each name loads on first use (PEP 562), so that ``tequio --help`` and a plugin's ``import`` stay
quick: ``Federation`` brings in aiohttp, ``Node`` the store and the governance core.
"""

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .errors import PublishError, TequioError
    from .federation import Federation
    from .groups import (
        GroupError,
        close,
        close_window_text,
        create_group,
        earliest_close,
        find_proposal,
        group_state,
        propose,
    )
    from .hookspecs import hookimpl
    from .ingest import AccessPolicy
    from .kinds import Kind
    from .migrations import MigrationSet
    from .names import org_name, peer_name, resolve_key
    from .node import Node, system_clock
    from .recordview import StoredRecord
    from .reports import IngestReport, Rejection
    from .state import NodeKey

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
    "close_window_text",
    "create_group",
    "earliest_close",
    "find_proposal",
    "group_state",
    "hookimpl",
    "org_name",
    "peer_name",
    "propose",
    "resolve_key",
    "system_clock",
]


#: Where each public name lives.
_WHERE = {
    "PublishError": "errors",
    "TequioError": "errors",
    "GroupError": "groups",
    "close": "groups",
    "close_window_text": "groups",
    "earliest_close": "groups",
    "find_proposal": "groups",
    "create_group": "groups",
    "group_state": "groups",
    "propose": "groups",
    "hookimpl": "hookspecs",
    "AccessPolicy": "ingest",
    "Kind": "kinds",
    "MigrationSet": "migrations",
    "org_name": "names",
    "peer_name": "names",
    "resolve_key": "names",
    "Node": "node",
    "NodeKey": "state",
    "system_clock": "node",
    "StoredRecord": "recordview",
    "IngestReport": "reports",
    "Rejection": "reports",
    "Federation": "federation",
}


def __getattr__(name: str) -> Any:
    where = _WHERE.get(name)
    if where is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{where}"), name)
    globals()[name] = value
    return value
