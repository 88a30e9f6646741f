"""Resumable uploads for the drop: the tus 1.0.0 core protocol with the creation extension, server side.

    POST  /intake/c/<call>/tus            Upload-Length, Upload-Metadata (filename, filetype, pow)
                                          -> 201, Location: /intake/c/<call>/tus/<upload id>
    HEAD  /intake/c/<call>/tus/<id>       -> Upload-Offset, Upload-Length
    PATCH /intake/c/<call>/tus/<id>       Upload-Offset, Content-Type: application/offset+octet-stream
                                          -> 204, Upload-Offset

Every byte received is handed at once to a seal thread that encrypts it (the node's blob format,
secretstream under the coalition's epoch key) into the blob store's partial file, so an upload
never exists in clear on disk, not even in a temporary file; only the last < 64 KiB not yet
encrypted wait in memory. A connection cut in the middle keeps everything that arrived: the
client asks HEAD for the offset and sends the rest. The state of an upload lives in this process
only: a node restarted while a witness uploads loses that upload (the page starts it again).

Bounds: ``Upload-Length`` at most the call's ``max_mb``; at most ``MAX_ACTIVE`` uploads in
progress on the node and ``MAX_PER_CALL`` per call; an upload idle for ``IDLE_S`` is dropped (its
partial ciphertext removed). Each creation carries a proof-of-work (``pow.py``). The CSRF token of
the witness's session rides in the query string of POST, HEAD and PATCH, as for the multipart form;
an upload answers only to the session that created it.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import secrets
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tequio.node.web import in_worker

from . import calls as C

__all__ = [
    "MAX_ACTIVE",
    "REGISTRY",
    "Aborted",
    "Upload",
    "UploadRegistry",
    "owner_of",
    "owner_of_token",
    "tus_create",
    "tus_head",
    "tus_patch",
]

VERSION = "1.0.0"
MAX_ACTIVE = 512
MAX_PER_CALL = 256
IDLE_S = 3600.0
_BUFFER = 1 << 20  # plaintext waiting for the seal thread, at most (backpressure on the PATCH)
_READ = 1 << 16


class Aborted(Exception):
    """The upload was dropped (idle, or the node is stopping): the seal thread gives up."""


@dataclass(eq=False)
class Upload:
    """One file being received: bytes go into ``buf`` and out through ``read`` to the seal thread."""

    id: str
    call: bytes
    length: int
    name: str
    declared: str
    seal: Any
    keys: bytes | None
    owner: bytes  # SHA-256 of the creating session's CSRF token: a leaked upload URL alone is not enough
    offset: int = 0
    mime: str = ""
    touched: float = field(default_factory=time.monotonic)
    buf: bytearray = field(default_factory=bytearray)
    cond: threading.Condition = field(default_factory=threading.Condition)
    aborted: bool = False
    result: Future[Any] = field(default_factory=Future)
    started: bool = False
    busy: bool = False  # a PATCH is being served
    drained: asyncio.Event | None = None
    loop: asyncio.AbstractEventLoop | None = None

    @property
    def done(self) -> bool:
        return self.result.done() and self.result.exception() is None

    # -- the seal thread's side ---------------------------------------------------------------------

    def read(self, n: int = -1) -> bytes:
        with self.cond:
            while True:
                if self.aborted:
                    raise Aborted(self.id)
                complete = self.offset >= self.length
                if len(self.buf) >= n > 0 or complete:
                    take = len(self.buf) if n < 0 else n
                    data = bytes(self.buf[:take])
                    del self.buf[:take]
                    break
                self.cond.wait()
        if self.loop is not None and self.drained is not None:
            self.loop.call_soon_threadsafe(self.drained.set)
        return data

    def _run(self) -> None:
        try:
            self.result.set_result(self.seal(self, self.mime))
        except BaseException as e:  # the PATCH handler reports it
            self.result.set_exception(e)

    # -- the event loop's side ----------------------------------------------------------------------

    def start(self, mime: str) -> None:
        self.mime, self.started = mime, True
        self.loop = asyncio.get_running_loop()
        self.drained = asyncio.Event()
        threading.Thread(target=self._run, name="tequio-intake-tus", daemon=True).start()

    def feed(self, data: bytes) -> None:
        with self.cond:
            self.buf += data
            self.offset += len(data)
            self.touched = time.monotonic()
            self.cond.notify_all()

    def buffered(self) -> int:
        with self.cond:
            return len(self.buf)

    def abort(self) -> None:
        with self.cond:
            self.aborted = True
            self.cond.notify_all()


class UploadRegistry:
    """The uploads in progress or finished and not yet named by a submission, in memory only."""

    def __init__(self) -> None:
        self.uploads: dict[str, Upload] = {}

    def sweep(self, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        for uid, up in list(self.uploads.items()):
            if not up.busy and now - up.touched > IDLE_S:
                up.abort()
                del self.uploads[uid]

    def add(self, up: Upload) -> None:
        self.uploads[up.id] = up

    def get(self, call: bytes, uid: str, owner: bytes | None = None) -> Upload | None:
        up = self.uploads.get(uid)
        if up is None or up.call != call or (owner is not None and not hmac.compare_digest(owner, up.owner)):
            return None
        return up

    def claim(self, call: bytes, uids: list[str], owner: bytes) -> list[Upload] | str:
        """Take finished uploads for a submission (each once), or say why not."""
        found = []
        for uid in uids:
            up = self.get(call, uid, owner)
            if up is None:
                return "unknown"
            if not up.done:
                return "unfinished"
            found.append(up)
        if len({u.id for u in found}) != len(found):
            return "unknown"
        for up in found:
            del self.uploads[up.id]
        return found

    def count(self, call: bytes | None = None) -> int:
        return sum(1 for u in self.uploads.values() if call is None or u.call == call)

    def close(self) -> None:
        for up in self.uploads.values():
            up.abort()
        self.uploads.clear()


REGISTRY = UploadRegistry()


def _tus_headers(resp: web.StreamResponse) -> web.StreamResponse:
    resp.headers["Tus-Resumable"] = VERSION
    resp.headers["Cache-Control"] = "no-store"
    return resp


def _refuse(status: int, text: str) -> web.Response:
    return _tus_headers(web.Response(status=status, text=text + "\n"))  # type: ignore[return-value]


def parse_metadata(header: str) -> dict[str, str] | None:
    """``key base64,key base64``: None if malformed (bad base64, repeated key, too long)."""
    out: dict[str, str] = {}
    if len(header) > 4096:
        return None
    for pair in filter(None, (p.strip() for p in header.split(","))):
        key, _sp, value = pair.partition(" ")
        if not key or key in out or not key.isascii():
            return None
        try:
            out[key] = base64.b64decode(value, validate=True).decode("utf-8") if value else ""
        except (ValueError, UnicodeDecodeError):
            return None
    return out


def owner_of(request: web.Request) -> bytes:
    """The session's CSRF token from the query (the guard checked it on POST and PATCH), hashed."""
    return owner_of_token(request.query.get("csrf_token", ""))


