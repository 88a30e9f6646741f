"""Names and titles that reach a terminal: refuse what could forge a line, escape what got in anyway.

A name with a newline, an ANSI escape or a bidi override can paint a fake ``peer list`` line with
another node's fingerprint (issue 9 section 7); every entry point and every listing uses these two.
"""

from __future__ import annotations

import re

__all__ = ["TextError", "check_display_text", "safe_text", "unsafe_chars"]

# C0 controls, DEL, C1 controls; bidi embeddings/overrides/isolates and the invisible direction marks.
_BIDI = "\u200e\u200f\u061c\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f" + _BIDI + "]")


class TextError(ValueError):
    """A name or title carries characters that could forge what an operator reads."""


def unsafe_chars(text: str) -> list[str]:
    """The offending characters of ``text``, each in its visible escaped form, in order."""
    return [_escape(m) for m in _UNSAFE.findall(text)]


def check_display_text(text: str, field: str) -> str:
    """Return ``text`` if it can be shown as is; else raise TextError naming ``field`` and what is wrong."""
    bad = unsafe_chars(text)
    if bad:
        shown = ", ".join(dict.fromkeys(bad))
        raise TextError(
            f"{field} contains control, escape or bidirectional characters ({shown}); "
            "use plain text on one line"
        )
    return text


def _escape(ch: str) -> str:
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def safe_text(text: object) -> str:
    """``text`` as it may be printed: every unsafe character shown as ``\\x1b`` or ``\\u202e``, so the
    text stays on one line and cannot move the cursor, recolour or reorder what follows."""
    return _UNSAFE.sub(lambda m: _escape(m.group(0)), str(text))
