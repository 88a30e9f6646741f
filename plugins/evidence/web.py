"""The evidence plugin's pages: the list, an item's page, upload, review, share, clear and export.

An upload streams to a private file in the node's home, encrypted as it arrives (never whole in
memory, never in clear while it arrives, the size capped by ``web.max_upload_mb``), is taken in on
the worker exactly as ``tequio evidence add`` does (original sealed, working copy stripped) from a
plain copy that exists only while the intake runs. The working copy is served
decrypted in pieces; only still images are shown inline, anything else downloads.
"""

from __future__ import annotations

import asyncio
import re
import tempfile
from pathlib import Path
from typing import Any

from aiohttp import BodyPartReader, web

from tequio.node import Node, TequioError
from tequio.node.web import (
    CTX,
    N_,
    MenuItem,
    SealedSpool,
    UploadTooLarge,
    WebRoute,
    _,
    audit,
    error_page,
    flash,
    gettext,
    in_worker,
    message,
    redirect,
    render,
    spool_part,
    status_name,
    user_of,
)

from .recordkinds import CHECKS, STATUSES

__all__ = ["MENU", "ROUTES", "TEMPLATES", "prepare_web_context"]

TEMPLATES = Path(__file__).parent / "templates"
_SHA = re.compile(r"[0-9a-f]{64}")
_INLINE = ("image/jpeg", "image/png", "image/gif", "image/webp")
_FIELDS = ("title", "description", "when", "where", "source", "consent", "faces_at_risk")
_FIELD_MAX = 20_000
CHECK_NAMES = {"source": N_("source"), "technical": N_("technical"), "content": N_("content")}
FLAG_NAMES = (N_("faces of people at risk are visible"),)


def _flags_words(body: dict[str, Any]) -> list[str]:
    out = []
    if body.get("faces_at_risk"):
        out.append(_("faces of people at risk are visible"))
    if body.get("consent") != "yes":
        out.append(_("consent is “%(consent)s”, not “yes”", consent=_(str(body.get("consent", "unknown")))))
    return out


def _summary(node: Node, sha: bytes, rec: Any) -> dict[str, Any]:
    from . import api as ev

    b = rec.body or {}
    statuses = [v.status for v in ev.verification(node, sha)]
    mine = rec.author == node.key and bool(b.get("nonce"))
    held = mine and bool(ev.safety_flags(b)) and not ev.is_cleared(node, sha, None)
    return {
        "sha": sha.hex(),
        "title": b.get("title", ""),
        "when": b.get("when", ""),
        "where": b.get("where", ""),
        "mime": (b.get("working") or b.get("original") or {}).get("mime", ""),
        "mine": mine,
        "statuses": statuses,
        "status": statuses[0] if statuses else "unreviewed",
        "held": held,
        "ts": rec.record.ts,
    }


def _list(node: Node) -> list[dict[str, Any]]:
    from . import api as ev

    return [_summary(node, sha, rec) for sha, rec in ev.items(node)]


async def list_page(request: web.Request) -> web.Response:
    q = request.query
    status, text, only = q.get("status", ""), q.get("q", "").strip().lower()[:200], q.get("only", "")
    rows = await in_worker(request, _list)
    if status:
        rows = [r for r in rows if status in r["statuses"] or (status == "unreviewed" and not r["statuses"])]
    if text:
        rows = [r for r in rows if text in r["title"].lower() or text in r["where"].lower()]
    if only == "held":
        rows = [r for r in rows if r["held"]]
    elif only == "mine":
        rows = [r for r in rows if r["mine"]]
    for r in rows:
        r["status_words"] = status_name(r["status"])
    return await render(
        request,
        "evidence/list.html",
        {"items": rows, "status": status, "q": text, "only": only, "statuses": STATUSES},
    )


