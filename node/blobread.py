"""Reading a held blob's plaintext piece by piece: never whole in memory, never in clear on disk."""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Iterator
from typing import TYPE_CHECKING

from tequio.governance import CryptoError, decrypt_blob
from tequio.schemas import PUBLIC

from .errors import DiskFull, PassphraseRequired, TequioError

if TYPE_CHECKING:
    from .node import Node

__all__ = ["ChunkReader", "blob_plaintext", "note_waited", "waited_blobs"]

log = logging.getLogger(__name__)


class ChunkReader:
    """A minimal binary file over an iterator of byte chunks, so a blob can be re-encrypted or copied
    as it is decrypted, never whole in memory and never in clear on disk."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._buf = b""

    def read(self, n: int = -1) -> bytes:
        while n < 0 or len(self._buf) < n:
            chunk = next(self._chunks, None)
            if chunk is None:
                break
            self._buf += chunk
        if n < 0:
            out, self._buf = self._buf, b""
        else:
            out, self._buf = self._buf[:n], self._buf[n:]
        return out


def blob_plaintext(node: Node, h: bytes) -> Iterator[bytes]:
    """The plaintext of a held blob, piece by piece, decrypted if a restricted record refers to it."""
    if not node.blobs.has(h):
        note_waited(node, h)
        raise TequioError(f"blob {h.hex()} is not held here (yet)")
    public = False
    key = None
    for rid, _author, scope in node.store.blob_records(h):
        if scope == PUBLIC:
            public = True
            break
        rec = node.get(rid)
        if rec is not None and (key := node.governance.blob_key(rec)) is not None:
            break
    path = node.blobs.path(h)
    if public:
        with path.open("rb") as f:
            while chunk := f.read(1 << 20):
                yield chunk
        return
    if key is None:
        if node._identity is None:
            raise PassphraseRequired(
                f"blob {h.hex()[:16]} is encrypted for a group: reading it needs the node's passphrase"
            )
        raise TequioError(f"blob {h.hex()[:16]} is encrypted and this node has no key for it")
    with path.open("rb") as f:
        try:
            yield from decrypt_blob(key, f)
        except CryptoError as e:
            raise TequioError(f"blob {h.hex()[:16]}: {e}") from None


#: Where the blobs someone asked for and this node lacks are noted (fetched first, issue 15 §3).
WAITED_NOTE = "blobs_waited"


def waited_blobs(node: Node) -> list[str]:
    """Hex hashes of blobs asked for while missing, most recent first (at most 64)."""
    try:
        row = node.store.conn.execute("SELECT value FROM fed_state WHERE key = ?", (WAITED_NOTE,)).fetchone()
        value = json.loads(row[0]) if row else []
    except (sqlite3.Error, ValueError):
        return []
    return [x for x in value if isinstance(x, str)][:64] if isinstance(value, list) else []


def note_waited(node: Node, h: bytes) -> None:
    """Note that someone waits for blob ``h`` (a page opened, ``blob get``): it is fetched first."""
    if node.store.full_disk or not node.store.blob_records(h):
        return  # nothing refers to it here: nothing a peer would send
    waited = [h.hex(), *(x for x in waited_blobs(node) if x != h.hex())][:64]
    try:
        with node.store.write():
            node.store.conn.execute(
                "INSERT INTO fed_state (key, value) VALUES (?, ?)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (WAITED_NOTE, json.dumps(waited)),
            )
    except (sqlite3.Error, DiskFull) as e:  # a note, never a reason for a read to fail
        log.info("could not note blob %s as waited for: %s", h.hex()[:16], e)
