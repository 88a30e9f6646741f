"""The built-in intake plugin: calls for evidence and a public, anonymous drop for witnesses."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from tequio.node import hookimpl
from tequio.node.cli import lazy_command

if TYPE_CHECKING:
    from tequio.node import Kind


@hookimpl
def register_kinds() -> list[Kind]:
    from .records import KINDS

    return list(KINDS)


@hookimpl
def register_commands() -> list[Any]:
    return [
        lazy_command(
            "intake",
            "tequio.plugins.intake.cli:intake",
            "Calls for evidence and the public, anonymous drop for witnesses.",
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
def register_web_templates() -> list[Path]:
    return [Path(__file__).parent / "templates"]


# curation (h12b)
# The curation hooks (queue, tags, questions, the intake.curate action) are added here at merge.
# end curation (h12b)
