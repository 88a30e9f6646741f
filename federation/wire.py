"""Authenticated, encrypted federation messages (docs/protocol.md section 11).

Every request names its sender, is signed over method, path, time, nonce, body hash and the
receiver's key, and carries a body boxed (X25519 + XSalsa20-Poly1305) from sender to receiver;
every response is signed over status, the request's nonce, its body hash and the requester's key,
and boxed back. A plain-HTTP mesh link therefore shows only sizes and timing.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import nacl.exceptions
from nacl.bindings import crypto_sign_open
from nacl.public import Box, PrivateKey, PublicKey
from nacl.signing import SigningKey, VerifyKey

from tequio.schemas import CanonicalError, decode, encode

__all__ = [
    "AUTH_HEADER",
    "MAX_SKEW_MS",
    "MAX_VALUES",
    "AuthError",
    "Keyring",
    "PendingAuth",
    "ReplayGuard",
    "SigningKeyring",
    "check_request",
    "check_response",
    "close_message",
    "decode_message",
    "finish_request",
    "open_message",
    "precheck_request",
    "sign_request",
    "sign_response",
]

AUTH_HEADER = "Tequio-Auth"
REQUEST_DOMAIN = b"tequio/fed-request/v1\n"
RESPONSE_DOMAIN = b"tequio/fed-response/v1\n"
#: How far a request's time may be from the receiver's clock, either way.
MAX_SKEW_MS = 300_000
#: Most msgpack values (every item of every array and map, keys included) one message may hold
#: (rule F3): a 16 MiB body of empty arrays would otherwise become 16 million Python objects.
MAX_VALUES = 300_000


class AuthError(ValueError):
    """A request or response failed authentication; ``code`` is stable, ``detail`` for logs."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail


class Keyring(Protocol):
    """The node key as federation needs it: sign, and box to a peer's key."""

    @property
    def key(self) -> bytes: ...

    def sign(self, data: bytes) -> bytes: ...

    def box(self, peer: bytes) -> Box: ...


class SigningKeyring:
    """A Keyring over an Ed25519 signing key; the X25519 keys are derived from it (RFC 7748 mapping)."""

    def __init__(self, signing_key: SigningKey, cache: int = 1024) -> None:
        self._sk = signing_key
        self._curve = PrivateKey(bytes(signing_key.to_curve25519_private_key()))
        self._boxes: OrderedDict[bytes, Box] = OrderedDict()
        self._cache = cache

    @property
    def key(self) -> bytes:
        return bytes(self._sk.verify_key)

    def sign(self, data: bytes) -> bytes:
        return self._sk.sign(data).signature

    def box(self, peer: bytes) -> Box:
        box = self._boxes.get(peer)
        if box is None:
            try:
                peer_curve = VerifyKey(peer).to_curve25519_public_key()
            except (nacl.exceptions.CryptoError, ValueError, TypeError):
                raise AuthError("bad-key", "not an Ed25519 public key") from None
            box = Box(self._curve, PublicKey(bytes(peer_curve)))
            self._boxes[peer] = box
            if len(self._boxes) > self._cache:
                self._boxes.popitem(last=False)
        else:
            self._boxes.move_to_end(peer)
        return box


