"""Witness codenames: seven diceware words, shown once; only an Argon2id hash is ever kept.

The salt is derived from the call, so a codename's hash can be found among the call's submissions
without trying each one; 7 words of 8,192 (Spanish) or 7,776 (English) give about 91 and 90 bits,
far beyond what a guesser can search at Argon2id's cost.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable
from pathlib import Path

from nacl import pwhash
from nacl.encoding import RawEncoder
from nacl.hash import blake2b

__all__ = ["WORDS", "bits", "hash_codename", "new_codename", "normalize", "wordlist"]

WORDS = 7
_DIR = Path(__file__).parent / "words"
# Interactive cost with a small memory bound: two concurrent look-ups stay far under the node's budget.
OPSLIMIT = 3
MEMLIMIT = 16 * 1024 * 1024


@functools.cache
def wordlist(lang: str) -> tuple[str, ...]:
    """The list for ``lang`` (``es`` or ``en``), one word a line, checked to be long enough and unique."""
    name = "es" if lang == "es" else "en"
    words = tuple(w.strip() for w in (_DIR / f"{name}.txt").read_text("utf-8").splitlines() if w.strip())
    if len(set(words)) < 7776:
        raise RuntimeError(f"intake word list {name} has fewer than 7776 distinct words")
    return words


def bits(lang: str) -> float:
    return WORDS * math.log2(len(wordlist(lang)))


def new_codename(lang: str, rng: Callable[[int], bytes]) -> str:
    """Seven words drawn uniformly (rejection sampling on 4 random bytes each)."""
    words = wordlist(lang)
    n = len(words)
    limit = (1 << 32) - (1 << 32) % n
    out: list[str] = []
    while len(out) < WORDS:
        v = int.from_bytes(rng(4), "big")
        if v < limit:
            out.append(words[v % n])
    return " ".join(out)


def normalize(text: str) -> str:
    """How a witness may type it back: any case, spaces, dots or commas between the words."""
    return " ".join(w for w in re.split(r"[\s.,;_]+", text.strip().lower()) if w)


def hash_codename(call: bytes, codename: str) -> bytes:
    """Argon2id of the normalised phrase, salted by the call (the only form it is kept in)."""
    salt = blake2b(b"tequio intake codename" + call, digest_size=16, encoder=RawEncoder)
    return pwhash.argon2id.kdf(32, normalize(codename).encode(), salt, opslimit=OPSLIMIT, memlimit=MEMLIMIT)
