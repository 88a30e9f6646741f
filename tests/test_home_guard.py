"""Issue 9 §10/§9 and issue 10 §1.7: one serve per home, what it bound, disk full, file modes, no passphrase
left in serve's environment. Every case through real ``tequio`` subprocesses."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

from tests.attackkit import Served, cli_env, init_home, start_serve, tequio
from tests.conftest import TEQUIO


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
