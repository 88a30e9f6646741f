"""Reading a held blob's plaintext piece by piece: never whole in memory, never in clear on disk."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from tequio.governance import CryptoError, decrypt_blob
from tequio.schemas import PUBLIC

from .errors import PassphraseRequired, TequioError

if TYPE_CHECKING:
    from .node import Node

__all__ = ["ChunkReader", "blob_plaintext"]


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
