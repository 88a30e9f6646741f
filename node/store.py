"""The node's SQLite store: records, feed heads, fork proofs and recent rejections.

One connection per node, WAL journal, explicit ``BEGIN IMMEDIATE`` write transactions so that two
processes on one home (``serve`` and a CLI command) serialise their writes instead of forking a feed.
Reads return plain tuples; turning them into records with opened payloads is the node's job.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import msgpack
from sqlite_utils import Database

from tequio.federation.peers import MIGRATIONS as FEDERATION_STEPS
from tequio.schemas import Record, parse_payload, parse_wire

from .errors import DiskFull, is_disk_full
from .migrations import MigrationSet, apply_migrations, pending

__all__ = [
    "CORE_MIGRATIONS",
    "DB_FILE",
    "FEDERATION_MIGRATIONS",
    "RECORD_COLUMNS",
    "FeedHead",
    "Store",
    "row_record",
    "row_wire",
]

DB_FILE = "tequio.sqlite"
#: Columns of a record row in the order ``Store`` returns them (``_FROM`` joins records to feeds).
RECORD_COLUMNS = "r.n, r.id, f.author, f.scope, r.seq, r.kind, r.wire, r.received"
_FROM = "records r JOIN feeds f ON f.id = r.feed"

CORE_MIGRATIONS = MigrationSet("core")


@CORE_MIGRATIONS
def m001_records_feeds_forks_rejections(db: Database) -> None:
    # Feeds get a small integer that records refer to: an index on (feed, seq) costs a fraction of
    # one on (author, scope, seq). A record is kept as its wire bytes plus what is indexed, so
    # export and sync send the bytes as they are and inserts bind few columns.
    db.execute(
        """CREATE TABLE feeds (
            id INTEGER PRIMARY KEY,
            author BLOB NOT NULL,
            scope TEXT NOT NULL,
            seq INTEGER NOT NULL,             -- the head: newest seq held (0 before the first record)
            head BLOB,                        -- id of that record
            forked INTEGER NOT NULL DEFAULT 0,
            UNIQUE (author, scope)
        )"""
    )
    db.execute(
        """CREATE TABLE records (
            n INTEGER PRIMARY KEY,            -- local arrival order; export order keeps chains in order
            id BLOB NOT NULL UNIQUE,
            feed INTEGER NOT NULL REFERENCES feeds (id),
            seq INTEGER NOT NULL,
            kind TEXT,                        -- NULL when redacted or not readable here
            wire BLOB NOT NULL,               -- the record as received (payload nil once redacted)
            received INTEGER NOT NULL,
            UNIQUE (feed, seq)
        )"""
    )
    db.execute("CREATE INDEX records_kind ON records (kind)")
    db.execute(
        """CREATE TABLE forks (
            n INTEGER PRIMARY KEY,
            author BLOB NOT NULL,
            scope TEXT NOT NULL,
            seq INTEGER NOT NULL,
            held BLOB NOT NULL,               -- wire bytes of the record we held
            incoming BLOB NOT NULL,           -- wire bytes of the record that contradicts it
            detected INTEGER NOT NULL,
            source TEXT NOT NULL
        )"""
    )
    db.execute(
        """CREATE TABLE rejections (
            n INTEGER PRIMARY KEY,
            at INTEGER NOT NULL,
            source TEXT NOT NULL,
            reason TEXT NOT NULL,
            detail TEXT NOT NULL,
            record_id BLOB,
            author BLOB,
            scope TEXT,
            seq INTEGER
        )"""
    )


@CORE_MIGRATIONS
def m002_feed_changes_and_epoch(db: Database) -> None:
    # Sync sends "feeds changed since you last heard from me": each feed remembers the local
    # position ``n`` of its newest record, and the store has a random epoch so that a peer can tell
    # a restored or replaced store (whose positions start again) from the one it knew.
    db.execute("ALTER TABLE feeds ADD COLUMN changed INTEGER NOT NULL DEFAULT 0")
    db.execute("UPDATE feeds SET changed = coalesce((SELECT max(n) FROM records WHERE feed = feeds.id), 0)")
    db.execute("CREATE INDEX feeds_changed ON feeds (changed)")
    db.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value BLOB NOT NULL)")
    db.execute("INSERT INTO meta (key, value) VALUES ('epoch', randomblob(16))")


@CORE_MIGRATIONS
def m003_blob_refs(db: Database) -> None:
    # Which records refer to which blobs, and in what scope: what to fetch, and who may fetch it.
    db.execute(
        """CREATE TABLE blob_refs (
            hash BLOB NOT NULL,
            record BLOB NOT NULL,
            author BLOB NOT NULL,
            scope TEXT NOT NULL,
            size INTEGER NOT NULL,
            mime TEXT NOT NULL,
            PRIMARY KEY (hash, record)
        ) WITHOUT ROWID"""
    )
    rows = []
    for rid, wire in db.execute("SELECT id, wire FROM records WHERE kind IS NOT NULL").fetchall():
        _, author, scope, *_rest, payload = msgpack.unpackb(wire)
        if scope != "public" or payload is None:
            continue  # restricted payloads are read (and their blobs indexed) once governance opens them
        try:
            blobs = parse_payload(payload).blobs
        except ValueError:
            continue
        rows += [(b.hash, rid, author, scope, b.size, b.mime) for b in blobs]
    db.conn.executemany("INSERT OR IGNORE INTO blob_refs VALUES (?, ?, ?, ?, ?, ?)", rows)


@CORE_MIGRATIONS
def m004_rejection_counts(db: Database) -> None:
    # Every rejection counted per (source, reason), however many the detailed log has let go.
    db.execute(
        """CREATE TABLE rejection_counts (
            source TEXT NOT NULL,
            reason TEXT NOT NULL,
            count INTEGER NOT NULL,
            first_at INTEGER NOT NULL,
            last_at INTEGER NOT NULL,
            PRIMARY KEY (source, reason)
        ) WITHOUT ROWID"""
    )
    db.execute(
        "INSERT INTO rejection_counts SELECT source, reason, count(*), min(at), max(at)"
        " FROM rejections GROUP BY source, reason"
    )


#: Federation's own tables (peers, views, invites), defined by ``federation`` and versioned here.
FEDERATION_MIGRATIONS = MigrationSet("federation", steps=[(f.__name__, f) for f in FEDERATION_STEPS])


@dataclass(frozen=True, slots=True)
class FeedHead:
    """The newest record held of one ``(author, scope)`` feed; ``id`` is the store's number for the feed."""

    id: int
    author: bytes
    scope: str
    seq: int
    head: bytes | None
    forked: bool


