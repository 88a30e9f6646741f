"""The built-in handbook plugin: books signed page by page, mirrored, read and searched offline, printed
with their proof (docs/handbook.md)."""

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
    from .projection import MIGRATIONS

    return [MIGRATIONS]


@hookimpl
def on_records_stored(node: Node, db: Database, records: list[StoredRecord]) -> None:
    from .projection import project, refresh_book

    for book in sorted(project(node, db, records)):
        refresh_book(node, db, book)


@hookimpl
def prepare_wanted_blobs(node: Node, wanted: list[tuple[bytes, int]]) -> None:
    from .mirror import filter_wanted

    filter_wanted(node, wanted)


@hookimpl
def register_commands() -> list[Any]:
    return [
        lazy_command(
            "handbook",
            "tequio.plugins.handbook.cli:handbook",
            "Handbooks: signed page by page, mirrored, read and searched offline, printed with their proof.",
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
def register_web_static() -> list[Any]:
    from pathlib import Path

    return [Path(__file__).parent / "static"]
