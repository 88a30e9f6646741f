"""Whole nodes for the browser tests: store, federation listener, gossip, blob fetching and web pages on
127.0.0.1, each in a thread with its own event loop, so that Playwright's sync API can drive them.

Everything a test asks of a node runs on that node's loop (``call``), where its store is used.
Waiting for something to arrive from another node waits on the node's own change listener, bounded.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import io
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from tequio.node import Node
from tequio.node.federation import Federation
from tequio.node.web import start_web
from tequio.node.web.users import UserDB

T = TypeVar("T")
PASSWORD = "una contraseña larga"
CHROMIUM = "/usr/bin/chromium"
# What a headless Chromium needs on this machine (the network is closed: no background traffic).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


class LiveNode:
    """One organisation's node serving federation and pages until ``stop``."""

    def __init__(
        self, home: Path, name: str, users: tuple[tuple[str, str], ...] = (("ana", "admin"),)
    ) -> None:
        self.home = home
        self.name = name
        self._users = users
        self.loop = asyncio.new_event_loop()
        self.changed = threading.Event()
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None
        self.node: Node
        self.fed: Federation
        self.url = ""
        self.fed_addr = ""
        self.thread = threading.Thread(target=self._run, name=f"live-{name}", daemon=True)

    def start(self) -> LiveNode:
        self.thread.start()
        self._ready.wait(60)
        if self._error is not None:
            raise self._error
        assert self.url, f"{self.name} did not start"
        return self

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(self._main())
        except BaseException as e:  # reported to the starting thread
            self._error = e
            self._ready.set()

    async def _main(self) -> None:
        node = Node.create(self.home, name=self.name, kdf_profile="interactive")
        node.config.federation.interval_ms = 300  # quick anti-entropy: the tests wait on arrivals
        db = UserDB(node.home, node.clock)
        for user, role in self._users:
            db.add(user, role, PASSWORD)
        self.node = node
        self.fed = Federation(node)
        node.listeners.append(self.changed.set)
        fed_runner, self.fed_addr = await self.fed.listen("127.0.0.1", 0)
        web_runner, self.url = await start_web(node, self.fed, "127.0.0.1", 0)
        self._stop = asyncio.Event()
        tasks = [
            asyncio.create_task(self.fed.gossip.run(self._stop)),
            asyncio.create_task(self.fed.blobs.run(self._stop, every_s=0.3)),
            asyncio.create_task(self._watch()),
        ]
        self._ready.set()
        try:
            await self._stop.wait()
        finally:
            tasks[-1].cancel()
            _, late = await asyncio.wait(tasks, timeout=5)  # gossip and blobs end on the stop event
            for t in late:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await web_runner.cleanup()
            await fed_runner.cleanup()
            await self.fed.aclose()
            node.close()

    async def _watch(self) -> None:
        """Records arriving by sync do not call the node's listeners: look at the store position."""
        last = -1
        while True:
            pos = self.node.store.position()
            if pos != last:
                last = pos
                self.changed.set()
            await asyncio.sleep(0.05)

    def call(self, fn: Callable[[Node], T], timeout: float = 60) -> T:
        """``fn(node)`` on the node's own loop (where its store is used)."""

        async def run() -> T:
            return fn(self.node)

        fut: concurrent.futures.Future[T] = asyncio.run_coroutine_threadsafe(run(), self.loop)
        return fut.result(timeout)

    def wait_for(self, what: Callable[[Node], T | None], timeout: float = 45) -> T:
        """Until ``what(node)`` is truthy (asked again whenever the store changes), at most ``timeout``."""
        deadline = self.loop.time() + timeout
        while True:
            self.changed.clear()
            got = self.call(what)
            if got:
                return got
            left = deadline - self.loop.time()
            if left <= 0:
                raise AssertionError(f"{self.name}: still waiting after {timeout} s")
            self.changed.wait(min(left, 1.0))

    def connect(self, other: LiveNode) -> None:
        """Trust each other through an invite (the pages' own path is tested in the coalition test)."""
        code = self.call(lambda n: self.fed.invite(600_000, 1).encode(self.fed.keyring.sign))
        fut = asyncio.run_coroutine_threadsafe(other.fed.join(code), other.loop)
        fut.result(30)

    def stop(self) -> None:
        if self._stop is not None:
            self.loop.call_soon_threadsafe(self._stop.set)
        self.thread.join(30)


def make_photo(path: Path) -> None:
    """A JPEG with GPS in its EXIF (Zócalo, Mexico City), as a phone writes it."""
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (640, 480), (90, 110, 140))
    ImageDraw.Draw(img).rectangle((40, 300, 600, 460), fill=(40, 40, 40))
    exif = Image.Exif()
    exif[0x010F] = "TestPhone"
    exif[0x8825] = {1: "N", 2: (19.0, 25.0, 57.6), 3: "W", 4: (99.0, 7.0, 58.8)}
    buf = io.BytesIO()
    img.save(buf, "JPEG", exif=exif.tobytes(), quality=85)
    path.write_bytes(buf.getvalue())


@contextlib.contextmanager
def nodes(base: Path, *names: str) -> Any:
    made: list[LiveNode] = []
    try:
        for i, name in enumerate(names):
            made.append(LiveNode(base / f"org{i}", name).start())
        yield made
    finally:
        for n in made:
            n.stop()


def populate(a: LiveNode, b: LiveNode, photo_dir: Path) -> dict[str, str]:
    """A coalition, an open and a closed proposal, an evidence item: every page has something to show.
    Returns the pages to look at, by name."""
    from tequio.governance import ADMIT
    from tequio.node.groups import close, create_group, propose
    from tequio.plugins.evidence import api as ev
    from tequio.plugins.voting.ballot_io import cast

    a.connect(b)
    scope = a.call(lambda n: create_group(n, "Red de Búsqueda", [(b.node.key, b.name, [])])[1])
    b.wait_for(lambda n: n.governance.state(scope))
    gid = scope[2:]
    key = bytes(32 * [7])

    def proposals(n: Node) -> tuple[str, str]:
        from nacl.signing import SigningKey

        newcomer = bytes(SigningKey(key).verify_key)
        open_pid = propose(
            n,
            scope,
            "Admitir al Observatorio",
            action={"action": ADMIT, "args": {"key": newcomer, "name": "Observatorio"}},
        )
        irv = propose(
            n, scope, "Prioridad del año", method="irv", options=["Búsqueda", "Documentación", "Formación"]
        )
        st = n.governance.state(scope)
        assert st is not None
        cast(n, scope, st.proposals[irv], ["Documentación", "Búsqueda"])
        close(n, scope, irv)
        return open_pid.hex(), irv.hex()

    open_pid, irv = a.call(proposals)
    photo = photo_dir / "IMG_0002.jpg"
    make_photo(photo)
    sha = a.call(
        lambda n: ev.intake(n, photo, "Detención en el Zócalo", where="Centro", consent="yes").sha256.hex()
    )
    a.call(lambda n: ev.share(n, bytes.fromhex(sha), scope))
    return {
        "login": "login",
        "dashboard": "",
        "coalitions": "groups",
        "coalition": f"groups/{gid}",
        "votes": "voting/",
        "proposal (open)": f"voting/{open_pid}",
        "proposal (IRV result)": f"voting/{irv}",
        "new proposal": f"voting/new/{gid}",
        "records": "records",
        "peers": "peers",
        "evidence": "evidence/",
        "evidence item": f"evidence/{sha}",
        "add evidence": "evidence/add",
    }
