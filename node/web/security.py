"""What every response and every form gets: security headers, the Host check, CSRF, the login limiter.

Headers: CSP ``default-src 'self'`` (nothing loads from outside the node, no inline script),
frame-ancestors none, no Referer, and no caching of anything but the static files. The Host check
refuses names the operator did not configure (DNS rebinding: a hostile page that points its own
name at 127.0.0.1 still sends its own name). A form post must carry the session's CSRF token and
must not come from another site (``Sec-Fetch-Site``, ``Origin``).
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable

from aiohttp import web

__all__ = [
    "CSP",
    "CSRF_FIELD",
    "LoginLimiter",
    "allowed_host_names",
    "cross_site",
    "host_allowed",
    "security_headers",
]

CSRF_FIELD = "csrf_token"
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'"
)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def security_headers(response: web.StreamResponse, static: bool) -> None:
    h = response.headers
    h["Content-Security-Policy"] = CSP
    h["X-Frame-Options"] = "DENY"
    h["Referrer-Policy"] = "no-referrer"
    h["X-Content-Type-Options"] = "nosniff"
    h["Cross-Origin-Opener-Policy"] = "same-origin"
    h["Cross-Origin-Resource-Policy"] = "same-origin"
    h["Permissions-Policy"] = "camera=(), microphone=(), geolocation=()"
    if static:
        h["Cache-Control"] = "public, max-age=86400"
    else:
        h["Cache-Control"] = "no-store"
        h["Pragma"] = "no-cache"


def allowed_host_names(host: str, extra: Iterable[str]) -> set[str]:
    """Names (without port) the Host header may carry."""
    names = {"localhost", "127.0.0.1", "[::1]"}
    if host not in ("0.0.0.0", "::", ""):
        names.add(f"[{host}]" if ":" in host else host)
    names |= {e.strip().lower() for e in extra if e.strip()}
    return names


def host_allowed(header: str | None, names: set[str], port: int, bind_all: bool) -> bool:
    """Whether a Host header names this node: a configured name with the listener's port.

    When the listener binds every interface, any literal IP address of this machine may be used;
    only names (which DNS could point anywhere) are held to the list.
    """
    if not header or len(header) > 300:
        return False
    h = header.strip().lower()
    if h.startswith("["):
        name, _, rest = h.partition("]")
        name += "]"
        got_port = rest[1:] if rest.startswith(":") else ""
    else:
        name, _, got_port = h.partition(":")
    if got_port and got_port != str(port):
        return False
    if name in names:
        return True
    if bind_all:
        import ipaddress

        try:
            ipaddress.ip_address(name.strip("[]"))
            return True  # an address, not a name: DNS rebinding needs a name
        except ValueError:
            return False
    return False


def cross_site(request: web.Request, origin: str) -> bool:
    """Whether a state-changing request came from another site (the browser tells us)."""
    fetch_site = request.headers.get("Sec-Fetch-Site")
    if fetch_site is not None and fetch_site not in ("same-origin", "none"):
        return True
    sent = request.headers.get("Origin")
    return sent is not None and sent != "null" and sent.rstrip("/") != origin
    # Origin "null" comes from privacy-sensitive contexts; the CSRF token still has to match.


def csrf_ok(expected: str | None, given: str | None) -> bool:
    if not expected or not given:
        return False
    return hmac.compare_digest(expected.encode(), given.encode("utf-8", "replace"))


class LoginLimiter:
    """Failed logins per address within a sliding window; an address is kept only while it has a
    failure inside the window, and only as a keyed hash (the table cannot be read back into IPs)."""

    def __init__(self, attempts: int, window_ms: int, max_entries: int = 10_000) -> None:
        self.attempts = attempts
        self.window_ms = window_ms
        self.max_entries = max_entries
        self._key = os.urandom(32)  # per process: the hashes mean nothing after a restart
        self._failures: OrderedDict[bytes, list[int]] = OrderedDict()

    def _id(self, address: str) -> bytes:
        return hashlib.blake2b(address.encode("utf-8", "replace"), key=self._key, digest_size=16).digest()

    def _prune(self, now: int) -> None:
        cutoff = now - self.window_ms
        for k in list(self._failures):
            kept = [t for t in self._failures[k] if t > cutoff]
            if kept:
                self._failures[k] = kept
            else:
                del self._failures[k]

    def blocked(self, address: str, now: int) -> int:
        """Milliseconds until ``address`` may try again (0: it may now)."""
        self._prune(now)
        times = self._failures.get(self._id(address))
        if not times or len(times) < self.attempts:
            return 0
        return max(1, times[-self.attempts] + self.window_ms - now)

    def failed(self, address: str, now: int) -> None:
        k = self._id(address)
        self._failures.setdefault(k, []).append(now)
        self._failures.move_to_end(k)
        self._failures[k] = self._failures[k][-self.attempts :]
        while len(self._failures) > self.max_entries:
            self._failures.popitem(last=False)

    def succeeded(self, address: str) -> None:
        self._failures.pop(self._id(address), None)

    def __len__(self) -> int:
        return len(self._failures)
