"""Shared fixtures: deterministic nodes, keys and records, and a runner for the real CLI."""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from nacl.signing import SigningKey

from tequio.node import Node
from tequio.schemas import Payload, Record, make_record

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
TEQUIO = str(Path(sys.executable).with_name("tequio"))


class FakeClock:
    """A clock tests move by hand: every call returns the current value, then advances by ``step``."""

    def __init__(self, start: int = 1_767_225_600_000, step: int = 1) -> None:
        self.now = start
        self.step = step

    def __call__(self) -> int:
        t = self.now
        self.now += self.step
        return t


def seeded_rng(seed: int) -> Callable[[int], bytes]:
    r = random.Random(seed)
    return r.randbytes


@pytest.fixture
def make_node(tmp_path: Path) -> Iterator[Callable[..., Node]]:
    """Factory of real nodes on real SQLite files, each with its own clock and seeded randomness."""
    made: list[Node] = []

    def factory(name: str = "Casa", seed: int = 1, **kw: Any) -> Node:
        kw.setdefault("clock", FakeClock())
        kw.setdefault("rng", seeded_rng(seed))
        kw.setdefault("kdf_profile", "interactive")
        node = Node.create(tmp_path / f"{name}-{seed}-{len(made)}", name=name, **kw)
        made.append(node)
        return node

    yield factory
    for n in made:
        n.close()


@pytest.fixture
def node(make_node: Callable[..., Node]) -> Node:
    return make_node()


def key(n: int) -> SigningKey:
    return SigningKey(random.Random(f"key{n}").randbytes(32))


def note(text: str = "hola") -> bytes:
    return Payload("core.note", {"text": text}).encode()


@dataclass
class Feed:
    """Builds a well-formed chain of records for one author and scope."""

    sk: SigningKey
    scope: str = "public"
    ts: int = 1_767_225_600_000

    def __post_init__(self) -> None:
        self.records: list[Record] = []

    def next(self, payload: bytes | None = None) -> Record:
        prev = self.records[-1].id if self.records else None
        rec = make_record(
            self.sk,
            self.scope,
            len(self.records) + 1,
            prev,
            self.ts + len(self.records),
            payload if payload is not None else note(f"n{len(self.records) + 1}"),
        )
        self.records.append(rec)
        return rec

    def take(self, n: int) -> list[Record]:
        return [self.next() for _ in range(n)]


@dataclass
class CliResult:
    code: int
    out: str
    err: str


@pytest.fixture
def cli(tmp_path: Path) -> Callable[..., CliResult]:
    """Run the installed ``tequio`` console script in a subprocess with its own TEQUIO_HOME."""
    home = tmp_path / "cli-home"

    def run(
        *args: str,
        env: dict[str, str] | None = None,
        input: bytes | None = None,
        home_dir: Path | None = None,
    ) -> CliResult:
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("TEQUIO_")}
        full_env["TEQUIO_HOME"] = str(home_dir or home)
        full_env.update(env or {})
        p = subprocess.run([TEQUIO, *args], capture_output=True, env=full_env, input=input, timeout=120)
        return CliResult(
            p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")
        )

    run.home = home  # type: ignore[attr-defined]
    return run


def peak_rss_mb(pid: int) -> float:
    """VmHWM of a live process: the most resident memory it ever had."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


def wait_until(what: str, check: Callable[[], bool], timeout: float = 60, every: float = 0.1) -> None:
    """Poll ``check`` until it holds; the timeout only bounds a hung test, it asserts no speed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")
