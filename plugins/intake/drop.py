"""The public drop: a plain multipart form, no login, each file encrypted to the coalition as it streams.

A file part is read chunk by chunk on the event loop and handed to a seal thread that encrypts it
(secretstream, the node's blob format) straight into the blob store: the plaintext is never written,
not even to a temporary file. Nothing about the witness's connection is read or kept: no address, no
user agent, and only the hour of arrival (``Node.publish(coarse=True)``, blob times set to the hour).
"""

from __future__ import annotations

import asyncio
import re
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import filetype
from aiohttp import BodyPartReader, web

from tequio.node import Node, TequioError
from tequio.node.web import CTX, _, current, error_page, in_worker, render

from . import calls as C
from .codename import bits, hash_codename, new_codename
from .recordkinds import ANSWER, CONSENTS, SUBMISSION

__all__ = ["drop_page", "status_form", "status_page", "submit", "witness_page"]

_SEAL = ThreadPoolExecutor(64, thread_name_prefix="tequio-intake-seal")
_CID = re.compile(r"[0-9a-f]{64}")
_FIELD_MAX = 60_000
_MIME = re.compile(r"[a-z0-9.+-]+/[a-z0-9.+-]+")


class TooLarge(TequioError):
    pass


class _PartStream:
    """A readable stream over a multipart file part, for a seal thread: each read waits on the loop."""

    def __init__(
        self, part: BodyPartReader, loop: asyncio.AbstractEventLoop, budget: int, first: bytes
    ) -> None:
        self.part, self.loop, self.budget = part, loop, budget
        self.pending = first
        self.size = 0

    def read(self, n: int = -1) -> bytes:
        if self.pending:
            data, self.pending = self.pending, b""
        else:
            data = asyncio.run_coroutine_threadsafe(self.part.read_chunk(1 << 16), self.loop).result()
        self.size += len(data)
        if self.size > self.budget:
            raise TooLarge("too large")
        return bytes(data)


def _lang_of(request: web.Request) -> str:
    """The page's language as a word-list name: Spanish pages get Spanish codenames."""
    return "es" if current().code.startswith("es") else "en"


async def _call(request: web.Request) -> C.Call:
    cid = request.match_info["cid"]
    if not _CID.fullmatch(cid):
        raise web.HTTPNotFound()
    try:
        call = await in_worker(request, C.find_call, cid)
    except TequioError:
        raise web.HTTPNotFound() from None
    if not call.hosted_here:
        raise web.HTTPNotFound()
    return call


async def drop_page(request: web.Request) -> web.StreamResponse:
    call = await _call(request)
    lang = _lang_of(request)
    node_clock = await in_worker(request, lambda n: n.clock())
    return await render(
        request,
        "intake/drop.html",
        {
            "call": call,
            "text": call.body["text_es"] if lang == "es" else call.body["text_en"],
            "open": call.open_at(node_clock),
            "consents": CONSENTS,
            "bits": int(bits(lang)),
        },
    )


async def _text(part: BodyPartReader) -> str:
    data = bytearray()
    while chunk := await part.read_chunk(8192):
        data += chunk
        if len(data) > _FIELD_MAX:
            raise TooLarge("field")
    return bytes(data).decode("utf-8", "replace").replace("\x00", "")


def _mime(first: bytes, declared: str | None, name: str) -> str:
    kind = filetype.guess(first) if first else None
    if kind is not None:
        return kind.mime
    d = (declared or "").lower().split(";")[0].strip()
    if d.startswith("text/") or name.lower().endswith((".txt", ".md")):
        return "text/plain"
    return d if _MIME.fullmatch(d) else "application/octet-stream"


