"""Commands listed with their short help but imported only when run, so ``tequio --help`` stays quick.

A plugin returns ``lazy_command("vote", "mypkg.cli:vote", "Propose, vote and tally.")`` from
``register_commands`` instead of the command itself; its module loads on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

import click

__all__ = ["LazyCommand", "lazy_command"]


class LazyCommand(click.Command):
    """A stand-in that knows its name and short help, and where the real command is."""

    def __init__(self, name: str, target: str, short_help: str) -> None:
        super().__init__(name, short_help=short_help, help=short_help)
        self.target = target
        self._real: click.Command | None = None

    def load(self) -> click.Command:
        """Import the real command (``module:attribute``); a plugin's import error is its own."""
        if self._real is None:
            module, _, attr = self.target.partition(":")
            real = getattr(importlib.import_module(module), attr)
            if not isinstance(real, click.Command):
                raise TypeError(f"{self.target} is not a click command")
            self._real = real
        return self._real

    def get_short_help_str(self, limit: int = 45) -> str:
        return self.short_help or ""

    # Anything else asked of the stand-in is the real command's business.
    def make_context(self, *args: Any, **kwargs: Any) -> click.Context:
        return self.load().make_context(*args, **kwargs)

    def invoke(self, ctx: click.Context) -> Any:
        return self.load().invoke(ctx)

    def main(self, *args: Any, **kwargs: Any) -> Any:
        return self.load().main(*args, **kwargs)


def lazy_command(name: str, target: str, short_help: str) -> LazyCommand:
    """A command for ``register_commands`` whose module (``target``, ``module:attr``) loads when used."""
    return LazyCommand(name, target, short_help)
