"""The built-in handbook plugin: books signed page by page, mirrored, read and searched offline, printed
with their proof (docs/handbook.md)."""

from __future__ import annotations

from typing import Any

from sqlite_utils import Database

from tequio.governance import Action
from tequio.node import Kind, MigrationSet, Node, StoredRecord, hookimpl

from .projection import MIGRATIONS, project, refresh_book
from .records import ACTIONS, KINDS


@hookimpl
def register_kinds() -> list[Kind]:
    return list(KINDS)


@hookimpl
def register_actions() -> list[Action]:
    return list(ACTIONS)


@hookimpl
def register_migrations() -> list[MigrationSet]:
    return [MIGRATIONS]


@hookimpl
def on_records_stored(node: Node, db: Database, records: list[StoredRecord]) -> None:
    for book in sorted(project(node, db, records)):
        refresh_book(node, db, book)


@hookimpl
def prepare_wanted_blobs(node: Node, wanted: list[tuple[bytes, int]]) -> None:
    from .mirror import filter_wanted

    filter_wanted(node, wanted)


@hookimpl
def register_commands() -> list[Any]:
    from .cli import handbook

    return [handbook]


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
