"""Federation over HTTP: ``POST /fed/v1/<method>``, authenticated and boxed as in ``wire``.

The listener serves only these paths, to trusted keys (and handshakes); an unauthenticated
request gets a bare 401 that reveals nothing about the node's peers or records.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import aiohttp
from aiohttp import web

from .addrs import is_valid_addr
from .listener import ConnectionGuard, ListenerLimits, RefusalLog
from .memory import Meter
from .messages import Limits, PeerViolation
from .service import FedError, FedService
from .sync import Unreachable
from .synclink import Budget, LinkBook, LinkEstimate, Stalled, Watch
from .wire import (
    AUTH_HEADER,
    AuthError,
    Keyring,
    ReplayGuard,
    RequestAuth,
    check_response,
    close_message,
    finish_request,
    open_message,
    precheck_request,
    sign_request,
    sign_response,
)

__all__ = ["PATH_PREFIX", "HttpTransport", "make_fed_app"]

PATH_PREFIX = "/fed/v1/"
#: Headers aiohttp would add that say nothing a peer needs (every byte counts on a mesh link).
_SKIP = ("User-Agent", "Accept", "Accept-Encoding", "Content-Type")
log = logging.getLogger(__name__)


def _plain(status: int, code: str) -> web.Response:
    """An unauthenticated refusal: the code as plain text, no signature, and the connection closed
    (an unread body is not worth draining)."""
    resp = web.Response(status=status, text=code, headers={"Server": "tequio"})  # no versions
    resp.force_close()
    return resp


#: Longest a peer over its bandwidth budget waits for an answer: shorter than any client's stall
#: window, so that the wait never reads as a dead link (the budget is then approximate).
ANSWER_WAIT_S = 10.0
#: Bodies larger than this are decrypted and decoded on a worker thread, not on the event loop.
THREAD_ABOVE = 64 * 1024


async def _read_body(request: web.Request, length: int, idle_s: float) -> bytes | None:
    """Exactly ``length`` bytes of body, each chunk within ``idle_s`` of the last; None otherwise."""
    chunks: list[bytes] = []
    got = 0
    while got < length:
        try:
            chunk = await asyncio.wait_for(request.content.readany(), idle_s)
        except Exception:  # a pause too long, a client gone, a broken chunk: no body, no traceback
            return None
        if not chunk:
            break
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks) if got == length else None


def make_fed_app(
    service: FedService,
    keyring: Keyring,
    clock: Callable[[], int],
    limits: Limits,
    guard: ConnectionGuard | None = None,
    budget: Budget | None = None,
) -> web.Application:
    """The federation listener's application (checks in the order of docs/protocol.md rule F2).

    ``guard`` is the listener's connection guard (``listener.start_listener``); without one, the
    same checks run with default limits and no connection caps. ``budget``: the per-peer bandwidth
    budget (``federation.peer_kbit``), shared with our client: a peer in debt waits (at most
    ``ANSWER_WAIT_S``) before its answer goes out, and every answer is charged to it.
    """
    replay = ReplayGuard()
    guard = guard or ConnectionGuard(ListenerLimits(), RefusalLog("federation listener", _monotonic))
    refusals = RefusalLog("federation requests from unknown or unproven senders", _monotonic)
    app = web.Application(client_max_size=limits.max_body)
    pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="fed-decode")

    async def shutdown(_: web.Application) -> None:
        pool.shutdown(wait=False, cancel_futures=True)

    app.on_cleanup.append(shutdown)

    async def handle(request: web.Request) -> web.Response:
        method = request.match_info["method"]
        handshake = method == "handshake"
        try:
            pending = precheck_request(
                request.headers.get(AUTH_HEADER), clock(), lambda key: handshake or service.known(key)
            )
        except AuthError as e:
            refusals.note(e.code)
            return _plain(401, e.code)
        length = request.content_length
        if length is None:
            refusals.note("length-required")
            return _plain(411, "length-required")
        if length > (guard.limits.max_unauthenticated_body if handshake else limits.max_body):
            # No signature can be checked without the body, so nobody is penalised for this.
            refusals.note("too-large")
            return _plain(413, "too-large")
        if handshake and not guard.allow_unauthenticated(guard.host_of(request.transport), _monotonic()):
            refusals.note("too-many-handshakes")
            return _plain(429, "too-many-requests")
        async with guard.body_budget(length) as room:
            if not room:
                refusals.note("busy (body budget)")
                return _plain(503, "busy")
            body = await _read_body(request, length, guard.limits.body_timeout_s)
            if body is None:
                refusals.note("body-timeout")
                return _plain(408, "body-timeout")
            try:
                auth = finish_request(
                    pending, request.method, request.path, body, keyring.key, clock(), replay
                )
            except AuthError as e:
                refusals.note(e.code)
                return _plain(401, e.code)
            if not handshake:
                guard.authenticated(request.transport)
            return await _answer(auth, method, body)

    async def _answer(auth: RequestAuth, method: str, body: bytes) -> web.Response:
        try:
            if len(body) > THREAD_ABOVE:
                loop = asyncio.get_running_loop()
                message = await loop.run_in_executor(
                    pool, open_message, keyring, auth.sender, body, limits.max_values
                )
            else:
                message = open_message(keyring, auth.sender, body, limits.max_values)
            status, payload = 200, await service.handle(auth.sender, method, message)
        except AuthError as e:
            service.penalise_flood(auth.sender, f"F3: undecodable {method} body ({e.code})")
            status, payload = 400, {"error": e.code, "detail": e.detail}
        except FedError as e:
            status, payload = e.status, {"error": e.code, "detail": e.detail}
        except Exception:
            log.exception("federation %s from %s failed", method, auth.sender.hex()[:16])
            status, payload = 500, {"error": "internal", "detail": ""}
        out = close_message(keyring, auth.sender, payload)
        if budget is not None:
            await budget.wait(auth.sender, ANSWER_WAIT_S)
            budget.charge(auth.sender, len(body) + len(out))
        headers = {
            AUTH_HEADER: sign_response(keyring, auth.sender, status, auth.nonce, out),
            "Server": "tequio",
        }
        return web.Response(status=status, body=out, headers=headers)

    app.router.add_post(PATH_PREFIX + "{method}", handle)
    return app


def _monotonic() -> float:
    return time.monotonic()


def describe_failure(addr: str, e: BaseException, timeout_s: float) -> str:
    """What went wrong reaching ``addr``, in words an operator can act on (never a class name alone)."""
    if isinstance(e, aiohttp.ClientConnectorDNSError):
        return f"cannot resolve the host name in {addr}: check the peer's address"
    if isinstance(e, aiohttp.ClientConnectorError):
        err = e.os_error
        if isinstance(err, ConnectionRefusedError) or getattr(err, "errno", None) == errno.ECONNREFUSED:
            return f"connection refused at {addr}: is its tequio serve running, or has it moved?"
        if isinstance(err, TimeoutError):
            return f"no answer from {addr} within {timeout_s:g} s: is the link up?"
        reason = getattr(err, "strerror", None) or str(err) or type(err).__name__
        return f"cannot connect to {addr}: {reason}"
    if isinstance(e, Stalled):
        return f"nothing moved on the link to {addr} for {timeout_s:g} s: is the link up?"
    if isinstance(e, TimeoutError | aiohttp.ServerTimeoutError):
        return f"no answer from {addr} within {timeout_s:g} s: is the link up?"
    if isinstance(e, aiohttp.ServerDisconnectedError | aiohttp.ClientPayloadError | ConnectionError):
        return f"{addr} closed the connection before answering"
    if isinstance(e, aiohttp.InvalidURL | ValueError):
        return f"{addr} is not a usable address"
    return f"{addr}: {type(e).__name__}"


class HttpTransport:
    """The client side: signs, boxes, tries a peer's addresses in turn, checks the signed reply.

    No call has a fixed deadline (issue 15 §2): it is abandoned when nothing moves on the link for
    the peer's stall window (``LinkEstimate.stall_s``: ``timeout_s`` at least, longer on a link with
    a long round trip), so a transfer that keeps moving, however slowly, completes. Connecting
    waits ``LinkEstimate.connect_s``. ``links`` holds what was measured of each peer's link;
    ``budget`` is the per-peer bandwidth budget (``peer_kbit``, 0: none). ``socket_factory`` makes
    the connector's sockets (a test's network namespace); their ``TCP_INFO`` is read for progress.
    """

    def __init__(
        self,
        keyring: Keyring,
        addresses: Callable[[bytes], list[str]],
        clock: Callable[[], int],
        rng: Callable[[int], bytes],
        limits: Limits,
        timeout_s: float = LinkEstimate.STALL_FLOOR_S,
        socket_factory: Callable[[Any], Any] | None = None,
        peer_kbit: float = 0,
        budget: Budget | None = None,
    ) -> None:
        self.keyring = keyring
        self.addresses = addresses
        self.clock = clock
        self.rng = rng
        self.limits = limits
        self.timeout_s = timeout_s
        self.timeout = aiohttp.ClientTimeout(total=None, sock_connect=min(10.0, timeout_s))
        self.links = LinkBook(socket_factory)
        self.budget = budget if budget is not None else Budget(peer_kbit)
        self.meter = Meter()
        self._session: aiohttp.ClientSession | None = None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def link(self, peer: bytes) -> LinkEstimate:
        return self.links.get(peer)

    async def call(self, peer: bytes, method: str, message: Any) -> Any:
        return await self.call_at(self.addresses(peer), peer, method, message)

    async def call_at(self, addrs: list[str], peer: bytes, method: str, message: Any) -> Any:
        if not addrs:
            raise Unreachable("no known address")
        if self._session is None:
            # Idle connections are dropped well before a listener's header timeout (10 s by
            # default) closes them, so a request never goes out on a connection being closed.
            connector = aiohttp.TCPConnector(
                keepalive_timeout=4, limit_per_host=4, socket_factory=self.links.socket_factory
            )
            self._session = aiohttp.ClientSession(timeout=self.timeout, connector=connector)
        body = close_message(self.keyring, peer, message)
        path = PATH_PREFIX + method
        nonce = self.rng(16)
        await self.budget.wait(peer)
        auth = sign_request(self.keyring, peer, "POST", path, body, self.clock(), nonce)
        headers = {AUTH_HEADER: auth}
        errors = []
        est = self.links.get(peer)
        for addr in addrs:
            if not is_valid_addr(addr):
                errors.append(f"{addr!r} is not a usable address")
                continue
            stall = est.stall_s(self.timeout_s)
            watch = Watch(self.links, addr)
            started = time.monotonic()
            try:
                work = asyncio.ensure_future(self._post(addr, path, body, headers, est, watch))
                data, status, signature = await watch.run(work, stall)
            except _TooLarge as e:
                errors.append(f"{addr} sent {e} (unsigned, so not counted against the peer)")
                continue
            except (aiohttp.ClientError, TimeoutError, OSError, ValueError) as e:
                if isinstance(e, Stalled):
                    est.stalls += 1
                errors.append(describe_failure(addr, e, stall))
                continue
            finally:
                if watch.rtt_s is not None:
                    est.note_rtt(watch.rtt_s)
            moved = len(body) + len(auth) + len(data) + len(signature or "")
            est.note_transfer(moved, time.monotonic() - started)
            self.budget.charge(peer, moved)
            self.meter.calls += 1
            self.meter.sent += len(body) + len(auth)
            self.meter.received += len(data) + len(signature or "")
            self.meter.by_method[method] = self.meter.by_method.get(method, 0) + 1
            if signature is None:
                raise FedError(
                    status, data.decode("utf-8", "replace")[:100] or "refused", "unauthenticated refusal"
                )
            check_response(signature, peer, self.keyring.key, status, nonce, data)
            # Signed by the peer: from here on, anything wrong with the reply is the peer's doing.
            try:
                if len(data) > THREAD_ABOVE:
                    loop = asyncio.get_running_loop()
                    reply = await loop.run_in_executor(
                        None, open_message, self.keyring, peer, data, self.limits.max_values
                    )
                else:
                    reply = open_message(self.keyring, peer, data, self.limits.max_values)
            except AuthError as e:
                raise PeerViolation(
                    "F3", f"its signed {method} reply is unreadable ({e.code}: {e.detail})"
                ) from None
            if status != 200:
                detail = reply.get("detail", "") if isinstance(reply, dict) else ""
                code = reply.get("error", "error") if isinstance(reply, dict) else "error"
                raise FedError(status, str(code)[:100], str(detail)[:300])
            return reply
        raise Unreachable("; ".join(errors))

    async def _post(
        self, addr: str, path: str, body: bytes, headers: dict[str, str], est: LinkEstimate, watch: Watch
    ) -> tuple[bytes, int, str | None]:
        assert self._session is not None
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=est.connect_s(min(10.0, self.timeout_s)))
        async with self._session.post(
            f"http://{addr}{path}", data=body, headers=headers, skip_auto_headers=_SKIP, timeout=timeout
        ) as resp:
            data = await self._read(resp, watch)
            return data, resp.status, resp.headers.get(AUTH_HEADER)

    async def _read(self, resp: aiohttp.ClientResponse, watch: Watch | None = None) -> bytes:
        limit = self.limits.max_body
        if resp.content_length is not None and resp.content_length > limit:
            raise _TooLarge(f"a reply of {resp.content_length} bytes, over the {limit}-byte limit")
        out = bytearray()
        async for chunk in resp.content.iter_chunked(65536):
            out += chunk
            if watch is not None:
                watch.moved(len(chunk))
            if len(out) > limit:
                raise _TooLarge(f"a reply larger than the {limit}-byte limit")
        return bytes(out)


class _TooLarge(ValueError):
    """A reply over the body limit, refused before its signature could be checked."""
