"""Bots plugin benchmark: our coordination networks against coordination-network-toolkit (CNT) on the
same 211,000-post file, side by side in one run; near-duplicate time; peak memory; detection.

    python bench/bots.py                 # full size: 5,000 users, 200,000 random posts, 7 days + campaign
    python bench/bots.py --quick         # a tenth of that
    python bench/bots.py --golden tests/test_bots_cnt_golden.json   # (re)make the frozen CNT output

CNT is installed from PyPI into a temporary venv (``pip install coordination-network-toolkit``).
Every figure is one JSON object on stdout; ratios are CNT's time over ours in the same run.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CNT_NETWORKS = ("co_retweet", "co_tweet", "co_reply", "co_similar_tweet", "co_link", "co_post")
OURS = {"co_similar_tweet": "co_similar"}


def emit(**fig: object) -> None:
    print(json.dumps(fig), flush=True)


def install_cnt(where: Path) -> Path:
    subprocess.run([sys.executable, "-m", "venv", str(where)], check=True)
    py = where / "bin" / "python"
    subprocess.run([str(py), "-m", "pip", "install", "-q", "coordination-network-toolkit"], check=True)
    return py


def run_cnt(py: Path, db: Path, *args: str) -> float:
    t = time.perf_counter()
    subprocess.run(
        [str(py), "-m", "coordination_network_toolkit", str(db), *args],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return time.perf_counter() - t


def cnt_edges(db: Path, network: str) -> set[tuple[str, str, int]]:
    con = sqlite3.connect(db)
    try:
        rows = con.execute(f"select user_1, user_2, weight from {network}_network where user_1 != user_2")
        return {(a, b, int(w)) for a, b, w in rows}
    finally:
        con.close()


def golden(path: Path) -> None:
    """Run the real CNT on the fixture export and freeze its co_retweet, co_tweet, co_reply edges."""
    from tequio.plugins.bots.synthetic import cnt_fixture, write_rows

    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        csv_path = d / "fixture.csv"
        write_rows(cnt_fixture(), csv_path)
        py = install_cnt(d / "venv")
        db = d / "cnt.db"
        run_cnt(py, db, "preprocess", str(csv_path))
        out: dict[str, object] = {
            "input_sha256": hashlib.sha256(csv_path.read_bytes()).hexdigest(),
            "cnt": "coordination-network-toolkit "
            + subprocess.run(
                [
                    str(py),
                    "-c",
                    "import importlib.metadata as m; print(m.version('coordination-network-toolkit'))",
                ],
                capture_output=True,
                text=True,
                check=True,
            ).stdout.strip(),
            "runs": [],
        }
        for window, min_weight in ((60, 1), (60, 2), (10, 1)):
            run: dict[str, object] = {"window": window, "min_weight": min_weight, "edges": {}}
            for net in ("co_retweet", "co_tweet", "co_reply"):
                run_cnt(
                    py, db, "compute", net, "--time_window", str(window), "--min_edge_weight", str(min_weight)
                )
                run["edges"][net] = sorted([a, b, w] for a, b, w in cnt_edges(db, net))  # type: ignore[index]
            out["runs"].append(run)  # type: ignore[attr-defined]
    path.write_text(json.dumps(out, indent=0) + "\n")
    emit(figure="golden", path=str(path), runs=len(out["runs"]))  # type: ignore[arg-type]


def _cpu() -> float:
    """This process's CPU seconds: on a shared machine, less noisy than the wall clock."""
    import resource

    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def measured(cmd: list[str]) -> tuple[float, float]:
    """Seconds and peak RSS (MiB) of one command, from a fresh parent whose only child it is
    (RUSAGE_CHILDREN here would report CNT's or pip's peak instead)."""
    probe = (
        "import resource, subprocess, sys, time\n"
        "t = time.perf_counter()\n"
        "subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL)\n"
        "print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe, *cmd], check=True, capture_output=True, text=True
    ).stdout
    seconds, peak = out.split()
    return float(seconds), float(peak)


