"""Errors an operator can act on. The CLI prints their message as one line; anything else is a bug."""

from __future__ import annotations

import errno
import os
import sqlite3
from pathlib import Path

__all__ = [
    "ConfigError",
    "DatabaseTooNew",
    "DiskFull",
    "NodeExists",
    "NodeNotFound",
    "PassphraseRequired",
    "PluginError",
    "PublishError",
    "TequioError",
    "WrongPassphrase",
    "disk_full_message",
    "is_disk_full",
]


class TequioError(Exception):
    """Base of every error whose message is meant for the operator."""


class NodeNotFound(TequioError):
    """There is no node in the given home."""


class NodeExists(TequioError):
    """``init`` was asked to create a node where one already is."""


class PassphraseRequired(TequioError):
    """The node key is encrypted and no passphrase was supplied."""


class WrongPassphrase(TequioError):
    """The passphrase does not open the node key."""


class ConfigError(TequioError):
    """``tequio.toml`` is unreadable or does not validate."""


class DatabaseTooNew(TequioError):
    """The store was written by a newer version of a component than this code knows."""


class PluginError(TequioError):
    """A plugin could not be loaded or declared something inconsistent."""


class PublishError(TequioError):
    """A local record could not be made: unknown kind, invalid body, unsupported scope."""


class NotRecordStream(TequioError):
    """The input does not begin with a record; refused before anything is ingested or logged."""


class DiskFull(TequioError):
    """A write found no space left. SQLite rolled the transaction back, so nothing stored is lost."""


def disk_full_message(home: object) -> str:
    """The one line an operator reads when the disk is full, whatever was being written."""
    return f"the disk holding {home} is full; nothing was lost; free space and run it again"


def is_disk_full(e: BaseException | None, where: Path | str | None = None) -> bool:
    """True for SQLite's "database or disk is full" and for ENOSPC/EDQUOT, also as a cause or context;
    with ``where``, also for SQLite's bare "disk I/O error" when that file system has no room left
    (its -shm and -wal files fail that way on a full disk) or "readonly database" (see Store)."""
    if where is not None and _io_error(e) and _no_room(where):
        return True
    seen = 0
    while e is not None and seen < 16:
        if isinstance(e, DiskFull):
            return True
        if isinstance(e, sqlite3.OperationalError) and "disk is full" in str(e):
            return True
        if isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        e = e.__cause__ or e.__context__
        seen += 1
    return False


def _io_error(e: BaseException | None) -> bool:
    for _ in range(16):
        if e is None:
            return False
        # "readonly database": a store opened read-only because the disk was full at open.
        if isinstance(e, sqlite3.OperationalError) and any(
            m in str(e) for m in ("disk I/O error", "readonly database")
        ):
            return True
        e = e.__cause__ or e.__context__
    return False


def _no_room(where: Path | str) -> bool:
    """Under 64 KiB free for this user on the file system holding ``where``."""
    try:
        st = os.statvfs(where)
    except OSError:
        return False
    return st.f_bavail * st.f_frsize < 65536
