"""Tools for attacking a real node the way an outsider or a hostile peer would, and for watching it.

``Served`` is a real ``tequio serve`` subprocess on 127.0.0.1 (optionally with a lowered open-file
limit), with its local API timed while an attack runs. ``HostilePeer`` is a trusted peer gone bad: a
real aiohttp server that authenticates and boxes exactly as a node does (federation's own wire
code), but answers what its ``answer`` function says. ``signed_post`` sends hand-made requests.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import json
import os
import re
import resource
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from nacl.signing import SigningKey

from tequio.federation.http import PATH_PREFIX
from tequio.federation.wire import (
    AUTH_HEADER,
    ReplayGuard,
    SigningKeyring,
    check_request,
    close_message,
    open_message,
    sign_request,
    sign_response,
)
from tequio.node import Node
from tequio.node.federation import Federation
from tequio.schemas import encode
from tests.conftest import TEQUIO


def cli_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TEQUIO_")}
    return env | {"TEQUIO_HOME": str(home)}


def tequio(home: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([TEQUIO, *args], env=cli_env(home), capture_output=True, text=True, timeout=timeout)


def init_home(home: Path, name: str = "Casa", **federation: object) -> None:
    """``tequio init``, then quick gossip and any ``[federation]`` keys given."""
    r = tequio(home, "init", "--name", name)
    assert r.returncode == 0, r.stderr
    cfg = home / "tequio.toml"
    text = cfg.read_text().replace("interval_ms = 5000", "interval_ms = 400")
    for k, v in federation.items():
        text, n = re.subn(rf"(?m)^{k} = .*$", f"{k} = {json.dumps(v)}", text)
        assert n == 1, k
    cfg.write_text(text)


@dataclass
class Served:
    """A running ``tequio serve`` and what is needed to talk to it and watch it."""

    home: Path
    proc: subprocess.Popen[str]
    api: str
    fed: str
    token: str
    latencies: list[float] = field(default_factory=list)

    @property
    def key(self) -> bytes:
        return bytes.fromhex(json.loads((self.home / "node.key").read_text())["public"])

    async def api_call_once(self) -> None:
        """One local API call now, from a fresh connection: it must answer within 1 s."""
        took = await asyncio.to_thread(self.call_blocking)
        assert took < 1.0, took

    def call_blocking(self, timeout: float = 10.0) -> float:
        """One local API call on a plain blocking connection; its latency (``timeout`` if it fails)."""
        t = time.monotonic()
        try:
            conn = http.client.HTTPConnection(*self.api.split(":"), timeout=timeout)
            conn.request("GET", "/api/v1/info", headers={"Authorization": f"Bearer {self.token}"})
            ok = conn.getresponse().status == 200
            conn.close()
        except OSError:
            ok = False
        took = time.monotonic() - t
        return took if ok else max(took, timeout)

    @contextlib.contextmanager
    def watched(self, every_s: float = 0.1) -> Iterator[None]:
        """Call the local API every ``every_s`` from a thread of its own while the block runs (so that
        an attack this test process drives on its event loop does not delay the calls); latencies go
        to ``self.latencies``."""
        stop = threading.Event()

        def run() -> None:
            while not stop.is_set():
                self.latencies.append(self.call_blocking())
                stop.wait(every_s)

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()

    def worst_latency(self) -> float:
        return max(self.latencies, default=0.0)

    def stop(self) -> str:
        """SIGTERM, wait; returns what serve wrote to standard error."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        assert self.proc.stderr is not None
        return self.proc.stderr.read()


def start_serve(home: Path, nofile: int | None = None) -> Served:
    """``tequio serve`` on 127.0.0.1, any free ports, no discovery; ``nofile`` lowers its open-file
    limit (soft and hard) so that exhausting it is cheap."""

    def limit() -> None:
        if nofile is not None:
            resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))

    proc = subprocess.Popen(
        [TEQUIO, "serve", "--fed-host", "127.0.0.1", "--fed-port", "0", "--api-port", "0", "--no-discovery"],
        env=cli_env(home),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=limit if nofile is not None else None,
    )
    api = fed = ""
    assert proc.stdout is not None
    for _ in range(8):
        line = proc.stdout.readline()
        if m := re.search(r"local API  http://(127\.0\.0\.1:\d+)/", line):
            api = m.group(1)
        if m := re.search(r"federation http://(127\.0\.0\.1:\d+)/fed/v1/", line):
            fed = m.group(1)
        if api and fed:
            break
    if not (api and fed):
        proc.kill()
        raise AssertionError(f"serve did not start: {proc.stderr.read() if proc.stderr else ''}")
    return Served(home, proc, api, fed, (home / "api.token").read_text().strip())


def trust(home: Path, key: bytes, name: str, addrs: list[str]) -> None:
    """Make the node in ``home`` trust ``key`` at ``addrs`` (what a completed invite does)."""
    with Node.open(home) as node:
        Federation(node).peers.trust(key, name, addrs)


def peers_of(home: Path) -> list[dict[str, Any]]:
    r = tequio(home, "peer", "list", "--json")
    assert r.returncode == 0, r.stderr
    out: list[dict[str, Any]] = json.loads(r.stdout)
    return out


def store_is_healthy(home: Path) -> None:
    r = tequio(home, "check", "--json")
    assert r.returncode == 0, (r.stdout, r.stderr)


