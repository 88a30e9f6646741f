"""Commands about groups: create, list, show, admit, remove, roles, rules, close."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from tequio.governance import ADMIT, REMOVE, ROLES, RULES, GroupState, Proposal, rule_text
from tequio.schemas import StrictJSONError, fingerprint, loads_strict, to_json

from ..errors import TequioError
from ..groups import (
    ActOutcome,
    act,
    close,
    close_window_text,
    create_group,
    earliest_close,
    find_proposal,
    group_state,
)
from ..names import check_name, safe_text
from ..node import Node
from .context import echo_json, open_node
from .peers import _book, _resolve


def node_key(node: Node, text: str) -> bytes:
    """A node key: 64 hex, or a known peer by key prefix or fingerprint."""
    t = text.strip()
    if len(t) == 64:
        try:
            return bytes.fromhex(t.lower())
        except ValueError:
            raise TequioError(f"{text!r} is not a node key (64 hex)") from None
    if len(t) >= 8 and node.key.hex().startswith(t.lower()):
        return node.key
    return _resolve(_book(node), t).key


def load_json(path: Path, what: str) -> Any:
    """A JSON file a person wrote, read strictly (a repeated key or NaN is refused, not guessed at),
    with a one-line error naming the file."""
    try:
        data = path.read_bytes()
    except OSError as e:
        raise TequioError(f"cannot read {what} {path}: {e}") from None
    try:
        return loads_strict(data, holder=f"a {what}")
    except StrictJSONError as e:
        raise TequioError(f"{what} {path} is not JSON as Tequio reads it: {e}") from None


def group_json(scope: str, st: GroupState, me: bytes) -> dict[str, Any]:
    """The JSON view of a group's state for ``group show --json`` and the local API."""
    return {
        "gid": scope[2:],
        "scope": scope,
        "name": st.name,
        "description": st.description,
        "creator": st.creator.hex(),
        "member": st.is_member(me),
        "members": [
            {"key": k.hex(), "fingerprint": fingerprint(k), "name": m.name, "roles": list(m.roles)}
            for k, m in sorted(st.members.items())
        ],
        "rules": to_json(st.rules),
        "epoch": st.epoch,
        "key_stale": st.stale,
        "dissolved": st.dissolved,
        "proposals": [
            {
                "id": p.id.hex(),
                "title": p.title,
                "status": p.status,
                "method": p.method,
                "action": to_json(p.action) if p.action else None,
                "electorate": len(p.electorate),
                "ballots": len(p.ballots),
                "result": to_json(p.result) if p.result is not None else None,
            }
            for p in sorted(st.proposals.values(), key=lambda p: (p.status != "open", p.ts, p.id))
        ],
        "ignored": [{"id": rid.hex(), "reason": why} for rid, why in sorted(st.ignored.items())],
        "waiting": len(st.waiting),
        "history": [{"record": rid.hex(), "what": what} for rid, what in st.history],
    }


@click.group()
def group() -> None:
    """Coalitions: create one, see it, and admit, remove, re-role members or change its rules."""


