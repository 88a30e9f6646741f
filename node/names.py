"""Who a node key is, in words: this node, a group member's name, a known peer's name; and the reverse.

For plugins and commands that name organisations (the evidence chain of custody, court packages)
or take one as an argument; they use these rather than read federation's tables.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from tequio.federation.peers import PeerBook, Penalties
from tequio.schemas import TextError, check_display_text, fingerprint, safe_text

from .errors import TequioError

if TYPE_CHECKING:
    from .node import Node

__all__ = ["check_name", "org_name", "peer_name", "resolve_key", "safe_text"]

_FINGERPRINT = re.compile(r"[A-Za-z2-7]{4}(-[A-Za-z2-7]{4}){3}")
_HEX = re.compile(r"[0-9a-fA-F]{8,64}")


def check_name(text: str, field: str) -> str:
    """``text`` if it may be shown to an operator as is; else a TequioError naming ``field`` (issue 9 §7)."""
    try:
        return check_display_text(text, field)
    except TextError as e:
        raise TequioError(str(e)) from None


def _book(node: Node) -> PeerBook:
    return PeerBook(node.store.conn, node.store.write, node.clock, Penalties())


def peer_name(node: Node, key: bytes) -> str | None:
    """The name a known peer gave itself when the invite was completed, if any."""
    peer = _book(node).get(key)
    return peer.name if peer is not None and peer.name else None


def org_name(node: Node, key: bytes) -> str | None:
    """This node's own name, else the name a group this node is in gives the key, else its peer name."""
    if key == node.key:
        return node.name
    for _, st in node.governance.groups():
        member = st.members.get(key)
        if member is not None and member.name:
            return member.name
    return peer_name(node, key)


def resolve_key(node: Node, text: str) -> bytes:
    """A node key given as 64 hex, as this node's own key prefix, or as a known peer's key prefix (8+
    hex) or fingerprint; a TequioError says why not."""
    t = text.strip()
    if len(t) == 64:
        try:
            return bytes.fromhex(t.lower())
        except ValueError:
            raise TequioError(f"{text!r} is not a node key (64 hex)") from None
    if len(t) >= 8 and node.key.hex().startswith(t.lower()):
        return node.key
    peers = _book(node).all()
    if _FINGERPRINT.fullmatch(t):
        found = [p.key for p in peers if fingerprint(p.key) == t.upper()]
    elif _HEX.fullmatch(t):
        found = [p.key for p in peers if p.key.hex().startswith(t.lower())]
    else:
        raise TequioError(f"{text!r} is neither a node key (hex) nor a fingerprint")
    if not found:
        raise TequioError(f"no known peer matches {text}")
    if len(found) > 1:
        raise TequioError(f"{text} matches several peers; give more of the key")
    return found[0]
