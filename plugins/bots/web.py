"""The bots plugin's pages: upload an export, run the analysis off the event loop, read the clusters
explained in the page's language with their plots, and share a finding with a coalition.

Readers see analyses and plots; members upload, analyse and share. Plots are served as PNG files
from this node (the CSP allows only 'self' images), not as the report's data: URIs.
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import shutil
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
    in_worker,
    lang_of,
    message,
    redirect,
    render,
    spool_part,
)

__all__ = ["MENU", "ROUTES"]

_AID = re.compile(r"[0-9a-f]{16}")
_PLOT = re.compile(r"[a-z_]{1,40}")
_FIELDS = {"window": 12, "weight": 8, "min_weight": 8}


def analyses_dir(node: Node) -> Path:
    """Where the pages keep each analysis (input, findings.json, plots): private to this node."""
    d = node.home / "bots-web"
    d.mkdir(mode=0o700, exist_ok=True)
    return d


def _list(node: Node) -> list[dict[str, Any]]:
    out = []
    for d in sorted(analyses_dir(node).iterdir(), key=lambda p: p.stat().st_mtime, reverse=True):
        f = d / "findings.json"
        if _AID.fullmatch(d.name) and f.is_file():
            data = json.loads(f.read_bytes())
            out.append({"id": d.name, "name": (d / "name.txt").read_text("utf-8")[:200],
                        "clusters": len(data.get("clusters", []))})  # fmt: skip
    return out


def _groups(node: Node) -> list[dict[str, str]]:
    return [{"scope": scope, "name": st.name} for scope, st in node.governance.groups()]


def _analyze(home: Path, folder: Path, upload: Path, window: float, weight: str, min_weight: int) -> int:
    """The CLI's analysis, in a thread of its own: the web worker stays free for other pages."""
    from .analysis import Params, analyze
    from .outputs import prepare_dir, write_outputs

    params = Params(window=window, weight=weight, min_weight=min_weight, repeats=49)
    params.check()
    result = analyze([upload], params)
    prepare_dir(folder, force=False)
    write_outputs(result, folder, plots=True)
    return len(result.findings["clusters"])


def _show(node: Node, aid: str, ui: str) -> dict[str, Any] | None:
    folder = analyses_dir(node) / aid
    f = folder / "findings.json"
    if not f.is_file():
        return None
    data = json.loads(f.read_bytes())
    plots = sorted(p.stem for p in (folder / "plots").glob("*.png")) if (folder / "plots").is_dir() else []
    pick = "es" if ui == "es" else "en"
    clusters = [
        {
            "id": c["id"],
            "tier": c["tier"],
            "accounts": c["accounts"][:50],
            "more": max(0, len(c["accounts"]) - 50),
            "networks": c["networks"],
            "p_value": c["p_value"],
            "share": round(100 * c["share_of_volume"], 2),
            "verdict": c.get("verdict", ""),
            "explanation": c.get("explanation", {}).get(pick, ""),
        }
        for c in data.get("clusters", [])
    ]
    sentence = data.get("summary", {}).get("sentence", {}).get(pick, "")
    return {"aid": aid, "sentence": sentence, "clusters": clusters, "plots": plots,
            "inputs": data.get("input", []), "groups": _groups(node)}  # fmt: skip


def _share(node: Node, aid: str, scope: str, tier: str, title: str) -> str:
    from tequio.node import group_state

    from .outputs import load_findings
    from .share import publish_finding

    findings, raw = load_findings(analyses_dir(node) / aid)
    target, _st = group_state(node, scope)
    return publish_finding(node, target, findings, raw, tier, title, None).id.hex()


async def index(request: web.Request) -> web.Response:
    return await render(
        request,
        "bots/list.html",
        {
            "analyses": await in_worker(request, _list),
            "max_mb": request.app[CTX].node.config.web.max_upload_mb,
        },
    )


async def _receive(request: web.Request, folder: Path) -> tuple[dict[str, str], str, SealedSpool | None]:
    """Stream the export, sealed as it arrives (at most ``web.max_upload_mb``); small fields into memory."""
    limit = request.app[CTX].node.config.web.max_upload_mb * 1024 * 1024
    fields: dict[str, str] = {}
    name = ""
    spool: SealedSpool | None = None
    reader = await request.multipart()
    try:
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader):
                continue
            if part.name == "file" and part.filename is not None and spool is None:
                name = re.sub(r"[^\w.\- ]", "_", Path(part.filename).name)[:200] or "upload.csv"
                spool = await spool_part(part, folder, limit)
            elif part.name in _FIELDS:
                raw = await part.read_chunk(64)
                fields[str(part.name)] = raw[: _FIELDS[str(part.name)]].decode("utf-8", "ignore")
    except BaseException:
        if spool is not None:
            spool.discard()
        raise
    return fields, name, spool


