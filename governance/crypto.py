"""Group and direct encryption: epoch keys sealed to members, payload envelopes, encrypted blobs.

Node keys are Ed25519; encryption uses their X25519 equivalents (libsodium's birational map), so a
member needs no second key. Everything here is a pure function of keys, nonces and bytes; the
randomness comes in as an argument so that tests and vectors are reproducible.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO

import nacl.bindings as sodium
import nacl.exceptions
from nacl.public import Box, PrivateKey, PublicKey, SealedBox
from nacl.secret import SecretBox

from tequio.schemas.canonical import CanonicalError, decode, encode

__all__ = [
    "BLOB_CHUNK",
    "KEY_SIZE",
    "NONCE_SIZE",
    "CryptoError",
    "Envelope",
    "decode_key_box",
    "decrypt_blob",
    "encode_key_box",
    "encrypt_blob",
    "group_id",
    "is_envelope",
    "key_commitment",
    "open_direct",
    "open_group",
    "open_sealed",
    "parse_envelope",
    "seal_direct",
    "seal_group",
    "seal_to",
    "x25519_base",
    "x25519_public",
]

KEY_SIZE = SecretBox.KEY_SIZE  # 32
NONCE_SIZE = SecretBox.NONCE_SIZE  # 24
#: Plaintext bytes per secretstream message in an encrypted blob.
BLOB_CHUNK = 1 << 16
_GROUP_DOMAIN = b"tequio/group/v1\n"
_COMMIT_DOMAIN = b"tequio/epoch-key/v1\n"
_ENVELOPE_KEYS = {"box", "key", "nonce"}
_DIRECT_KEYS = {"box", "nonce"}

Rng = Callable[[int], bytes]


class CryptoError(ValueError):
    """A box, envelope or blob that cannot be opened with the keys given."""


def x25519_public(ed25519_public: bytes) -> bytes:
    """The X25519 public key of an Ed25519 node key (raises CryptoError for keys not on the curve)."""
    try:
        return sodium.crypto_sign_ed25519_pk_to_curve25519(ed25519_public)
    except (nacl.exceptions.RuntimeError, nacl.exceptions.ValueError, TypeError):
        # libsodium says only "Unexpected library error"; what it means is this:
        raise CryptoError(
            "not a usable node key: these 32 bytes are not a point of Ed25519 (check the key you copied)"
        ) from None


def x25519_base(secret: bytes) -> bytes:
    """The X25519 public key of a secret (to check a revealed secret against its public key)."""
    return bytes(PrivateKey(secret).public_key)


def group_id(creator: bytes, salt: bytes) -> bytes:
    """The 16-byte id of a group: binds the group to its creator so nobody else can write its genesis."""
    return hashlib.sha256(_GROUP_DOMAIN + creator + salt).digest()[:16]


def key_commitment(key: bytes) -> bytes:
    """A public commitment to an epoch key: every member checks that its sealed copy is the same key."""
    return hashlib.sha256(_COMMIT_DOMAIN + key).digest()


def seal_to(recipient: bytes, plaintext: bytes) -> bytes:
    """An anonymous sealed box to the node key ``recipient`` (libsodium crypto_box_seal)."""
    return SealedBox(PublicKey(x25519_public(recipient))).encrypt(plaintext)


def open_sealed(x_secret: bytes, box: bytes) -> bytes:
    try:
        return SealedBox(PrivateKey(x_secret)).decrypt(box)
    except (nacl.exceptions.CryptoError, TypeError, ValueError):
        raise CryptoError("the sealed box is not for this key or is damaged") from None


@dataclass(frozen=True, slots=True)
class Envelope:
    """An encrypted payload: the ciphertext, its nonce and (group scopes) the keys record of its key."""

    box: bytes
    nonce: bytes
    key: bytes | None = None  # id of the gov.keys record that delivered the epoch key; None: direct


def parse_envelope(payload: bytes, direct: bool) -> Envelope:
    """Decode a restricted payload's envelope strictly; raise CryptoError if it is not one."""
    try:
        value = decode(payload)
    except CanonicalError as e:
        raise CryptoError(f"envelope: {e}") from None
    want = _DIRECT_KEYS if direct else _ENVELOPE_KEYS
    if type(value) is not dict or value.keys() != want:
        raise CryptoError(f"an encrypted payload is a map of exactly {', '.join(sorted(want))}")
    box, nonce, key = value["box"], value["nonce"], value.get("key")
    if type(box) is not bytes or type(nonce) is not bytes or len(nonce) != NONCE_SIZE:
        raise CryptoError("envelope box must be bytes and nonce 24 bytes")
    if not direct and (type(key) is not bytes or len(key) != 32):
        raise CryptoError("envelope key must be the 32-byte id of a gov.keys record")
    return Envelope(box, nonce, key)


def is_envelope(payload: bytes) -> bool:
    """Whether a group-scope payload is an envelope (else it should be a plain gov.keys payload map)."""
    try:
        value = decode(payload)
    except CanonicalError:
        return False
    return type(value) is dict and value.keys() == _ENVELOPE_KEYS


