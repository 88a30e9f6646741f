"""The built-in ``demo`` plugin: ``tequio demo``, the whole system's story on 127.0.0.1 in a minute."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from tequio.node import hookimpl


@click.command()
@click.option("--keep", is_flag=True, help="Leave the nodes running and print their addresses.")
@click.option(
    "--dir", "where", type=click.Path(file_okay=False, path_type=Path), help="Use this folder (kept)."
)
def demo(keep: bool, where: Path | None) -> None:
    """Run the whole story on 127.0.0.1 in a temporary folder: under a minute, no setup."""
    from .story import main  # aiohttp, Pillow and the other plugins load only when the demo runs

    main(keep, where)


@hookimpl
def register_commands() -> list[Any]:
    return [demo]
