"""A node's home is its user's alone: 0700, its files 0600, whatever the umask or the folder's prior mode."""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

__all__ = ["private_home"]

log = logging.getLogger(__name__)


def private_home(home: Path) -> None:
    """Make ``home`` 0700 and its own files 0600 (folders 0700), whatever mode they were made with:
    a node created before this rule, or under a loose umask, is narrowed when next opened."""
    try:
        if stat.S_IMODE(home.stat().st_mode) != 0o700:
            os.chmod(home, 0o700)
        for entry in os.scandir(home):
            if entry.is_symlink():
                continue
            mode = stat.S_IMODE(entry.stat().st_mode)
            if mode & 0o077:
                os.chmod(entry.path, mode & 0o700 | (0o700 if entry.is_dir() else 0o600))
    except PermissionError as e:  # another user's home: theirs to narrow; say so, do not refuse to read
        log.warning("cannot make %s private to this user: %s", home, e.strerror)
