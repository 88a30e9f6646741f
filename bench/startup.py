"""Start-up time of the commands a person types most, as ratios to ``python -c "import click"``.

    python bench/startup.py            # 7 runs of each, median; one JSON object on stdout
    python bench/startup.py --runs 15

Each command runs as a fresh process on a small node (a few records) made in a temporary folder, so
the figure is what a person waits for: interpreter, imports, opening the node, printing. The baseline
is measured in the same run, so the ratio holds on a busy or a slower machine.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TEQUIO = str(Path(sys.executable).with_name("tequio"))
COMMANDS = {"help": ["--help"], "info": ["info"], "records_list": ["records", "list"]}
TARGET_S = 0.3


def timed(argv: list[str], env: dict[str, str], runs: int) -> tuple[float, float]:
    """The median wall time and CPU time (user + system) of ``runs`` fresh processes, after one
    warm-up for the disk cache. CPU time moves less than wall time on a machine busy with others."""
    times, cpu = [], []
    for i in range(runs + 1):
        r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        if i:
            times.append(time.perf_counter() - t0)
            cpu.append(r1.ru_utime + r1.ru_stime - r0.ru_utime - r0.ru_stime)
    return statistics.median(times), statistics.median(cpu)


def small_node(home: Path, env: dict[str, str]) -> None:
    subprocess.run([TEQUIO, "init", "--name", "Startup bench"], env=env, check=True, capture_output=True)
    for i in range(5):
        body = json.dumps({"text": f"note {i}"})
        subprocess.run(
            [TEQUIO, "publish", "core.note", "--body", body], env=env, check=True, capture_output=True
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=7)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "node"
        env = {k: v for k, v in os.environ.items() if not k.startswith("TEQUIO_")} | {
            "TEQUIO_HOME": str(home)
        }
        small_node(home, env)
        base, base_cpu = timed([sys.executable, "-c", "import click"], env, args.runs)
        fig: dict[str, object] = {
            "runs": args.runs,
            "baseline_import_click_s": round(base, 4),
            "baseline_import_click_cpu_s": round(base_cpu, 4),
        }
        for name, argv in COMMANDS.items():
            t, cpu = timed([TEQUIO, *argv], env, args.runs)
            fig[f"{name}_s"] = round(t, 4)
            fig[f"{name}_ratio"] = round(t / base, 2)
            fig[f"{name}_cpu_s"] = round(cpu, 4)
            fig[f"{name}_cpu_ratio"] = round(cpu / base_cpu, 2)
            fig[f"{name}_under_target"] = t < TARGET_S
    print(json.dumps(fig))


if __name__ == "__main__":
    main()
