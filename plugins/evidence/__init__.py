"""The built-in evidence plugin: intake, custody, review, sharing and court packages."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tequio.node import hookimpl
from tequio.node.cli import lazy_command

if TYPE_CHECKING:  # the plugin's internals load in the hooks, so `tequio --help` imports none of them
    from sqlite_utils import Database

    from tequio.governance import Action
    from tequio.node import Kind, MigrationSet, Node, StoredRecord


@hookimpl
def register_kinds() -> list[Kind]:
    from .recordkinds import KINDS

    return list(KINDS)


@hookimpl
def register_actions() -> list[Action]:
    from .recordkinds import ACTIONS

    return list(ACTIONS)


@hookimpl
def register_migrations() -> list[MigrationSet]:
    from .recordkinds import MIGRATIONS

    return [MIGRATIONS]


@hookimpl
def on_records_stored(node: Node, db: Database, records: list[StoredRecord]) -> None:
    from .recordkinds import index_records

    index_records(node, db, records)


@hookimpl
def on_records_ignored(db: Database, records: list[StoredRecord]) -> None:
    """E6: a removed member's evidence records that lost their authority leave the index too."""
    db.conn.executemany("DELETE FROM evidence_index WHERE record = ?", [(r.id,) for r in records])


@hookimpl
def register_commands() -> list[Any]:
    return [
        lazy_command(
            "evidence",
            "tequio.plugins.evidence.cli:evidence",
            "Evidence of abuses: originals kept untouched, stripped working copies, custody, review, "
            "packages.",
        )
    ]


@hookimpl
def register_web_routes() -> list[Any]:
    from .web import ROUTES

    return ROUTES


@hookimpl
def register_web_menu() -> list[Any]:
    from .web import MENU

    return MENU


@hookimpl
def register_web_templates() -> list[Any]:
    from pathlib import Path

    return [Path(__file__).parent / "templates"]


@hookimpl
def prepare_web_context(request: Any, context: dict[str, Any]) -> Any:
    from .web import prepare_web_context as prepare

    return prepare(request, context)
