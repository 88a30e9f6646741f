"""The peer book: who we trust, where they are, how they behave, and what we know of their stores.

Kept in federation's own tables in the node's SQLite file (created by ``MIGRATIONS``, which the node
registers as the ``federation`` migration set). Penalties decay: a peer that sent garbage once is
slowed for a while, a persistent one is quarantined, and the operator sees why in ``peer list``.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from nacl.signing import VerifyKey
from sqlite_utils import Database

if TYPE_CHECKING:
    from .sync import PeerView  # the sync machinery (asyncio): not on the path of ``peer list``/``info``

__all__ = ["MIGRATIONS", "Peer", "PeerBook", "Penalties"]


def m001_peers(db: Database) -> None:
    db.execute(
        """CREATE TABLE fed_peers (
            key BLOB PRIMARY KEY,
            name TEXT NOT NULL,
            addrs TEXT NOT NULL DEFAULT '[]',   -- JSON list of "host:port"
            state TEXT NOT NULL,                -- trusted | blocked
            added INTEGER NOT NULL,
            last_ok INTEGER NOT NULL DEFAULT 0,
            last_error TEXT NOT NULL DEFAULT '',
            fails INTEGER NOT NULL DEFAULT 0,   -- consecutive failures, for back-off
            next_try INTEGER NOT NULL DEFAULT 0,
            penalty INTEGER NOT NULL DEFAULT 0, -- in thousandths, decaying
            penalty_at INTEGER NOT NULL DEFAULT 0,
            quarantined_until INTEGER NOT NULL DEFAULT 0,
            why TEXT NOT NULL DEFAULT ''
        )"""
    )
    db.execute("CREATE TABLE fed_views (peer BLOB PRIMARY KEY, epoch BLOB, position INTEGER NOT NULL)")
    db.execute(
        """CREATE TABLE fed_heads (
            peer BLOB NOT NULL, author BLOB NOT NULL, scope TEXT NOT NULL, seq INTEGER NOT NULL,
            PRIMARY KEY (peer, author, scope)
        ) WITHOUT ROWID"""
    )
    db.execute(
        """CREATE TABLE fed_invites (
            token_hash BLOB PRIMARY KEY,
            created INTEGER NOT NULL,
            expires INTEGER NOT NULL,
            uses_left INTEGER NOT NULL
        )"""
    )
    db.execute(
        """CREATE TABLE fed_candidates (
            key BLOB PRIMARY KEY, name TEXT NOT NULL, addrs TEXT NOT NULL, seen INTEGER NOT NULL
        )"""
    )
    db.execute("CREATE TABLE fed_state (key TEXT PRIMARY KEY, value TEXT NOT NULL)")


def m002_view_sent(db: Database) -> None:
    # Our own position when a sync with the peer last completed: records after it are the ones to
    # offer the peer at once in the next round (section 12, small deltas in one round trip).
    db.execute("ALTER TABLE fed_views ADD COLUMN sent INTEGER NOT NULL DEFAULT 0")


#: Schema steps of federation's tables, in order; the node wraps them in a named migration set.
MIGRATIONS = [m001_peers, m002_view_sent]


@dataclass(frozen=True)
class Penalties:
    """How misbehaviour is weighed. Scores are in points; they halve every ``half_life_ms``."""

    per_bad_record: int = 1
    per_bad_message: int = 20
    slow_at: int = 50  # from here on, requests are answered after a delay
    slow_delay_ms: int = 2000
    quarantine_at: int = 200  # from here on, requests are refused for ``quarantine_ms``
    quarantine_ms: int = 30 * 60 * 1000
    half_life_ms: int = 10 * 60 * 1000
    per_flood: int = 5  # each request beyond the rate limit
    max_requests_per_minute: int = 600  # an honest peer needs a few per round


@dataclass(frozen=True)
class Peer:
    key: bytes
    name: str
    addrs: list[str]
    state: str
    added: int
    last_ok: int
    last_error: str
    fails: int
    next_try: int
    penalty: float
    quarantined_until: int
    why: str

    def status(self, now: int, rules: Penalties) -> str:
        if self.state == "blocked":
            return "blocked"
        if self.quarantined_until > now:
            return "quarantined"
        if self.penalty >= rules.slow_at:
            return "slowed"
        return "trusted"

    def to_json(self, now: int, rules: Penalties) -> dict[str, Any]:
        return {
            "key": self.key.hex(),
            "name": self.name,
            "addrs": self.addrs,
            "status": self.status(now, rules),
            "why": self.why,
            "penalty": round(self.penalty, 1),
            "quarantined_until": self.quarantined_until or None,
            "last_ok": self.last_ok or None,
            "last_error": self.last_error or None,
            "fails": self.fails,
        }


_PEER_COLS = (
    "key, name, addrs, state, added, last_ok, last_error, fails, next_try, penalty, penalty_at, "
    "quarantined_until, why"
)


class PeerBook:
    """Peers and views in the node's database. ``write`` opens the node's write transaction."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        write: Callable[[], AbstractContextManager[Any]],
        clock: Callable[[], int],
        rules: Penalties | None = None,
    ) -> None:
        self.conn = conn
        self.write = write
        self.clock = clock
        self.rules = rules or Penalties()

    # -- peers ------------------------------------------------------------------------------------------

    def _peer(self, row: tuple) -> Peer:
        key, name, addrs, state, added, last_ok, last_error, fails, next_try, penalty, penalty_at, q, why = (
            row
        )
        return Peer(
            key,
            name,
            json.loads(addrs),
            state,
            added,
            last_ok,
            last_error,
            fails,
            next_try,
            self._decayed(penalty, penalty_at) / 1000,
            q,
            why,
        )

    def _decayed(self, penalty: int, at: int) -> float:
        halvings = max(0, self.clock() - at) / self.rules.half_life_ms
        return penalty * 0.5**halvings

    def get(self, key: bytes) -> Peer | None:
        row = self.conn.execute(f"SELECT {_PEER_COLS} FROM fed_peers WHERE key = ?", (key,)).fetchone()
        return self._peer(row) if row else None

    def all(self) -> list[Peer]:
        return [
            self._peer(r)
            for r in self.conn.execute(f"SELECT {_PEER_COLS} FROM fed_peers ORDER BY added, key")
        ]

    def trusted(self) -> list[Peer]:
        """Peers we sync with: trusted, not blocked."""
        return [p for p in self.all() if p.state == "trusted"]

    def is_trusted(self, key: bytes) -> bool:
        row = self.conn.execute("SELECT state FROM fed_peers WHERE key = ?", (key,)).fetchone()
        return bool(row and row[0] == "trusted")

    def trust(self, key: bytes, name: str, addrs: list[str]) -> None:
        """Add a peer as trusted, or refresh a known one's name and addresses (blocked stays blocked)."""
        try:  # a key we could never box to or verify would only fail later, in every round
            VerifyKey(key).to_curve25519_public_key()
        except Exception:
            raise ValueError("not an Ed25519 public key") from None
        with self.write():
            self.conn.execute(
                "INSERT INTO fed_peers (key, name, addrs, state, added) VALUES (?, ?, ?, 'trusted', ?)"
                " ON CONFLICT (key) DO UPDATE SET name = excluded.name, addrs = excluded.addrs",
                (key, name, json.dumps(addrs), self.clock()),
            )

    def set_addrs(self, key: bytes, addrs: list[str]) -> None:
        self.conn.execute("UPDATE fed_peers SET addrs = ? WHERE key = ?", (json.dumps(addrs), key))

    def set_state(self, key: bytes, state: str) -> bool:
        cur = self.conn.execute("UPDATE fed_peers SET state = ? WHERE key = ?", (state, key))
        return cur.rowcount > 0

    def remove(self, key: bytes) -> bool:
        with self.write():
            cur = self.conn.execute("DELETE FROM fed_peers WHERE key = ?", (key,))
            self.conn.execute("DELETE FROM fed_views WHERE peer = ?", (key,))
            self.conn.execute("DELETE FROM fed_heads WHERE peer = ?", (key,))
        return cur.rowcount > 0

    # -- reachability -----------------------------------------------------------------------------------

    def reached(self, key: bytes) -> None:
        self.conn.execute(
            "UPDATE fed_peers SET last_ok = ?, fails = 0, next_try = 0, last_error = '' WHERE key = ?",
            (self.clock(), key),
        )

    def unreachable(self, key: bytes, error: str, base_ms: int, max_ms: int) -> int:
        """Record a failure; returns the back-off (doubling per consecutive failure, capped)."""
        peer = self.get(key)
        fails = (peer.fails if peer else 0) + 1
        backoff = min(max_ms, base_ms * 2 ** min(fails - 1, 30))
        self.conn.execute(
            "UPDATE fed_peers SET fails = ?, next_try = ?, last_error = ? WHERE key = ?",
            (fails, self.clock() + backoff, error[:200], key),
        )
        return backoff

    # -- penalties --------------------------------------------------------------------------------------

    def penalise(self, key: bytes, points: int, why: str) -> Peer | None:
        """Add penalty points; quarantine the peer once it crosses the line. Returns the updated peer."""
        peer = self.get(key)
        if peer is None or points <= 0:
            return peer
        now = self.clock()
        score = peer.penalty + points
        until = peer.quarantined_until
        if score >= self.rules.quarantine_at and until <= now:
            until = now + self.rules.quarantine_ms
            why = f"quarantined: {why}"
        elif score >= self.rules.slow_at:
            why = f"slowed: {why}"
        self.conn.execute(
            "UPDATE fed_peers SET penalty = ?, penalty_at = ?, quarantined_until = ?, why = ? WHERE key = ?",
            (int(score * 1000), now, until, why[:300], key),
        )
        return self.get(key)

    # -- views (sync.ViewStore) ----------------------------------------------------------------------------

    def load(self, peer: bytes) -> PeerView:
        from .sync import PeerView

        row = self.conn.execute(
            "SELECT epoch, position, sent FROM fed_views WHERE peer = ?", (peer,)
        ).fetchone()
        heads = {
            (a, s): q
            for a, s, q in self.conn.execute(
                "SELECT author, scope, seq FROM fed_heads WHERE peer = ?", (peer,)
            )
        }
        return PeerView(row[0], row[1], heads, row[2]) if row else PeerView(heads=heads)

    def save(self, peer: bytes, view: PeerView) -> None:
        with self.write():
            self.conn.execute(
                "INSERT INTO fed_views (peer, epoch, position, sent) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (peer) DO UPDATE SET epoch = excluded.epoch, position = excluded.position,"
                " sent = excluded.sent",
                (peer, view.epoch, view.position, view.sent),
            )
            stored = {
                (a, s): q
                for a, s, q in self.conn.execute(
                    "SELECT author, scope, seq FROM fed_heads WHERE peer = ?", (peer,)
                )
            }
            gone = [(peer, a, s) for (a, s) in stored if (a, s) not in view.heads]
            self.conn.executemany("DELETE FROM fed_heads WHERE peer = ? AND author = ? AND scope = ?", gone)
            changed = [(peer, a, s, q) for (a, s), q in view.heads.items() if stored.get((a, s)) != q]
            self.conn.executemany(
                "INSERT INTO fed_heads (peer, author, scope, seq) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (peer, author, scope) DO UPDATE SET seq = excluded.seq",
                changed,
            )

    # -- small notes shared by the processes on one home (e.g. where ``serve`` listens) --------------------

    def get_note(self, key: str) -> Any:
        row = self.conn.execute("SELECT value FROM fed_state WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else None

    def put_note(self, key: str, value: Any) -> None:
        self.conn.execute(
            "INSERT INTO fed_state (key, value) VALUES (?, ?)"
            " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, json.dumps(value)),
        )

    def candidates(self) -> Iterator[tuple[bytes, str, list[str], int]]:
        for key, name, addrs, seen in self.conn.execute(
            "SELECT key, name, addrs, seen FROM fed_candidates ORDER BY seen DESC"
        ):
            yield key, name, json.loads(addrs), seen
