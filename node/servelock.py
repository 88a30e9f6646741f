"""One ``tequio serve`` per home: an ``flock`` on HOME/serve.lock, and HOME/serve.json saying what it bound.

Two servers on one store would each gossip, rotate and answer peers as the same node; the lock makes the
second refuse and name the first. The kernel drops the lock when the process dies, even by ``kill -9``,
so a stale file never blocks a restart. serve.json lets ``tequio info`` show the ports actually bound.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from pathlib import Path
from typing import Any

from .errors import TequioError, is_disk_full

__all__ = ["LOCK_FILE", "STATE_FILE", "ServeLock", "running_serve"]

LOCK_FILE = "serve.lock"
STATE_FILE = "serve.json"


class ServeLock:
    """Held for serve's lifetime; ``release`` (or process exit) frees it."""

    def __init__(self, home: Path) -> None:
        self.home = home
        path = home / LOCK_FILE
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_pid(fd)
            os.close(fd)
            who = f"PID {holder}" if holder else "PID unknown"
            raise TequioError(
                f"another tequio serve ({who}) is serving this home ({home}); stop it first"
            ) from None
        except BaseException:
            os.close(fd)
            raise
        self._fd: int | None = fd
        os.ftruncate(fd, 0)
        try:
            os.write(fd, f"{os.getpid()}\n".encode())
        except OSError as e:
            if not is_disk_full(e):
                raise
            # A full disk: the lock holds all the same; only a second serve's message lacks the PID.

    def publish(self, ports: dict[str, Any]) -> None:
        """Write serve.json (0600) with this PID and the bound ports, replacing it atomically; on a
        full disk there is none (``info`` then shows the configured ports only)."""
        tmp = self.home / f".{STATE_FILE}.tmp"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as f:
                json.dump({"pid": os.getpid(), **ports}, f)
            os.replace(tmp, self.home / STATE_FILE)
        except OSError as e:
            with contextlib.suppress(OSError):
                tmp.unlink()
            if not is_disk_full(e):
                raise

    def release(self) -> None:
        """Remove serve.json, then let go of the lock (a clean exit)."""
        if self._fd is None:
            return
        with contextlib.suppress(FileNotFoundError):
            (self.home / STATE_FILE).unlink()
        os.close(self._fd)  # closing the descriptor drops the flock
        self._fd = None

    def __enter__(self) -> ServeLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _read_pid(fd: int) -> int | None:
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
        return int(text) if text.isdigit() else None
    except OSError:
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process: it exists
    return True


def running_serve(home: Path) -> dict[str, Any] | None:
    """What a live serve on ``home`` bound (serve.json), or None when none runs or the file is stale."""
    try:
        data = json.loads((home / STATE_FILE).read_text())
    except (OSError, ValueError):
        return None
    pid = data.get("pid") if isinstance(data, dict) else None
    if not isinstance(pid, int) or pid <= 0 or not _alive(pid):
        return None
    # The PID may have been reused after a kill -9: only a held lock proves a serve is still there.
    try:
        fd = os.open(home / LOCK_FILE, os.O_RDONLY)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return data
    finally:
        os.close(fd)
    return None
