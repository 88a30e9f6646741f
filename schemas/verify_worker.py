"""A verifier process: steps 1-7 on batches of wire records, so big imports use every core.

Run as ``python -m tequio.schemas.verify_worker``. Requests on stdin and replies on stdout are msgpack
values, one per batch: the request is a list of wire records; the reply is a list aligned with it,
holding each valid record's 32-byte id, or ``[reason, detail]`` for a rejected one. The process
exits when stdin closes, so it never outlives the node that started it (even after ``kill -9``).
"""

from __future__ import annotations

import sys
from typing import Any

import msgpack

from .record import RecordError, parse_wire

#: Largest request a worker reads (the node splits batches to stay under it).
MAX_REQUEST = 64 * 1024 * 1024


def verdicts(raws: list[Any]) -> list[Any]:
    out: list[Any] = []
    for raw in raws:
        try:
            out.append(parse_wire(raw).id)
        except RecordError as e:
            out.append([str(e.reason), e.detail])
        except TypeError:  # not bytes at all: only a broken parent sends that
            out.append(["malformed", "not a byte string"])
    return out


def main() -> None:
    # Unbuffered stdin: a buffered read(n) would wait for n bytes that the node, waiting
    # for this reply, never sends.
    stdin = open(sys.stdin.fileno(), "rb", buffering=0, closefd=False)  # noqa: SIM115
    requests = msgpack.Unpacker(stdin, raw=False, max_buffer_size=MAX_REQUEST)
    out = sys.stdout.buffer
    for raws in requests:
        out.write(msgpack.packb(verdicts(raws), use_bin_type=True))
        out.flush()


if __name__ == "__main__":
    main()
