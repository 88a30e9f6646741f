"""Fingerprints: a short form of a node key that two people can compare aloud or on paper."""

from __future__ import annotations

import base64
import hashlib

__all__ = ["fingerprint", "parse_key"]

_FP_DOMAIN = b"tequio/fingerprint/v1\n"


def fingerprint(key: bytes) -> str:
    """80 bits of SHA-256 over the key, as four groups of four base32 letters: ``ABCD-EFGH-IJKL-MNOP``."""
    digest = hashlib.sha256(_FP_DOMAIN + key).digest()[:10]
    text = base64.b32encode(digest).decode("ascii")
    return "-".join(text[i : i + 4] for i in range(0, 16, 4))


def parse_key(text: str) -> bytes:
    """A node key from its 64-character hex form; raise ValueError with a readable message otherwise."""
    text = text.strip().lower()
    if len(text) != 64:
        raise ValueError(f"a node key is 64 hex characters, got {len(text)}")
    try:
        return bytes.fromhex(text)
    except ValueError:
        raise ValueError("a node key is 64 hex characters (0-9, a-f)") from None
