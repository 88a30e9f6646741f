"""Run mypy on the code under its import names (``tequio.node`` …), which exist only once installed.

mypy maps file paths to module names, so it is pointed at a temporary tree of symlinks
``tequio/<package> -> <package>``. Run ``python tests/typecheck.py`` by hand, or let the test do it.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("schemas", "federation", "governance", "node", "plugins")


def run_mypy() -> subprocess.CompletedProcess[str]:
    mypy = str(Path(sys.executable).with_name("mypy"))
    with tempfile.TemporaryDirectory(prefix="tequio-mypy-") as tmp:
        tree = Path(tmp) / "tequio"
        tree.mkdir()
        for name in PACKAGES:
            (tree / name).symlink_to(ROOT / name, target_is_directory=True)
        cache = ROOT / ".mypy_cache"
        return subprocess.run(
            [mypy, "--config-file", str(ROOT / "pyproject.toml"), "--cache-dir", str(cache)],
            cwd=tmp,
            capture_output=True,
            text=True,
        )


if __name__ == "__main__":
    r = run_mypy()
    sys.stdout.write(r.stdout + r.stderr)
    sys.exit(r.returncode)
