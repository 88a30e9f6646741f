"""Coalition pages: the list, founding one with members and roles, and one coalition's page.

A coalition's page shows its rules in plain language with the decision each change would need,
members and their roles, membership history and key epochs, and the forms to admit, remove and
change rules. Each form goes through ``node.groups.act``: done at once when the rules let this
node do it alone, else a proposal the members vote on.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from aiohttp import web

from tequio.governance import ADMIT, CORE_METHODS, REMOVE, ROLES, RULES, effective_action, rule_for
from tequio.schemas import fingerprint

from ..errors import TequioError
from .app import WebRoute, audit, ctx_of, error_page, flash, redirect, render
from .i18n import _
from .words import action_name, message, rule_words

if TYPE_CHECKING:
    from ..node import Node

__all__ = ["ROUTES", "history_words"]

_GID = re.compile(r"[0-9a-f]{32}")
FRACTIONS = {"1/2": [1, 2], "2/3": [2, 3], "3/4": [3, 4], "4/5": [4, 5], "1/1": [1, 1], "0/1": [0, 1]}


def history_words(what: str, names: dict[str, str]) -> str:
    """A membership-history line from the fold, in the page's language, with names for key prefixes."""

    def who(prefix: str) -> str:
        return names.get(prefix, prefix)

    if m := re.fullmatch(r"admitted ([0-9a-f]{16})", what):
        return _("%(who)s admitted", who=who(m.group(1)))
    if m := re.fullmatch(r"removed ([0-9a-f]{16})", what):
        return _("%(who)s removed", who=who(m.group(1)))
    if m := re.fullmatch(r"roles of ([0-9a-f]{16}): (.*)", what):
        return _("roles of %(who)s: %(roles)s", who=who(m.group(1)), roles=m.group(2))
    if what == "rules changed":
        return _("rules changed")
    if what == "group dissolved":
        return _("coalition dissolved")
    return message(what)


def _list(node: Node) -> dict[str, Any]:
    from tequio.node.cli.peers import _book

    groups = [
        {
            "gid": s[2:],
            "name": st.name,
            "members": len(st.members),
            "member": st.is_member(node.key),
            "epoch": st.epoch,
            "open": sum(p.status == "open" for p in st.proposals.values()),
        }
        for s, st in node.governance.groups()
    ]
    peers = [
        {"key": p.key.hex(), "name": p.name, "fingerprint": fingerprint(p.key)} for p in _book(node).trusted()
    ]
    return {"groups": groups, "peers": peers}


async def groups(request: web.Request) -> web.Response:
    return await render(request, "groups.html", await ctx_of(request).run(_list))


def _create(node: Node, name: str, description: str, members: list[tuple[bytes, str, list[str]]]) -> str:
    from ..groups import create_group

    gid, _scope = create_group(node, name, members, {}, description)
    return gid.hex()


async def create(request: web.Request) -> web.StreamResponse:
    from tequio.governance.rules import RuleError, check_roles

    form = await request.post()
    name = str(form.get("name", "")).strip()
    description = str(form.get("description", "")).strip()
    if not name or len(name) > 200:
        await flash(request, _("Give the coalition a name (up to 200 characters)."), "error")
        raise redirect("/groups")
    data = await ctx_of(request).run(_list)
    names = {p["key"]: p["name"] for p in data["peers"]}
    members = []
    for key in form.getall("member", []):
        key = str(key)
        if key not in names:
            await flash(request, _("Members are chosen among trusted peers."), "error")
            raise redirect("/groups")
        roles = sorted({r.strip().lower() for r in str(form.get(f"roles-{key}", "")).split(",") if r.strip()})
        try:
            check_roles(roles)
        except RuleError:
            await flash(request, _("Roles are short lowercase words separated by commas."), "error")
            raise redirect("/groups") from None
        members.append((bytes.fromhex(key), names[key], roles))
    try:
        gid = await ctx_of(request).run(_create, name, description, members)
    except TequioError as e:
        await flash(request, message(str(e)), "error")
        raise redirect("/groups") from None
    await audit(request, "coalition create", f"{name}: {len(members) + 1} members", gid)
    await flash(request, _("Coalition %(name)s founded.", name=name))
    raise redirect(f"/groups/{gid}")