_B64URL = re.compile(r"[A-Za-z0-9_-]*")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    """Strict base64url without padding (rule F2): padding, other alphabets and spaces are refused."""
    if len(text) > 512 or len(text) % 4 == 1 or not _B64URL.fullmatch(text):
        raise ValueError("not unpadded base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True, slots=True)
class RequestAuth:
    sender: bytes
    time: int
    nonce: bytes


def request_signed_bytes(
    method: str, path: str, time: int, nonce: bytes, body: bytes, receiver: bytes
) -> bytes:
    return REQUEST_DOMAIN + encode([method, path, time, nonce, hashlib.sha256(body).digest(), receiver])


def response_signed_bytes(status: int, nonce: bytes, body: bytes, requester: bytes) -> bytes:
    return RESPONSE_DOMAIN + encode([status, nonce, hashlib.sha256(body).digest(), requester])


def sign_request(
    keyring: Keyring, receiver: bytes, method: str, path: str, body: bytes, time: int, nonce: bytes
) -> str:
    """The ``Tequio-Auth`` header value: base64url of canonical ``[sender, time, nonce, sig]``."""
    sig = keyring.sign(request_signed_bytes(method, path, time, nonce, body, receiver))
    return _b64(encode([keyring.key, time, nonce, sig]))


@dataclass(frozen=True, slots=True)
class PendingAuth:
    """A request header that passed checks 1-3; the signature and nonce wait for the body."""

    sender: bytes
    time: int
    nonce: bytes
    sig: bytes


def precheck_request(header: str | None, now: int, known: Callable[[bytes], bool]) -> PendingAuth:
    """Checks 1-3, which need no body: 1 header shape, 2 sender known, 3 time within MAX_SKEW_MS.

    Run before the body is read, so that a stranger costs a header parse and nothing more.
    """
    if not header:
        raise AuthError("no-auth", f"missing {AUTH_HEADER} header")
    try:
        sender, time, nonce, sig = decode(_unb64(header))
        if not (
            type(sender) is bytes
            and len(sender) == 32
            and type(time) is int
            and type(nonce) is bytes
            and len(nonce) == 16
            and type(sig) is bytes
            and len(sig) == 64
        ):
            raise ValueError
    except (ValueError, TypeError, CanonicalError):
        raise AuthError("bad-auth", f"{AUTH_HEADER} is not [key, time, nonce, signature]") from None
    if not known(sender):
        raise AuthError("unknown-key", "the sender is not a trusted peer")
    if abs(now - time) > MAX_SKEW_MS:
        raise AuthError("stale", f"request time is {abs(now - time) // 1000} s from ours")
    return PendingAuth(sender, time, nonce, sig)


def finish_request(
    pending: PendingAuth,
    method: str,
    path: str,
    body: bytes,
    receiver: bytes,
    now: int,
    guard: ReplayGuard,
) -> RequestAuth:
    """Checks 4-5, once the body is read: 4 signature, 5 nonce not seen before (checked last, so
    that forged requests cannot burn nonces)."""
    sender, time, nonce = pending.sender, pending.time, pending.nonce
    try:
        crypto_sign_open(
            pending.sig + request_signed_bytes(method, path, time, nonce, body, receiver), sender
        )
    except Exception:
        raise AuthError("bad-signature", "request signature does not verify") from None
    if not guard.first_time(sender, nonce, time, now):
        raise AuthError("replay", "nonce already used")
    return RequestAuth(sender, time, nonce)


def check_request(
    header: str | None,
    method: str,
    path: str,
    body: bytes,
    receiver: bytes,
    now: int,
    guard: ReplayGuard,
    known: Callable[[bytes], bool],
) -> RequestAuth:
    """Authenticate a request in a fixed order; raise AuthError with the first failure.

    1 header shape, 2 sender known (``known``), 3 time within MAX_SKEW_MS, 4 signature,
    5 nonce not seen before (checked last, so that forged requests cannot burn nonces).
    """
    pending = precheck_request(header, now, known)
    return finish_request(pending, method, path, body, receiver, now, guard)


def sign_response(keyring: Keyring, requester: bytes, status: int, nonce: bytes, body: bytes) -> str:
    return _b64(keyring.sign(response_signed_bytes(status, nonce, body, requester)))


def check_response(
    header: str | None, responder: bytes, requester: bytes, status: int, nonce: bytes, body: bytes
) -> None:
    """Raise AuthError unless ``responder`` signed this response to our request ``nonce``."""
    try:
        sig = _unb64(header or "")
        crypto_sign_open(sig + response_signed_bytes(status, nonce, body, requester), responder)
    except Exception:
        raise AuthError("bad-response", "response signature does not verify") from None


def close_message(keyring: Keyring, peer: bytes, message: Any) -> bytes:
    """Encode a message canonically and box it to ``peer`` (a fresh random nonce each time)."""
    return bytes(keyring.box(peer).encrypt(encode(message)))


def open_message(keyring: Keyring, peer: bytes, data: bytes, max_values: int = MAX_VALUES) -> Any:
    """Unbox and strictly decode a message from ``peer``, refusing more than ``max_values`` values."""
    try:
        plain = keyring.box(peer).decrypt(data)
    except (nacl.exceptions.CryptoError, ValueError, TypeError):
        raise AuthError("bad-box", "body does not decrypt") from None
    return decode_message(plain, max_values)


def decode_message(plain: bytes, max_values: int = MAX_VALUES) -> Any:
    """Strictly decode a message, building at most ``max_values`` values (rule F3): the decoder
    counts each array and map as it completes and stops there, so a body of millions of empty
    arrays is refused before it becomes millions of objects."""
    try:
        return decode(plain, max_values)
    except CanonicalError as e:
        text = str(e)
        if "too many values" in text or "exceeds max_" in text:
            raise AuthError("bad-message", f"F3: more than {max_values} values in one message") from None
        raise AuthError("bad-message", f"body is not canonical msgpack: {e}") from None


class ReplayGuard:
    """Nonces seen within the time window, per sender; older ones fall out with the window."""

    def __init__(self, window_ms: int = 2 * MAX_SKEW_MS, limit: int = 200_000) -> None:
        self._seen: OrderedDict[tuple[bytes, bytes], int] = OrderedDict()
        self._window = window_ms
        self._limit = limit

    def first_time(self, sender: bytes, nonce: bytes, time: int, now: int) -> bool:
        while self._seen and (
            len(self._seen) > self._limit or next(iter(self._seen.values())) < now - self._window
        ):
            self._seen.popitem(last=False)
        key = (sender, nonce)
        if key in self._seen:
            return False
        self._seen[key] = now
        return True
