"""The voting plugin's pages: proposals, ballots in each method's own form, and results explained.

Every ballot form is a plain HTML form (a ranking is one select per option), so a vote completes
without JavaScript. A ballot is this organisation's: any member may cast or change it, and the
audit log says who did.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from aiohttp import web

from tequio.node import Node, TequioError
from tequio.node.web import (
    N_,
    MenuItem,
    WebRoute,
    _,
    audit,
    error_page,
    flash,
    in_worker,
    message,
    redirect,
    render,
    rule_words,
)

__all__ = ["MENU", "ROUTES", "TEMPLATES", "choice_from_form"]

TEMPLATES = Path(__file__).parent / "templates"
RANKED = ("irv", "schulze", "borda", "copeland", "ranked-pairs")
_PID = re.compile(r"[0-9a-f]{64}")
_GID = re.compile(r"[0-9a-f]{32}")


def _names(st: Any) -> dict[bytes, str]:
    from tequio.schemas import fingerprint

    return {k: (m.name or fingerprint(k)) for k, m in st.members.items()}


def _all(node: Node) -> list[dict[str, Any]]:
    out = []
    for _scope, st in node.governance.groups():
        for p in st.proposals.values():
            out.append(
                {
                    "id": p.id.hex(),
                    "title": p.title,
                    "group": st.name,
                    "status": p.status,
                    "voted": node.key in p.ballots,
                    "turnout": len(p.ballots),
                    "electorate": len(p.electorate),
                    "ts": p.ts,
                }
            )
    return sorted(out, key=lambda p: (p["status"] != "open", -p["ts"]))


async def proposals(request: web.Request) -> web.Response:
    return await render(request, "voting/list.html", {"proposals": await in_worker(request, _all)})


def _show(node: Node, pid: str) -> dict[str, Any] | None:
    from tequio.node import GroupError, earliest_close, find_proposal

    from .cli import proposal_json

    try:
        scope, st, prop = find_proposal(node, pid)
    except GroupError:
        return None
    data = proposal_json(node, st, prop)
    names = _names(st)
    data["gid"] = scope[2:]
    data["group_name"] = st.name
    data["electorate"] = [
        {**e, "name": e["name"] or names.get(bytes.fromhex(e["key"]), e["key"][:16])}
        for e in data["electorate"]
    ]
    data["rule_words"] = rule_words(prop.rule) if prop.action else ""
    # issue 9 §2: say when it may close at the earliest (rule G11: sooner only once all have voted)
    soonest = earliest_close(prop)
    data["earliest_close"] = soonest if soonest > prop.ts and prop.status == "open" else None
    data["action_name"] = ""
    if prop.action:
        from tequio.node.web import action_name

        data["action_name"] = action_name(str(prop.action.get("action")))
    mine = prop.ballots.get(node.key)
    data["may_vote"] = prop.status == "open" and node.key in prop.electorate
    data["my_choice"] = None if mine is None or prop.seal_key is not None else mine[2]
    data["my_ballot"] = mine is not None
    data["is_mine"] = prop.author == node.key
    data["ranked"] = prop.method in RANKED
    data["score_range"] = (prop.params.get("min", 0), prop.params.get("max", 5))
    return data


async def proposal(request: web.Request) -> web.Response:
    pid = request.match_info["pid"]
    data = await in_worker(request, _show, pid) if _PID.fullmatch(pid) else None
    if data is None:
        return await error_page(request, 404, _("This node holds no such proposal."))
    return await render(request, "voting/proposal.html", {"p": data})


def choice_from_form(
    method: str, options: list[str], form: Any, score_range: tuple[int, int] = (0, 5)
) -> Any:
    """The ballot a person filled in, in the method's own form; TequioError saying what is missing."""
    if method in ("yes-no", "consent"):
        choice = str(form.get("choice", ""))
        if method == "consent" and choice == "object":
            reason = str(form.get("reason", "")).strip()
            if not reason:
                raise TequioError(_("An objection gives its reason."))
            return {"object": reason[:2000]}
        if choice not in ("yes", "no", "abstain") or (method == "consent" and choice == "no"):
            raise TequioError(_("Choose one answer."))
        return choice
    if method == "approval":
        picked = [str(o) for o in form.getall("option", []) if str(o) in options]
        return sorted(set(picked), key=options.index)
    if method == "plurality":
        one = str(form.get("option", ""))
        if one not in options:
            raise TequioError(_("Choose one option."))
        return one
    if method == "score":
        low, high = score_range
        scores: dict[str, int] = {}
        for i, opt in enumerate(options):
            raw = str(form.get(f"score-{i}", "")).strip()
            if raw == "":
                continue
            if not re.fullmatch(r"-?\d{1,6}", raw) or not low <= int(raw) <= high:
                raise TequioError(_("Scores are whole numbers from %(low)s to %(high)s.", low=low, high=high))
            scores[opt] = int(raw)
        return scores
    if method in RANKED:
        ranks: list[tuple[int, str]] = []
        for i, opt in enumerate(options):
            raw = str(form.get(f"rank-{i}", "")).strip()
            if raw == "":
                continue  # left out: tied last
            if not raw.isdigit() or not 1 <= int(raw) <= len(options):
                raise TequioError(_("Ranks are numbers from 1 to %(n)s.", n=len(options)))
            ranks.append((int(raw), opt))
        if len({r for r, _o in ranks}) != len(ranks):
            raise TequioError(_("Give each option a different rank (or leave it out)."))
        if not ranks:
            raise TequioError(_("Rank at least one option."))
        return [o for _r, o in sorted(ranks)]
    raise TequioError(_("This node cannot take ballots for %(method)s.", method=method))