def _item(node: Node, sha_hex: str) -> dict[str, Any] | None:
    from . import api as ev

    sha = bytes.fromhex(sha_hex)
    recs = ev.indexed(node, sha, ["evidence.item"])
    if not recs:
        return None
    _s, rec = ev.resolve(node, sha_hex)
    b = rec.body or {}
    mine = rec.author == node.key and bool(b.get("nonce"))
    working = None
    try:
        (facts, ref), _d = (
            ev.current_working(node, rec)
            if mine
            else ((b.get("working"), ev.role_refs(rec).get("working")), None)
        )
        if facts and ref is not None:
            working = {
                "mime": facts.get("mime", ""),
                "size": facts.get("size", 0),
                "held": node.blobs.has(ref.hash),
            }
    except (TequioError, KeyError, IndexError):
        working = None
    groups = [{"scope": s, "name": st.name} for s, st in node.governance.groups() if st.is_member(node.key)]
    shared = sorted({r.scope for r in recs if r.scope.startswith("g:")})
    verif = [
        {
            "scope": v.scope,
            "group": next((g["name"] for g in groups if g["scope"] == v.scope), v.scope[:12]),
            "status": v.status,
            "required": v.required,
            "verified": len(v.verified_by),
            "latest": [
                (f"{node.name} ({_('this node')})" if k == node.key else ev.org(node, k), s)
                for k, s in sorted(v.latest.items())
            ],
        }
        for v in ev.verification(node, sha)
    ]
    flags = ev.safety_flags(b) if mine else []
    return {
        "sha": sha_hex,
        "id": rec.id.hex(),
        "title": b.get("title", ""),
        "description": b.get("description", ""),
        "when": b.get("when", ""),
        "where": b.get("where", ""),
        "source": b.get("source", ""),
        "consent": b.get("consent", "unknown"),
        "removed": b.get("removed", []),
        "kept": b.get("kept", []),
        "not_stripped": b.get("not_stripped", []),
        "c2pa": (b.get("c2pa") or {}).get("status", ""),
        "original": b.get("original"),
        "working": working,
        "inline": bool(working and working["mime"] in _INLINE),
        "mine": mine,
        "from": f"{node.name} ({_('this node')})" if rec.author == node.key else ev.org(node, rec.author),
        "chain": _chain(node, sha),
        "verification": verif,
        "flags": flags,
        "held": bool(flags) and not ev.is_cleared(node, sha, None),
        "groups": [g for g in groups if g["scope"] not in shared],
        "shared": [g for g in groups if g["scope"] in shared],
        "statuses": STATUSES,
        "checks": CHECKS,
    }


def _group_name(node: Node, scope: str) -> str:
    st = node.governance.state(scope) if scope.startswith("g:") else None
    return st.name if st is not None else _("another organisation")


def _what(node: Node, rec: Any) -> str:
    """A custody event in the page's language (the CLI's ``evidence show`` says it in English)."""
    b = rec.body or {}
    kind = rec.kind
    if kind == "evidence.item":
        if b.get("nonce"):
            mime = (b.get("original") or {}).get("mime", "")
            return _("taken in: “%(title)s” (%(mime)s)", title=b.get("title", ""), mime=mime)
        if b.get("original"):
            return _("copy in %(where)s (original and working copy)", where=_group_name(node, rec.scope))
        return _("copy in %(where)s (working copy)", where=_group_name(node, rec.scope))
    if kind == "evidence.derivation":
        return _(
            "working copy derived; removed: %(what)s", what=", ".join(b.get("removed", [])) or _("nothing")
        )
    if kind == "evidence.review":
        checks = ", ".join(gettext(CHECK_NAMES[c]) for c in b.get("checks", []) if c in CHECK_NAMES)
        text = _("review: %(status)s", status=status_name(str(b.get("status"))))
        return text + (f" [{checks}]" if checks else "") + (f" — {b['note']}" if b.get("note") else "")
    if kind == "evidence.custody":
        d = b.get("detail") or {}
        event = b.get("event")
        if event == "share":
            return _("shared with %(where)s", where=_group_name(node, str(d.get("scope", ""))))
        if event == "transfer":
            return _("handed to another organisation")
        if event == "export":
            return (
                _("export failed")
                if d.get("failed")
                else _("exported in a court package (%(file)s)", file=d.get("file", ""))
            )
        if event == "fixity":
            return _(
                "files re-hashed: %(result)s", result=", ".join(f"{k} {v}" for k, v in sorted(d.items()))
            )
        if event == "clear":
            return _("cleared for sharing: %(note)s", note=d.get("note", ""))
        if event == "redaction":
            return _("working copy redacted: %(note)s", note=d.get("note", ""))
        if event == "incident":
            return _("added to an incident")
    if kind == "evidence.ack":
        return _("receipt acknowledged, hashes checked")
    return str(kind)


