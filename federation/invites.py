"""Invites: how two organisations come to trust each other's node keys (docs/protocol.md section 13).

The inviter prints a code: its key, name and addresses, a one-time token and an expiry, signed by
its key. The joiner checks that signature (a code altered in transit, or forged, fails here) and the
expiry, then sends the token in a handshake signed by its own key; the inviter checks the token
(known, unexpired, uses left), and both record each other as trusted.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from nacl.bindings import crypto_sign_open

from tequio.schemas import CanonicalError, TextError, check_display_text, decode, encode
from tequio.schemas.text import unsafe_chars

from .addrs import is_valid_addr
from .messages import MessageError
from .peers import PeerBook

__all__ = [
    "PREFIX",
    "Invite",
    "InviteBook",
    "InviteError",
    "check_handshake",
    "check_identity",
    "parse_invite",
]

PREFIX = "TQ1"
_DOMAIN = b"tequio/invite/v1\n"
MAX_NAME = 200  # characters of a node name in a handshake
MAX_ADDRS = 16  # addresses in an invite or a handshake


class InviteError(ValueError):
    """The invite cannot be used; the message says why in words an operator can act on."""


@dataclass(frozen=True)
class Invite:
    key: bytes
    name: str
    addrs: list[str]
    token: bytes
    expires: int

    def encode(self, sign: Callable[[bytes], bytes]) -> str:
        body = encode([1, self.key, self.name, self.addrs, self.token, self.expires])
        packed = encode([body, sign(_DOMAIN + body)])
        # base32 upper case: what QR codes hold most compactly, and readable over a phone line.
        return PREFIX + base64.b32encode(packed).decode("ascii").rstrip("=")


def parse_invite(code: str, now: int) -> Invite:
    """Check an invite's signature and expiry; raise InviteError saying what is wrong."""
    text = "".join(code.split()).upper()
    if not text.startswith(PREFIX):
        raise InviteError(f"not a Tequio invite (it should start with {PREFIX})")
    try:
        raw = base64.b32decode(text[len(PREFIX) :] + "=" * (-len(text[len(PREFIX) :]) % 8))
        body, sig = decode(raw)
        version, key, name, addrs, token, expires = decode(body)
        if not (
            version == 1
            and type(key) is bytes
            and len(key) == 32
            and type(name) is str
            and not unsafe_chars(name)
            and type(addrs) is list
            and len(addrs) <= MAX_ADDRS
            and all(is_valid_addr(a) for a in addrs)
            and type(token) is bytes
            and len(token) == 16
            and type(expires) is int
            and type(sig) is bytes
            and len(sig) == 64
        ):
            raise ValueError
    except (ValueError, TypeError, CanonicalError):
        raise InviteError("the invite code is damaged (copy it again, completely)") from None
    try:
        crypto_sign_open(sig + _DOMAIN + body, key)
    except Exception:
        raise InviteError("the invite's signature does not verify: it was altered or forged") from None
    if expires <= now:
        raise InviteError("the invite has expired; ask for a new one")
    return Invite(key, name, addrs, token, expires)


def check_handshake(message: Any) -> None:
    """The shape of a handshake request: exactly ``token``, ``name`` (1..200 characters) and
    ``addrs`` (at most 16 valid addresses, rule F13); raise MessageError naming what is wrong."""
    if type(message) is not dict or set(message) != {"token", "name", "addrs"}:
        raise MessageError("handshake: expected exactly token, name and addrs")
    check_identity(message["name"], message["addrs"], "handshake")


def check_identity(name: Any, addrs: Any, what: str) -> None:
    """A node's name and addresses as a handshake carries them, in either direction."""
    if type(name) is not str or not 0 < len(name) <= MAX_NAME:
        raise MessageError(f"{what}: name is not text of 1 to {MAX_NAME} characters")
    try:
        check_display_text(name, f"{what}: name")
    except TextError as e:
        raise MessageError(str(e)) from None
    if type(addrs) is not list or len(addrs) > MAX_ADDRS:
        raise MessageError(f"{what}: addrs is not a list of at most {MAX_ADDRS} addresses")
    for a in addrs:
        if not is_valid_addr(a):
            raise MessageError(f"{what}: {str(a)[:80]!r} is not host:port (F13)")


class InviteBook:
    """The inviter's side: issue codes, and honour them once (or as many times as allowed)."""

    def __init__(self, peers: PeerBook, clock: Callable[[], int], rng: Callable[[int], bytes]) -> None:
        self.peers = peers
        self.clock = clock
        self.rng = rng

    def issue(self, key: bytes, name: str, addrs: list[str], ttl_ms: int, uses: int) -> Invite:
        token = self.rng(16)
        expires = self.clock() + ttl_ms
        with self.peers.write():
            self.peers.conn.execute(
                "INSERT INTO fed_invites (token_hash, created, expires, uses_left) VALUES (?, ?, ?, ?)",
                (hashlib.sha256(token).digest(), self.clock(), expires, uses),
            )
        return Invite(key, name, addrs, token, expires)

    def accept(self, joiner: bytes, message: Any, our_name: str, our_addrs: list[str]) -> dict[str, Any]:
        """Handle a handshake (rule F11): the token first, so that a stranger without one learns
        nothing more; then the rest of the message; then spend one use and trust the joiner.

        Raises InviteError (403) for a missing, unknown, expired or used-up token, and
        MessageError (400) for a valid token with a malformed rest, leaving the use unspent."""
        token = message.get("token") if type(message) is dict else None
        if type(token) is not bytes or len(token) != 16:
            raise InviteError("unknown invite")
        token_hash = hashlib.sha256(token).digest()
        with self.peers.write():
            row = self.peers.conn.execute(
                "SELECT expires, uses_left FROM fed_invites WHERE token_hash = ?", (token_hash,)
            ).fetchone()
            if row is None:
                raise InviteError("unknown invite")
            expires, uses_left = row
            if expires <= self.clock():
                raise InviteError("the invite has expired")
            if uses_left <= 0:
                raise InviteError("the invite has already been used")
            check_handshake(message)
            self.peers.conn.execute(
                "UPDATE fed_invites SET uses_left = uses_left - 1 WHERE token_hash = ?", (token_hash,)
            )
            self.peers.trust(joiner, message["name"], message["addrs"])
        return {"name": our_name, "addrs": our_addrs}
