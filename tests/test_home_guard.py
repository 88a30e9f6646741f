"""Issue 9 §10/§9 and issue 10 §1.7: one serve per home, what it bound, disk full, file modes, no passphrase
left in serve's environment. Every case through real ``tequio`` subprocesses."""

from __future__ import annotations

import errno
import http.client
import json
import os
import stat
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.attackkit import Served, cli_env, init_home, start_serve, tequio
from tests.conftest import TEQUIO, Feed, key


def serve_state(served: Served) -> dict[str, object]:
    """serve.json once serve wrote it (after every listener is bound, a moment after the API line)."""
    path = served.home / "serve.json"
    for _ in range(600):
        if path.exists():
            data: dict[str, object] = json.loads(path.read_text())
            if data.get("pid") == served.proc.pid:
                return data
        assert served.proc.poll() is None, served.stop()
        time.sleep(0.05)
    raise AssertionError("serve.json never written")


def test_second_serve_on_one_home_refuses_naming_the_first(tmp_path: Path) -> None:
    home = tmp_path / "casa"
    init_home(home)
    first = start_serve(home)
    try:
        state = serve_state(first)
        assert state["pid"] == first.proc.pid
        assert state["api_port"] == int(first.api.split(":")[1])
        assert int(first.fed.split(":")[1]) in state["fed_ports"]
        assert (home / "serve.lock").read_text().strip() == str(first.proc.pid)
        second = subprocess.run(
            [
                TEQUIO,
                "serve",
                "--fed-host",
                "127.0.0.1",
                "--fed-port",
                "0",
                "--api-port",
                "0",
                "--no-discovery",
                "--no-web",
            ],
            env=cli_env(home),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert second.returncode == 1, second
        assert f"another tequio serve (PID {first.proc.pid}) is serving this home" in second.stderr
        assert "Traceback" not in second.stderr
        assert first.proc.poll() is None  # the first goes on serving
        assert first.call_blocking() < 1.0
        info = json.loads(tequio(home, "info", "--json").stdout)
        assert info["serving"]["pid"] == first.proc.pid
        assert info["serving"]["api_port"] == state["api_port"]
        text = tequio(home, "info").stdout
        assert f"PID {first.proc.pid}: local API port {state['api_port']}" in text
    finally:
        first.stop()
    assert first.proc.returncode == 0
    assert not (home / "serve.json").exists()  # removed on a clean exit
    assert json.loads(tequio(home, "info", "--json").stdout)["serving"] is None
    again = start_serve(home)  # the lock went with the first process
    try:
        assert again.call_blocking() < 1.0
    finally:
        again.stop()


def test_a_killed_serve_leaves_no_lock_behind(tmp_path: Path) -> None:
    home = tmp_path / "casa"
    init_home(home)
    first = start_serve(home)
    serve_state(first)
    first.proc.kill()
    first.proc.wait()
    assert (home / "serve.json").exists()  # kill -9 leaves it: info must not believe it
    assert json.loads(tequio(home, "info", "--json").stdout)["serving"] is None
    again = start_serve(home)
    try:
        assert serve_state(again)["pid"] == again.proc.pid
    finally:
        again.stop()


DISK_FULL = "the disk holding {home} is full; nothing was lost; free space and run it again"


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 2 MiB tmpfs of its own (CI runs as root); skipped only when mounting is refused."""
    where = tmp_path / "disk"
    where.mkdir()
    r = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(where)], capture_output=True, text=True
    )
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.strip() or r.returncode}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def fill(disk: Path) -> Path:
    """Write zeros until the file system refuses one more byte."""
    filler = disk / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        while True:
            os.write(fd, b"\0" * 4096)
    except OSError as e:
        assert e.errno == errno.ENOSPC
    finally:
        os.close(fd)
    return filler


def one_line(r: subprocess.CompletedProcess[str]) -> str:
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    return lines[0]


def test_full_disk_clear_words_reads_go_on_writes_refused(tmp_path: Path, small_disk: Path) -> None:
    other = tmp_path / "otra"
    init_home(other, "Otra")
    assert tequio(other, "publish", "core.note", "--body", '{"text": "de fuera"}').returncode == 0
    stream = tmp_path / "otra.tqr"
    with stream.open("wb") as f:
        assert subprocess.run([TEQUIO, "records", "export"], env=cli_env(other), stdout=f).returncode == 0
    home = small_disk / "casa"
    init_home(home)
    assert tequio(home, "publish", "core.note", "--body", '{"text": "antes"}').returncode == 0
    filler = fill(small_disk)
    expected = "error: " + DISK_FULL.format(home=home)
    for args in (
        ("publish", "core.note", "--body", '{"text": "llena"}'),
        ("records", "import", str(stream)),
    ):
        r = tequio(home, *args)
        assert r.returncode == 1, (args, r)
        assert one_line(r) == expected, args
        assert "internal error" not in r.stderr
    served = start_serve(home)
    try:
        assert served.call_blocking() < 1.0, served.stop()  # reads are served
        conn = http.client.HTTPConnection(*served.api.split(":"), timeout=10)
        auth = {"Authorization": f"Bearer {served.token}"}
        conn.request("GET", "/api/v1/records", headers=auth)
        listed = json.loads(conn.getresponse().read())
        assert [r["body"]["text"] for r in listed["records"]] == ["antes"]
        conn.request(
            "POST",
            "/api/v1/records",
            body=json.dumps({"kind": "core.note", "body": {"text": "por la API"}}),
            headers=auth | {"Content-Type": "application/json"},
        )
        reply = conn.getresponse()
        body = json.loads(reply.read())
        assert reply.status == 507, body
        assert body == {"error": "disk-full", "detail": DISK_FULL.format(home=home)}
        assert served.call_blocking() < 1.0  # still answering after the refusal
        conn.close()
    finally:
        err = served.stop()
    assert served.proc.returncode == 0, err
    assert "Traceback" not in err and "internal error" not in err
    filler.unlink()  # space again: the same commands now work, and nothing was lost
    assert tequio(home, "records", "import", str(stream)).returncode == 0
    assert tequio(home, "publish", "core.note", "--body", '{"text": "después"}').returncode == 0
    texts = [r["body"]["text"] for r in json.loads(tequio(home, "records", "list", "--json").stdout)]
    assert sorted(texts) == ["antes", "de fuera", "después"]
    assert json.loads(tequio(home, "check", "--json").stdout)["ok"] is True


def loose(*args: str, home: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``tequio`` run under umask 000, the loosest an operator's shell could have."""
    return subprocess.run(
        [TEQUIO, *args],
        env=cli_env(home) | (env or {}),
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=lambda: os.umask(0),
    )


def loose_modes(home: Path) -> list[str]:
    """Every path under ``home`` (itself included) that another user could read, enter or write."""
    found = []
    for path in [home, *home.rglob("*")]:
        mode = stat.S_IMODE(path.lstat().st_mode)
        want = 0o700 if path.is_dir() else 0o600
        if mode & 0o077 or (path.is_file() and mode != want):
            found.append(f"{path.relative_to(home.parent)} {mode:04o}")
    return found


def test_every_file_is_private_under_umask_000_in_a_0755_home(tmp_path: Path) -> None:
    home = tmp_path / "casa"
    home.mkdir()
    os.chmod(home, 0o755)  # a home made beforehand with a plain mkdir
    assert loose("init", "--name", "Casa", home=home).returncode == 0
    photo = tmp_path / "foto.txt"
    photo.write_text("una prueba\n")
    r = loose(
        "publish",
        "core.note",
        "--body",
        '{"text": "con adjunto"}',
        "--attach",
        str(photo),
        "--keep-metadata",
        home=home,
    )
    assert r.returncode == 0, r.stderr
    proc = subprocess.Popen(
        [TEQUIO, "serve", "--fed-host", "127.0.0.1", "--fed-port", "0", "--api-port", "0", "--no-discovery"],
        env=cli_env(home),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: os.umask(0),
    )
    served = Served(home, proc, "", "", "")
    try:
        serve_state(served)  # every listener bound, serve.json written
        assert loose("publish", "core.note", "--body", '{"text": "con serve"}', home=home).returncode == 0
        names = {p.name for p in home.rglob("*")}
        assert {"tequio.sqlite", "tequio.sqlite-wal", "tequio.sqlite-shm", "blobs", "serve.json"} <= names
        assert loose_modes(home) == []
    finally:
        served.stop()
    assert loose_modes(home) == []


def test_an_older_node_is_narrowed_when_opened(tmp_path: Path) -> None:
    home = tmp_path / "casa"
    init_home(home)
    for p in [home, *home.rglob("*")]:  # as an older version, or a copy with cp -r under umask 022, left it
        os.chmod(p, 0o755 if p.is_dir() else 0o644)
    assert tequio(home, "info").returncode == 0
    assert loose_modes(home) == []


PASS = {"TEQUIO_PASS": "una frase larga de prueba"}


def environ_of(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes()
    return dict(item.split("=", 1) for item in raw.decode(errors="replace").split("\0") if "=" in item)


def children_of(pid: int) -> list[int]:
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                fields = (d / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                out.append(int(d.name))
    return out


def test_the_passphrase_leaves_serve_and_never_reaches_its_children(tmp_path: Path) -> None:
    home = tmp_path / "casa"
    r = subprocess.run(
        [TEQUIO, "init", "--name", "Casa", "--passphrase-env", "TEQUIO_PASS", "--kdf", "interactive"],
        env=cli_env(home) | PASS,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    proc = subprocess.Popen(
        [TEQUIO, "serve", "--fed-host", "127.0.0.1", "--fed-port", "0", "--api-port", "0", "--no-discovery"],
        env=cli_env(home) | PASS,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    served = Served(home, proc, "", "", (home / "api.token").read_text().strip())
    try:
        state = serve_state(served)
        served.api = f"127.0.0.1:{state['api_port']}"
        # Enough records for the verifier processes to be started (they are, on a large batch).
        stream = b"".join(r.wire for r in Feed(key(7)).take(1500))
        conn = http.client.HTTPConnection("127.0.0.1", int(str(state["api_port"])), timeout=60)
        conn.request(
            "POST",
            "/api/v1/records",
            body=stream,
            headers={
                "Authorization": f"Bearer {served.token}",
                "Content-Type": "application/vnd.tequio.records",
            },
        )
        reply = conn.getresponse()
        assert reply.status == 200, reply.read()
        assert json.loads(reply.read())["accepted"] == 1500
        conn.close()
        kids = children_of(proc.pid)
        assert kids, "no verifier process was started"
        for pid in [proc.pid, *kids]:
            env = environ_of(pid)
            assert "TEQUIO_PASS" not in env, pid
            assert PASS["TEQUIO_PASS"] not in "\0".join(f"{k}={v}" for k, v in env.items()), pid
        assert served.call_blocking() < 1.0  # the key stayed open: serve still signs and answers
    finally:
        served.stop()