def _chain(node: Node, sha: bytes) -> list[dict[str, Any]]:
    from . import api as ev

    records = {r.id.hex(): r for r in ev.indexed(node, sha)}
    out = []
    for c in ev.chain(node, sha):
        rec = records.get(c["record"])
        who = f"{node.name} ({_('this node')})" if c["author"] == node.key.hex() else c["who"]
        out.append({**c, "who": who, "what": _what(node, rec) if rec is not None else c["what"]})
    return out


async def item_page(request: web.Request) -> web.Response:
    sha = request.match_info["sha"]
    data = await in_worker(request, _item, sha) if _SHA.fullmatch(sha) else None
    if data is None:
        return await error_page(request, 404, _("This node holds no such evidence item."))
    body = {
        "faces_at_risk": "faces of people at risk are visible" in data["flags"],
        "consent": data["consent"],
    }
    data["flags_words"] = _flags_words(body) if data["flags"] else []
    for v in data["verification"]:
        v["status_words"] = status_name(v["status"])
    return await render(request, "evidence/item.html", {"e": data, "check_names": CHECK_NAMES})


def _working_stream(node: Node, sha_hex: str) -> tuple[str, Any]:
    from . import api as ev

    _s, rec = ev.resolve(node, sha_hex)
    b = rec.body or {}
    if rec.author == node.key and b.get("nonce"):
        (facts, ref), _d = ev.current_working(node, rec)
    else:
        facts, ref = b.get("working") or {}, ev.role_refs(rec)["working"]
    return str(facts.get("mime", "application/octet-stream")), node.open_blob(ref.hash)


async def working_copy(request: web.Request) -> web.StreamResponse:
    """The working copy, decrypted piece by piece on the worker; an image inline, anything else a download."""
    sha = request.match_info["sha"]
    if not _SHA.fullmatch(sha):
        raise web.HTTPNotFound()
    try:
        mime, chunks = await in_worker(request, _working_stream, sha)
    except (TequioError, KeyError):
        raise web.HTTPNotFound() from None
    resp = web.StreamResponse()
    inline = mime in _INLINE
    resp.content_type = mime if inline else "application/octet-stream"
    resp.headers["Content-Disposition"] = "inline" if inline else f'attachment; filename="working-{sha[:12]}"'
    resp.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    await resp.prepare(request)
    while True:
        chunk = await in_worker(request, lambda _n: next(chunks, None))
        if chunk is None:
            break
        await resp.write(chunk)
    await resp.write_eof()
    return resp


async def add_page(request: web.Request) -> web.Response:
    return await render(
        request, "evidence/add.html", {"max_mb": request.app[CTX].node.config.web.max_upload_mb}
    )


async def _receive(request: web.Request, folder: Path) -> tuple[dict[str, str], SealedSpool | None, str]:
    """Stream a multipart upload: small fields into memory (bounded), the file sealed as it arrives."""
    limit = request.app[CTX].node.config.web.max_upload_mb * 1024 * 1024
    fields: dict[str, str] = {}
    spool: SealedSpool | None = None
    name = ""
    reader = await request.multipart()
    try:
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader):
                continue  # a nested multipart: not from our form
            if part.name == "file" and part.filename is not None and spool is None:
                name = re.sub(r"[^\w.\- ]", "_", Path(part.filename).name)[:200] or "upload"
                spool = await spool_part(part, folder, limit)
            elif part.name in _FIELDS:
                raw = b""
                while len(raw) <= _FIELD_MAX and (chunk := await part.read_chunk(8192)):
                    raw += chunk  # bounded: the rest of an oversized field is skipped by the reader
                fields[str(part.name)] = raw[:_FIELD_MAX].decode("utf-8", "ignore")
    except BaseException:  # the client gone after the file part: the spool goes too
        if spool is not None:
            spool.discard()
        raise
    return fields, spool, name


