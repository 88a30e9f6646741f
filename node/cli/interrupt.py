"""Ctrl-C said in one line: what was done and what to do, exit 130, never a traceback."""

from __future__ import annotations

import signal
import sys

#: The exit code of a command stopped by SIGINT, as shells report it.
EXIT_INTERRUPTED = 130


class Interrupted(Exception):
    """Raised by a command that caught Ctrl-C and knows what to say about it."""

    def __init__(self, line: str | None = None) -> None:
        super().__init__(line)
        self.line = line


def ignore_further() -> None:
    """After the first Ctrl-C, let cleanup (closing the store, stopping verifiers) finish undisturbed."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def import_line(stored: int, total: int | None) -> str:
    """The line ``records import`` prints when interrupted."""
    of = f" of {total:,}" if total is not None else ""
    return f"interrupted: {stored:,}{of} records stored; run it again to finish"


def say(line: str | None, argv: list[str]) -> int:
    """Print the one line (a command's own, or one for the command line) and return 130."""
    ignore_further()
    if line is None:
        line = import_line(0, None) if _is_records_import(argv) else "interrupted"
    sys.stderr.write(line + "\n")
    sys.stderr.flush()
    return EXIT_INTERRUPTED


def interrupted_early(argv: list[str]) -> int:
    """Ctrl-C before the command started: nothing was done yet."""
    return say(None, argv)


def _is_records_import(argv: list[str]) -> bool:
    words = [a for a in argv if not a.startswith("-")]
    return "records" in words and "import" in words[words.index("records") :]
