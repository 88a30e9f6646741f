"""The local API: JSON under ``/api/v1/`` on 127.0.0.1, every request authenticated by the API token.

It is for the operator's own tools and the web UI, never for peers (federation has its own listener).
Plugins add routes through ``register_routes``; they are mounted under the same prefix and token.
"""

from __future__ import annotations

import asyncio
import hmac
import io
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from aiohttp import web

from tequio.schemas import StrictJSONError, from_json, is_valid_scope, loads_strict, parse_key

from .errors import NotRecordStream, TequioError, disk_full_message, is_disk_full
from .node import Node

__all__ = ["NODE", "PREFIX", "RECORDS_MEDIA_TYPE", "make_api_app"]

PREFIX = "/api/v1"
#: Content-Type of a body that is a stream of concatenated wire records.
RECORDS_MEDIA_TYPE = "application/vnd.tequio.records"
NODE = web.AppKey("node", Node)
_TOKEN = web.AppKey("token", str)
log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _error(status: int, code: str, detail: str) -> web.Response:
    return web.json_response({"error": code, "detail": detail}, status=status)


@web.middleware
async def _errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPException as e:
        if e.content_type == "application/json":
            raise
        return _error(e.status, e.reason.lower().replace(" ", "-"), e.text or e.reason)
    except Exception as e:
        if is_disk_full(e, request.app[NODE].home):
            # 507 Insufficient Storage: the write was rolled back, reads go on; a client may retry later.
            return _error(507, "disk-full", disk_full_message(request.app[NODE].home))
        if isinstance(e, TequioError):
            return _error(400, "bad-request", str(e))
        log.exception("local API: %s %s failed", request.method, request.path)
        return _error(500, "internal", "internal error; see the node's log")


@web.middleware
async def _auth(request: web.Request, handler: Handler) -> web.StreamResponse:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    expected = request.app[_TOKEN].encode()
    if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), expected):
        return _error(
            401, "unauthorized", "send 'Authorization: Bearer <token>'; 'tequio info' shows the token"
        )
    return await handler(request)


def _int_arg(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise web.HTTPBadRequest(text=f"{name} must be an integer") from None
    if not low <= value <= high:
        raise web.HTTPBadRequest(text=f"{name} must be between {low} and {high}")
    return value


async def info(request: web.Request) -> web.Response:
    node = request.app[NODE]
    return web.json_response(
        {"key": node.key.hex(), "fingerprint": node.fingerprint, "name": node.name, "records": node.count()}
    )


async def list_records(request: web.Request) -> web.Response:
    node = request.app[NODE]
    scope = request.query.get("scope")
    if scope is not None and not is_valid_scope(scope):
        raise web.HTTPBadRequest(text="scope must be public, g:<32 hex> or d:<64 hex>")
    author = None
    if "author" in request.query:
        try:
            author = parse_key(request.query["author"])
        except ValueError as e:
            raise web.HTTPBadRequest(text=f"author: {e}") from None
    limit = _int_arg(request, "limit", 100, 1, 1000)
    after = _int_arg(request, "after", 0, 0, 2**63 - 1)
    found = node.records(scope=scope, kind=request.query.get("kind"), author=author, after=after, limit=limit)
    nxt = found[-1].n if len(found) == limit else None
    return web.json_response({"records": [r.to_json() for r in found], "next": nxt})


async def get_record(request: web.Request) -> web.Response:
    node = request.app[NODE]
    try:
        rec = node.resolve(request.match_info["id"])
    except TequioError as e:
        raise web.HTTPNotFound(text=str(e)) from None
    return web.json_response(rec.to_json())


async def post_records(request: web.Request) -> web.Response:
    """JSON ``{"kind", "body", "scope"?}`` publishes; a wire-record stream is ingested."""
    node = request.app[NODE]
    if request.content_type == RECORDS_MEDIA_TYPE:
        data = await request.read()
        try:
            # Off the event loop, so the API keeps answering while a large body is verified and written.
            report = await asyncio.to_thread(node.import_stream, io.BytesIO(data), "api")
        except NotRecordStream as e:
            raise web.HTTPBadRequest(text=str(e)) from None
        return web.json_response(report.to_json(), status=200)
    if request.content_type != "application/json":
        raise web.HTTPUnsupportedMediaType(text=f"send application/json or {RECORDS_MEDIA_TYPE}")
    raw = await request.read()
    try:
        # The strict loader, as for --body and ballot files: a duplicate key is refused, not silently
        # resolved to its last value (which a reviewer of the text may not have seen).
        doc: Any = await asyncio.to_thread(loads_strict, raw) if len(raw) > 65536 else loads_strict(raw)
    except StrictJSONError as e:
        raise web.HTTPBadRequest(text=f"body is not JSON this node accepts: {e}") from None
    if (
        not isinstance(doc, dict)
        or not isinstance(doc.get("kind"), str)
        or not isinstance(doc.get("body"), dict)
    ):
        raise web.HTTPBadRequest(text='expected {"kind": str, "body": object, "scope"?: str}')
    scope = doc.get("scope", "public")
    if not isinstance(scope, str):
        raise web.HTTPBadRequest(text="scope must be a string")
    try:
        body = from_json(doc["body"])
    except RecursionError:
        raise web.HTTPBadRequest(text="body nested too deeply") from None
    except ValueError as e:
        raise web.HTTPBadRequest(text=str(e)) from None
    stored = node.publish(doc["kind"], body, scope=scope)
    return web.json_response({"id": stored.id.hex()}, status=201)


def make_api_app(node: Node) -> web.Application:
    """The local API application of ``node``, with plugin routes and plugin start-up and shutdown."""
    app = web.Application(middlewares=[_errors, _auth], client_max_size=node.config.api.max_body)
    app[NODE] = node
    app[_TOKEN] = node.api_token
    app.router.add_get(f"{PREFIX}/info", info)
    app.router.add_get(f"{PREFIX}/records", list_records)
    app.router.add_post(f"{PREFIX}/records", post_records)
    app.router.add_get(PREFIX + "/records/{id}", get_record)
    for _, routes in node.plugins.call_each("register_routes", node=node):
        for rd in routes or []:
            if not isinstance(rd, web.RouteDef):
                raise TequioError(
                    "register_routes must return aiohttp RouteDef objects (web.get, web.post, ...)"
                )
            app.router.add_routes([web.RouteDef(rd.method, PREFIX + rd.path, rd.handler, rd.kwargs)])

    async def plugin_lifecycle(app: web.Application) -> AsyncIterator[None]:
        await node.start()
        yield
        await node.stop()

    app.cleanup_ctx.append(plugin_lifecycle)
    return app
