"""Federation over HTTP: ``POST /fed/v1/<method>``, authenticated and boxed as in ``wire``.

The listener serves only these paths, to trusted keys (and handshakes); an unauthenticated
request gets a bare 401 that reveals nothing about the node's peers or records.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import aiohttp
from aiohttp import web

from .memory import Meter
from .messages import Limits
from .service import FedError, FedService
from .sync import Unreachable
from .wire import (
    AUTH_HEADER,
    AuthError,
    Keyring,
    ReplayGuard,
    check_request,
    check_response,
    close_message,
    open_message,
    sign_request,
    sign_response,
)

__all__ = ["PATH_PREFIX", "HttpTransport", "make_fed_app"]

PATH_PREFIX = "/fed/v1/"
#: Headers aiohttp would add that say nothing a peer needs (every byte counts on a mesh link).
_SKIP = ("User-Agent", "Accept", "Accept-Encoding", "Content-Type")
log = logging.getLogger(__name__)


def make_fed_app(
    service: FedService, keyring: Keyring, clock: Callable[[], int], limits: Limits
) -> web.Application:
    """The federation listener's application."""
    guard = ReplayGuard()
    app = web.Application(client_max_size=limits.max_body)

    async def handle(request: web.Request) -> web.Response:
        method = request.match_info["method"]
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            # No signature can be checked without the body, so nobody is penalised for this.
            return web.Response(status=413, text="too-large")
        try:
            auth = check_request(
                request.headers.get(AUTH_HEADER),
                request.method,
                request.path,
                body,
                keyring.key,
                clock(),
                guard,
                known=lambda key: method == "handshake" or service.known(key),
            )
        except AuthError as e:
            return web.Response(status=401, text=e.code)
        try:
            message = open_message(keyring, auth.sender, body)
            status, payload = 200, await service.handle(auth.sender, method, message)
        except AuthError as e:
            service.penalise_flood(auth.sender, f"undecodable {method} body")
            status, payload = 400, {"error": e.code, "detail": e.detail}
        except FedError as e:
            status, payload = e.status, {"error": e.code, "detail": e.detail}
        except Exception:
            log.exception("federation %s from %s failed", method, auth.sender.hex()[:16])
            status, payload = 500, {"error": "internal", "detail": ""}
        out = close_message(keyring, auth.sender, payload)
        headers = {
            AUTH_HEADER: sign_response(keyring, auth.sender, status, auth.nonce, out),
            "Server": "tequio",
        }
        return web.Response(status=status, body=out, headers=headers)

    app.router.add_post(PATH_PREFIX + "{method}", handle)
    return app


class HttpTransport:
    """The client side: signs, boxes, tries a peer's addresses in turn, checks the signed reply."""

    def __init__(
        self,
        keyring: Keyring,
        addresses: Callable[[bytes], list[str]],
        clock: Callable[[], int],
        rng: Callable[[int], bytes],
        limits: Limits,
        timeout_s: float = 30.0,
    ) -> None:
        self.keyring = keyring
        self.addresses = addresses
        self.clock = clock
        self.rng = rng
        self.limits = limits
        self.timeout = aiohttp.ClientTimeout(total=timeout_s, connect=min(10.0, timeout_s))
        self.meter = Meter()
        self._session: aiohttp.ClientSession | None = None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def call(self, peer: bytes, method: str, message: Any) -> Any:
        return await self.call_at(self.addresses(peer), peer, method, message)

    async def call_at(self, addrs: list[str], peer: bytes, method: str, message: Any) -> Any:
        if not addrs:
            raise Unreachable("no known address")
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self.timeout)
        body = close_message(self.keyring, peer, message)
        path = PATH_PREFIX + method
        nonce = self.rng(16)
        auth = sign_request(self.keyring, peer, "POST", path, body, self.clock(), nonce)
        headers = {AUTH_HEADER: auth}
        errors = []
        for addr in addrs:
            try:
                async with self._session.post(
                    f"http://{addr}{path}", data=body, headers=headers, skip_auto_headers=_SKIP
                ) as resp:
                    data = await self._read(resp)
                    status = resp.status
                    signature = resp.headers.get(AUTH_HEADER)
            except (aiohttp.ClientError, TimeoutError, OSError, ValueError) as e:
                errors.append(f"{addr}: {type(e).__name__}")
                continue
            self.meter.calls += 1
            self.meter.sent += len(body) + len(auth)
            self.meter.received += len(data) + len(signature or "")
            self.meter.by_method[method] = self.meter.by_method.get(method, 0) + 1
            if signature is None:
                raise FedError(
                    status, data.decode("utf-8", "replace")[:100] or "refused", "unauthenticated refusal"
                )
            check_response(signature, peer, self.keyring.key, status, nonce, data)
            reply = open_message(self.keyring, peer, data)
            if status != 200:
                detail = reply.get("detail", "") if isinstance(reply, dict) else ""
                code = reply.get("error", "error") if isinstance(reply, dict) else "error"
                raise FedError(status, str(code), str(detail))
            return reply
        raise Unreachable("; ".join(errors))

    async def _read(self, resp: aiohttp.ClientResponse) -> bytes:
        out = bytearray()
        async for chunk in resp.content.iter_chunked(65536):
            out += chunk
            if len(out) > self.limits.max_body:
                raise ValueError("reply larger than the limit")
        return bytes(out)