def _intake(node: Node, spool: SealedSpool, name: str, fields: dict[str, str]) -> str:
    from . import api as ev

    # intake records the file's name (the person's, not the spool's) and its media checks read a file:
    # a plain copy exists only while they run.
    with spool.plain_copy(name) as named:
        consent = fields.get("consent", "unknown")
        got = ev.intake(
            node,
            named,
            fields.get("title", "").strip()[:500] or name,
            description=fields.get("description", "").strip(),
            when=fields.get("when", "").strip()[:100],
            where=fields.get("where", "").strip()[:500],
            source=fields.get("source", "").strip()[:500],
            consent=consent if consent in ("yes", "no", "unknown") else "unknown",
            faces_at_risk=bool(fields.get("faces_at_risk")),
        )
    return got.sha256.hex()


async def add(request: web.Request) -> web.StreamResponse:
    node = request.app[CTX].node
    folder = node.home / "blobs" / "partial"
    folder.mkdir(parents=True, exist_ok=True)
    spool: SealedSpool | None = None
    try:
        try:
            fields, spool, name = await _receive(request, folder)
        except UploadTooLarge:
            await flash(
                request,
                _("The file is larger than this node accepts (%(n)s MiB).", n=node.config.web.max_upload_mb),
                "error",
            )
            raise redirect("/evidence/add") from None
        if spool is None or spool.size == 0:
            await flash(request, _("Choose a file to upload."), "error")
            raise redirect("/evidence/add")
        try:
            sha = await in_worker(request, _intake, spool, name, fields)
        except TequioError as e:
            await flash(request, message(str(e)), "error")
            raise redirect("/evidence/add") from None
    finally:
        if spool is not None:
            spool.discard()
    await audit(request, "evidence add", fields.get("title", "")[:200], sha)
    await flash(
        request, _("Taken in: the original is sealed, and the working copy has its metadata removed.")
    )
    raise redirect(f"/evidence/{sha}")


async def _post(request: web.Request) -> tuple[str, Any]:
    sha = request.match_info["sha"]
    if not _SHA.fullmatch(sha):
        raise web.HTTPNotFound()
    return sha, await request.post()


async def _act(
    request: web.Request, sha: str, fn: Any, what: str, done: str, *args: Any
) -> web.StreamResponse:
    try:
        rid = await in_worker(request, fn, bytes.fromhex(sha), *args)
    except TequioError as e:
        await flash(request, message(str(e)), "error")
        raise redirect(f"/evidence/{sha}") from None
    await audit(request, what, " ".join(str(a)[:80] for a in args), rid.id if hasattr(rid, "id") else b"")
    await flash(request, done)
    raise redirect(f"/evidence/{sha}")


def _scope(form: Any) -> str | None:
    s = str(form.get("scope", ""))
    return s if re.fullmatch(r"g:[0-9a-f]{32}", s) else None


async def review(request: web.Request) -> web.StreamResponse:
    from . import api as ev

    sha, form = await _post(request)
    status = str(form.get("status", ""))
    checks = [c for c in form.getall("check", []) if c in CHECKS]
    if status not in STATUSES:
        await flash(request, _("Choose a review status."), "error")
        raise redirect(f"/evidence/{sha}")
    note = str(form.get("note", ""))[:_FIELD_MAX]
    return await _act(
        request, sha, ev.review, "evidence review", _("Review signed."), status, checks, note, _scope(form)
    )


async def share(request: web.Request) -> web.StreamResponse:
    from . import api as ev

    sha, form = await _post(request)
    scope = _scope(form)
    if scope is None:
        await flash(request, _("Choose a coalition."), "error")
        raise redirect(f"/evidence/{sha}")
    return await _act(
        request, sha, ev.share, "evidence share", _("Shared: the coalition receives the working copy."), scope
    )


