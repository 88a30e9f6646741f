"""The node: identity, store, ingest pipeline, plugin host, config, CLI and local API.

This module is the public API plugins may use; everything else in ``node`` is internal.
"""

from .errors import PublishError, TequioError
from .hookspecs import hookimpl
from .ingest import AccessPolicy
from .kinds import Kind
from .migrations import MigrationSet
from .node import Node, NodeKey, system_clock
from .records import StoredRecord
from .reports import IngestReport, Rejection

__all__ = [
    "AccessPolicy",
    "IngestReport",
    "Kind",
    "MigrationSet",
    "Node",
    "NodeKey",
    "PublishError",
    "Rejection",
    "StoredRecord",
    "TequioError",
    "hookimpl",
    "system_clock",
]
