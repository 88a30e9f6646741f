"""A small proof-of-work per upload, checked on the server, that stores no address.

The drop page carries a challenge: 12 random bytes, an expiry and a 12-byte HMAC under a secret that lives
only in this process's memory (nothing on disk; a restart simply makes older pages fetch a new one).
For every upload (each tus upload and each submission) the browser finds a fresh ``nonce`` such
that ``SHA-256(challenge ":" nonce)`` starts with ``DIFFICULTY`` zero bits: about 2^18 hashes, well
under two seconds on a cheap phone in plain JavaScript, and the same price for every upload a flood
would send. A solution is spent once: the server keeps the spent (challenge, nonce) pairs in memory
until the challenge expires. Nothing here names the witness: no address, no cookie, no time stored.

A browser without JavaScript cannot solve it; its submissions go instead through a small per-call
hourly quota (``NoScriptQuota``), also in memory and also without addresses.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import threading
import time
from collections.abc import Callable

__all__ = ["DIFFICULTY", "NOSCRIPT_PER_HOUR", "NoScriptQuota", "PowGate", "leading_zero_bits", "solve"]

DIFFICULTY = 18
TTL_S = 6 * 3600
NOSCRIPT_PER_HOUR = 30
_MAX_SPENT = 200_000


def leading_zero_bits(digest: bytes) -> int:
    n = 0
    for byte in digest:
        if byte == 0:
            n += 8
            continue
        return n + 8 - byte.bit_length()
    return n


def _digest(challenge: str, nonce: str) -> bytes:
    return hashlib.sha256(f"{challenge}:{nonce}".encode()).digest()


def solve(challenge: str, bits: int = DIFFICULTY, start: int = 0) -> str:
    """What the page's script does, for tests and scripted witnesses: the first nonce from ``start``."""
    n = start
    while leading_zero_bits(_digest(challenge, str(n))) < bits:
        n += 1
    return str(n)


class PowGate:
    """Issues and checks challenges; ``clock`` gives seconds (wall time, never stored)."""

    def __init__(self, bits: int = DIFFICULTY, clock: Callable[[], float] = time.time) -> None:
        self.bits = bits
        self.clock = clock
        self._secret = os.urandom(32)
        self._spent: dict[bytes, float] = {}
        self._lock = threading.Lock()

    def _mac(self, call: bytes, body: bytes) -> bytes:
        return hmac.new(self._secret, call + body, hashlib.sha256).digest()[:12]

    def challenge(self, call: bytes) -> str:
        body = os.urandom(12) + int(self.clock() + TTL_S).to_bytes(4, "big")  # one SHA-256 block
        return base64.urlsafe_b64encode(body + self._mac(call, body)).decode().rstrip("=")

    def check(self, call: bytes, challenge: str, nonce: str) -> str | None:
        """None if the solution is good (and now spent), else why not, in a few words."""
        if not (0 < len(challenge) <= 64 and 0 < len(nonce) <= 12 and nonce.isdigit() and nonce.isascii()):
            return "malformed"
        try:
            raw = base64.b64decode(challenge + "=" * (-len(challenge) % 4), altchars=b"-_", validate=True)
        except (ValueError, TypeError):
            return "malformed"
        if len(raw) != 28 or not hmac.compare_digest(raw[16:], self._mac(call, raw[:16])):
            return "not ours"
        expires = int.from_bytes(raw[12:16], "big")
        now = self.clock()
        if expires < now:
            return "expired"
        if leading_zero_bits(_digest(challenge, nonce)) < self.bits:
            return "too easy"
        key = _digest(challenge, nonce)
        with self._lock:
            if key in self._spent:
                return "spent"
            if len(self._spent) >= _MAX_SPENT:
                self._spent = {k: e for k, e in self._spent.items() if e >= now}
                if len(self._spent) >= _MAX_SPENT:
                    return "busy"
            self._spent[key] = expires
        return None


class NoScriptQuota:
    """At most ``per_hour`` submissions without a proof-of-work per call and clock hour, in memory."""

    def __init__(self, per_hour: int = NOSCRIPT_PER_HOUR, clock: Callable[[], float] = time.time) -> None:
        self.per_hour = per_hour
        self.clock = clock
        self._hour = -1
        self._counts: dict[bytes, int] = {}
        self._lock = threading.Lock()

    def take(self, call: bytes) -> bool:
        with self._lock:
            hour = int(self.clock() // 3600)
            if hour != self._hour:
                self._hour, self._counts = hour, {}
            n = self._counts.get(call, 0)
            if n >= self.per_hour:
                return False
            self._counts[call] = n + 1
            return True