async def clear(request: web.Request) -> web.StreamResponse:
    from . import api as ev

    sha, form = await _post(request)
    note = str(form.get("note", "")).strip()[:2000]
    if not note:
        await flash(request, _("Say why the item may be shared despite its safety flags."), "error")
        raise redirect(f"/evidence/{sha}")
    return await _act(request, sha, ev.clear, "evidence clear", _("Cleared for sharing."), note, _scope(form))


def _export(node: Node, sha: bytes, out: Path) -> dict[str, Any]:
    from .export import export

    return export(node, [sha], out)


async def export(request: web.Request) -> web.StreamResponse:
    sha, _form = await _post(request)
    node = request.app[CTX].node
    folder = Path(tempfile.mkdtemp(prefix="web-export-", dir=node.home / "blobs"))
    out = folder / f"package-{sha[:12]}.zip"
    try:
        try:
            await in_worker(request, _export, bytes.fromhex(sha), out)
        except TequioError as e:
            await flash(request, message(str(e)), "error")
            raise redirect(f"/evidence/{sha}") from None
        await audit(request, "evidence export", out.name, sha)
        resp = web.StreamResponse()
        resp.content_type = "application/zip"
        resp.headers["Content-Disposition"] = f'attachment; filename="{out.name}"'
        resp.content_length = out.stat().st_size
        await resp.prepare(request)
        loop = asyncio.get_running_loop()
        with out.open("rb") as f:
            while chunk := await loop.run_in_executor(None, f.read, 1 << 16):
                await resp.write(chunk)
        await resp.write_eof()
        return resp
    finally:
        out.unlink(missing_ok=True)
        folder.rmdir()


def _attention(node: Node) -> dict[str, int]:
    from . import api as ev
    from .recordkinds import REVIEW

    held = awaiting = 0
    for sha, rec in ev.items(node):
        b = rec.body or {}
        if (
            rec.author == node.key
            and b.get("nonce")
            and ev.safety_flags(b)
            and not ev.is_cleared(node, sha, None)
        ):
            held += 1
        in_groups = [r for r in ev.indexed(node, sha, ["evidence.item"]) if r.scope.startswith("g:")]
        reviewed = {r.scope for r in ev.indexed(node, sha, [REVIEW]) if r.author == node.key}
        if any(r.scope not in reviewed for r in in_groups) and rec.author != node.key:
            awaiting += 1
    return {"held": held, "awaiting": awaiting}


def prepare_web_context(request: web.Request, context: dict[str, Any]) -> Any:
    """On the dashboard: safety holds and evidence awaiting this organisation's review."""
    if context.get("page_name") != "dashboard" or user_of(request) is None:
        return None

    async def add() -> None:
        counts = await in_worker(request, _attention)
        if counts["held"]:
            context["attention"].append(
                {
                    "text": _("Evidence held by safety flags"),
                    "count": counts["held"],
                    "link": "/evidence/?only=held",
                }
            )
        if counts["awaiting"]:
            context["attention"].append(
                {
                    "text": _("Evidence awaiting this organisation's review"),
                    "count": counts["awaiting"],
                    "link": "/evidence/",
                }
            )

    return add()


ROUTES = [
    WebRoute("GET", "/", list_page),
    WebRoute("GET", "/add", add_page, role="member"),
    WebRoute("POST", "/add", add, role="member"),
    WebRoute("GET", "/{sha}", item_page),
    WebRoute("GET", "/{sha}/working", working_copy),
    WebRoute("POST", "/{sha}/review", review, role="member"),
    WebRoute("POST", "/{sha}/share", share, role="admin"),
    WebRoute("POST", "/{sha}/clear", clear, role="admin"),
    WebRoute("POST", "/{sha}/export", export, role="admin"),
]
MENU = [MenuItem(N_("Evidence"), "/evidence/", order=30)]
