"""The plugin hooks of Tequio: the whole contract between the node and its plugins.

Families: ``register_*`` returns a list to merge, ``on_*`` reacts to an event, ``prepare_*`` changes
its argument in place. Hooks are plain functions; ``on_startup``, ``on_shutdown`` and
``prepare_web_context`` may return an awaitable, which the node awaits. Every hook is documented
with a tested example in docs/plugins.md.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Awaitable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    import click
    from aiohttp import web
    from pydantic import BaseModel
    from sqlite_utils import Database

    from tequio.governance import Action, DecisionMethod
    from tequio.schemas import ForkProof

    from .kinds import Kind
    from .migrations import MigrationSet
    from .node import Node
    from .recordview import StoredRecord
    from .web import MenuItem, WebRoute

hookspec = pluggy.HookspecMarker("tequio")
hookimpl = pluggy.HookimplMarker("tequio")


@hookspec
def register_kinds() -> list[Kind]:
    """Record kinds this plugin defines, each with its pydantic body model."""


@hookspec
def register_migrations() -> list[MigrationSet]:
    """Named migration sets that create and evolve this plugin's own tables."""


@hookspec
def prepare_connection(conn: sqlite3.Connection) -> None:
    """Adjust the node's SQLite connection when it opens, e.g. register SQL functions."""


@hookspec
def on_records_stored(node: Node, db: Database, records: list[StoredRecord]) -> None:
    """Project a batch of newly accepted records into this plugin's tables, inside the ingest transaction."""


@hookspec
def on_records_ignored(node: Node, db: Database, records: list[StoredRecord]) -> None:
    """Withdraw from this plugin's tables projected records that lost their authority after the fact (E6)."""


@hookspec
def prepare_wanted_blobs(node: Node, wanted: list[tuple[bytes, int]]) -> None:
    """Filter or reorder, in place, the (hash, size) blobs this node is about to fetch from peers."""


@hookspec
def on_fork(node: Node, proof: ForkProof) -> None:
    """Alert on a fork: one author signed two different records for the same place in a feed."""


@hookspec
def register_config() -> dict[str, type[BaseModel]]:
    """Sections of tequio.toml this plugin reads, by name, each a pydantic model validated at open."""


@hookspec
def register_commands() -> list[click.Command]:
    """Click commands to add to the ``tequio`` CLI."""


@hookspec
def register_routes(node: Node) -> list[web.RouteDef]:
    """aiohttp routes for the local API, served under ``/api/v1/`` behind the API token."""


@hookspec
def register_actions() -> list[Action]:
    """Governance actions this plugin declares, each with its default rule and the kinds it governs."""


@hookspec
def register_decision_methods() -> dict[str, DecisionMethod]:
    """Decision methods by name (how a proposal's ballots become an outcome) to merge."""


@hookspec
def on_startup(node: Node) -> Awaitable[Any] | None:
    """Start this plugin's background work when the node starts serving."""


@hookspec
def on_shutdown(node: Node) -> Awaitable[Any] | None:
    """Stop this plugin's background work before the node stops serving."""


@hookspec
def register_web_routes() -> list[WebRoute]:
    """Web pages (``WebRoute``, each with its least role) served under ``/<plugin name>/``."""


@hookspec
def register_web_menu() -> list[MenuItem]:
    """Links (``MenuItem``) for the menu of every web page, each shown to people with at least its role."""


@hookspec
def register_web_templates() -> list[Path]:
    """Folders of Jinja templates, loaded as ``<plugin name>/<file>`` (a ``locale/`` inside adds catalogs)."""


@hookspec
def register_web_static() -> list[Path]:
    """A folder of static files (CSS, images, scripts) served at ``/static/<plugin name>/``."""


@hookspec
def prepare_web_context(request: web.Request, context: dict[str, Any]) -> Awaitable[Any] | None:
    """Add variables to a web page's template context in place (``page_name`` names the page); may await."""
