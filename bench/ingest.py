"""Ingest throughput against a bare PyNaCl verify loop over the same records, in the same run.

    python bench/ingest.py [--records 50000] [--authors 100] [--rounds 3]

Prints one JSON object per figure. Each measured ingest runs in a fresh store, in a child process
whose peak RSS is read with wait4; the rounds interleave baseline and ingest, and the best of each
is compared, since the machine is shared and noisy.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from nacl.bindings import crypto_sign_open
from nacl.signing import SigningKey

from tequio.schemas import FrameReader, Payload, make_record, parse_wire, signed_bytes

TEQUIO = str(Path(sys.executable).with_name("tequio"))
WORDS = [
    "la",
    "marcha",
    "avanzó",
    "por",
    "la",
    "avenida",
    "central",
    "cuando",
    "llegaron",
    "las",
    "patrullas",
    "y",
    "detuvieron",
    "a",
    "tres",
    "estudiantes",
    "frente",
    "a",
    "la",
    "escuela",
    "normal",
    "testigos",
    "grabaron",
    "desde",
    "los",
    "balcones",
]


def make_stream(path: Path, records: int, authors: int) -> None:
    """Realistic notes (60-200 bytes of text) from ``authors`` feeds, interleaved, each feed in order."""
    rnd = random.Random(7)
    keys = [SigningKey(rnd.randbytes(32)) for _ in range(authors)]
    heads: list[tuple[int, bytes | None]] = [(0, None)] * authors
    order = [i % authors for i in range(records)]
    rnd.shuffle(order)
    with path.open("wb") as f:
        for a in order:
            seq, prev = heads[a]
            text = " ".join(rnd.choice(WORDS) for _ in range(rnd.randint(10, 30)))
            rec = make_record(
                keys[a],
                "public",
                seq + 1,
                prev,
                1_767_225_600_000 + seq,
                Payload("core.note", {"text": text}).encode(),
            )
            heads[a] = (seq + 1, rec.id)
            f.write(rec.wire)


def baseline(path: Path) -> float:
    """Seconds for crypto_sign_open over every record's signed bytes (prepared outside the timing)."""
    with path.open("rb") as f:
        items = []
        for wire in FrameReader(f):
            r = parse_wire(wire)
            items.append(
                (r.sig + signed_bytes(r.author, r.scope, r.seq, r.prev, r.ts, r.payload_hash), r.author)
            )
    t = time.perf_counter()
    for smsg, pk in items:
        crypto_sign_open(smsg, pk)
    return time.perf_counter() - t


def child_node_ingest(stream: str, home: str, threads: str) -> None:
    """In a child process: node.ingest over the stream in batches of the configured size; print seconds."""
    from tequio.node import Node

    node = Node.create(home, name="bench", kdf_profile="interactive")
    if threads != "auto":
        node.ingestor = _with_workers(node, int(threads))
    with open(stream, "rb") as f:
        frames = list(FrameReader(f))
    size = node.config.ingest.batch_size
    t = time.perf_counter()
    accepted = 0
    for i in range(0, len(frames), size):
        accepted += node.ingest(frames[i : i + size]).accepted
    elapsed = time.perf_counter() - t
    assert accepted == len(frames), accepted
    print(json.dumps({"seconds": elapsed}))
    node.close()


def _with_workers(node, n: int):  # type: ignore[no-untyped-def]
    """The node's ingestor, rebuilt with ``n`` verifier processes (1: none)."""
    from tequio.node.verifiers import VerifierPool

    node.ingestor.close()
    node.ingestor.verifiers = VerifierPool(n) if n > 1 else None
    return node.ingestor


#: Runs a command and reports its peak RSS (KiB) on the last line of stderr. A small process forks
#: it: ru_maxrss survives exec, so a child forked straight from this (large) process would report it.
_PEAK_RSS = (
    "import os, subprocess, sys; p = subprocess.Popen(sys.argv[1:]); _, st, ru = os.wait4(p.pid, 0); "
    "print(ru.ru_maxrss, file=sys.stderr); sys.exit(os.waitstatus_to_exitcode(st))"
)


