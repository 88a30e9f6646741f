"""The node key: an Ed25519 key pair kept in ``<home>/node.key``, mode 0600, sealed by a passphrase if set.

The public key is stored in clear beside the sealed seed so that ``info`` and peers' fingerprints work
without the passphrase. The seed is sealed with SecretBox under a key derived by Argon2id; the KDF
parameters are stored with it so they can be raised later without breaking old files.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nacl.exceptions
import nacl.pwhash
import nacl.secret
from nacl.signing import SigningKey

from tequio.schemas import fingerprint

from .errors import PassphraseRequired, TequioError, WrongPassphrase

__all__ = [
    "KDF_PROFILES",
    "KEY_FILE",
    "MIN_PASSPHRASE",
    "Identity",
    "create_identity",
    "key_is_encrypted",
    "load_identity",
    "read_public_key",
]

KEY_FILE = "node.key"
_FORMAT = "tequio-node-key/1"
MIN_PASSPHRASE = 8
#: Argon2id cost profiles (libsodium's names). "moderate" takes about a second and 256 MiB here.
KDF_PROFILES = {
    "interactive": (nacl.pwhash.argon2id.OPSLIMIT_INTERACTIVE, nacl.pwhash.argon2id.MEMLIMIT_INTERACTIVE),
    "moderate": (nacl.pwhash.argon2id.OPSLIMIT_MODERATE, nacl.pwhash.argon2id.MEMLIMIT_MODERATE),
    "sensitive": (nacl.pwhash.argon2id.OPSLIMIT_SENSITIVE, nacl.pwhash.argon2id.MEMLIMIT_SENSITIVE),
}


@dataclass(frozen=True, repr=False)
class Identity:
    """The node's key pair. ``repr`` and ``str`` show only the public half."""

    signing_key: SigningKey

    @property
    def public(self) -> bytes:
        return bytes(self.signing_key.verify_key)

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.public)

    def __repr__(self) -> str:
        return f"Identity(public={self.public.hex()})"

    __str__ = __repr__


def _derive(passphrase: str, salt: bytes, opslimit: int, memlimit: int) -> bytes:
    return nacl.pwhash.argon2id.kdf(
        nacl.secret.SecretBox.KEY_SIZE, passphrase.encode("utf-8"), salt, opslimit=opslimit, memlimit=memlimit
    )


def create_identity(
    home: Path,
    rng: Callable[[int], bytes],
    passphrase: str | None = None,
    kdf_profile: str = "moderate",
) -> Identity:
    """Generate a key from ``rng`` and write it to ``<home>/node.key`` (refusing to overwrite one)."""
    seed = rng(32)
    key = SigningKey(seed)
    doc: dict[str, Any] = {"format": _FORMAT, "public": bytes(key.verify_key).hex()}
    if passphrase is None:
        doc["seed"] = seed.hex()
    else:
        if len(passphrase) < MIN_PASSPHRASE:
            raise TequioError(f"the passphrase must have at least {MIN_PASSPHRASE} characters")
        opslimit, memlimit = KDF_PROFILES[kdf_profile]
        salt = rng(nacl.pwhash.argon2id.SALTBYTES)
        box = nacl.secret.SecretBox(_derive(passphrase, salt, opslimit, memlimit))
        sealed = box.encrypt(seed, rng(nacl.secret.SecretBox.NONCE_SIZE))
        doc["sealed"] = {
            "kdf": "argon2id13",
            "opslimit": opslimit,
            "memlimit": memlimit,
            "salt": salt.hex(),
            "box": bytes(sealed).hex(),
        }
    path = home / KEY_FILE
    # O_EXCL: never replace an existing key; 0600 from the first byte, not chmod'ed afterwards.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(doc, f, indent=2)
        f.write("\n")
    return Identity(key)


def _read(home: Path) -> dict[str, Any]:
    path = home / KEY_FILE
    try:
        mode = path.stat().st_mode
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise TequioError(f"{path} is missing: this node has no key") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise TequioError(
            f"{path} can be read by other users (mode {stat.S_IMODE(mode):04o}); run: chmod 600 {path}"
        )
    try:
        doc = json.loads(text)
        if doc.get("format") != _FORMAT or len(bytes.fromhex(doc["public"])) != 32:
            raise ValueError
    except (ValueError, KeyError, TypeError, AttributeError):
        raise TequioError(f"{path} is not a Tequio node key file") from None
    return doc


def read_public_key(home: Path) -> bytes:
    """The public key, readable without the passphrase."""
    return bytes.fromhex(_read(home)["public"])


def key_is_encrypted(home: Path) -> bool:
    return "sealed" in _read(home)


def load_identity(home: Path, passphrase: str | None = None) -> Identity:
    """Open the node key; a sealed key needs its passphrase (else PassphraseRequired or WrongPassphrase)."""
    doc = _read(home)
    path = home / KEY_FILE
    try:
        if "sealed" in doc:
            if passphrase is None:
                raise PassphraseRequired("the node key is encrypted and no passphrase was given")
            s = doc["sealed"]
            if s.get("kdf") != "argon2id13":
                raise TequioError(f"{path}: unknown key derivation {s.get('kdf')!r}")
            box = nacl.secret.SecretBox(
                _derive(passphrase, bytes.fromhex(s["salt"]), int(s["opslimit"]), int(s["memlimit"]))
            )
            try:
                seed = box.decrypt(bytes.fromhex(s["box"]))
            except nacl.exceptions.CryptoError:
                raise WrongPassphrase("wrong passphrase for the node key") from None
        else:
            seed = bytes.fromhex(doc["seed"])
        key = SigningKey(seed)
    except (KeyError, ValueError, TypeError):
        raise TequioError(f"{path} is damaged: its key cannot be read") from None
    if bytes(key.verify_key).hex() != doc["public"]:
        raise TequioError(f"{path} is damaged: the stored public key does not match the secret key")
    return Identity(key)