def _analyze_spool(
    home: Path, folder: Path, spool: SealedSpool, name: str, window: float, weight: str, min_weight: int
) -> int:
    """The analysis reads a plain copy that lives only while it runs; the posts are not kept."""
    with spool.plain_copy(name) as plain:
        return _analyze(home, folder, plain, window, weight, min_weight)


async def upload(request: web.Request) -> web.StreamResponse:
    node = request.app[CTX].node
    aid = secrets.token_hex(8)
    folder = analyses_dir(node) / aid
    folder.mkdir(mode=0o700)
    spool: SealedSpool | None = None
    try:
        try:
            fields, name, spool = await _receive(request, node.home / "blobs" / "partial")
        except UploadTooLarge:
            await flash(request, _("The file is larger than this node accepts (%(n)s MiB).",
                                   n=node.config.web.max_upload_mb), "error")  # fmt: skip
            raise redirect("/bots/") from None
        if spool is None or spool.size == 0:
            await flash(request, _("Choose a file to upload."), "error")
            raise redirect("/bots/")
        try:
            window = float(fields.get("window") or 60)
            min_weight = int(fields.get("min_weight") or 2)
        except ValueError:
            await flash(request, _("The window and the minimum weight are numbers."), "error")
            raise redirect("/bots/") from None
        weight = fields.get("weight") if fields.get("weight") in ("cnt", "pairs") else "cnt"
        (folder / "name.txt").write_text(name, "utf-8")
        try:
            n = await asyncio.to_thread(
                _analyze_spool, node.home, folder, spool, name, window, str(weight), min_weight
            )
        except ImportError:
            await flash(request, _("The analysis needs the bots extra: pip install 'tequio[bots]'."), "error")
            raise redirect("/bots/") from None
        except TequioError as e:
            await flash(request, message(str(e)), "error")
            raise redirect("/bots/") from None
    except BaseException:
        if not (folder / "findings.json").exists():
            shutil.rmtree(folder, ignore_errors=True)  # nothing half-made stays behind
        raise
    finally:
        if spool is not None:
            spool.discard()  # the posts are not kept: the findings hold their hashes
    await audit(request, "bots analyze", name[:200], aid)
    await flash(request, _("Analysed: %(n)s clusters found.", n=n))
    raise redirect(f"/bots/a/{aid}")


async def show(request: web.Request) -> web.Response:
    aid = request.match_info["aid"]
    data = await in_worker(request, _show, aid, lang_of(request)) if _AID.fullmatch(aid) else None
    if data is None:
        return await error_page(request, 404, _("This node holds no such analysis."))
    return await render(request, "bots/report.html", data)


async def plot(request: web.Request) -> web.StreamResponse:
    aid, name = request.match_info["aid"], request.match_info["name"]
    node = request.app[CTX].node
    p = analyses_dir(node) / aid / "plots" / f"{name}.png"
    if not _AID.fullmatch(aid) or not _PLOT.fullmatch(name) or not p.is_file():
        return await error_page(request, 404, _("This node holds no such plot."))
    return web.Response(body=await asyncio.to_thread(p.read_bytes), content_type="image/png")


async def report_file(request: web.Request) -> web.StreamResponse:
    aid = request.match_info["aid"]
    node = request.app[CTX].node
    p = analyses_dir(node) / aid / "report.html"
    if not _AID.fullmatch(aid) or not p.is_file():
        return await error_page(request, 404, _("This node holds no such analysis."))
    # A download (it embeds its plots as data: URIs the pages' CSP refuses): opened from disk, it works.
    return web.Response(
        body=await asyncio.to_thread(p.read_bytes),
        content_type="text/html",
        headers={"Content-Disposition": f'attachment; filename="report-{aid}.html"'},
    )


async def share(request: web.Request) -> web.StreamResponse:
    aid = request.match_info["aid"]
    if not _AID.fullmatch(aid):
        return await error_page(request, 404, _("This node holds no such analysis."))
    form = await request.post()
    scope, tier = str(form.get("scope", ""))[:80], str(form.get("tier", "medium"))
    title = str(form.get("title", "")).strip()[:200]
    if tier not in ("high", "medium", "low"):
        tier = "medium"
    try:
        rid = await in_worker(request, _share, aid, scope, tier, title)
    except (TequioError, OSError) as e:
        await flash(request, message(str(e)), "error")
        raise redirect(f"/bots/a/{aid}") from None
    await audit(request, "bots share", title, rid)
    await flash(request, _("Shared: the finding is signed and travels to the coalition's members."))
    raise redirect(f"/bots/a/{aid}")


ROUTES = [
    WebRoute("GET", "/", index),
    WebRoute("POST", "/analyze", upload, role="member"),
    WebRoute("GET", "/a/{aid}", show),
    WebRoute("GET", "/a/{aid}/plot/{name}.png", plot),
    WebRoute("GET", "/a/{aid}/report.html", report_file),
    WebRoute("POST", "/a/{aid}/share", share, role="member"),
]
MENU = [MenuItem(N_("Bot campaigns"), "/bots/", order=45)]
