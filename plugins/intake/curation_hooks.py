"""The curation half of the intake plugin's hooks: its record kinds and the curator action."""

from __future__ import annotations

from tequio.governance import Action
from tequio.node import Kind, hookimpl

from .curation import ACTIONS, KINDS


@hookimpl
def register_kinds() -> list[Kind]:
    return list(KINDS)


@hookimpl
def register_actions() -> list[Action]:
    return list(ACTIONS)