def _pair_jaccard(a: set[tuple[str, str, int]], b: set[tuple[str, str, int]]) -> float:
    """Agreement on who is linked, whatever the weights (near-duplicate tokenisers differ)."""
    pa, pb = {e[:2] for e in a}, {e[:2] for e in b}
    return round(len(pa & pb) / len(pa | pb), 4) if pa | pb else 1.0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--golden", type=Path)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument(
        "--analyze-only", action="store_true", help="only the whole command: time, memory, detection"
    )
    args = ap.parse_args()
    if args.golden:
        golden(args.golden)
        return
    from tequio.plugins.bots.formats import load_file
    from tequio.plugins.bots.networks import build_shares, compute_edges
    from tequio.plugins.bots.posts import PostsBuilder
    from tequio.plugins.bots.similar import similar_groups
    from tequio.plugins.bots.synthetic import make_benchmark, write_csv

    scale = 0.1 if args.quick else 1.0
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        t = time.perf_counter()
        bench = make_benchmark(
            args.seed,
            n_users=int(5000 * scale),
            n_posts=int(200_000 * scale),
            days=7,
            group_size=max(10, int(40 * scale**0.5)),
            events=max(10, int(40 * scale**0.5)),
            control=int(1000 * scale),
        )
        csv_path = d / "bench.csv"
        write_csv(bench, csv_path)
        emit(
            figure="data",
            posts=len(bench.rows),
            bytes=csv_path.stat().st_size,
            seconds=round(time.perf_counter() - t, 2),
        )
        if not args.analyze_only:
            py = install_cnt(d / "venv")
            start = run_cnt(py, d / "empty.db", "--help")  # interpreter and import start-up, for reference
            db = d / "cnt.db"
            cnt_pre = run_cnt(py, db, "preprocess", str(csv_path))
            t = time.perf_counter()
            builder = PostsBuilder("cnt", want_words=True)
            load_file(csv_path, "cnt", builder)
            posts = builder.build()
            ours_pre = time.perf_counter() - t
            emit(
                figure="import",
                cnt_s=round(cnt_pre, 2),
                ours_s=round(ours_pre, 2),
                ratio=round(cnt_pre / ours_pre, 2),
                cnt_startup_s=round(start, 2),
            )
            for net in CNT_NETWORKS:
                extra = ["--similarity_threshold", "0.8"] if net == "co_similar_tweet" else []
                cnt_s = run_cnt(
                    py, db, "compute", net, "--time_window", "60", "--min_edge_weight", "2", *extra
                )
                mine = OURS.get(net, net)
                t, c = time.perf_counter(), _cpu()
                if mine == "co_similar":
                    sg = similar_groups(posts, 0.8)
                    sh = build_shares(posts, mine, (sg.group, sg.pairs))
                else:
                    sh = build_shares(posts, mine)
                e = compute_edges(sh, mine, 60, "cnt", 2)
                ours_s, ours_cpu = time.perf_counter() - t, _cpu() - c
                ours_edges = {
                    (posts.users[a], posts.users[b], int(w))
                    for a, b, w in zip(e.src, e.dst, e.w, strict=True)
                }
                theirs = cnt_edges(db, net)
                union = ours_edges | theirs
                emit(
                    figure=mine,
                    cnt_s=round(cnt_s, 2),
                    ours_s=round(ours_s, 2),
                    ours_cpu_s=round(ours_cpu, 2),
                    ratio=round(cnt_s / ours_s, 2),
                    edges_ours=len(ours_edges),
                    edges_cnt=len(theirs),
                    jaccard=round(len(ours_edges & theirs) / len(union), 4) if union else 1.0,
                    jaccard_pairs=_pair_jaccard(ours_edges, theirs),
                )
        # the whole analysis as a user runs it, in a child process, for peak memory and detection
        out = d / "out"
        whole, peak = measured(
            [
                str(Path(sys.executable).with_name("tequio")),
                "bots",
                "analyze",
                str(csv_path),
                "--out",
                str(out),
            ]
        )
        findings = json.loads((out / "findings.json").read_text())
        flagged = {a for c in findings["clusters"] if c["tier"] in ("high", "medium") for a in c["accounts"]}
        tp = len(flagged & bench.coordinated)
        emit(figure="analyze", seconds=round(whole, 1), peak_rss_mib=round(peak), target_mib=1024)
        emit(
            figure="detection",
            seed=args.seed,
            precision=round(tp / len(flagged), 3) if flagged else 0.0,
            recall=round(tp / len(bench.coordinated), 3),
            organic_in_clusters=len(flagged & bench.organic_control) / max(len(bench.organic_control), 1),
            beyond_window_flagged=len(flagged & bench.beyond),
        )


if __name__ == "__main__":
    main()
