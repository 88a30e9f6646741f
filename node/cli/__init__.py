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


class _NoNumpyForSqliteUtils:
    """A finder that refuses numpy and pandas to sqlite-utils' own import, in the command's process.

    sqlite-utils imports both whenever they are installed (the bots plugin's extra brings numpy),
    only to map their scalar types to column types; the node never hands it numpy values, and the
    two imports alone cost every command that opens a node about 60 ms (bench/startup.py). Anyone
    else, a plugin included, imports numpy as usual: only an import made while ``sqlite_utils.db``
    is being executed is refused.
    """

    @staticmethod
    def find_spec(name: str, path: object = None, target: object = None) -> None:
        if name in ("numpy", "pandas"):
            frame = sys._getframe(1)
            while frame is not None:
                if frame.f_globals.get("__name__") == "sqlite_utils.db":
                    raise ImportError(f"{name} is not offered to sqlite-utils here")
                frame = frame.f_back  # type: ignore[assignment]
        return None


def main(argv: list[str] | None = None) -> None:
    """Entry point of the console script."""
    try:
        if "sqlite_utils" not in sys.modules:
            sys.meta_path.insert(0, _NoNumpyForSqliteUtils)
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
