"""Ctrl-C during ``records import``, at any moment: one line saying how far it got, exit 130.

A real ``tequio`` process gets SIGINT the way a terminal sends it (to its whole process group), early
while Python is still importing, and mid-import while batches are being written.
"""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from tequio.node import Node
from tequio.node.store import DB_FILE
from tests.conftest import TEQUIO
from tests.test_crash import _write_stream

TOTAL = 60 * 500
LINE = re.compile(r"interrupted: ([\d,]+)( of ([\d,]+))? records stored; run it again to finish\n")


@pytest.fixture(scope="module")
def stream(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("stream") / "records.bin"
    assert _write_stream(path, authors=60, per_author=500) == TOTAL
    return path


def _home(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    home = tmp_path / "home"
    Node.create(home, name="Ctrl C", kdf_profile="interactive").close()
    cfg = home / "tequio.toml"  # many batches: many moments to be interrupted in
    cfg.write_text(cfg.read_text().replace("batch_size = 5000", "batch_size = 1000"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("TEQUIO_")} | {"TEQUIO_HOME": str(home)}
    return home, env


def _start(args: list[str], env: dict[str, str], stdin: Path | None = None) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [TEQUIO, *args],
        env=env,
        stdin=stdin.open("rb") if stdin else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,  # its own process group, to signal as a terminal does
    )


def _ctrl_c(proc: subprocess.Popen[bytes], times: int = 1) -> tuple[int, str, str]:
    for _ in range(times):
        os.killpg(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    return proc.returncode, out.decode(), err.decode()


def _stored(home: Path) -> int:
    db = sqlite3.connect(home / DB_FILE)
    try:
        return int(db.execute("SELECT count(*) FROM records").fetchone()[0])
    finally:
        db.close()


def _wait_for_records(proc: subprocess.Popen[bytes], home: Path, at_least: int) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the import finished before it could be interrupted"
        if (home / DB_FILE).exists() and _stored(home) >= at_least:
            return
        time.sleep(0.005)
    raise AssertionError("the import stored nothing in time")


def _assert_one_line(code: int, out: str, err: str) -> re.Match[str]:
    assert code == 130, err
    assert out == ""
    match = LINE.fullmatch(err)
    assert match, f"not the one interrupted line: {err!r}"
    assert "Traceback" not in err and "WARNING" not in err
    return match


@pytest.mark.parametrize("moment", [0.0, 0.05, 0.15, 0.3])
def test_ctrl_c_early_says_one_line(tmp_path: Path, stream: Path, moment: float) -> None:
    home, env = _home(tmp_path)
    proc = _start(["records", "import", str(stream)], env)
    time.sleep(moment)
    code, out, err = _ctrl_c(proc)
    if moment == 0.0 and "init_import_site" in err:
        # CPython itself was interrupted while importing `site`, before any Tequio code ran: the
        # interpreter's own fatal error, which no program can intercept (seen once in CI).
        return
    if code == -signal.SIGINT:  # before Python set up its handler: the shell reports it, nothing printed
        assert moment == 0.0 and out == err == ""
        return
    match = _assert_one_line(code, out, err)
    assert int(match[1].replace(",", "")) <= _stored(home)
    if match[3] is not None:
        assert int(match[3].replace(",", "")) == TOTAL


@pytest.mark.parametrize("after", [1, TOTAL // 3, 2 * TOTAL // 3])
def test_ctrl_c_mid_import_counts_what_is_stored_and_a_rerun_finishes(
    tmp_path: Path, stream: Path, after: int
) -> None:
    home, env = _home(tmp_path)
    proc = _start(["records", "import", str(stream)], env)
    _wait_for_records(proc, home, after)
    match = _assert_one_line(*_ctrl_c(proc))
    assert match[3] == f"{TOTAL:,}"
    said = int(match[1].replace(",", ""))
    in_store = _stored(home)
    assert said <= in_store < TOTAL  # never claims more than is there
    with Node.open(home) as n:
        assert n.store.check() == []
    done = subprocess.run([TEQUIO, "records", "import", str(stream), "--json"], env=env, capture_output=True)
    assert done.returncode == 0, done.stderr
    assert _stored(home) == TOTAL


def test_ctrl_c_on_stdin_has_no_total_and_twice_is_still_one_line(tmp_path: Path, stream: Path) -> None:
    home, env = _home(tmp_path)
    proc = _start(["records", "import", "-"], env, stdin=stream)
    _wait_for_records(proc, home, 1)
    match = _assert_one_line(*_ctrl_c(proc, times=2))
    assert match[2] is None  # a stream's total is unknown
    assert int(match[1].replace(",", "")) <= _stored(home)
