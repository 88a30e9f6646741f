"""The public drop: a plain multipart form, no login, each file encrypted to the coalition as it streams.

A file part is read chunk by chunk on the event loop and handed to a seal thread that encrypts it
(secretstream, the node's blob format) straight into the blob store: the plaintext is never written,
not even to a temporary file. Nothing about the witness's connection is read or kept: no address, no
user agent, and only the hour of arrival (``Node.publish(coarse=True)``, blob times set to the hour).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import filetype
from aiohttp import BodyPartReader, web

from tequio.node import Node, TequioError
from tequio.node.web import CTX, _, current, error_page, in_worker, render

from . import calls as C
from . import tus
from .codename import bits, hash_codename, new_codename
from .pow import NoScriptQuota, PowGate
from .recordkinds import ANSWER, CONSENTS, SUBMISSION

__all__ = [
    "POW",
    "QUOTA",
    "add_files",
    "drop_page",
    "status_form",
    "status_page",
    "submit",
    "tus_create",
    "tus_head",
    "tus_patch",
    "witness_page",
]

POW = PowGate()
QUOTA = NoScriptQuota()
_TEXT_FIELDS = ("account", "when", "where", "consent", "contact", "codename", "uploads", "pow", "pow_nonce")

_SEAL = ThreadPoolExecutor(64, thread_name_prefix="tequio-intake-seal")
_CID = re.compile(r"[0-9a-f]{64}")
_FIELD_MAX = 60_000
_MIME = re.compile(r"[a-z0-9.+-]+/[a-z0-9.+-]+")


class TooLarge(TequioError):
    pass


class Refused(TequioError):
    """A submission refused before its files are read: (status, message for the page)."""

    def __init__(self, status: int, text: str) -> None:
        super().__init__(text)
        self.status, self.text = status, text


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
            **_script_context(call),
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
    request: web.Request, call: C.Call, gate: Callable[[dict[str, str]], Awaitable[None]]
) -> tuple[dict[str, str], list[tuple[Any, dict]], bytes | None]:
    """Read the form: text fields into memory (bounded), files sealed as they arrive.

    ``gate(fields)`` runs once, before the first file is read (the form puts its text fields
    first) or at the end: a refusal there seals nothing."""
    reader = await request.multipart()
    fields: dict[str, str] = {}
    files: list[tuple[Any, dict]] = []
    budget = call.body["max_mb"] * 1024 * 1024
    loop = asyncio.get_running_loop()
    seal, keys = await in_worker(request, lambda n: n.sealer(call.scope, coarse=True))
    gated = False
    while (part := await reader.next()) is not None:
        if not isinstance(part, BodyPartReader):
            raise TooLarge("nested")
        if part.filename is None:
            if part.name in _TEXT_FIELDS and part.name not in fields:
                fields[part.name or ""] = await _text(part)
            else:
                await part.release()
            continue
        first = bytes(await part.read_chunk(1 << 16))
        if not first:
            continue  # an empty file input (no file chosen)
        if not gated:
            await gate(fields)
            gated = True
        if len(files) >= call.body["max_files"]:
            raise TooLarge("files")
        name = (part.filename or "")[-255:]
        mime = _mime(first, part.headers.get("Content-Type"), name)
        stream = _PartStream(part, loop, budget, first)
        ref = await loop.run_in_executor(_SEAL, seal, stream, mime)
        budget -= stream.size
        files.append((ref, {"name": name, "mime": mime, "size": stream.size}))
    if not gated:
        await gate(fields)
    return fields, files, keys


async def _pow_gate(call: C.Call, fields: dict[str, str]) -> None:
    """A fresh proof-of-work (the page's script), or else one of the call's no-script slots this hour."""
    challenge, nonce = fields.get("pow", ""), fields.get("pow_nonce", "")
    if nonce:
        if POW.check(call.id, challenge, nonce) is not None:
            raise Refused(403, _("This page has expired. Please reload it and send again."))
    elif not QUOTA.take(call.id):
        raise Refused(
            429,
            _(
                "Too many submissions without JavaScript this hour. "
                "Please try again later or turn on JavaScript."
            ),
        )


def _too_large(call: C.Call, what: str) -> str:
    if what == "files":
        return _("Too many files for this call (at most %(n)s).", n=call.body["max_files"])
    return _("The files are larger than this call allows (%(n)s MB in all).", n=call.body["max_mb"])


async def _take_in(
    request: web.Request,
    call: C.Call,
    gate: Callable[[dict[str, str]], Awaitable[None]],
    check: Callable[[dict[str, str], int], Awaitable[None]],
) -> tuple[dict[str, str], list[tuple[Any, dict]], bytes | None]:
    """The form's fields and files, with the finished tus uploads it names (claimed last)."""
    try:
        fields, files, keys = await _receive(request, call, gate)
    except TooLarge as e:
        raise Refused(413, _too_large(call, str(e))) from None
    uids = fields.get("uploads", "").split()
    if len(uids) + len(files) > call.body["max_files"]:
        raise Refused(413, _too_large(call, "files"))
    owner = tus.owner_of(request)
    ups = [tus.REGISTRY.get(call.id, u, owner) for u in uids]
    if any(u is None or not u.done for u in ups):
        raise Refused(409, _("An upload did not finish or has expired. Please send those files again."))
    ready = [u for u in ups if u is not None]
    total = sum(f["size"] for _r, f in files) + sum(u.length for u in ready)
    if total > call.body["max_mb"] * 1024 * 1024:
        raise Refused(413, _too_large(call, "size"))
    key_ids = {k for k in [keys if files else None, *(u.keys for u in ready)] if k is not None}
    if len(key_ids) > 1:
        raise Refused(409, _("The coalition's key changed while you sent. Please send again."))
    await check(fields, len(files) + len(ready))
    claimed = tus.REGISTRY.claim(call.id, uids, owner)
    if isinstance(claimed, str):
        raise Refused(409, _("An upload did not finish or has expired. Please send those files again."))
    for up in claimed:
        files.append((up.result.result(), {"name": up.name, "mime": up.mime, "size": up.length}))
    return fields, files, (key_ids.pop() if key_ids else keys)


async def submit(request: web.Request) -> web.StreamResponse:
    call = await _call(request)
    now = await in_worker(request, lambda n: n.clock())
    if not call.open_at(now):
        return await error_page(request, 410, _("This call for evidence is closed."))
    taken = await in_worker(request, lambda n: sum(r.record.author == n.key for r in C.submissions(n, call)))
    if taken >= call.body.get("max_submissions", 10_000):
        return await error_page(request, 429, _("This call has received all the submissions it can take."))

    async def check(fields: dict[str, str], nfiles: int) -> None:
        if fields.get("consent", "") not in CONSENTS:
            raise Refused(400, _("Please choose who may see what you send."))
        if not nfiles and not fields.get("account", "").strip():
            raise Refused(400, _("Please send at least one file or an account."))

    try:
        fields, files, keys = await _take_in(request, call, lambda f: _pow_gate(call, f), check)
    except Refused as e:
        return await error_page(request, e.status, e.text)
    lang = _lang_of(request)
    codename = await in_worker(request, lambda n: new_codename(lang, n.rng))
    digest = await request.app[CTX].auth(hash_codename, call.id, codename)
    body = {
        "call": call.id,
        "account": fields.get("account", "")[:50_000],
        "when": fields.get("when", "")[:300],
        "where": fields.get("where", "")[:300],
        "consent": fields["consent"],
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


async def add_files(request: web.Request) -> web.StreamResponse:
    """More files (and words) for a submission, by its codename: a follow-up record naming it."""
    call = await _call(request)
    now = await in_worker(request, lambda n: n.clock())
    if not call.open_at(now):
        return await error_page(request, 410, _("This call for evidence is closed."))
    found: list[Any] = []

    async def gate(fields: dict[str, str]) -> None:
        await _pow_gate(call, fields)
        code = fields.get("codename", "")[:400]
        digest = await request.app[CTX].auth(hash_codename, call.id, code)
        sub = await in_worker(request, C.find_submission, call, digest)
        if sub is None:
            raise Refused(404, _("No submission has that codename. Check the words and try again."))
        found.append(sub)

    async def check(fields: dict[str, str], nfiles: int) -> None:
        if not nfiles and not fields.get("account", "").strip():
            raise Refused(400, _("Please send at least one file or an account."))

    try:
        fields, files, keys = await _take_in(request, call, gate, check)
    except Refused as e:
        return await error_page(request, e.status, e.text)
    sub = found[0]
    first = sub.body or {}
    body = {
        "call": call.id,
        "account": fields.get("account", "")[:50_000],
        "consent": first["consent"],
        "contact": first["contact"],
        "codename": first["codename"],
        "files": [f for _r, f in files],
        "hour": C.hour_of(now),
        "follows": sub.id,
    }

    def publish(n: Node) -> None:
        n.publish(
            SUBMISSION,
            body,
            scope=call.scope,
            refs=[call.id, sub.id],
            blobs=[r for r, _f in files],
            keys=keys,
            coarse=True,
        )

    await in_worker(request, publish)
    return await _status(request, call, sub, fields.get("codename", "")[:400], added=len(files))


async def tus_create(request: web.Request) -> web.StreamResponse:
    call = await _call(request)
    now = await in_worker(request, lambda n: n.clock())
    if not call.open_at(now):
        return await error_page(request, 410, _("This call for evidence is closed."))

    def pow_ok(cid: bytes, proof: str) -> str | None:
        challenge, _sep, nonce = proof.rpartition(":")
        return POW.check(cid, challenge, nonce)

    return await tus.tus_create(request, call, pow_ok)


async def tus_head(request: web.Request) -> web.StreamResponse:
    return await tus.tus_head(request, await _call(request))


async def tus_patch(request: web.Request) -> web.StreamResponse:
    return await tus.tus_patch(request, await _call(request), _mime)


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
    return await _status(request, call, sub, code)


async def _status(
    request: web.Request, call: C.Call, sub: Any, code: str, added: int | None = None
) -> web.StreamResponse:
    state, questions, answers = await in_worker(request, C.status_of, call, sub)
    follow = await in_worker(
        request, lambda n: [r for r in C.submissions(n, call) if (r.body or {}).get("follows") == sub.id]
    )
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
            "files": len((sub.body or {}).get("files", []))
            + sum(len((r.body or {}).get("files", [])) for r in follow),
            "added": added,
            **_script_context(call),
        },
    )
    resp.headers["Cache-Control"] = "no-store"
    return resp


def _script_context(call: C.Call) -> dict[str, Any]:
    """What the upload script needs: the tus endpoint, a proof-of-work challenge and its difficulty."""
    return {"pow": POW.challenge(call.id), "pow_bits": POW.bits, "tus_url": f"/intake/c/{call.id.hex()}/tus"}


async def witness_page(request: web.Request) -> web.StreamResponse:
    return await render(request, "intake/witness.html", {"lang": _lang_of(request)})