def _cast(node: Node, pid: str, form: dict[str, Any]) -> str:
    from tequio.node import find_proposal

    from .ballot_io import cast

    scope, _st, prop = find_proposal(node, pid)
    choice = choice_from_form(
        prop.method, list(prop.options), _Form(form), (prop.params.get("min", 0), prop.params.get("max", 5))
    )
    return cast(node, scope, prop, choice).hex()


class _Form:
    """The posted fields as the worker sees them (a plain copy, not the request's multidict)."""

    def __init__(self, fields: dict[str, list[str]]) -> None:
        self.fields = fields

    def get(self, name: str, default: str = "") -> str:
        values = self.fields.get(name)
        return values[0] if values else default

    def getall(self, name: str, default: list[str] | None = None) -> list[str]:
        return self.fields.get(name, default or [])


async def cast_ballot(request: web.Request) -> web.StreamResponse:
    pid = request.match_info["pid"]
    if not _PID.fullmatch(pid):
        raise web.HTTPNotFound()
    form = await request.post()
    fields: dict[str, list[str]] = {}
    for k, v in form.items():
        if isinstance(v, str):
            fields.setdefault(k, []).append(v)
    try:
        rid = await in_worker(request, _cast, pid, fields)
    except TequioError as e:
        await flash(request, message(str(e)), "error")
        raise redirect(f"/voting/{pid}") from None
    await audit(request, "vote cast", pid[:16], rid)
    await flash(request, _("Ballot cast for this organisation. It can be changed until the close."))
    raise redirect(f"/voting/{pid}")


def _close(node: Node, pid: str) -> tuple[str, str]:
    from tequio.node import close, find_proposal

    scope, _st, prop = find_proposal(node, pid)
    cid, _result = close(node, scope, prop.id)
    st = node.governance.state(scope)
    return cid.hex(), st.proposals[prop.id].status if st else "?"


async def close_proposal(request: web.Request) -> web.StreamResponse:
    pid = request.match_info["pid"]
    if not _PID.fullmatch(pid):
        raise web.HTTPNotFound()
    try:
        cid, status = await in_worker(request, _close, pid)
    except TequioError as e:
        await flash(request, message(str(e)), "error")
        raise redirect(f"/voting/{pid}") from None
    await audit(request, "vote close", f"{pid[:16]}: {status}", cid)
    await flash(request, _("Closed. Every node recomputes the same result from the same ballots."))
    raise redirect(f"/voting/{pid}")


def _group(node: Node, gid: str) -> dict[str, Any] | None:
    from .methods import METHODS

    st = node.governance.state("g:" + gid)
    if st is None:
        return None
    return {"gid": gid, "name": st.name, "methods": list(METHODS)}


async def new_page(request: web.Request) -> web.Response:
    gid = request.match_info["gid"]
    data = await in_worker(request, _group, gid) if _GID.fullmatch(gid) else None
    if data is None:
        return await error_page(request, 404, _("This node holds no such coalition."))
    return await render(request, "voting/new.html", data)


def _open(
    node: Node, gid: str, title: str, text: str, method: str, options: list[str], days: int, hidden: bool
) -> str:
    from tequio.node import propose

    from .methods import METHODS, TallyError
    from .methods import tally as count

    scope = "g:" + gid
    st = node.governance.state(scope)
    if st is None:
        raise TequioError("this node is not a member of that group")
    if method not in METHODS:
        raise TequioError(_("Choose a voting method."))
    if method not in ("yes-no", "consent") and len(options) < 2:
        raise TequioError(_("This method chooses among options: give at least two."))
    try:
        count(method, [], options=options or None, electorate=len(st.members), params={})
    except TallyError as e:
        raise TequioError(str(e)) from None
    closes = node.clock() + days * 86_400_000 if days else None
    return propose(
        node,
        scope,
        title,
        text,
        method=method,
        options=options if method not in ("yes-no", "consent") else (),
        closes_at=closes,
        hidden=hidden,
    ).hex()


async def new_proposal(request: web.Request) -> web.StreamResponse:
    gid = request.match_info["gid"]
    if not _GID.fullmatch(gid):
        raise web.HTTPNotFound()
    form = await request.post()
    title = str(form.get("title", "")).strip()[:300]
    text = str(form.get("text", "")).strip()[:20_000]
    method = str(form.get("method", ""))
    options = list(
        dict.fromkeys(o.strip()[:200] for o in str(form.get("options", "")).splitlines() if o.strip())
    )[:50]
    try:
        days = int(str(form.get("days", "0")) or 0)
    except ValueError:
        days = 0
    if not title:
        await flash(request, _("Give the proposal a title."), "error")
        raise redirect(f"/voting/new/{gid}")
    try:
        pid = await in_worker(
            request,
            _open,
            gid,
            title,
            text,
            method,
            options,
            max(0, min(days, 365)),
            bool(form.get("hidden")),
        )
    except TequioError as e:
        await flash(request, message(str(e)), "error")
        raise redirect(f"/voting/new/{gid}") from None
    await audit(request, "vote propose", title, pid)
    raise redirect(f"/voting/{pid}")


ROUTES = [
    WebRoute("GET", "/", proposals),
    WebRoute("GET", "/new/{gid}", new_page, role="member"),
    WebRoute("POST", "/new/{gid}", new_proposal, role="member"),
    WebRoute("GET", "/{pid}", proposal),
    WebRoute("POST", "/{pid}/cast", cast_ballot, role="member"),
    WebRoute("POST", "/{pid}/close", close_proposal, role="admin"),
]
MENU = [MenuItem(N_("Votes"), "/voting/", order=20)]
