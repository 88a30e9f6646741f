"""Federation from the CLI, as operators run it: real `tequio serve` processes on 127.0.0.1."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tequio.federation.invites import Invite
from tequio.node.identity import load_identity
from tests.conftest import TEQUIO, wait_until


@dataclass
class Org:
    home: Path
    env: dict[str, str]
    proc: subprocess.Popen | None = None
    fed: str = ""

    def run(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([TEQUIO, *args], env=self.env, capture_output=True, text=True, timeout=120)

    def json(self, *args: str) -> object:
        r = self.run(*args, "--json")
        assert r.returncode == 0, r.stderr
        return json.loads(r.stdout)

    def ids(self) -> set[str]:
        return {r["id"] for r in self.json("records", "list", "--limit", "0")}  # type: ignore[union-attr]


@pytest.fixture
def orgs(tmp_path: Path) -> Iterator[Callable[[str], Org]]:
    made: list[Org] = []

    def new(name: str) -> Org:
        home = tmp_path / name.replace(" ", "-")
        env = {k: v for k, v in os.environ.items() if not k.startswith("TEQUIO_")} | {
            "TEQUIO_HOME": str(home)
        }
        org = Org(home, env)
        assert org.run("init", "--name", name).returncode == 0
        cfg = home / "tequio.toml"  # quick gossip, for tests
        cfg.write_text(cfg.read_text().replace("interval_ms = 5000", "interval_ms = 400"))
        made.append(org)
        return org

    yield new
    for org in made:
        if org.proc and org.proc.poll() is None:
            org.proc.send_signal(signal.SIGTERM)
            try:
                org.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                org.proc.kill()


def _serve(org: Org) -> None:
    org.proc = subprocess.Popen(
        [
            TEQUIO,
            "serve",
            "--fed-host",
            "127.0.0.1",
            "--fed-port",
            "0",
            "--api-port",
            "0",
            "--web-port",
            "0",
            "--no-discovery",
        ],
        env=org.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    for _ in range(6):
        line = org.proc.stdout.readline()
        if m := re.search(r"federation http://(127\.0\.0\.1:\d+)/fed/v1/", line):
            org.fed = m.group(1)
            return
    raise AssertionError(
        f"serve printed no federation address: {org.proc.stderr.read() if org.proc.poll() else ''}"
    )


def _connect(inviter: Org, joiner: Org) -> None:
    code = inviter.run("invite", "--ttl", "10m").stdout.strip()
    r = joiner.run("peer", "add", code)
    assert r.returncode == 0, r.stderr


def test_three_organisations_converge_through_invites_and_gossip(orgs: Callable[[str], Org]) -> None:
    a, b, c = orgs("Org A"), orgs("Org B"), orgs("Org C")
    for org in (a, b, c):
        _serve(org)
    _connect(a, b)  # A - B - C: A and C never trust each other
    _connect(b, c)
    listed = {p["name"]: p for p in b.json("peer", "list")}  # type: ignore[union-attr]
    assert set(listed) == {"Org A", "Org C"} and all(p["status"] == "trusted" for p in listed.values())
    # A CLI command on A's home while A's serve runs: the record reaches C through B.
    rid = json.loads(
        a.run("publish", "core.note", "--body", '{"text": "de A para la coalición"}', "--json").stdout
    )
    c.run("publish", "core.note", "--body", '{"text": "de C"}')
    wait_until("all three to hold both records", lambda: len(a.ids()) == len(b.ids()) == len(c.ids()) == 2)
    assert rid["id"] in c.ids()
    # `tequio sync` prints what moved: nothing now.
    r = b.run("sync")
    assert r.returncode == 0 and r.stdout.count("already in sync") == 2


def test_a_peer_added_while_serve_runs_is_synced_without_a_restart(orgs: Callable[[str], Org]) -> None:
    a, b = orgs("Org A"), orgs("Org B")
    _serve(a)
    _serve(b)
    for i in range(3):
        a.run("publish", "core.note", "--body", json.dumps({"text": f"antes de conocernos {i}"}))
    _connect(a, b)  # `peer add` runs in its own process; both serves pick the new peer up
    wait_until("B to catch up", lambda: len(b.ids()) == 3)


def test_invites_that_must_be_refused(orgs: Callable[[str], Org]) -> None:
    a, b, c = orgs("Org A"), orgs("Org B"), orgs("Org C")
    _serve(a)
    code = a.run("invite", "--ttl", "10m", "--uses", "1").stdout.strip()
    # forged: one character changed
    i = len(code) // 2
    forged = code[:i] + ("A" if code[i] != "A" else "B") + code[i + 1 :]
    r = b.run("peer", "add", forged)
    assert r.returncode == 1 and ("altered or forged" in r.stderr or "damaged" in r.stderr)
    assert r.stderr.count("\n") == 1
    # used once: the second use is refused by the inviting node
    assert b.run("peer", "add", code).returncode == 0
    r = c.run("peer", "add", code)
    assert r.returncode == 1 and "already been used" in r.stderr
    # expired: an invite signed by A's own key, but with an expiry in the past
    ident = load_identity(a.home)
    stale = Invite(ident.public, "Org A", [a.fed], b"\x01" * 16, 1_000).encode(
        lambda d: ident.signing_key.sign(d).signature
    )
    r = c.run("peer", "add", stale)
    assert r.returncode == 1 and "expired" in r.stderr
    assert c.json("peer", "list") == []
    # not an invite at all
    assert "not a Tequio invite" in c.run("peer", "add", "hello").stderr


def test_peer_list_block_unblock_remove(orgs: Callable[[str], Org]) -> None:
    a, b = orgs("Org A"), orgs("Org B")
    _serve(a)
    _connect(a, b)
    (p,) = b.json("peer", "list")  # type: ignore[misc]
    assert p["name"] == "Org A" and p["status"] == "trusted" and p["addrs"] == [a.fed]
    fp = p["fingerprint"]
    assert b.run("peer", "block", fp).returncode == 0
    assert b.json("peer", "list")[0]["status"] == "blocked"  # type: ignore[index]
    r = b.run("sync")
    assert r.returncode == 1 and "no trusted peers" in r.stderr
    assert b.run("peer", "unblock", p["key"][:12]).returncode == 0
    assert b.run("sync").returncode == 0
    assert b.run("peer", "remove", p["key"]).returncode == 0
    assert b.json("peer", "list") == []
    r = b.run("peer", "remove", p["key"])
    assert r.returncode == 1 and "no known peer" in r.stderr
    assert "neither a node key" in b.run("peer", "block", "???").stderr


def test_invite_needs_an_address_and_durations_are_checked(orgs: Callable[[str], Org]) -> None:
    a = orgs("Org A")
    r = a.run("invite")
    assert r.returncode == 1 and "start 'tequio serve'" in r.stderr
    r = a.run("invite", "--ttl", "forever")
    assert r.returncode == 2 and "a positive number with a unit" in r.stderr


def test_sync_reports_an_unreachable_peer(orgs: Callable[[str], Org]) -> None:
    a, b = orgs("Org A"), orgs("Org B")
    _serve(a)
    _connect(a, b)
    a.proc.send_signal(signal.SIGTERM)
    a.proc.wait(timeout=20)
    r = b.run("sync", "--json")
    assert r.returncode == 1
    (entry,) = json.loads(r.stdout)
    said = f"connection refused at {a.fed}: is its tequio serve running, or has it moved?"
    assert entry["ok"] is False and entry["error"] == said
    (peer,) = b.json("peer", "list")  # type: ignore[misc]
    assert peer["fails"] == 1 and peer["last_error"] == said
    r = b.run("sync")  # in words, never an exception's class name
    assert said in r.stdout and "ClientConnectorError" not in r.stdout + r.stderr
    assert f"last error: {said}" in b.run("peer", "list").stdout


def test_serve_says_what_is_wrong_with_the_address(orgs: Callable[[str], Org]) -> None:
    a, b = orgs("Org A"), orgs("Org B")
    _serve(a)
    port = a.fed.split(":")[1]
    r = b.run("serve", "--fed-host", "127.0.0.1", "--fed-port", port, "--api-port", "0", "--no-discovery")
    assert r.returncode == 1 and "the port is in use" in r.stderr and "choose another port" in r.stderr
    assert r.stderr.count("\n") == 1
    for host in ("no-such-host.invalid", "192.0.2.77"):  # not a name or address of this machine
        r = b.run("serve", "--fed-host", host, "--fed-port", "0", "--api-port", "0", "--no-discovery")
        assert r.returncode == 1 and r.stderr.count("\n") == 1, r.stderr
        assert f"{host!r} is not an address of this machine; check --fed-host" in r.stderr
        assert "choose another port" not in r.stderr


def test_invite_qr_is_printed(orgs: Callable[[str], Org]) -> None:
    a = orgs("Org A")
    _serve(a)
    r = a.run("invite", "--qr")
    assert r.returncode == 0 and r.stdout.startswith("TQ1") and ("█" in r.stdout or "▀" in r.stdout)


def _serve_on(org: Org, port: str) -> None:
    """Restart a node's serve on the federation port it had (peers know that address)."""
    org.proc = subprocess.Popen(
        [
            TEQUIO,
            "serve",
            "--fed-host",
            "127.0.0.1",
            "--fed-port",
            port,
            "--api-port",
            "0",
            "--web-port",
            "0",
            "--no-discovery",
        ],
        env=org.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    for _ in range(6):
        if "federation http://" in org.proc.stdout.readline():
            return
    raise AssertionError(org.proc.stderr.read() if org.proc.poll() is not None else "no federation line")


def test_a_partition_heals_with_nothing_lost(orgs: Callable[[str], Org]) -> None:
    a, b, c = orgs("Org A"), orgs("Org B"), orgs("Org C")
    for org in (a, b, c):
        _serve(org)
    _connect(a, b)
    _connect(b, c)
    a.run("publish", "core.note", "--body", '{"text": "antes del corte"}')
    wait_until("the first record everywhere", lambda: len(c.ids()) == 1)
    b.proc.send_signal(signal.SIGTERM)  # the link through B goes down
    b.proc.wait(timeout=20)
    for i in range(2):
        a.run("publish", "core.note", "--body", json.dumps({"text": f"A durante el corte {i}"}))
        c.run("publish", "core.note", "--body", json.dumps({"text": f"C durante el corte {i}"}))
    assert len(a.ids()) == 3 and len(c.ids()) == 3
    _serve_on(b, b.fed.split(":")[1])
    wait_until(
        "every record everywhere", lambda: len(a.ids()) == len(b.ids()) == len(c.ids()) == 5, timeout=90
    )
    assert a.ids() == b.ids() == c.ids()
