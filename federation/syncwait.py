"""What waits for each peer (issue 15 §3): records and files this node holds that the peer may read
and, as far as this node knows, lacks; and what the peer announced that this node lacks.

"As far as this node knows" is the peer's view kept by sync (``PeerView.heads``: what it last
reported or acknowledged). Before a first completed round with a peer nothing is known of it, so
everything it may read is counted as waiting (``known`` is then False).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Protocol

from .host import SyncHead
from .sync import PeerView

__all__ = ["Waiting", "WaitingHost", "waiting_for"]


class WaitingHost(Protocol):
    def visible_heads(self, peer: bytes, since: int = 0) -> list[SyncHead]: ...

    def own_heads(self, feeds: list[tuple[bytes, str]]) -> dict[tuple[bytes, str], int]: ...

    def waiting_in_feed(self, author: bytes, scope: str, after_seq: int) -> tuple[int, int, int, int]:
        """(records, their bytes, distinct files they refer to, those files' bytes) after ``after_seq``."""
        ...


@dataclass
class Waiting:
    #: To send: records the peer may read and lacks, their bytes, the files they refer to.
    records: int = 0
    record_bytes: int = 0
    files: int = 0
    file_bytes: int = 0
    #: To receive: records the peer announced ahead of ours (their bytes are not known here).
    incoming_records: int = 0
    #: Feeds holding what waits, most first: governance and group feeds are sent first (``Syncer``).
    feeds: int = 0
    known: bool = True

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def line(self) -> str:
        """``to send: 1,200 records (310 KB), 3 files (42.0 MB); to receive: 40 records``."""
        out = f"to send: {_n(self.records, 'record')} ({_size(self.record_bytes)})"
        if self.files:
            out += f", {_n(self.files, 'file')} ({_size(self.file_bytes)})"
        out += f"; to receive: {_n(self.incoming_records, 'record')}"
        return out + ("" if self.known else " (not yet synced: everything it may read is counted)")


def _n(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def _size(n: int) -> str:
    if n < 1000:
        return f"{n} B"
    if n < 1_000_000:
        return f"{n / 1000:.0f} KB"
    return f"{n / 1_000_000:.1f} MB"


def waiting_for(host: WaitingHost, peer: bytes, view: PeerView) -> Waiting:
    w = Waiting(known=view.epoch is not None)
    for h in host.visible_heads(peer):
        theirs = view.heads.get((h.author, h.scope), 0)
        if h.seq <= theirs:
            continue
        records, nbytes, files, file_bytes = host.waiting_in_feed(h.author, h.scope, theirs)
        w.records += records
        w.record_bytes += nbytes
        w.files += files
        w.file_bytes += file_bytes
        w.feeds += 1
    ours = host.own_heads(list(view.heads))
    w.incoming_records = sum(max(0, seq - ours.get(f, 0)) for f, seq in view.heads.items())
    return w
