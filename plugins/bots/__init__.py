"""The built-in bots plugin: offline coordination analysis of exported posts, explained, signed, shared.

Only the kind and the command group load here: the analysis libraries (numpy, datasketch, networkx,
matplotlib) load inside ``tequio bots analyze``, so ``tequio --help`` stays fast.
"""

from __future__ import annotations

from typing import Any

from tequio.governance import Action
from tequio.node import Kind, hookimpl

from .model import ACTIONS, FINDING, FindingBody, check_finding


@hookimpl
def register_kinds() -> list[Kind]:
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
    return list(ACTIONS)


@hookimpl
def register_commands() -> list[Any]:
    from .cli import bots

    return [bots]


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
