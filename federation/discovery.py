"""LAN discovery with zeroconf: advertise ``_tequio._tcp.local.`` with the node key in TXT, browse it.

Anything heard here is a hint from an unauthenticated, possibly hostile network. It only ever lists
*candidates* (``fed_candidates``) and refreshes the addresses of peers already trusted; it never
grants trust. Adverts are parsed strictly and anything odd is dropped without a trace beyond a debug
log. An address is worth storing for a trusted peer only once it answered with that peer's signature
(``answers_as``): the TXT key is a claim anybody on the LAN can make.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import logging
import os
import re
import socket
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import ifaddr
from zeroconf import InterfaceChoice, IPVersion, ServiceStateChange, Zeroconf
from zeroconf.asyncio import AsyncServiceBrowser, AsyncServiceInfo, AsyncZeroconf

from .wire import AUTH_HEADER, Keyring, check_response, close_message, sign_request

__all__ = [
    "MAX_ADDRS",
    "SERVICE_TYPE",
    "Advert",
    "Discovery",
    "advertised_ips",
    "answers_as",
    "display_name",
    "encode_txt",
    "host_ipv4s",
    "instance_name",
    "merged_addrs",
    "parse_addrs",
    "parse_txt",
    "record_candidate",
    "refresh_trusted",
]

log = logging.getLogger(__name__)

SERVICE_TYPE = "_tequio._tcp.local."
TXT_VERSION = "1"
#: Bounds on what a stranger can make us hold or do.
MAX_TXT_BYTES = 1024  # a whole TXT record; ours is under 200
MAX_TXT_ENTRIES = 16
MAX_NAME_BYTES = 100  # UTF-8 bytes of the advertised display name
MAX_ADDRS = 8  # addresses kept per advert, and per trusted peer
MAX_SERVICES = 256  # service names followed at once
MAX_PENDING = 32  # resolutions in flight
MAX_CANDIDATES = 256  # rows kept in fed_candidates (most recently seen)
#: Probed at a trusted peer's new address; no node serves it, so the answer is a signed 404 (or 429).
PROBE_PATH = "/fed/v1/discovery-probe"

_WILDCARDS = ("", "0.0.0.0", "::")
_TXT_KEY = re.compile(rb"[a-z0-9_-]{1,32}")


@dataclass(frozen=True)
class Advert:
    """What a valid TXT record says: a node key and its display name (both unverified claims)."""

    key: bytes
    name: str


# -- TXT -----------------------------------------------------------------------------------------------


def display_name(name: str) -> str:
    """The name as advertised: printable characters only, cut to ``MAX_NAME_BYTES`` on a character
    boundary (so that peers' strict parsing never rejects our own advert)."""
    clean = "".join(ch if ch.isprintable() else " " for ch in name).strip() or "?"
    return clean.encode()[:MAX_NAME_BYTES].decode("utf-8", "ignore").strip() or "?"


def encode_txt(key: bytes, name: str) -> dict[str, str]:
    """TXT properties of our advert."""
    if len(key) != 32:
        raise ValueError("a node key is 32 bytes")
    return {"v": TXT_VERSION, "key": key.hex(), "name": display_name(name)}


def _txt_entries(text: bytes) -> list[bytes] | None:
    """Split a raw TXT record into its length-prefixed strings; None if a length overruns."""
    out, i = [], 0
    while i < len(text):
        n = text[i]
        if i + 1 + n > len(text):
            return None
        out.append(text[i + 1 : i + 1 + n])
        i += 1 + n
    return out


def parse_txt(text: bytes) -> Advert | None:
    """The advert in a raw TXT record, or None for anything malformed, oversized or of another version.

    Strict: every entry is ``key=value`` with a lowercase ASCII key, none repeated; ``v`` is ``1``;
    ``key`` is 64 lowercase hex digits; ``name`` is non-empty printable UTF-8 of at most
    ``MAX_NAME_BYTES``. Unknown keys are allowed (later minor additions) but count against the bounds.
    """
    if not isinstance(text, bytes) or len(text) > MAX_TXT_BYTES:
        return None
    entries = _txt_entries(text)
    if entries is None:
        return None
    props: dict[str, bytes] = {}
    for entry in entries:
        if not entry:  # an empty string is how an empty TXT record is written
            continue
        k, sep, v = entry.partition(b"=")
        if not sep or not _TXT_KEY.fullmatch(k):
            return None
        key = k.decode()
        if key in props or len(props) >= MAX_TXT_ENTRIES:
            return None
        props[key] = v
    if props.get("v") != TXT_VERSION.encode():  # version first: another version's shape is unknown
        return None
    raw_key, raw_name = props.get("key"), props.get("name")
    if raw_key is None or raw_name is None:
        return None
    if len(raw_key) != 64 or any(c not in b"0123456789abcdef" for c in raw_key):
        return None
    if not raw_name or len(raw_name) > MAX_NAME_BYTES:
        return None
    try:
        name = raw_name.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if not name.isprintable() or name != name.strip():
        return None
    return Advert(bytes.fromhex(raw_key.decode()), name)


# -- addresses -----------------------------------------------------------------------------------------


def _usable(ip: ipaddress.IPv4Address) -> bool:
    """Whether an address can make sense to a LAN neighbour (not loopback, link-local, multicast...)."""
    return not (
        ip.is_loopback
        or ip.is_unspecified
        or ip.is_multicast
        or ip.is_link_local
        or ip.is_reserved
        or ip == ipaddress.IPv4Address("255.255.255.255")
    )


def parse_addrs(ips: Sequence[str], port: Any) -> list[str]:
    """``ip:port`` for the usable IPv4 addresses of an advert, at most ``MAX_ADDRS``; [] for a bad port."""
    if not isinstance(port, int) or isinstance(port, bool) or not 1 <= port <= 65535:
        return []
    out: list[str] = []
    for text in ips:
        try:
            ip = ipaddress.IPv4Address(text)
        except (ipaddress.AddressValueError, ValueError, TypeError):
            continue
        addr = f"{ip}:{port}"
        if _usable(ip) and addr not in out:
            out.append(addr)
        if len(out) == MAX_ADDRS:
            break
    return out


def host_ipv4s() -> list[str]:
    """This machine's IPv4 addresses that a LAN neighbour could use, as they are now."""
    ips: list[str] = []
    for adapter in ifaddr.get_adapters():
        for ip in adapter.ips:
            if not isinstance(ip.ip, str):
                continue
            with contextlib.suppress(ValueError):
                if _usable(ipaddress.IPv4Address(ip.ip)):
                    ips.append(ip.ip)
    return list(dict.fromkeys(ips))


def advertised_ips(
    bound: Sequence[tuple[str, int]], host_ips: Callable[[], list[str]] = host_ipv4s
) -> list[str]:
    """The IPv4 addresses to advertise for a listener bound at ``bound``: every usable address of the
    machine for a wildcard bind, else the bound addresses themselves (none if only loopback)."""
    out: list[str] = []
    for host, _port in bound:
        if host in _WILDCARDS:
            out += host_ips()
            continue
        with contextlib.suppress(ValueError):
            if _usable(ipaddress.IPv4Address(host)):
                out.append(host)
    return list(dict.fromkeys(out))


def instance_name(key: bytes) -> str:
    """Our zeroconf instance name: stable for the key, short, and unlike any other node's."""
    return f"tequio-{key.hex()[:16]}.{SERVICE_TYPE}"


# -- the node's tables ---------------------------------------------------------------------------------


def record_candidate(
    conn: sqlite3.Connection, key: bytes, name: str, addrs: list[str], now_ms: int, keep: int = MAX_CANDIDATES
) -> None:
    """Remember a node seen on the LAN (upsert), keeping only the ``keep`` most recently seen:
    a hostile LAN can advertise any number of keys, the table must not grow with them."""
    if len(key) != 32:
        raise ValueError("a node key is 32 bytes")
    if not isinstance(name, str) or not all(isinstance(a, str) for a in addrs):
        raise ValueError("name and addresses are text")
    with _transaction(conn):
        conn.execute(
            "INSERT INTO fed_candidates (key, name, addrs, seen) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (key) DO UPDATE SET"
            " name = excluded.name, addrs = excluded.addrs, seen = excluded.seen",
            (key, name, json.dumps(addrs[:MAX_ADDRS]), now_ms),
        )
        conn.execute(
            "DELETE FROM fed_candidates WHERE key NOT IN"
            " (SELECT key FROM fed_candidates ORDER BY seen DESC, key LIMIT ?)",
            (max(keep, 1),),
        )


def merged_addrs(fresh: Sequence[str], known: Sequence[str]) -> list[str]:
    """Fresh addresses first, then the known ones not among them, at most ``MAX_ADDRS``.

    Known addresses are kept after the fresh ones rather than dropped: a peer may also be reachable
    over another network (a VPN, a mesh) that the LAN knows nothing about."""
    return list(dict.fromkeys([*fresh, *known]))[:MAX_ADDRS]


def refresh_trusted(conn: sqlite3.Connection, key: bytes, addrs: list[str]) -> bool:
    """Put ``addrs`` first in a *trusted* peer's addresses; returns whether they changed.

    Never adds a peer, never touches a blocked one, never changes a state."""
    if not addrs:
        return False
    with _transaction(conn):
        row = conn.execute(
            "SELECT addrs FROM fed_peers WHERE key = ? AND state = 'trusted'", (key,)
        ).fetchone()
        if row is None:
            return False
        try:
            known = json.loads(row[0])
        except ValueError:
            known = []
        if not isinstance(known, list):
            known = []
        known = [a for a in known if isinstance(a, str)]
        new = merged_addrs(addrs, known)
        if new == known:
            return False
        cur = conn.execute(
            "UPDATE fed_peers SET addrs = ? WHERE key = ? AND state = 'trusted'", (json.dumps(new), key)
        )
        return cur.rowcount > 0


@contextlib.contextmanager
def _transaction(conn: sqlite3.Connection) -> Any:
    """Join the caller's transaction, or run one of our own (``BEGIN IMMEDIATE``, as the node does)."""
    if conn.in_transaction:
        yield
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


# -- proof that an address is a peer's -----------------------------------------------------------------


async def answers_as(
    keyring: Keyring,
    peer: bytes,
    addr: str,
    clock: Callable[[], int],
    rng: Callable[[int], bytes] = os.urandom,
    timeout_s: float = 5.0,
) -> bool:
    """Whether the node listening at ``addr`` holds ``peer``'s key: it must sign its answer to a fresh
    request of ours. Only a peer that trusts us answers signed (others get a bare 401), which is the
    case for trusted peers after an invite."""
    import aiohttp  # deferred: only ``serve`` pays for it

    body = close_message(keyring, peer, {})
    nonce = rng(16)
    headers = {
        AUTH_HEADER: sign_request(keyring, peer, "POST", PROBE_PATH, body, clock(), nonce),
        "Content-Type": "application/octet-stream",
    }
    timeout = aiohttp.ClientTimeout(total=timeout_s)
    try:
        async with (
            aiohttp.ClientSession(timeout=timeout) as session,
            session.post(f"http://{addr}{PROBE_PATH}", data=body, headers=headers) as resp,
        ):
            data = await resp.content.read(65536)
            check_response(resp.headers.get(AUTH_HEADER), peer, keyring.key, resp.status, nonce, data)
    except Exception as e:  # unreachable, not HTTP, unsigned, signed by someone else: not proven
        log.debug("probe of %s at %s: %s", peer.hex()[:16], addr, type(e).__name__)
        return False
    return True


# -- zeroconf ------------------------------------------------------------------------------------------

Found = Callable[[bytes, str, list[str]], None]


class Discovery:
    """Advertise this node and browse for others; ``found(key, name, ["ip:port", ...])`` is called
    (on the event loop) for every valid advert that is not our own, each time it is (re)resolved.

    ``addresses()`` gives the IPv4 addresses to advertise; it is asked again every ``rescan_s``
    seconds so that a node whose address changes (a mesh, DHCP) re-announces itself. With no
    port or no address the node only browses. ``interfaces`` restricts zeroconf to those IPs.
    """

    def __init__(
        self,
        key: bytes,
        name: str,
        found: Found,
        port: int | None,
        addresses: Callable[[], list[str]],
        interfaces: list[str] | None = None,
        rescan_s: float = 5.0,
        resolve_timeout_ms: int = 3000,
    ) -> None:
        self.key = key
        self.txt = encode_txt(key, name)
        self.found = found
        self.port = port
        self.addresses = addresses
        self.interfaces = interfaces
        self.rescan_s = rescan_s
        self.resolve_timeout_ms = resolve_timeout_ms
        self.advertised: list[str] = []
        self._azc: AsyncZeroconf | None = None
        self._browser: AsyncServiceBrowser | None = None
        self._info: AsyncServiceInfo | None = None
        self._names: set[str] = set()  # services currently on the LAN (bounded)
        self._pending: dict[str, asyncio.Task[None]] = {}
        self._watcher: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Open the multicast sockets, advertise (if there is something to advertise), browse."""
        ifaces: Any = self.interfaces or InterfaceChoice.All
        self._azc = AsyncZeroconf(interfaces=ifaces, ip_version=IPVersion.V4Only)
        try:
            await self._advertise(self._current())
            if not self.advertised:
                log.info("discovery: no LAN address to advertise; browsing only")
            self._browser = AsyncServiceBrowser(self._azc.zeroconf, SERVICE_TYPE, handlers=[self._on_change])
        except BaseException:
            await self.close()
            raise
        self._watcher = asyncio.create_task(self._watch(), name="discovery-watch")

    async def close(self) -> None:
        """Stop browsing, say goodbye (unregister), close the sockets. Safe to call twice."""
        tasks = [t for t in (self._watcher, *self._pending.values()) if t is not None]
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        self._watcher = None
        self._pending.clear()
        if self._browser is not None:
            with contextlib.suppress(Exception):
                await self._browser.async_cancel()
            self._browser = None
        if self._azc is not None:
            azc, self._azc = self._azc, None
            if self._info is not None:
                with contextlib.suppress(Exception):
                    await azc.async_unregister_service(self._info)
                self._info = None
            await azc.async_close()

    # -- advertising -----------------------------------------------------------------------------------

    def _current(self) -> list[str]:
        try:
            ips = self.addresses()
        except Exception:
            log.exception("listing this host's addresses failed")
            return self.advertised
        return ips[:MAX_ADDRS] if self.port else []

    async def _advertise(self, ips: list[str]) -> None:
        """Register, update or withdraw our service so that it carries ``ips``."""
        assert self._azc is not None
        if ips == self.advertised and (self._info is not None or not ips):
            return
        if not ips:
            if self._info is not None:
                await self._azc.async_unregister_service(self._info)
                self._info = None
            self.advertised = []
            log.info("discovery: no LAN address to advertise; browsing only")
            return
        if self._info is None:
            self._info = AsyncServiceInfo(
                SERVICE_TYPE,
                instance_name(self.key),
                port=self.port,
                properties=self.txt,
                server=f"tequio-{self.key.hex()[:16]}.local.",
                addresses=[socket.inet_aton(ip) for ip in ips],
            )
            # Another host may already use our instance name (by accident or on purpose): the key in
            # TXT is what identifies us, so take another name rather than fail.
            await self._azc.async_register_service(self._info, allow_name_change=True)
        else:
            self._info.addresses = [socket.inet_aton(ip) for ip in ips]
            await self._azc.async_update_service(self._info)
        self.advertised = ips
        log.info("discovery: advertising %s on port %s", ", ".join(ips), self.port)

    async def _watch(self) -> None:
        """Follow this host's addresses, and re-resolve the services we know (refreshes ``seen``)."""
        assert self._azc is not None
        rounds = 0
        while True:
            await asyncio.sleep(self.rescan_s)
            rounds += 1
            try:
                ips = self._current()
                if ips != self.advertised:
                    update = getattr(self._azc, "async_update_interfaces", None)
                    if update is not None and self.interfaces is None:  # zeroconf >= 0.148
                        await update()
                    await self._advertise(ips)
                if rounds % max(1, round(60 / self.rescan_s)) == 0:
                    for name in list(self._names):
                        self._resolve_soon(name)
            except Exception:  # a hiccup must not stop discovery; try again next round
                log.exception("discovery: refreshing the advert failed")

    # -- browsing --------------------------------------------------------------------------------------

    def _on_change(
        self, zeroconf: Zeroconf, service_type: str, name: str, state_change: ServiceStateChange
    ) -> None:
        if state_change is ServiceStateChange.Removed:
            self._names.discard(name)
            return
        if self._info is not None and name == self._info.name:
            return
        if name not in self._names:
            if len(self._names) >= MAX_SERVICES:
                return
            self._names.add(name)
        self._resolve_soon(name)

    def _resolve_soon(self, name: str) -> None:
        if name in self._pending or len(self._pending) >= MAX_PENDING or self._azc is None:
            return
        task = asyncio.get_running_loop().create_task(self._resolve(name))
        self._pending[name] = task
        task.add_done_callback(lambda _t: self._pending.pop(name, None))

    async def _resolve(self, name: str) -> None:
        assert self._azc is not None
        try:
            info = AsyncServiceInfo(SERVICE_TYPE, name)
            if not await info.async_request(self._azc.zeroconf, self.resolve_timeout_ms):
                return
            advert = parse_txt(info.text or b"")
            addrs = parse_addrs(info.parsed_addresses(IPVersion.V4Only), info.port)
        except Exception as e:  # whatever a stranger sends must not stop us
            log.debug("discovery: cannot resolve %r: %s", name, e)
            return
        if advert is None or not addrs:
            log.debug("discovery: ignored %r (invalid advert or no usable address)", name)
            return
        if advert.key == self.key:
            return
        try:
            self.found(advert.key, advert.name, addrs)
        except Exception:
            log.exception("discovery: handling %s failed", advert.key.hex()[:16])