def owner_of_token(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def _version_ok(request: web.Request) -> bool:
    return request.headers.get("Tus-Resumable") == VERSION


async def tus_create(request: web.Request, call: C.Call, pow_ok: Any) -> web.StreamResponse:
    """POST: a new upload of ``Upload-Length`` bytes, if the proof-of-work in its metadata holds."""
    if not _version_ok(request):
        return _refuse(412, "Tus-Resumable: 1.0.0 is required")
    meta = parse_metadata(request.headers.get("Upload-Metadata", ""))
    if meta is None:
        return _refuse(400, "Upload-Metadata is malformed")
    try:
        length = int(request.headers.get("Upload-Length", ""))
    except ValueError:
        return _refuse(400, "Upload-Length is required (tus deferred length is not supported)")
    limit = call.body["max_mb"] * 1024 * 1024
    if length <= 0:
        return _refuse(400, "Upload-Length must be at least 1")
    if length > limit:
        return _refuse(413, f"this call takes at most {call.body['max_mb']} MB")
    why = pow_ok(call.id, meta.get("pow", ""))
    if why is not None:
        return _refuse(403, f"proof-of-work refused: {why}")
    REGISTRY.sweep()
    if REGISTRY.count() >= MAX_ACTIVE or REGISTRY.count(call.id) >= MAX_PER_CALL:
        resp = _refuse(503, "too many uploads in progress; try again in a minute")
        resp.headers["Retry-After"] = "60"
        return resp
    seal, keys = await in_worker(request, lambda n: n.sealer(call.scope, coarse=True))
    up = Upload(
        id=secrets.token_urlsafe(24),
        call=call.id,
        length=length,
        name=meta.get("filename", "")[-255:],
        declared=meta.get("filetype", "")[:255],
        seal=seal,
        keys=keys,
        owner=owner_of(request),
    )
    REGISTRY.add(up)
    resp = _refuse(201, "created")
    resp.headers["Location"] = f"/intake/c/{call.id.hex()}/tus/{up.id}"
    resp.headers["Upload-Offset"] = "0"
    return resp


def _offsets(resp: web.StreamResponse, up: Upload) -> web.StreamResponse:
    resp.headers["Upload-Offset"] = str(up.offset)
    resp.headers["Upload-Length"] = str(up.length)
    return _tus_headers(resp)


async def tus_head(request: web.Request, call: C.Call) -> web.StreamResponse:
    up = REGISTRY.get(call.id, request.match_info["uid"], owner_of(request))
    if up is None:
        return _refuse(404, "no such upload (finished and sent, expired, or the node restarted)")
    return _offsets(web.Response(status=200), up)


async def tus_patch(request: web.Request, call: C.Call, mime_of: Any) -> web.StreamResponse:
    """PATCH: append at ``Upload-Offset``; what arrives before a cut is kept, and the reply says where."""
    if not _version_ok(request):
        return _refuse(412, "Tus-Resumable: 1.0.0 is required")
    up = REGISTRY.get(call.id, request.match_info["uid"], owner_of(request))
    if up is None:
        return _refuse(404, "no such upload (finished and sent, expired, or the node restarted)")
    try:
        offset = int(request.headers.get("Upload-Offset", ""))
    except ValueError:
        return _refuse(400, "Upload-Offset is required")
    if up.busy:
        return _refuse(409, "this upload is already receiving")
    if offset != up.offset:
        return _offsets(_refuse(409, f"the upload is at {up.offset}"), up)
    if up.offset >= up.length:
        return _offsets(_refuse(409, "the upload is complete"), up)
    up.busy = True
    try:
        await _receive(request, up, mime_of)
    except Aborted:
        return _refuse(410, "the upload was dropped")
    except _Overflow:
        up.abort()
        REGISTRY.uploads.pop(up.id, None)
        return _refuse(413, "more bytes than Upload-Length")
    finally:
        up.busy = False
        up.touched = time.monotonic()
    if up.offset >= up.length:
        try:
            await asyncio.wrap_future(up.result)
        except Exception:  # sealing failed: the upload is gone, the witness sends again
            REGISTRY.uploads.pop(up.id, None)
            return _refuse(500, "the file could not be stored; please send it again")
    return _offsets(web.Response(status=204), up)


class _Overflow(Exception):
    pass


async def _receive(request: web.Request, up: Upload, mime_of: Any) -> None:
    head = bytearray()
    try:
        async for chunk in request.content.iter_chunked(_READ):
            if up.aborted:
                raise Aborted(up.id)
            if up.offset + len(head) + len(chunk) > up.length:
                raise _Overflow()
            if not up.started:
                head += chunk  # the first bytes name the file type; held in memory only
                if len(head) < 4096 and up.offset + len(head) < up.length:
                    continue
                up.start(mime_of(bytes(head), up.declared, up.name))
                chunk, head = bytes(head), bytearray()
            up.feed(bytes(chunk))
            while up.buffered() > _BUFFER and not up.aborted:
                assert up.drained is not None
                up.drained.clear()
                await up.drained.wait()
    except (Aborted, _Overflow):
        raise
    except Exception:  # the witness's link dropped: keep what arrived, resume from there
        pass
    finally:
        if head and not up.started:
            up.start(mime_of(bytes(head), up.declared, up.name))
        if head:
            up.feed(bytes(head))
