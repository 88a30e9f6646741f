"""The curation half of the intake plugin's hooks: its record kinds, the curator action, the commands."""

from __future__ import annotations

from typing import Any

from tequio.governance import Action
from tequio.node import Kind, hookimpl
from tequio.node.cli import lazy_command

from .curation import ACTIONS, KINDS


@hookimpl
def register_kinds() -> list[Kind]:
    return list(KINDS)


@hookimpl
def register_actions() -> list[Action]:
    return list(ACTIONS)


@hookimpl
def register_commands() -> list[Any]:
    return [
        lazy_command(
            "intake",
            "tequio.plugins.intake.curation_cli:intake",
            "Public submissions: the curators' queue, tags, questions to witnesses.",
        )
    ]
