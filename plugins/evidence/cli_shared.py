"""What the evidence commands share: naming a target, times and names for people, printing results."""

from __future__ import annotations

import datetime as dt
from typing import Any

import click

from tequio.node import Node, TequioError, group_state, resolve_key
from tequio.node.cli import echo_json
from tequio.schemas import safe_text

__all__ = ["iso", "report", "safe", "target_scope"]


def iso(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def safe(text: Any) -> str:
    """Text from records (titles, notes, names) made safe for a terminal: control characters and
    direction overrides are shown as ``\\uXXXX`` rather than obeyed."""
    return safe_text(text)


def target_scope(node: Node, text: str) -> str:
    """A group by id prefix or scope, or an organisation by key / known peer, as a scope."""
    t = text.strip()
    if t.startswith("d:"):
        return t
    if t.startswith("g:") or len(t) <= 32:
        try:
            return group_state(node, t)[0]
        except TequioError:
            if t.startswith("g:"):
                raise
    return "d:" + resolve_key(node, t).hex()


def report(as_json: bool, data: dict[str, Any], *lines: str) -> None:
    """An action's result: ``data`` as JSON with --json, else the lines for people."""
    if as_json:
        echo_json(data)
        return
    for line in lines:
        click.echo(line)
