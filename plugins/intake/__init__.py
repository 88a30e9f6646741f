"""The built-in intake plugin: calls for evidence and a public, anonymous drop for witnesses."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from tequio.node import hookimpl
from tequio.node.cli import lazy_command

if TYPE_CHECKING:
    from tequio.governance import Action
    from tequio.node import Kind


@hookimpl
def register_kinds() -> list[Kind]:
    from .curation import KINDS as CURATION_KINDS
    from .recordkinds import KINDS

    return [*KINDS, *CURATION_KINDS]


@hookimpl
def register_actions() -> list[Action]:
    from .curation import ACTIONS

    return list(ACTIONS)


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


@hookimpl
def register_web_static() -> list[Path]:
    return [Path(__file__).parent / "static"]  # the drop's upload script (tus, proof-of-work)


# Curation (curation*.py: the queue, tags, questions, the intake.curate action) adds its kinds and
# action above; its commands are subcommands of the one ``tequio intake`` group (cli.py).
