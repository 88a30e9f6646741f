"""Evidence intake throughput against ``sha256sum`` on the same file, in the same run.

    python bench/evidence.py [--mb 500] [--rounds 3]

Writes a random (not sparse) file, then interleaves rounds of ``sha256sum`` and of each measured
operation, each operation in a child process whose peak RSS is read with wait4 from a small wrapper
(ru_maxrss survives fork and exec, so a child of this process would report this one's). The best
round of each is compared, since the machine is shared and noisy. Prints one JSON object per figure:

- ``hash``: ``tequio.node.media.hash_file`` (read, SHA-256, sniff);
- ``working copy``: ``hash_file`` then ``tequio.node.media.strip`` (random bytes are not a format
  Tequio strips, so a plain copy: read, write, fsync, rename);
- ``tequio evidence add``: the plugin's whole intake in a fresh node: hash, working copy, perceptual
  and C2PA checks, the original encrypted into the blob store while it is hashed again, two signed
  records (node start-up excluded).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: Runs a command and prints its peak RSS (KiB) as the last line of stdout.
_PEAK_RSS = (
    "import os, subprocess, sys; p = subprocess.Popen(sys.argv[1:]); _, st, ru = os.wait4(p.pid, 0); "
    "print(ru.ru_maxrss); sys.exit(os.waitstatus_to_exitcode(st))"
)

_CHILD = """
import sys, time
import os
from tequio.node.media import hash_file, strip
what, src, out = sys.argv[1:4]
if what == "tequio evidence add":
    from pathlib import Path
    from tequio.node import Node
    from tequio.plugins.evidence.api import intake
    node = Node.create(out + "/home", name="bench")
os.makedirs(out, exist_ok=True)
t = time.perf_counter()
if what == "tequio evidence add":
    intake(node, Path(src), "bench")
elif what == "hash":
    hash_file(src)
else:
    d = hash_file(src)
    strip(src, out + "/working", d.mime)
print(time.perf_counter() - t)
"""

FIGURES = ("hash", "working copy", "tequio evidence add")


def make_file(path: Path, mb: int) -> None:
    with path.open("wb") as f:
        for _ in range(mb):
            f.write(os.urandom(1 << 20))
        f.flush()
        os.fsync(f.fileno())


def sha256sum(path: Path) -> float:
    t = time.perf_counter()
    subprocess.run(["sha256sum", str(path)], check=True, capture_output=True)
    return time.perf_counter() - t


def measured(what: str, src: Path, out: Path) -> tuple[float, int]:
    """(seconds inside the child, peak RSS in KiB) of one operation."""
    r = subprocess.run(
        [sys.executable, "-c", _PEAK_RSS, sys.executable, "-c", _CHILD, what, str(src), str(out)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    if r.returncode != 0:
        raise SystemExit(f"{what} failed: {r.stderr.strip()}")
    seconds, peak = r.stdout.split()[-2:]
    return float(seconds), int(peak)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=int, default=500)
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "evidence.bin"
        make_file(src, a.mb)
        base: list[float] = []
        runs: dict[str, list[float]] = {f: [] for f in FIGURES}
        peaks: dict[str, int] = dict.fromkeys(FIGURES, 0)
        for r in range(a.rounds):
            base.append(sha256sum(src))
            for what in FIGURES:
                out = Path(tmp) / f"store-{what}-{r}"
                seconds, peak = measured(what, src, out)
                runs[what].append(seconds)
                peaks[what] = max(peaks[what], peak)
                shutil.rmtree(out, ignore_errors=True)
        best = min(base)
        for what in FIGURES:
            seconds = min(runs[what])
            print(
                json.dumps(
                    {
                        "figure": what,
                        "mb": a.mb,
                        "seconds": round(seconds, 3),
                        "sha256sum_seconds": round(best, 3),
                        "ratio": round(best / seconds, 2),
                        "peak_rss_mib": round(peaks[what] / 1024, 1),
                        "rounds": a.rounds,
                    }
                )
            )


if __name__ == "__main__":
    main()
