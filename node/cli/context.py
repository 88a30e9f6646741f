"""What every CLI command shares: where the home is, opening the node, printing JSON and progress."""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import click

from ..errors import PassphraseRequired

if TYPE_CHECKING:
    from ..node import Node

__all__ = [
    "CliState",
    "counted",
    "echo_json",
    "echo_listing",
    "home_of",
    "json_option",
    "open_node",
    "progress_bar",
]

ENV_HOME = "TEQUIO_HOME"


@dataclass
class CliState:
    home: Path


def home_of(ctx: click.Context) -> Path:
    state = ctx.find_object(CliState)
    if state is None:  # a plugin command invoked outside the tequio group
        return Path(os.environ.get(ENV_HOME) or Path.home() / ".tequio")
    return state.home


@contextmanager
def open_node(ctx: click.Context, unlock: bool | Literal["if-available"] = True) -> Iterator[Node]:
    """Open the node of the ``--home`` in effect; prompt for the passphrase on a terminal if needed.

    ``unlock=True`` for commands that sign or read restricted records (without the passphrase they
    stop in one line saying how to give it), ``"if-available"`` for listings that can show public
    records sealed, ``False`` for commands that touch neither."""
    from ..node import Node  # the store and sqlite-utils: not on the path of --help

    home = home_of(ctx)
    try:
        node = Node.open(home, unlock=unlock is not False)
    except PassphraseRequired:
        if not sys.stdin.isatty():
            if unlock != "if-available":
                raise
            node = Node.open(home, unlock=False)
        else:
            passphrase = click.prompt("Passphrase for the node key", hide_input=True, err=True)
            node = Node.open(home, passphrase=passphrase, unlock=True)
    if not os.environ.get("TEQUIO_LOG"):
        logging.getLogger().setLevel(node.config.log.level.upper())
    try:
        yield node
    finally:
        node.close()


def counted(n: int, word: str, plural: str | None = None) -> str:
    """``1 record``, ``2 records``, ``1,024 blobs``: counts as people write them."""
    return f"{n:,} {word if n == 1 else plural or word + 's'}"


#: Every command's ``--json`` flag, the same everywhere: the command receives ``as_json``.
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON.")


def echo_json(value: Any) -> None:
    click.echo(json.dumps(value, ensure_ascii=False, indent=2))


def echo_listing(
    items: list[dict[str, Any]], as_json: bool, line: Callable[[dict[str, Any]], str], empty: str
) -> None:
    """Every listing command's output: JSON, or one ``line`` per item and ``empty`` on stderr when none."""
    if as_json:
        echo_json(items)
        return
    for it in items:
        click.echo(line(it))
    if not items:
        click.echo(empty, err=True)


@contextmanager
def progress_bar(label: str, total: int | None, unit: str = "bytes") -> Iterator[Any]:
    """A rich progress bar on a terminal; a no-op callable when stderr is piped or redirected."""
    if not sys.stderr.isatty():
        yield lambda done: None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    count = DownloadColumn() if unit == "bytes" else MofNCompleteColumn()
    columns = [TextColumn(label), BarColumn(), count, TimeRemainingColumn()]
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(label, total=total)
        yield lambda done: bar.update(task, completed=done)