@group.command("create")
@click.argument("name")
@click.option("--member", "members", multiple=True, metavar="KEY[=NAME]", help="A member (repeatable).")
@click.option("--description", default="", help="What the group is for.")
@click.option(
    "--rules", "rules_file", type=click.Path(exists=True, dir_okay=False, path_type=Path), help="JSON."
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def create(
    ctx: click.Context,
    name: str,
    members: tuple[str, ...],
    description: str,
    rules_file: Path | None,
    as_json: bool,
) -> None:
    """Found a group NAME with this node and the --member nodes (keys or known peers)."""
    check_name(name, "group name")
    check_name(description, "--description")
    rules = load_json(rules_file, "rules file") if rules_file else {}
    if not isinstance(rules, dict):
        raise TequioError("the rules file holds a JSON object of action -> rule")
    with open_node(ctx) as node:
        parsed: list[tuple[bytes, str, list[str]]] = []
        for m in members:
            text, _, mname = m.partition("=")
            check_name(mname, f"--member {text}= name")
            key = node_key(node, text)
            peer = _book(node).get(key)
            parsed.append((key, mname or (peer.name if peer else ""), []))
        gid, scope = create_group(node, name, parsed, rules, description)
        st = node.governance.state(scope)
        assert st is not None
    if as_json:
        echo_json({"gid": gid.hex(), "scope": scope})
        return
    click.echo(f"created group {safe_text(name)!r}  {scope}")
    click.echo(f"  {len(st.members)} members, epoch {st.epoch}; publish to it with --scope {scope}")


@group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def list_(ctx: click.Context, as_json: bool) -> None:
    """The groups this node holds."""
    with open_node(ctx, unlock=True) as node:
        groups = node.governance.groups()
        me = node.key
    items = [
        {
            "gid": s[2:],
            "scope": s,
            "name": st.name,
            "members": len(st.members),
            "member": st.is_member(me),
            "epoch": st.epoch,
            "open_proposals": sum(p.status == "open" for p in st.proposals.values()),
        }
        for s, st in groups
    ]
    if as_json:
        echo_json(items)
        return
    for it in items:
        mark = "" if it["member"] else "  (no longer a member)"
        click.echo(
            f"{it['gid']}  {safe_text(it['name'])}  {it['members']} members, epoch {it['epoch']},"
            f" {it['open_proposals']} open proposals{mark}"
        )
    if not items:
        click.echo("no groups", err=True)


@group.command("show")
@click.argument("gid")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def show(ctx: click.Context, gid: str, as_json: bool) -> None:
    """Members, roles, rules, key epoch, proposals, and records ignored with the reason."""
    with open_node(ctx, unlock=True) as node:
        scope, st = group_state(node, gid)
        data = group_json(scope, st, node.key)
        content = node.governance.ignored_content(scope)  # E6: content that lost authority after the fact
        data["ignored_content"] = [{"id": rid.hex(), "reason": why} for rid, why in sorted(content.items())]
    if as_json:
        echo_json(data)
        return
    click.echo(f"{safe_text(st.name)}  {scope}")
    if st.description:
        click.echo(f"  {safe_text(st.description)}")
    click.echo(f"members ({len(st.members)}):")
    for k, m in sorted(st.members.items()):
        click.echo(f"  {fingerprint(k)}  {safe_text(m.name or '-')}  {', '.join(m.roles) or ''}")
    click.echo(f"key epoch {st.epoch}{' (a new key is due)' if st.stale else ''}")
    click.echo("rules:")
    for action in sorted(st.rules):
        click.echo(f"  {action:<24} {rule_text(st.rules[action])}")
    open_ = [p for p in st.proposals.values() if p.status == "open"]
    click.echo(f"open proposals ({len(open_)}):")
    for p in open_:
        click.echo(
            f"  {p.id.hex()[:16]}  {safe_text(p.title)}"
            f"  [{p.method}, {len(p.ballots)}/{len(p.electorate)} voted]"
        )
    done = [p for p in st.proposals.values() if p.status != "open"]
    if done:
        click.echo(f"closed proposals ({len(done)}):")
        for p in done:
            click.echo(f"  {p.id.hex()[:16]}  {safe_text(p.title)}  {p.status}")
    if st.ignored:
        click.echo(f"ignored records ({len(st.ignored)}):")
        for rid, why in sorted(st.ignored.items()):
            click.echo(f"  {rid.hex()[:16]}  {safe_text(why)}")
    if content:
        click.echo(f"ignored content records ({len(content)}), hidden from listings:")
        for rid, why in sorted(content.items()):
            click.echo(f"  {rid.hex()[:16]}  {safe_text(why)}")
    if st.waiting:
        click.echo(f"{len(st.waiting)} records wait for records this node does not hold yet")
    if st.dissolved:
        click.echo("this group is dissolved")


def _report(out: ActOutcome, what: str, prop: Proposal | None) -> None:
    if out.proposal:
        click.echo(f"{what}: the rules ask for {rule_text(out.rule)}; opened proposal {out.record.hex()}")
        if prop is not None:
            click.echo(f"  {close_window_text(prop)}")
        click.echo("  members vote with 'tequio vote cast'; close it with 'tequio group close'")
    else:
        click.echo(f"{what}: done ({out.record.hex()[:16]})")


def _act(ctx: click.Context, gid: str, action: str, args: dict[str, Any], what: str, as_json: bool) -> None:
    with open_node(ctx) as node:
        scope, _ = group_state(node, gid)
        out = act(node, scope, action, args)
        st = node.governance.state(scope)
        prop = st.proposals.get(out.record) if out.proposal and st is not None else None
    if as_json:
        data: dict[str, Any] = {"record": out.record.hex(), "proposal": out.proposal}
        if prop is not None:
            data |= {"rule": to_json(dict(prop.rule)), "earliest_close_ms": earliest_close(prop)}
        echo_json(data)
    else:
        _report(out, what, prop)


@group.command("admit")
@click.argument("gid")
@click.argument("key")
@click.option("--name", default="", help="The member's display name.")
@click.option("--role", "roles", multiple=True, help="A role to give it (repeatable).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def admit(ctx: click.Context, gid: str, key: str, name: str, roles: tuple[str, ...], as_json: bool) -> None:
    """Admit KEY (a node key or a known peer) to the group, or propose it if the rules say so."""
    check_name(name, "--name")
    with open_node(ctx, unlock=False) as node:
        k = node_key(node, key)
        peer = _book(node).get(k)
    args = {"key": k, "name": name or (peer.name if peer else ""), "roles": sorted(set(roles))}
    _act(ctx, gid, ADMIT, args, f"admit {fingerprint(k)}", as_json)


@group.command("remove")
@click.argument("gid")
@click.argument("key")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def remove(ctx: click.Context, gid: str, key: str, as_json: bool) -> None:
    """Remove a member: it gets nothing new and cannot read what follows."""
    with open_node(ctx, unlock=False) as node:
        k = node_key(node, key)
    _act(ctx, gid, REMOVE, {"key": k}, f"remove {fingerprint(k)}", as_json)


@group.command("roles")
@click.argument("gid")
@click.argument("key")
@click.argument("roles", nargs=-1)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def roles(ctx: click.Context, gid: str, key: str, roles: tuple[str, ...], as_json: bool) -> None:
    """Set a member's roles to exactly ROLES (none: no roles)."""
    with open_node(ctx, unlock=False) as node:
        k = node_key(node, key)
    _act(ctx, gid, ROLES, {"key": k, "roles": sorted(set(roles))}, f"roles of {fingerprint(k)}", as_json)


@group.command("rules")
@click.argument("gid")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def rules(ctx: click.Context, gid: str, file: Path, as_json: bool) -> None:
    """Change rules: FILE is JSON, {"set": {action: rule}, "unset": [action]} or just {action: rule}."""
    data = load_json(file, "rules file")
    if not isinstance(data, dict):
        raise TequioError("the rules file holds a JSON object")
    args = data if set(data) <= {"set", "unset"} and data else {"set": data}
    _act(ctx, gid, RULES, args, "change rules", as_json)


@group.command("close")
@click.argument("proposal")
@click.option("--passed/--rejected", default=None, help="For methods where the closer decides.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def close_(ctx: click.Context, proposal: str, passed: bool | None, as_json: bool) -> None:
    """Close a proposal: count the ballots held here (or decide, for any-member / role-holder)."""
    with open_node(ctx) as node:
        scope, _, prop = find_proposal(node, proposal)
        cid, result = close(node, scope, prop.id, passed)
        st = node.governance.state(scope)
        status = st.proposals[prop.id].status if st else "?"
    if as_json:
        echo_json({"close": cid.hex(), "status": status, "result": to_json(result)})
        return
    click.echo(f"closed {prop.id.hex()[:16]} ({safe_text(prop.title)}): {status}")


COMMANDS = [group]