def seal_group(epoch_key: bytes, keys_record: bytes, plaintext: bytes, rng: Rng) -> bytes:
    """The canonical envelope of ``plaintext`` under a group epoch key (XSalsa20-Poly1305)."""
    nonce = rng(NONCE_SIZE)
    box = SecretBox(epoch_key).encrypt(plaintext, nonce).ciphertext
    return encode({"box": box, "key": keys_record, "nonce": nonce})


def open_group(epoch_key: bytes, env: Envelope) -> bytes:
    try:
        return SecretBox(epoch_key).decrypt(env.box, env.nonce)
    except (nacl.exceptions.CryptoError, TypeError, ValueError):
        raise CryptoError("the payload does not open under that epoch key") from None


def seal_direct(x_secret: bytes, recipient: bytes, plaintext: bytes, rng: Rng) -> bytes:
    """The canonical envelope of a direct payload: crypto_box between author and recipient."""
    nonce = rng(NONCE_SIZE)
    box = Box(PrivateKey(x_secret), PublicKey(x25519_public(recipient))).encrypt(plaintext, nonce).ciphertext
    return encode({"box": box, "nonce": nonce})


def open_direct(x_secret: bytes, other: bytes, env: Envelope) -> bytes:
    """Open a direct payload; ``other`` is the other end (the author if we are the recipient)."""
    try:
        return Box(PrivateKey(x_secret), PublicKey(x25519_public(other))).decrypt(env.box, env.nonce)
    except (nacl.exceptions.CryptoError, TypeError, ValueError):
        raise CryptoError("the direct payload does not open with this key") from None


def encode_key_box(epoch_key: bytes, history: list[tuple[bytes, bytes]]) -> bytes:
    """Plaintext of one member's sealed box: the epoch key and, for new members, earlier epochs' keys."""
    body: dict[str, Any] = {"key": epoch_key}
    if history:
        body["history"] = [[rid, k] for rid, k in history]
    return encode(body)


def decode_key_box(data: bytes) -> tuple[bytes, list[tuple[bytes, bytes]]]:
    try:
        value = decode(data)
    except CanonicalError as e:
        raise CryptoError(f"key box: {e}") from None
    if type(value) is not dict or not {"key"} <= value.keys() <= {"key", "history"}:
        raise CryptoError("a key box is a map of key and optional history")
    key = value["key"]
    if type(key) is not bytes or len(key) != KEY_SIZE:
        raise CryptoError("a key box's key is 32 bytes")
    history = []
    for item in value.get("history", []):
        if (
            type(item) is not list
            or len(item) != 2
            or type(item[0]) is not bytes
            or len(item[0]) != 32
            or type(item[1]) is not bytes
            or len(item[1]) != KEY_SIZE
        ):
            raise CryptoError("key box history entries are [keys record id, key]")
        history.append((item[0], item[1]))
    return key, history


# -- blobs: crypto_secretstream_xchacha20poly1305 under the epoch key ---------------------------------


def encrypt_blob(epoch_key: bytes, src: BinaryIO) -> Iterator[bytes]:
    """The encrypted form of a file, piece by piece: the header, then one message per 64 KiB.

    The last message carries TAG_FINAL, so a truncated blob never decrypts as a shorter file.
    """
    state = sodium.crypto_secretstream_xchacha20poly1305_state()
    yield sodium.crypto_secretstream_xchacha20poly1305_init_push(state, epoch_key)
    chunk = src.read(BLOB_CHUNK)
    while True:
        nxt = src.read(BLOB_CHUNK)
        tag = (
            sodium.crypto_secretstream_xchacha20poly1305_TAG_MESSAGE
            if nxt
            else sodium.crypto_secretstream_xchacha20poly1305_TAG_FINAL
        )
        yield sodium.crypto_secretstream_xchacha20poly1305_push(state, chunk, None, tag)
        if not nxt:
            return
        chunk = nxt


def decrypt_blob(epoch_key: bytes, src: BinaryIO) -> Iterator[bytes]:
    """Plaintext pieces of an encrypted blob; raises CryptoError if it is damaged, truncated or extended."""
    header = src.read(sodium.crypto_secretstream_xchacha20poly1305_HEADERBYTES)
    state = sodium.crypto_secretstream_xchacha20poly1305_state()
    try:
        sodium.crypto_secretstream_xchacha20poly1305_init_pull(state, header, epoch_key)
    except (nacl.exceptions.RuntimeError, nacl.exceptions.ValueError, TypeError):
        raise CryptoError("the blob's header is damaged") from None
    step = BLOB_CHUNK + sodium.crypto_secretstream_xchacha20poly1305_ABYTES
    while True:
        piece = src.read(step)
        if not piece:
            raise CryptoError("the blob is truncated (no final piece)")
        try:
            plain, tag = sodium.crypto_secretstream_xchacha20poly1305_pull(state, piece, None)
        except (nacl.exceptions.RuntimeError, nacl.exceptions.CryptoError, ValueError):
            raise CryptoError("the blob does not decrypt: damaged or another key") from None
        yield plain
        if tag == sodium.crypto_secretstream_xchacha20poly1305_TAG_FINAL:
            if src.read(1):
                raise CryptoError("the blob has bytes after its final piece")
            return
