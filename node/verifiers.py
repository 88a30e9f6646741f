"""A pool of verifier processes for large batches: signature checks on every core, free of the GIL.

Each worker is ``python -m tequio.schemas.verify_worker`` on a pair of pipes, driven by one I/O thread that
sleeps in read() while the worker computes, so the node's own thread keeps writing the previous batch.
A worker that dies is not trusted to have judged anything: its chunk is checked again on the thread.
"""

from __future__ import annotations

import logging
import os
import queue
import subprocess
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import IO, Any

import msgpack

from tequio.schemas import Reason, Record, RecordError, parse_wire
from tequio.schemas.verify_worker import MAX_REQUEST

from .reports import Rejection

__all__ = ["Parsed", "VerifierPool", "parse_chunk"]

log = logging.getLogger(__name__)

Parsed = tuple[list[tuple[int, Record]], list[Rejection]]


def parse_chunk(raws: Sequence[bytes], base: int) -> Parsed:
    """Steps 1-7 on consecutive records, on the calling thread."""
    items: list[tuple[int, Record]] = []
    rejected: list[Rejection] = []
    for i, raw in enumerate(raws, base):
        try:
            items.append((i, parse_wire(raw)))
        except RecordError as e:
            rejected.append(Rejection(i, e.reason, e.detail))
    return items, rejected


def _chunks(raws: Sequence[bytes], base: int, n: int) -> list[tuple[Sequence[bytes], int]]:
    """``n`` chunks of about equal count, further cut so that none exceeds half a worker's request limit."""
    per = -(-len(raws) // n)
    budget = MAX_REQUEST // 2
    out: list[tuple[Sequence[bytes], int]] = []
    start, size = 0, 0
    for i, raw in enumerate(raws):
        if i > start and (i - start >= per or size + len(raw) + 8 > budget):
            out.append((raws[start:i], base + start))
            start, size = i, 0
        size += len(raw) + 8
    if start < len(raws):
        out.append((raws[start:], base + start))
    return out


#: What a verifier needs from the environment to start Python; nothing else (no passphrase, no token).
_CHILD_ENV = (
    *("PATH", "PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV"),
    *("LANG", "LC_ALL", "LC_CTYPE", "TMPDIR", "HOME"),
)


def _child_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k in _CHILD_ENV}


class _Worker:
    def __init__(self) -> None:
        # bufsize=0: unbuffered pipes, so reading a reply returns what has arrived instead of waiting
        # to fill a buffer (which would wait forever for bytes the worker has no reason to send).
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tequio.schemas.verify_worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            bufsize=0,
            # Its own session: a Ctrl-C at the terminal reaches the node, which stops its verifiers
            # by closing their stdin, instead of killing them under a batch (and a warning per batch).
            start_new_session=True,
            env=_child_env(),
        )
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.stdin: IO[bytes] = self.proc.stdin
        self.replies = msgpack.Unpacker(self.proc.stdout, raw=False, max_buffer_size=MAX_REQUEST)

    def judge(self, raws: Sequence[bytes]) -> list[Any]:
        view = memoryview(msgpack.packb(list(raws), use_bin_type=True))
        while view:
            view = view[self.stdin.write(view) :]
        reply = next(self.replies)
        if not isinstance(reply, list) or len(reply) != len(raws):
            raise ValueError("verifier reply does not match its request")
        return reply

    def close(self) -> None:
        try:
            self.stdin.close()
            self.proc.wait(timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait()


class VerifierPool:
    """``n`` verifier processes, started on first use."""

    def __init__(self, n: int) -> None:
        self.n = n
        self._idle: queue.Queue[_Worker] = queue.Queue()
        self._workers: list[_Worker] = []
        self._io: ThreadPoolExecutor | None = None

    def _start(self) -> ThreadPoolExecutor:
        if self._io is None:
            self._workers = [_Worker() for _ in range(self.n)]
            for w in self._workers:
                self._idle.put(w)
            self._io = ThreadPoolExecutor(self.n, thread_name_prefix="tequio-verify")
        return self._io

    def submit(self, raws: Sequence[bytes], base: int) -> Callable[[], Parsed]:
        """Split ``raws`` across the workers; the returned function waits and merges, in order."""
        io = self._start()
        futures = [io.submit(self._run, chunk, b) for chunk, b in _chunks(raws, base, self.n)]

        def collect() -> Parsed:
            items: list[tuple[int, Record]] = []
            rejected: list[Rejection] = []
            for f in futures:
                a, b = f.result()
                items += a
                rejected += b
            return items, rejected

        return collect

    def _run(self, raws: Sequence[bytes], base: int) -> Parsed:
        worker = self._idle.get()
        try:
            reply = worker.judge(raws)
        except (OSError, ValueError, StopIteration, msgpack.UnpackException) as e:
            log.warning("verifier process failed (%s); checking its %d records here", e, len(raws))
            worker.close()
            self._idle.put(_Worker())
            return parse_chunk(raws, base)
        self._idle.put(worker)
        items: list[tuple[int, Record]] = []
        rejected: list[Rejection] = []
        for i, (raw, verdict) in enumerate(zip(raws, reply, strict=True), base):
            if type(verdict) is bytes:
                # The worker verified these exact bytes; only the fields need reading here.
                _, author, scope, seq, prev, ts, payload_hash, sig, payload = msgpack.unpackb(raw)
                items.append(
                    (i, Record(author, scope, seq, prev, ts, payload_hash, sig, payload, verdict, raw))
                )
            else:
                rejected.append(Rejection(i, Reason(verdict[0]), verdict[1]))
        return items, rejected

    def close(self) -> None:
        if self._io is not None:
            self._io.shutdown()
            self._io = None
        for w in self._workers:
            w.close()
        self._workers = []
        self._idle = queue.Queue()
