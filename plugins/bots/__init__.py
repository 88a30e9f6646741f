"""The built-in bots plugin: offline coordination analysis of exported posts, explained, signed, shared.

Only the kind and the command group load here: the analysis libraries (numpy, datasketch, networkx,
matplotlib) load inside ``tequio bots analyze``, so ``tequio --help`` stays fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tequio.node import hookimpl
from tequio.node.cli import lazy_command

if TYPE_CHECKING:
    from tequio.governance import Action
    from tequio.node import Kind


@hookimpl
def register_kinds() -> list[Kind]:
    from tequio.node import Kind

    from .model import FINDING, FindingBody, check_finding

    return [
        Kind(
            FINDING,
            FindingBody,
            "A signed bot-campaign finding: clusters, indicators, inputs.",
            check_finding,
        )
    ]


@hookimpl
def register_actions() -> list[Action]:
    from .model import ACTIONS

    return list(ACTIONS)


@hookimpl
def register_commands() -> list[Any]:
    return [
        lazy_command(
            "bots",
            "tequio.plugins.bots.cli:bots",
            "Coordinated campaigns in exported posts: analyze offline, explain, share signed findings.",
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
