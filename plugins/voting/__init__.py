"""The built-in voting plugin: decision methods, ballots and tallies every node can recompute."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tequio.node import hookimpl
from tequio.node.cli import lazy_command

if TYPE_CHECKING:
    from tequio.node import Kind


@hookimpl
def register_kinds() -> list[Kind]:
    from tequio.governance import BALLOT, BallotBody
    from tequio.node import Kind

    return [Kind(BALLOT, BallotBody, "One voter's ballot on a proposal (sealed while a vote is hidden).")]


@hookimpl
def register_decision_methods() -> dict[str, Any]:
    from .decision import decision_methods  # the counting code loads when a node first folds a vote

    return dict(decision_methods())


@hookimpl
def register_commands() -> list[Any]:
    return [
        lazy_command(
            "vote",
            "tequio.plugins.voting.cli:vote",
            "Proposals, ballots and tallies that every node recomputes.",
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