def _show(node: Node, gid: str) -> dict[str, Any] | None:
    from tequio.node.cli.peers import _book

    scope = "g:" + gid
    st = node.governance.state(scope)
    if st is None:
        return None
    actions = node.plugins.action_index()
    names = {k.hex()[:16]: (m.name or fingerprint(k)) for k, m in st.members.items()}
    rules = []
    for action in sorted(set(st.rules) | set(actions)):
        rule = rule_for(st, action, actions)
        changer = effective_action(st, RULES, {"set": {action: rule}}, actions)
        rules.append(
            {
                "action": action,
                "name": action_name(action),
                "words": rule_words(rule),
                "change": rule_words(rule_for(st, changer, actions)),
            }
        )
    epochs = sorted(
        ({"epoch": e, "members": len(r), "record": rid.hex()} for rid, (e, r) in st.epochs.items()),
        key=lambda x: int(str(x["epoch"])),
    )
    members = [
        {
            "key": k.hex(),
            "name": m.name,
            "fingerprint": fingerprint(k),
            "roles": list(m.roles),
            "me": k == node.key,
        }
        for k, m in sorted(st.members.items(), key=lambda km: km[1].name.lower())
    ]
    trusted = [
        {"key": p.key.hex(), "name": p.name, "fingerprint": fingerprint(p.key)}
        for p in _book(node).trusted()
        if p.key not in st.members
    ]
    proposals = [
        {
            "id": p.id.hex(),
            "title": p.title,
            "status": p.status,
            "method": p.method,
            "voted": len(p.ballots),
            "electorate": len(p.electorate),
            "hidden": p.seal_key is not None,
        }
        for p in sorted(st.proposals.values(), key=lambda p: (p.status != "open", -p.ts))
    ]
    methods = sorted(set(node.plugins.decision_methods()) | set(CORE_METHODS))
    return {
        "gid": gid,
        "name": st.name,
        "description": st.description,
        "member": st.is_member(node.key),
        "members": members,
        "rules": rules,
        "admit_needs": rule_words(rule_for(st, ADMIT, actions)),
        "remove_needs": rule_words(rule_for(st, REMOVE, actions)),
        "roles_needs": rule_words(rule_for(st, ROLES, actions)),
        "epoch": st.epoch,
        "stale": st.stale,
        "epochs": epochs,
        "history": [{"record": rid.hex(), "what": history_words(what, names)} for rid, what in st.history],
        "ignored": [{"record": rid.hex(), "why": why} for rid, why in sorted(st.ignored.items())],
        "waiting": len(st.waiting),
        "proposals": proposals,
        "trusted": trusted,
        "methods": methods,
        "dissolved": st.dissolved,
    }


async def show(request: web.Request) -> web.Response:
    gid = request.match_info["gid"]
    data = await ctx_of(request).run(_show, gid) if _GID.fullmatch(gid) else None
    if data is None:
        return await error_page(request, 404, _("This node holds no such coalition."))
    for item in data["ignored"]:
        item["why"] = message(item["why"])
    return await render(request, "group.html", data)


def _act(node: Node, gid: str, action: str, args: dict[str, Any], title: str) -> tuple[str, bool]:
    from ..groups import act

    out = act(node, "g:" + gid, action, args, title)
    return out.record.hex(), out.proposal


async def _do(
    request: web.Request, gid: str, action: str, args: dict[str, Any], title: str, what: str
) -> web.StreamResponse:
    try:
        rid, proposal = await ctx_of(request).run(_act, gid, action, args, title)
    except TequioError as e:
        await flash(request, message(str(e)), "error")
        raise redirect(f"/groups/{gid}") from None
    await audit(request, f"coalition {what}", title, rid)
    if proposal:
        await flash(
            request, _("The rules ask for a decision: a proposal is open for the members to vote on.")
        )
        raise redirect(f"/voting/{rid}")
    await flash(request, _("Done."))
    raise redirect(f"/groups/{gid}")


def _gid(request: web.Request) -> str:
    gid = request.match_info["gid"]
    if not _GID.fullmatch(gid):
        raise web.HTTPNotFound()
    return gid


def _key(text: str) -> bytes | None:
    t = text.strip().lower()
    return bytes.fromhex(t) if re.fullmatch(r"[0-9a-f]{64}", t) else None


