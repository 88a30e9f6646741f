"""Memory stays bounded on hostile inputs: the real CLI import and the real served API."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

from tequio.node.sniff import describe_non_records
from tests.conftest import TEQUIO
from tests.test_api import served, session  # noqa: F401  (fixtures)


def _env(tmp_path: Path) -> dict[str, str]:
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TEQUIO_")} | {"TEQUIO_HOME": str(home)}
    subprocess.run([TEQUIO, "init", "--name", "Cota"], env=env, check=True, capture_output=True)
    return env


def test_sparse_file_refused_in_one_line_with_bounded_memory(tmp_path: Path) -> None:
    env = _env(tmp_path)
    f = tmp_path / "zeros.bin"
    with open(f, "wb") as out:
        out.truncate(64 << 20)
    # A fresh wrapper process measures only this import's peak: the test worker's own RUSAGE_CHILDREN
    # holds the largest child it ever waited for (under xdist, earlier tests' nodes and browsers).
    wrapper = (
        "import resource, subprocess, sys\n"
        "p = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
        "sys.stdout.write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss))\n"
        "sys.stderr.write(p.stderr)\n"
        "sys.exit(p.returncode)\n"
    )
    r = subprocess.run(
        [sys.executable, "-c", wrapper, TEQUIO, "records", "import", str(f)],
        env=env,
        capture_output=True,
        text=True,
    )
    peak_kb = int(r.stdout)
    assert r.returncode == 1
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "not a Tequio record stream" in lines[0] and "zero" in lines[0], r.stderr
    assert peak_kb < 150_000
    log = subprocess.run([TEQUIO, "records", "rejected"], env=env, capture_output=True, text=True)
    assert "no rejections" in log.stderr


def test_bundle_file_points_at_bundle_import(tmp_path: Path) -> None:
    env = _env(tmp_path)
    f = tmp_path / "b.tqb"
    f.write_bytes(b"TQBUNDL1" + b"\x00\x00\x00\x02{}")
    r = subprocess.run([TEQUIO, "records", "import", str(f)], env=env, capture_output=True, text=True)
    assert r.returncode == 1
    assert "tequio bundle import" in r.stderr


def test_sniff_names_common_formats() -> None:
    assert describe_non_records(b'  {"a": 1}') == "it looks like JSON"
    assert "zip" in (describe_non_records(b"PK\x03\x04....") or "")
    assert describe_non_records(b"\x99\x01") is None
    assert describe_non_records(b"") is None


def test_valid_stream_with_bad_records_reports_counts(tmp_path: Path) -> None:
    env = _env(tmp_path)
    for i in range(3):
        subprocess.run(
            [TEQUIO, "publish", "core.note", "--body", f'{{"text": "n{i}"}}'],
            env=env,
            check=True,
            capture_output=True,
        )
    exp = tmp_path / "out.bin"
    subprocess.run([TEQUIO, "records", "export", "--out", str(exp)], env=env, check=True, capture_output=True)
    good = exp.read_bytes()
    assert good[:1] != b""
    bad = tmp_path / "mixed.bin"
    bad.write_bytes(good + b"\x01" * 300)
    env2 = _env(tmp_path / "other")
    r = subprocess.run([TEQUIO, "records", "import", str(bad)], env=env2, capture_output=True, text=True)
    assert r.returncode == 1
    assert "rejected 300" in r.stdout, r.stdout + r.stderr
    assert "by reason: malformed 300" in r.stdout
    assert "… and 280 more" in r.stdout


async def test_deep_json_is_400_and_api_answers_during_large_post(served, session) -> None:  # noqa: F811
    url, token, _ = served
    h = {"Authorization": f"Bearer {token}"}
    deep = "[" * 3000 + "]" * 3000
    async with session.post(
        url + "records", data=deep, headers=h | {"Content-Type": "application/json"}
    ) as r:
        assert r.status == 400
        assert "Traceback" not in await r.text()
    deep2 = '{"kind": "note", "body": ' + '{"a": ' * 3000 + "1" + "}" * 3000 + "}"
    async with session.post(
        url + "records", data=deep2, headers=h | {"Content-Type": "application/json"}
    ) as r:
        assert r.status == 400
    big = b"\x91\x01" * (128 << 10)

    async def post() -> int:
        ct = {"Content-Type": "application/vnd.tequio.records"}
        async with session.post(url + "records", data=big, headers=h | ct) as r:
            return r.status

    task = asyncio.create_task(post())
    await asyncio.sleep(0.2)
    async with session.get(url + "info", headers=h) as r:
        assert r.status == 200
    assert await task == 200
