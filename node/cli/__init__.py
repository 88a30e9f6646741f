"""The ``tequio`` command. Every error is one line on stderr and a non-zero exit, never a traceback.

Exit codes: 0 success, 1 an error the operator can act on (or records rejected on import),
2 wrong usage, 70 an internal error (a bug: set TEQUIO_DEBUG=1 for the traceback), 130 interrupted.

This module is kept light on purpose: ``main`` starts guarding Ctrl-C before anything heavy is
imported, and the names plugins use load on first access (PEP 562).
"""

from __future__ import annotations

import importlib
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .app import cli, run
    from .context import echo_json, echo_listing, home_of, json_option, open_node, progress_bar
    from .groups import load_json, node_key
    from .lazy import lazy_command

__all__ = [
    "cli",
    "echo_json",
    "echo_listing",
    "home_of",
    "json_option",
    "lazy_command",
    "load_json",
    "main",
    "node_key",
    "open_node",
    "progress_bar",
    "run",
]

_WHERE = {
    "cli": "app",
    "run": "app",
    "echo_json": "context",
    "echo_listing": "context",
    "home_of": "context",
    "json_option": "context",
    "open_node": "context",
    "progress_bar": "context",
    "lazy_command": "lazy",
    "load_json": "groups",
    "node_key": "groups",
}


def main(argv: list[str] | None = None) -> None:
    """Entry point of the console script."""
    try:
        from .app import run

        code = run(argv)
    except KeyboardInterrupt:  # pressed while Python was still importing the command
        from .interrupt import interrupted_early

        code = interrupted_early(sys.argv[1:] if argv is None else argv)
    sys.exit(code)


def __getattr__(name: str) -> Any:
    where = _WHERE.get(name)
    if where is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{where}"), name)