async def admit(request: web.Request) -> web.StreamResponse:
    gid = _gid(request)
    form = await request.post()
    key = _key(str(form.get("key", "")))
    name = str(form.get("name", "")).strip()[:200]
    if key is None:
        await flash(request, _("Choose the organisation to admit."), "error")
        raise redirect(f"/groups/{gid}")
    title = _("Admit %(name)s", name=name or fingerprint(key))
    return await _do(request, gid, ADMIT, {"key": key, "name": name, "roles": []}, title, "admit")


async def remove(request: web.Request) -> web.StreamResponse:
    gid = _gid(request)
    form = await request.post()
    key = _key(str(form.get("key", "")))
    if key is None:
        await flash(request, _("Choose the member to remove."), "error")
        raise redirect(f"/groups/{gid}")
    return await _do(request, gid, REMOVE, {"key": key}, _("Remove %(who)s", who=fingerprint(key)), "remove")


_ROLE = re.compile(r"[a-z][a-z0-9_-]{0,31}")


def roles_from_form(text: str) -> list[str]:
    """Roles typed as "curator, editor": lower-case names; TequioError naming a bad one."""
    roles = sorted({r.strip().lower() for r in re.split(r"[,\s]+", text) if r.strip()})
    for r in roles:
        if not _ROLE.fullmatch(r):
            raise TequioError(f"roles: {r!r} is not a role name (letters, digits, - and _)")
    if len(roles) > 16:
        raise TequioError("roles: at most 16 roles")
    return roles


async def set_roles(request: web.Request) -> web.StreamResponse:
    gid = _gid(request)
    form = await request.post()
    key = _key(str(form.get("key", "")))
    if key is None:
        await flash(request, _("Choose the member whose roles change."), "error")
        raise redirect(f"/groups/{gid}")
    try:
        roles = roles_from_form(str(form.get("roles", ""))[:600])
    except TequioError as e:
        await flash(request, message(str(e)), "error")
        raise redirect(f"/groups/{gid}") from None
    title = _("Roles of %(who)s: %(roles)s", who=fingerprint(key), roles=", ".join(roles) or _("none"))
    return await _do(request, gid, ROLES, {"key": key, "roles": roles}, title, "roles")


def rule_from_form(form: Any) -> dict[str, Any]:
    """The rule a person described in the rules form; TequioError with what is wrong."""
    by = str(form.get("by", ""))
    rule: dict[str, Any]
    if by in ("member", "nobody"):
        rule = {"by": by}
    elif by == "role":
        rule = {"by": "role", "role": str(form.get("role", "")).strip().lower()}
    elif by == "decision":
        threshold = FRACTIONS.get(str(form.get("threshold", "")))
        quorum = FRACTIONS.get(str(form.get("quorum", "")))
        try:
            days = int(str(form.get("days", "0")) or 0)
        except ValueError:
            days = -1
        if threshold is None or quorum is None or not 0 <= days <= 365:
            raise TequioError("rules: a decision needs a threshold, a quorum and 0-365 days")
        rule = {
            "by": "decision",
            "method": str(form.get("method", "yes-no")),
            "threshold": threshold,
            "quorum": quorum,
            "strict": False,
            "min_open_ms": days * 86_400_000,
        }
    else:
        raise TequioError("rules: choose who decides")
    if form.get("entrenched"):
        rule["entrenched"] = True
    from tequio.governance import RuleError, check_rule

    try:
        check_rule(rule)
    except RuleError as e:
        raise TequioError(f"rules: {e}") from None
    return rule


async def change_rule(request: web.Request) -> web.StreamResponse:
    gid = _gid(request)
    form = await request.post()
    action = str(form.get("action", ""))
    try:
        rule = rule_from_form(form)
    except TequioError as e:
        await flash(request, message(str(e)), "error")
        raise redirect(f"/groups/{gid}") from None
    title = _("Rule for “%(action)s”: %(rule)s", action=action_name(action), rule=rule_words(rule))
    return await _do(request, gid, RULES, {"set": {action: rule}}, title, "rules")


ROUTES = [
    WebRoute("GET", "/groups", groups),
    WebRoute("POST", "/groups", create, role="admin"),
    WebRoute("GET", "/groups/{gid}", show),
    WebRoute("POST", "/groups/{gid}/admit", admit, role="admin"),
    WebRoute("POST", "/groups/{gid}/remove", remove, role="admin"),
    WebRoute("POST", "/groups/{gid}/roles", set_roles, role="admin"),
    WebRoute("POST", "/groups/{gid}/rules", change_rule, role="admin"),
]