def run_child(args: list[str], env: dict[str, str] | None = None) -> tuple[float, str, int]:
    """(wall seconds, stdout, peak RSS in KiB) of a command."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t = time.perf_counter()
        code = subprocess.call([sys.executable, "-c", _PEAK_RSS, *args], stdout=out, stderr=err, env=env)
        wall = time.perf_counter() - t
        out.seek(0)
        err.seek(0)
        errors = err.read().decode().strip().splitlines()
        if code != 0:
            raise SystemExit(f"child failed ({code}): {' '.join(errors)}")
        return wall, out.read().decode(), int(errors[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=50_000)
    ap.add_argument("--authors", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--child", nargs=3, metavar=("STREAM", "HOME", "THREADS"), help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        child_node_ingest(*a.child)
        return

    with tempfile.TemporaryDirectory() as tmp:
        stream = Path(tmp) / "records.bin"
        make_stream(stream, a.records, a.authors)
        empty = Path(tmp) / "empty.bin"
        empty.write_bytes(b"")
        env = {k: v for k, v in os.environ.items() if not k.startswith("TEQUIO_")}
        base: list[float] = []
        runs: dict[str, list[float]] = {"node": [], "node1": [], "cli": [], "start": []}
        rss: dict[str, int] = {"node": 0, "cli": 0}
        for r in range(a.rounds):
            base.append(baseline(stream))
            for key, threads in (("node", "auto"), ("node1", "1")):
                _, out, peak = run_child(
                    [sys.executable, __file__, "--child", str(stream), f"{tmp}/{key}{r}", threads]
                )
                runs[key].append(json.loads(out)["seconds"])
                rss["node"] = max(rss["node"], peak)
            home = f"{tmp}/c{r}"
            subprocess.run(
                [TEQUIO, "--home", home, "init", "--name", "bench", "--kdf", "interactive"],
                check=True,
                capture_output=True,
                env=env,
            )
            start, _, _ = run_child([TEQUIO, "--home", home, "records", "import", str(empty), "--json"], env)
            wall, out, peak = run_child(
                [TEQUIO, "--home", home, "records", "import", str(stream), "--json"], env
            )
            assert json.loads(out)["accepted"] == a.records
            runs["cli"].append(wall)
            runs["start"].append(start)
            rss["cli"] = max(rss["cli"], peak)
        n = a.records
        base_rate = n / min(base)
        best = {k: min(v) for k, v in runs.items()}
        common = {"records": n, "authors": a.authors, "rounds": a.rounds, "cpus": os.cpu_count()}

        def figure(name: str, seconds: float, **extra: object) -> None:
            rate = n / seconds
            print(
                json.dumps(
                    {
                        "figure": name,
                        **common,
                        "records_per_s": round(rate),
                        "baseline_per_s": round(base_rate),
                        "ratio": round(rate / base_rate, 3),
                        **extra,
                    }
                )
            )

        print(
            json.dumps(
                {
                    "figure": "verify_baseline",
                    **common,
                    "records_per_s": round(base_rate),
                    "what": "crypto_sign_open over every record, one thread, nothing else",
                }
            )
        )
        figure("node_ingest", best["node"], verify_workers="auto", peak_rss_mib=round(rss["node"] / 1024, 1))
        figure("node_ingest_one_process", best["node1"], verify_workers=1)
        figure(
            "cli_records_import",
            best["cli"],
            includes="process start-up, node open, stream reading",
            peak_rss_mib=round(rss["cli"] / 1024, 1),
        )
        figure(
            "cli_records_import_sustained",
            best["cli"] - best["start"],
            excludes=f"start-up of {best['start']:.2f} s, measured by importing an empty file",
        )


if __name__ == "__main__":
    main()
