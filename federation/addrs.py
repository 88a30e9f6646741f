"""Peer addresses (docs/protocol.md rule F13): ``host:port``, where host is an IPv4 address, an IPv6
address in brackets, or a DNS name. Anything else could turn into a different URL than it seems."""

from __future__ import annotations

import ipaddress
import re

__all__ = ["MAX_ADDR_LEN", "is_valid_addr"]

MAX_ADDR_LEN = 262  # "[" + 45 + "]" or a 253-character name, ":" and 5 digits, with room to spare
_LABEL = r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_NAME = re.compile(rf"(?=.{{1,253}}\Z){_LABEL}(\.{_LABEL})*\.?")
_PORT = re.compile(r"[1-9][0-9]{0,4}")


def is_valid_addr(text: object) -> bool:
    """Whether ``text`` is ``host:port`` as the spec allows, with port 1..65535."""
    if type(text) is not str or not 3 <= len(text) <= MAX_ADDR_LEN:
        return False
    host, sep, port = text.rpartition(":")
    if not sep or not _PORT.fullmatch(port) or int(port) > 65535:
        return False
    if host.startswith("["):
        if not host.endswith("]"):
            return False
        try:
            ip6 = ipaddress.IPv6Address(host[1:-1])
        except ValueError:
            return False
        return ip6.scope_id is None
    if re.fullmatch(r"[0-9.]+", host):
        try:
            ipaddress.IPv4Address(host)
        except ValueError:
            return False
        return True
    return bool(_NAME.fullmatch(host))
