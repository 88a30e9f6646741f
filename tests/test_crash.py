"""``kill -9`` during a large import leaves a sound store with every feed chain intact."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

from tequio.node import Node
from tequio.node.store import DB_FILE
from tests.conftest import TEQUIO, Feed, key


def _write_stream(path: Path, authors: int, per_author: int) -> int:
    feeds = [Feed(key(100 + a)) for a in range(authors)]
    order = [a for a in range(authors) for _ in range(per_author)]
    random.Random(5).shuffle(order)  # interleave authors; each feed still in seq order
    with path.open("wb") as f:
        for a in order:
            f.write(feeds[a].next().wire)
    return len(order)


def _no_verifier_outlives(parent: int) -> None:
    """Verifier processes of a killed node see their stdin close and exit."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        orphans = [p for p in Path("/proc").iterdir() if p.name.isdigit() and _is_verifier(p)]
        if not orphans:
            return
        time.sleep(0.05)
    raise AssertionError(f"verifier processes outlived their node: {orphans}")


def _is_verifier(proc: Path) -> bool:
    try:
        return b"tequio.schemas.verify_worker" in (proc / "cmdline").read_bytes()
    except OSError:
        return False


def _kill_while_writing(proc: subprocess.Popen, db_path: Path, after: int, deadline: float) -> bool:
    """SIGKILL the importer at a moment it holds the write lock, once ``after`` records are committed.

    Returns False if it finished first.
    """
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        probe = sqlite3.connect(db_path, timeout=0, isolation_level=None)
        try:
            try:
                committed = probe.execute("SELECT count(*) FROM records").fetchone()[0]
            except sqlite3.OperationalError:  # the importer is opening the store (WAL switch, migrations)
                committed = 0
            if committed >= after:
                try:
                    probe.execute("BEGIN IMMEDIATE")
                    probe.execute("ROLLBACK")
                except sqlite3.OperationalError:  # "database is locked": a write transaction is open now
                    proc.send_signal(signal.SIGKILL)
                    proc.wait()
                    _no_verifier_outlives(proc.pid)
                    return True
        finally:
            probe.close()
        time.sleep(0.002)
    raise AssertionError("importer neither wrote nor finished in time")


def test_kill_9_mid_import_keeps_store_and_chains_intact(tmp_path: Path) -> None:
    stream = tmp_path / "records.bin"
    total = _write_stream(stream, authors=60, per_author=500)
    home = tmp_path / "home"
    Node.create(home, name="Crash", kdf_profile="interactive").close()
    cfg = home / "tequio.toml"  # many small transactions: many moments to be killed in
    cfg.write_text(cfg.read_text().replace("batch_size = 5000", "batch_size = 1000"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("TEQUIO_")} | {"TEQUIO_HOME": str(home)}
    db_path = home / DB_FILE

    counts = [0]
    for _ in range(3):
        after = counts[-1] + 1  # kill only once this round has committed something new
        proc = subprocess.Popen(
            [TEQUIO, "records", "import", str(stream)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        killed = _kill_while_writing(proc, db_path, after, time.monotonic() + 120)
        assert killed, "the import finished before it could be killed; make the stream larger"
        db = sqlite3.connect(db_path)
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        counts.append(db.execute("SELECT count(*) FROM records").fetchone()[0])
        db.close()
        with Node.open(home) as n:
            assert n.store.check() == [], "a feed chain or head was left half-written"
    # Each kill landed later in the import, and all before its end.
    assert 0 < counts[1] < counts[2] < counts[3] < total, counts

    # Resuming completes the import: what was committed is recognised, the rest accepted.
    done = subprocess.run([TEQUIO, "records", "import", str(stream), "--json"], env=env, capture_output=True)
    assert done.returncode == 0, done.stderr
    with Node.open(home) as n:
        assert n.count() == total
        assert n.store.check(signatures=True) == []
