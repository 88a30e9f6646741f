"""The people of an organisation (not nodes): accounts, one-time set-up links, and the local audit log.

They live in ``<home>/web.sqlite``, a file apart from the record store, so nothing in it is ever a
record, synced or exported: the audit log names people and never leaves the node. Each call opens its
own short connection, so the CLI, the login thread and the page worker can use it side by side.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import sqlite3
import unicodedata
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nacl import pwhash
from nacl.exceptions import InvalidkeyError

from ..errors import TequioError

__all__ = [
    "ROLES",
    "USERS_FILE",
    "AuditEntry",
    "User",
    "UserDB",
    "UserError",
    "check_name",
    "check_password",
    "role_at_least",
]

USERS_FILE = "web.sqlite"
#: Roles from least to most: each may do what the ones before it may.
ROLES = ("reader", "member", "admin")
MIN_PASSWORD = 10
MAX_PASSWORD = 1024
SETUP_TTL_MS = 24 * 3_600_000
_NAME = re.compile(r"[^\W_][\w .'-]{0,63}")
# Argon2id at libsodium's "interactive" cost (64 MiB, 2 passes): a login must not take seconds on a
# small board, and the login rate limit already bounds guessing.
_OPS = pwhash.argon2id.OPSLIMIT_INTERACTIVE
_MEM = pwhash.argon2id.MEMLIMIT_INTERACTIVE


class UserError(TequioError):
    """A user account operation that cannot be done."""


def role_at_least(role: str, needed: str) -> bool:
    """Whether ``role`` may do what ``needed`` may (admin > member > reader)."""
    return role in ROLES and ROLES.index(role) >= ROLES.index(needed)


def check_name(name: str) -> str:
    """A person's login name: letters, digits, spaces, . ' - (up to 64), NFC-normalised."""
    n = unicodedata.normalize("NFC", name.strip())
    if not _NAME.fullmatch(n):
        raise UserError(
            "a user name is 1-64 letters, digits, spaces and . ' - _, starting with a letter or digit"
        )
    return n


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise UserError(f"a password has at least {MIN_PASSWORD} characters")
    if len(password.encode("utf-8")) > MAX_PASSWORD:
        raise UserError(f"a password has at most {MAX_PASSWORD} bytes")


@dataclass(frozen=True)
class User:
    name: str
    role: str
    has_password: bool
    created: int
    generation: int  # bumped on removal or password change: sessions carrying an older one end


@dataclass(frozen=True)
class AuditEntry:
    n: int
    ts: int
    user: str
    action: str
    detail: str
    record: str


class UserDB:
    """Accounts, set-up tokens, the session secret and the audit log of one node's web pages."""

    def __init__(
        self, home: Path, clock: Callable[[], int], rng: Callable[[int], bytes] = os.urandom
    ) -> None:
        self.path = home / USERS_FILE
        self.clock = clock
        self.rng = rng
        if not self.path.exists():
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o600)
            os.close(fd)
        with self._conn() as c:
            c.executescript(
                """
                CREATE TABLE IF NOT EXISTS users (
                    name TEXT PRIMARY KEY, role TEXT NOT NULL, hash BLOB, created INTEGER NOT NULL,
                    generation INTEGER NOT NULL DEFAULT 1);
                CREATE TABLE IF NOT EXISTS setup (
                    token BLOB PRIMARY KEY, name TEXT NOT NULL, expires INTEGER NOT NULL);
                CREATE TABLE IF NOT EXISTS audit (
                    n INTEGER PRIMARY KEY, ts INTEGER NOT NULL, user TEXT NOT NULL, action TEXT NOT NULL,
                    detail TEXT NOT NULL, record TEXT NOT NULL DEFAULT '');
                CREATE TABLE IF NOT EXISTS secrets (name TEXT PRIMARY KEY, value BLOB NOT NULL);
                """
            )

    @contextmanager
    def _conn(self) -> Iterator[sqlite3.Connection]:
        conn = sqlite3.connect(self.path, timeout=10, isolation_level=None)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            yield conn
        finally:
            conn.close()

    # -- accounts -------------------------------------------------------------------------------------

    def add(self, name: str, role: str, password: str | None = None) -> User:
        name = check_name(name)
        if role not in ROLES:
            raise UserError(f"a role is one of {', '.join(ROLES)}")
        hashed = None
        if password is not None:
            check_password(password)
            hashed = pwhash.argon2id.str(password.encode("utf-8"), _OPS, _MEM)
        with self._conn() as c:
            try:
                c.execute(
                    "INSERT INTO users (name, role, hash, created) VALUES (?, ?, ?, ?)",
                    (name, role, hashed, self.clock()),
                )
            except sqlite3.IntegrityError:
                raise UserError(f"there is already a user {name!r}") from None
        user = self.get(name)
        assert user is not None
        return user

    def get(self, name: str) -> User | None:
        with self._conn() as c:
            row = c.execute(
                "SELECT name, role, hash IS NOT NULL, created, generation FROM users WHERE name = ?",
                (unicodedata.normalize("NFC", name),),
            ).fetchone()
        return User(row[0], row[1], bool(row[2]), row[3], row[4]) if row else None

    def all(self) -> list[User]:
        with self._conn() as c:
            rows = c.execute(
                "SELECT name, role, hash IS NOT NULL, created, generation FROM users ORDER BY name"
            ).fetchall()
        return [User(r[0], r[1], bool(r[2]), r[3], r[4]) for r in rows]

    def remove(self, name: str) -> None:
        with self._conn() as c:
            gone = c.execute("DELETE FROM users WHERE name = ?", (unicodedata.normalize("NFC", name),))
            c.execute("DELETE FROM setup WHERE name = ?", (name,))
        if gone.rowcount == 0:
            raise UserError(f"there is no user {name!r}")

    def verify(self, name: str, password: str) -> User | None:
        """The user if ``password`` is theirs (slow on purpose: Argon2id). Unknown names cost the same."""
        with self._conn() as c:
            row = c.execute(
                "SELECT hash FROM users WHERE name = ?", (unicodedata.normalize("NFC", name),)
            ).fetchone()
        stored = row[0] if row and row[0] else self._dummy_hash()
        try:
            ok = pwhash.argon2id.verify(stored, password.encode("utf-8")[:MAX_PASSWORD])
        except InvalidkeyError:
            ok = False
        if not ok or not row or not row[0]:
            return None
        return self.get(name)

    def _dummy_hash(self) -> bytes:
        with self._conn() as c:
            row = c.execute("SELECT value FROM secrets WHERE name = 'dummy-hash'").fetchone()
            if row:
                return bytes(row[0])
            h = pwhash.argon2id.str(self.rng(16), _OPS, _MEM)
            c.execute("INSERT OR IGNORE INTO secrets VALUES ('dummy-hash', ?)", (h,))
            return h

    def set_password(self, name: str, password: str) -> None:
        check_password(password)
        hashed = pwhash.argon2id.str(password.encode("utf-8"), _OPS, _MEM)
        with self._conn() as c:
            done = c.execute(
                "UPDATE users SET hash = ?, generation = generation + 1 WHERE name = ?", (hashed, name)
            )
        if done.rowcount == 0:
            raise UserError(f"there is no user {name!r}")

    # -- set-up links ---------------------------------------------------------------------------------

    def setup_token(self, name: str, ttl_ms: int = SETUP_TTL_MS) -> str:
        """A one-time token for ``name`` to choose a password; only its hash is kept."""
        if self.get(name) is None:
            raise UserError(f"there is no user {name!r}")
        token = self.rng(24).hex()
        with self._conn() as c:
            c.execute("DELETE FROM setup WHERE name = ? OR expires < ?", (name, self.clock()))
            c.execute("INSERT INTO setup VALUES (?, ?, ?)", (_token_hash(token), name, self.clock() + ttl_ms))
        return token

    def setup_name(self, token: str) -> str | None:
        """Whose set-up token this is, if it is still valid."""
        with self._conn() as c:
            row = c.execute(
                "SELECT name, expires FROM setup WHERE token = ?", (_token_hash(token),)
            ).fetchone()
        if row is None or row[1] < self.clock():
            return None
        return str(row[0])

    def use_setup(self, token: str, password: str) -> User:
        """Set the password named by a set-up token and spend the token."""
        name = self.setup_name(token)
        if name is None:
            raise UserError("this set-up link is not valid (used, expired, or mistyped)")
        self.set_password(name, password)
        with self._conn() as c:
            c.execute("DELETE FROM setup WHERE token = ?", (_token_hash(token),))
        user = self.get(name)
        assert user is not None
        return user

    # -- secrets and audit ----------------------------------------------------------------------------

    def secret(self, name: str, size: int = 32) -> bytes:
        """A random secret kept in this file (e.g. the session cookie key), made on first use."""
        with self._conn() as c:
            c.execute("INSERT OR IGNORE INTO secrets VALUES (?, ?)", (name, self.rng(size)))
            return bytes(c.execute("SELECT value FROM secrets WHERE name = ?", (name,)).fetchone()[0])

    def audit(self, user: str, action: str, detail: str = "", record: str = "") -> None:
        with self._conn() as c:
            c.execute(
                "INSERT INTO audit (ts, user, action, detail, record) VALUES (?, ?, ?, ?, ?)",
                (self.clock(), user, action, detail[:2000], record),
            )

    def audit_log(self, limit: int = 200, user: str | None = None) -> list[AuditEntry]:
        sql = "SELECT n, ts, user, action, detail, record FROM audit"
        args: list[Any] = []
        if user is not None:
            sql += " WHERE user = ?"
            args.append(user)
        with self._conn() as c:
            rows = c.execute(sql + " ORDER BY n DESC LIMIT ?", [*args, limit]).fetchall()
        return [AuditEntry(*r) for r in rows]


def _token_hash(token: str) -> bytes:
    return hashlib.sha256(b"tequio/web-setup/v1\n" + token.encode("utf-8", "replace")).digest()


def same(a: str, b: str) -> bool:
    """Constant-time comparison of two texts (tokens)."""
    return hmac.compare_digest(a.encode("utf-8", "replace"), b.encode("utf-8", "replace"))
