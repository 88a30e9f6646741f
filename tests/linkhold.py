"""The helper process of one emulated host's link (``tests/netlink.py``): it holds the packets
NFQUEUE hands it for the link's one-way delay, and flips the link's cuts on their schedule. It runs
in the hub's namespace as ``python tests/linkhold.py SPEC`` (stdlib and netfilterqueue only: it
starts fast) and reports on stdout, one JSON object a line: ``ready``, ``cut``, ``mend``, ``error``.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import json
import math
import os
import select
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Any


def finite(name: str, value: float, low: float, high: float = math.inf) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, not {value!r}")
    if not low <= value <= high:
        raise ValueError(f"{name} must be between {low} and {high}, not {value}")


@dataclass(frozen=True)
class Cut:
    """The link is down for ``down_s`` seconds every ``every_s`` seconds; the first cut starts
    ``first_s`` after the host's link comes up (default: ``every_s - down_s``, so it is up first)."""

    down_s: float
    every_s: float
    first_s: float | None = None

    def __post_init__(self) -> None:
        finite("cut.every_s", self.every_s, 0.1, 86400)
        finite("cut.down_s", self.down_s, 0.05, self.every_s)
        if self.down_s >= self.every_s:
            raise ValueError("cut.down_s must be shorter than cut.every_s (else the link never comes up)")
        if self.first_s is not None:
            finite("cut.first_s", self.first_s, 0, 86400)

    @property
    def start(self) -> float:
        return self.every_s - self.down_s if self.first_s is None else self.first_s

    def is_down(self, t: float) -> bool:
        """Whether the link is cut ``t`` seconds after it came up."""
        if t < self.start:
            return False
        return (t - self.start) % self.every_s < self.down_s

    def next_change(self, t: float) -> float:
        """The first time after ``t`` at which ``is_down`` changes."""
        if t < self.start:
            return self.start
        k, phase = divmod(t - self.start, self.every_s)
        base = self.start + k * self.every_s
        return base + self.down_s if phase < self.down_s else base + self.every_s


@dataclass
class _Group:
    """Cuts that share a schedule, and the ``nft`` commands that flip them (run, not awaited, so
    that the packets held for the delay do not wait on nft; a flip waits for the one before it)."""

    cut: Cut
    on: list[list[str]] = field(default_factory=list)
    off: list[list[str]] = field(default_factory=list)
    down: bool = False
    running: list[subprocess.Popen[str]] = field(default_factory=list)
    failed: list[dict[str, Any]] = field(default_factory=list)

    def flip(self, down: bool) -> None:
        self.settle()
        self.running = [
            subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            for argv in (self.on if down else self.off)
        ]
        self.down = down

    def settle(self) -> None:
        for p in self.running:
            p.wait(30)
        self.reap()

    def reap(self) -> None:
        """Forget the commands that ended; keep those that failed in ``failed``."""
        for p in [p for p in self.running if p.poll() is not None]:
            self.running.remove(p)
            if p.returncode:
                self.failed.append({"cmd": p.args, "stderr": p.stderr.read() if p.stderr else ""})


def _hold_main(spec: dict[str, Any]) -> None:
    from netfilterqueue import COPY_META, NetfilterQueue

    parent = os.getppid()
    stop = False

    def on_term(*_: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)

    def emit(event: str, **kw: Any) -> None:
        print(json.dumps({"event": event, "t": time.monotonic(), **kw}), flush=True)

    held: list[tuple[float, int, Any]] = []  # (due, sequence, packet): a heap
    seq = itertools.count()
    queues: dict[int, Any] = {}
    for qnum, ms in spec["delays"]:  # [queue number, one-way delay in ms] per direction
        if ms > 0:
            q = NetfilterQueue()
            wait = ms / 1000

            def hold(pkt: Any, wait: float = wait) -> None:
                heapq.heappush(held, (time.monotonic() + wait, next(seq), pkt))

            q.bind(qnum, hold, max_len=8192, mode=COPY_META)
            queues[q.get_fd()] = q
    # Cuts with the same schedule flip together.
    groups: dict[tuple[float, ...], _Group] = {}
    for c in spec["cuts"]:
        g = groups.setdefault(tuple(c["cut"]), _Group(Cut(*c["cut"])))
        g.on.append(c["on"])
        g.off.append(c["off"])
    t0 = time.monotonic()
    emit("ready", queues=sorted(q for q, ms in spec["delays"] if ms))
    while not stop:
        now = time.monotonic()
        while held and held[0][0] <= now:
            heapq.heappop(held)[2].accept()
        wake = now + 0.2
        for key, g in groups.items():
            want = g.cut.is_down(now - t0)
            if want != g.down:
                g.flip(want)
                emit("cut" if want else "mend", schedule=list(key))
            wake = min(wake, t0 + g.cut.next_change(now - t0))
            g.reap()
            for err in g.failed:
                emit("error", **err)
            g.failed.clear()
        if held:
            wake = min(wake, held[0][0])
        ready, _, _ = select.select(list(queues), [], [], max(0.0, wake - time.monotonic()))
        for fd in ready:
            queues[fd].run(block=False)
        if os.getppid() != parent:  # the test process died: do not outlive it
            break
    for _, _, pkt in held:
        with contextlib.suppress(Exception):
            pkt.accept()
    for q in queues.values():
        q.unbind()
    for g in groups.values():
        g.settle()
        for err in g.failed:
            emit("error", **err)
    emit("stopped")


if __name__ == "__main__":
    _hold_main(json.loads(sys.argv[1]))