async def wait_for(what: str, check: Callable[[], Awaitable[bool] | bool], timeout: float = 60) -> None:
    """Poll ``check`` (another process's state has no event to await) until true, or fail."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if isinstance(result, Awaitable):
            result = await result
        if result:
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


# -- hand-made requests ----------------------------------------------------------------------------------


def fresh_keyring(seed: int) -> SigningKeyring:
    return SigningKeyring(SigningKey(seed.to_bytes(32, "big")))


def boxed(sender: SigningKeyring, receiver: bytes, plaintext: bytes) -> bytes:
    """A body boxed from ``sender`` to ``receiver`` around any plaintext, canonical or not."""
    return bytes(sender.box(receiver).encrypt(plaintext))


def auth_headers(
    sender: SigningKeyring, receiver: bytes, method: str, body: bytes, nonce: bytes
) -> dict[str, str]:
    now = time.time_ns() // 1_000_000
    return {AUTH_HEADER: sign_request(sender, receiver, "POST", PATH_PREFIX + method, body, now, nonce)}


async def signed_post(
    http: aiohttp.ClientSession,
    addr: str,
    sender: SigningKeyring,
    receiver: bytes,
    method: str,
    message: Any = None,
    *,
    plaintext: bytes | None = None,
) -> tuple[int, Any]:
    """POST a signed, boxed request; returns the status and the decoded reply (or the plain text
    of an unauthenticated refusal)."""
    body = boxed(sender, receiver, plaintext if plaintext is not None else encode(message))
    headers = auth_headers(sender, receiver, method, body, os.urandom(16))
    async with http.post(f"http://{addr}{PATH_PREFIX}{method}", data=body, headers=headers) as r:
        data = await r.read()
        if AUTH_HEADER not in r.headers:
            return r.status, data.decode()
        return r.status, open_message(sender, receiver, data)


# -- a hostile trusted peer ----------------------------------------------------------------------------


Answer = Callable[[str, Any], Any]


class HostilePeer:
    """A trusted peer gone bad, on 127.0.0.1: real signatures, real boxes, hostile answers."""

    def __init__(self, seed: int, answer: Answer) -> None:
        self.keyring = fresh_keyring(seed)
        self.answer = answer
        self.calls: dict[str, int] = {}
        self.addr = ""
        self._runner: web.AppRunner | None = None

    @property
    def key(self) -> bytes:
        return self.keyring.key

    async def start(self) -> str:
        guard = ReplayGuard()

        async def handle(request: web.Request) -> web.Response:
            method = request.match_info["method"]
            body = await request.read()
            auth = check_request(
                request.headers.get(AUTH_HEADER),
                "POST",
                request.path,
                body,
                self.keyring.key,
                time.time_ns() // 1_000_000,
                guard,
                known=lambda key: True,
            )
            message = open_message(self.keyring, auth.sender, body)
            self.calls[method] = self.calls.get(method, 0) + 1
            reply = await asyncio.to_thread(self.answer, method, message)  # big replies take a while
            status = 200 if not (isinstance(reply, dict) and "error" in reply) else 400
            out = close_message(self.keyring, auth.sender, reply)
            sig = sign_response(self.keyring, auth.sender, status, auth.nonce, out)
            return web.Response(status=status, body=out, headers={AUTH_HEADER: sig})

        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post(PATH_PREFIX + "{method}", handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.addr = f"{host}:{port}"
        return self.addr

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


def endless_pages(per_page: int = 20_000) -> Answer:
    """Every sync: a full page of ``per_page`` new public feeds after the last, and ``more: true``,
    sorted as the spec asks, so that only the bounds on a round stop it (F7)."""

    def answer(method: str, message: Any) -> Any:
        if method != "sync":
            return {"records": [], "more": False, "heads": [], "accepted": 0, "rejected": 0}
        after = message.get("after")
        start = int.from_bytes(after[0], "big") + 1 if after else 1
        changes = [[(start + i).to_bytes(32, "big"), "public", 1 + i % 7, bytes(32)] for i in range(per_page)]
        return {
            "in_sync": False,
            "epoch": b"\x07" * 16,
            "position": 10**9,
            "full": True,
            "changes": changes,
            "more": True,
        }

    return answer


def phantom_heads(count: int = 20_000) -> Answer:
    """Every sync: ``count`` feeds announced far ahead, in one page; every exchange: nothing (F9)."""

    def answer(method: str, message: Any) -> Any:
        if method == "sync":
            changes = [[(i + 1).to_bytes(32, "big"), "public", 1000, bytes(32)] for i in range(count)]
            return {
                "in_sync": False,
                "epoch": b"\x08" * 16,
                "position": 10**9,
                "full": True,
                "changes": changes,
                "more": False,
            }
        return {"records": [], "more": False, "heads": [], "accepted": 0, "rejected": 0}

    return answer


ANSWERS: dict[str, Callable[[], Answer]] = {"endless-pages": endless_pages, "phantom-heads": phantom_heads}


class HostileProcess:
    """A ``HostilePeer`` in a process of its own (``python -m tests.attackkit MODE SEED``), so that
    what it costs to be hostile is not counted against the node or the process measuring it."""

    def __init__(self, mode: str, seed: int) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.attackkit", mode, str(seed)],
            stdout=subprocess.PIPE,
            text=True,
            cwd=Path(__file__).resolve().parents[1],
        )
        assert self.proc.stdout is not None
        key, self.addr = self.proc.stdout.readline().split()
        self.key = bytes.fromhex(key)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


async def _serve_forever(mode: str, seed: int) -> None:
    peer = HostilePeer(seed, ANSWERS[mode]())
    addr = await peer.start()
    print(peer.key.hex(), addr, flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(_serve_forever(sys.argv[1], int(sys.argv[2])))