#: When the rejection log is full, one (source, reason) keeps at most 1/REJECTION_SHARE of it in detail.
REJECTION_SHARE = 20


class Store:
    """The SQLite file of one node."""

    def __init__(
        self,
        path: Path,
        busy_timeout_ms: int = 10_000,
        prepare: Sequence[Callable[[sqlite3.Connection], None]] = (),
    ) -> None:
        self.path = path
        #: Set when the disk was full at open: the store is read as it is and every write is refused.
        self.full_disk = False
        self._writing = threading.RLock()
        # isolation_level=None: no implicit transactions; every write goes through write().
        self.conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        try:
            self.conn.execute("PRAGMA journal_mode = WAL")
        except sqlite3.OperationalError as e:
            # With no other connection open, WAL needs a new -shm file, which a full disk refuses.
            # The last connection to close checkpointed the WAL into the file: read it as it is.
            if not is_disk_full(e, path.parent):
                raise
            self.conn.close()
            uri = f"{path.resolve().as_uri()}?immutable=1"
            self.conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
            self.full_disk = True
        # NORMAL in WAL mode: a power cut may lose the last commits but never corrupts the file.
        self.conn.execute("PRAGMA synchronous = NORMAL")
        self.conn.execute("PRAGMA foreign_keys = ON")
        for fn in prepare:
            fn(self.conn)
        self.db = Database(self.conn)

    def close(self) -> None:
        self.conn.close()

    @contextmanager
    def write(self) -> Iterator[Database]:
        """One write transaction; nested use becomes a savepoint of the outer one."""
        if self.full_disk:
            raise DiskFull(f"the disk holding {self.path.parent} was full when the store was opened")
        # One connection serves the event loop and worker threads (an import off the loop): the lock
        # keeps another thread's transaction from becoming a savepoint of this one.
        with self._writing:
            if self.conn.in_transaction:
                with self.db.atomic():
                    yield self.db
                return
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield self.db
            except BaseException:
                if self.conn.in_transaction:
                    self.conn.execute("ROLLBACK")
                raise
            self.conn.execute("COMMIT")

    def migrate(self, sets: list[MigrationSet], now_ms: int) -> list[str]:
        """Apply pending migrations. An up-to-date store is only read: opening a node for reading
        must not queue behind (or block) a writer in another process."""
        if not pending(self.db, sets):
            return []
        with self.write() as db:
            return apply_migrations(db, sets, now_ms)  # checks again under the lock

    # -- reads ---------------------------------------------------------------------------------------

    def head(self, author: bytes, scope: str) -> FeedHead | None:
        row = self.conn.execute(
            "SELECT id, seq, head, forked FROM feeds WHERE author = ? AND scope = ?", (author, scope)
        ).fetchone()
        return FeedHead(row[0], author, scope, row[1], row[2], bool(row[3])) if row else None

    def feeds(self) -> list[FeedHead]:
        return [
            FeedHead(i, a, s, q, h, bool(f))
            for i, a, s, q, h, f in self.conn.execute(
                "SELECT id, author, scope, seq, head, forked FROM feeds ORDER BY author, scope"
            )
        ]

    def ids_between(self, feed: int, low: int, high: int) -> dict[int, bytes]:
        """{seq: id} of one feed for seq in [low, high]."""
        sql = "SELECT seq, id FROM records WHERE feed = ? AND seq BETWEEN ? AND ?"
        return dict(self.conn.execute(sql, (feed, low, high)))

    def wire_at(self, feed: int, seq: int) -> bytes | None:
        row = self.conn.execute("SELECT wire FROM records WHERE feed = ? AND seq = ?", (feed, seq)).fetchone()
        return row[0] if row else None

    def get(self, record_id: bytes) -> tuple | None:
        return self.conn.execute(
            f"SELECT {RECORD_COLUMNS} FROM {_FROM} WHERE r.id = ?", (record_id,)
        ).fetchone()

    def ids_with_prefix(self, prefix: bytes, limit: int = 2) -> list[bytes]:
        """Ids starting with ``prefix`` (for short ids typed by people)."""
        upper = _prefix_upper(prefix)
        args: tuple[object, ...]
        if upper is None:
            sql, args = "SELECT id FROM records WHERE id >= ? ORDER BY id LIMIT ?", (prefix, limit)
        else:
            sql, args = (
                "SELECT id FROM records WHERE id >= ? AND id < ? ORDER BY id LIMIT ?",
                (prefix, upper, limit),
            )
        return [r[0] for r in self.conn.execute(sql, args)]

    def query(
        self,
        scope: str | None = None,
        kind: str | None = None,
        author: bytes | None = None,
        after: int = 0,
        limit: int | None = None,
        kinds: Sequence[str] | None = None,
    ) -> list[tuple]:
        """Records in arrival order, filtered; ``after`` is the local position ``n`` to continue from."""
        where: list[str] = ["r.n > ?"]
        args: list[object] = [after]
        for col, val in (("f.scope", scope), ("r.kind", kind), ("f.author", author)):
            if val is not None:
                where.append(f"{col} = ?")
                args.append(val)
        if kinds is not None:
            where.append(f"r.kind IN ({','.join('?' * len(kinds))})")
            args.extend(kinds)
        sql = f"SELECT {RECORD_COLUMNS} FROM {_FROM} WHERE {' AND '.join(where)} ORDER BY r.n"
        if limit is not None:
            sql += " LIMIT ?"
            args.append(limit)
        return self.conn.execute(sql, args).fetchall()

    def iter_rows(self, scope: str | None = None, batch: int = 2000) -> Iterator[tuple]:
        """All records (of one scope) in arrival order, fetched in batches to bound memory."""
        after = 0
        while rows := self.query(scope=scope, after=after, limit=batch):
            yield from rows
            after = rows[-1][0]

    def count(self) -> int:
        return self.conn.execute("SELECT count(*) FROM records").fetchone()[0]

    def rejections(self, limit: int = 100) -> list[tuple]:
        return self.conn.execute(
            "SELECT at, source, reason, detail, record_id, author, scope, seq FROM rejections"
            " ORDER BY n DESC LIMIT ?",
            (limit,),
        ).fetchall()

    def forks(self) -> list[tuple]:
        return self.conn.execute(
            "SELECT author, scope, seq, held, incoming, detected, source FROM forks ORDER BY n"
        ).fetchall()

    # -- writes (inside write()) ---------------------------------------------------------------------

    def new_feed(self, author: bytes, scope: str) -> int:
        """Register a feed before its first record is inserted; returns its number."""
        cur = self.conn.execute("INSERT INTO feeds (author, scope, seq) VALUES (?, ?, 0)", (author, scope))
        assert cur.lastrowid is not None
        return cur.lastrowid

    def insert_records(self, rows: Iterable[tuple]) -> None:
        """Rows of (id, feed, seq, kind, wire, received)."""
        sql = "INSERT INTO records (id, feed, seq, kind, wire, received) VALUES (?, ?, ?, ?, ?, ?)"
        self.conn.executemany(sql, rows)

    def set_heads(self, heads: Iterable[tuple[int, int, bytes | None, bool]]) -> None:
        """(feed, seq, head id, forked) of each changed feed; marks them changed at the newest position."""
        rows = [(seq, head, int(forked), feed) for feed, seq, head, forked in heads]
        if not rows:
            return
        (top,) = self.conn.execute("SELECT coalesce(max(n), 0) FROM records").fetchone()
        self.conn.executemany(
            f"UPDATE feeds SET seq = ?, head = ?, forked = ?, changed = {int(top)} WHERE id = ?", rows
        )

    # -- sync support ----------------------------------------------------------------------------------

    def epoch(self) -> bytes:
        """Random bytes naming this store's sequence of positions."""
        row: tuple[bytes] = self.conn.execute("SELECT value FROM meta WHERE key = 'epoch'").fetchone()
        return row[0]

    def position(self) -> int:
        """The newest local position: grows with every accepted record."""
        row: tuple[int] = self.conn.execute("SELECT coalesce(max(n), 0) FROM records").fetchone()
        return row[0]

    def changed_feeds(self, since: int) -> list[tuple[bytes, str, int, bytes]]:
        """(author, scope, seq, head) of every unforked feed whose head moved after position ``since``."""
        return self.conn.execute(
            "SELECT author, scope, seq, head FROM feeds WHERE changed > ? AND seq > 0 AND forked = 0"
            " ORDER BY author, scope",
            (since,),
        ).fetchall()

    def records_since(self, position: int, limit: int) -> list[tuple[bytes, str, bytes, int]]:
        """(author, scope, wire, n) of records stored after position ``position``, oldest first."""
        return self.conn.execute(
            f"SELECT f.author, f.scope, r.wire, r.n FROM {_FROM} WHERE r.n > ? ORDER BY r.n LIMIT ?",
            (position, limit),
        ).fetchall()

    def feed_records(
        self, author: bytes, scope: str, from_seq: int, max_count: int, max_bytes: int
    ) -> list[bytes]:
        """Wire records of one feed from ``from_seq`` on, in order, at most ``max_count`` / ``max_bytes``."""
        out: list[bytes] = []
        size = 0
        for (wire,) in self.conn.execute(
            "SELECT r.wire FROM records r JOIN feeds f ON f.id = r.feed"
            " WHERE f.author = ? AND f.scope = ? AND r.seq >= ? ORDER BY r.seq LIMIT ?",
            (author, scope, from_seq, max_count),
        ):
            if out and size + len(wire) > max_bytes:
                break
            out.append(wire)
            size += len(wire)
        return out

    def add_blob_refs(self, rows: Sequence[tuple[bytes, bytes, bytes, str, int, str]]) -> None:
        """(hash, record id, author, scope, size, mime) of blobs that accepted records refer to."""
        self.conn.executemany("INSERT OR IGNORE INTO blob_refs VALUES (?, ?, ?, ?, ?, ?)", rows)

    def blob_refs(self, limit: int = 1000) -> list[tuple[bytes, int]]:
        """(hash, size) of every blob some record refers to."""
        return self.conn.execute(
            "SELECT hash, max(size) FROM blob_refs GROUP BY hash LIMIT ?", (limit,)
        ).fetchall()

    def blob_scopes(self, blob: bytes) -> list[tuple[bytes, str]]:
        """(author, scope) of the records referring to ``blob``."""
        return self.conn.execute(
            "SELECT DISTINCT author, scope FROM blob_refs WHERE hash = ?", (blob,)
        ).fetchall()

    def blob_records(self, blob: bytes) -> list[tuple[bytes, bytes, str]]:
        """(record id, author, scope) of the records referring to ``blob``, public ones first."""
        return self.conn.execute(
            "SELECT record, author, scope FROM blob_refs WHERE hash = ? ORDER BY scope != 'public', record",
            (blob,),
        ).fetchall()

    def add_fork(
        self, author: bytes, scope: str, seq: int, held: bytes, incoming: bytes, at: int, source: str
    ) -> None:
        self.conn.execute(
            "INSERT INTO forks (author, scope, seq, held, incoming, detected, source)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (author, scope, seq, held, incoming, at, source),
        )

    def add_rejections(self, rows: Sequence[tuple], keep: int) -> None:
        """Rows of (at, source, reason, detail, record_id, author, scope, seq); keep the newest ``keep``."""
        if not rows:
            return
        self.conn.executemany(
            "INSERT INTO rejections (at, source, reason, detail, record_id, author, scope, seq)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
        self.conn.executemany(
            "INSERT INTO rejection_counts (source, reason, count, first_at, last_at) VALUES (?, ?, 1, ?, ?)"
            " ON CONFLICT (source, reason) DO UPDATE SET count = count + 1,"
            " last_at = max(last_at, excluded.last_at)",
            [(r[1], str(r[2]), r[0], r[0]) for r in rows],
        )
        (total,) = self.conn.execute("SELECT count(*) FROM rejections").fetchone()
        if total > keep:
            # Full: first trim the (source, reason) pairs holding more than their share, oldest first, so
            # that one peer's flood of penalty-free gaps cannot push every other source's entries out.
            self.conn.execute(
                "DELETE FROM rejections WHERE n IN (SELECT n FROM (SELECT n, row_number() OVER"
                " (PARTITION BY source, reason ORDER BY n DESC) AS r FROM rejections) WHERE r > ?)",
                (max(1, keep // REJECTION_SHARE),),
            )
            self.conn.execute(
                "DELETE FROM rejections WHERE n NOT IN (SELECT n FROM rejections ORDER BY n DESC LIMIT ?)",
                (keep,),
            )
            self.conn.execute(
                "DELETE FROM rejection_counts WHERE (source, reason) NOT IN"
                " (SELECT source, reason FROM rejection_counts ORDER BY last_at DESC LIMIT ?)",
                (max(keep, 1000),),
            )

    def rejection_counts(self, limit: int = 100) -> list[tuple[str, str, int, int, int]]:
        """(source, reason, count, first_at, last_at), most recently seen first: every rejection counted,
        including those the bounded log no longer details."""
        return self.conn.execute(
            "SELECT source, reason, count, first_at, last_at FROM rejection_counts"
            " ORDER BY last_at DESC, source, reason LIMIT ?",
            (limit,),
        ).fetchall()

    # -- checks --------------------------------------------------------------------------------------

    def check(self, signatures: bool = False) -> list[str]:
        """Problems found: SQLite integrity, feed chains and heads, and optionally every signature and id."""
        problems = [r[0] for r in self.conn.execute("PRAGMA integrity_check") if r[0] != "ok"]
        heads = {h.id: h for h in self.feeds()}
        names = {h.id: f"feed {h.author.hex()[:16]}/{h.scope}" for h in heads.values()}
        feed: int | None = None
        expect_seq, prev = 1, None

        def close(fid: int | None, top: int, last: bytes | None) -> None:
            if fid is None:
                return
            head = heads.pop(fid)
            if (head.seq, head.head) != (top, last):
                problems.append(f"{names[fid]}: head seq {head.seq} is not its newest record (seq {top})")

        for rid, fid, seq, wire in self.conn.execute(
            "SELECT id, feed, seq, wire FROM records ORDER BY feed, seq"
        ):
            if fid != feed:
                close(feed, expect_seq - 1, prev)
                feed, expect_seq, prev = fid, 1, None
            fields = msgpack.unpackb(wire)
            if seq != expect_seq:
                problems.append(f"{names[fid]}: seq {seq} follows seq {expect_seq - 1}")
            elif (
                fields[4] != prev
                or fields[3] != seq
                or (fields[1], fields[2])
                != (
                    heads[fid].author,
                    heads[fid].scope,
                )
            ):
                problems.append(f"{names[fid]}: seq {seq} does not link to seq {seq - 1}")
            if signatures:
                try:
                    if parse_wire(wire).id != rid:
                        problems.append(f"record {rid.hex()}: stored id does not match its fields")
                except ValueError as e:
                    problems.append(f"record {rid.hex()}: {e}")
            expect_seq, prev = seq + 1, rid
        close(feed, expect_seq - 1, prev)
        for fid, head in heads.items():
            if head.seq:
                problems.append(f"{names[fid]}: a head but no records")
        return problems


def row_record(row: tuple) -> Record:
    """A ``Record`` from a stored row, without re-verifying it (it was verified on the way in)."""
    rid, wire = row[1], row[6]
    _, author, scope, seq, prev, ts, payload_hash, sig, payload = msgpack.unpackb(wire)
    return Record(author, scope, seq, prev, ts, payload_hash, sig, payload, rid, wire)


def row_wire(row: tuple) -> bytes:
    """The wire bytes of a record row read with RECORD_COLUMNS."""
    return row[6]


def _prefix_upper(prefix: bytes) -> bytes | None:
    """The smallest byte string greater than every string starting with ``prefix`` (None if unbounded)."""
    p = bytearray(prefix)
    while p and p[-1] == 0xFF:
        p.pop()
    if not p:
        return None
    p[-1] += 1
    return bytes(p)