async def _receive(
    request: web.Request, call: C.Call
) -> tuple[dict[str, str], list[tuple[Any, dict]], bytes | None]:
    """Read the form: text fields into memory (bounded), files sealed as they arrive."""
    reader = await request.multipart()
    fields: dict[str, str] = {}
    files: list[tuple[Any, dict]] = []
    budget = call.body["max_mb"] * 1024 * 1024
    loop = asyncio.get_running_loop()
    seal, keys = await in_worker(request, lambda n: n.sealer(call.scope, coarse=True))
    while (part := await reader.next()) is not None:
        if not isinstance(part, BodyPartReader):
            raise TooLarge("nested")
        if part.filename is None:
            if part.name in ("account", "when", "where", "consent", "contact", "codename"):
                fields[part.name or ""] = await _text(part)
            else:
                await part.release()
            continue
        first = bytes(await part.read_chunk(1 << 16))
        if not first:
            continue  # an empty file input (no file chosen)
        if len(files) >= call.body["max_files"]:
            raise TooLarge("files")
        name = (part.filename or "")[-255:]
        mime = _mime(first, part.headers.get("Content-Type"), name)
        stream = _PartStream(part, loop, budget, first)
        ref = await loop.run_in_executor(_SEAL, seal, stream, mime)
        budget -= stream.size
        files.append((ref, {"name": name, "mime": mime, "size": stream.size}))
    return fields, files, keys


async def submit(request: web.Request) -> web.StreamResponse:
    call = await _call(request)
    now = await in_worker(request, lambda n: n.clock())
    if not call.open_at(now):
        return await error_page(request, 410, _("This call for evidence is closed."))
    try:
        fields, files, keys = await _receive(request, call)
    except TooLarge as e:
        what = str(e)
        text = (
            _("Too many files for this call (at most %(n)s).", n=call.body["max_files"])
            if what == "files"
            else _("The files are larger than this call allows (%(n)s MB in all).", n=call.body["max_mb"])
        )
        return await error_page(request, 413, text)
    consent = fields.get("consent", "")
    if consent not in CONSENTS:
        return await error_page(request, 400, _("Please choose who may see what you send."))
    if not files and not fields.get("account", "").strip():
        return await error_page(request, 400, _("Please send at least one file or an account."))
    lang = _lang_of(request)
    codename = await in_worker(request, lambda n: new_codename(lang, n.rng))
    digest = await request.app[CTX].auth(hash_codename, call.id, codename)
    body = {
        "call": call.id,
        "account": fields.get("account", "")[:50_000],
        "when": fields.get("when", "")[:300],
        "where": fields.get("where", "")[:300],
        "consent": consent,
        "contact": fields.get("contact") == "yes",
        "codename": digest,
        "files": [f for _r, f in files],
        "hour": C.hour_of(now),
    }

    def publish(n: Node) -> None:
        n.publish(
            SUBMISSION,
            body,
            scope=call.scope,
            refs=[call.id],
            blobs=[r for r, _f in files],
            keys=keys,
            coarse=True,
        )

    await in_worker(request, publish)
    resp = await render(
        request, "intake/codename.html", {"call": call, "codename": codename, "files": len(files)}
    )
    resp.headers["Cache-Control"] = "no-store"
    return resp


async def status_form(request: web.Request) -> web.StreamResponse:
    call = await _call(request)
    return await render(request, "intake/status.html", {"call": call, "found": None})


async def status_page(request: web.Request) -> web.StreamResponse:
    call = await _call(request)
    form = await request.post()
    code = str(form.get("codename", ""))[:400]
    digest = await request.app[CTX].auth(hash_codename, call.id, code)
    sub = await in_worker(request, C.find_submission, call, digest)
    if sub is None:
        return await render(request, "intake/status.html", {"call": call, "found": False}, status=404)
    state, questions, answers = await in_worker(request, C.status_of, call, sub)
    text = str(form.get("answer", "")).strip()[:20_000]
    if text:
        q = str(form.get("question", ""))
        qid = bytes.fromhex(q) if _CID.fullmatch(q) else None
        now = await in_worker(request, lambda n: n.clock())

        def publish(n: Node) -> None:
            refs = [sub.id] + ([qid] if qid else [])
            n.publish(
                ANSWER,
                {"submission": sub.id, "question": qid, "text": text, "hour": C.hour_of(now)},
                scope=call.scope,
                refs=refs,
                coarse=True,
            )

        await in_worker(request, publish)
        state, questions, answers = await in_worker(request, C.status_of, call, sub)
    resp = await render(
        request,
        "intake/status.html",
        {
            "call": call,
            "found": True,
            "state": state,
            "questions": questions,
            "answers": answers,
            "codename": code,
            "sub": sub,
        },
    )
    resp.headers["Cache-Control"] = "no-store"
    return resp


async def witness_page(request: web.Request) -> web.StreamResponse:
    return await render(request, "intake/witness.html", {"lang": _lang_of(request)})
