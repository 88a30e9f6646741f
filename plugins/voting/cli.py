"""``tequio vote``: propose, cast, close, show, list, and the offline tally."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from typing import Any

import click

from tequio.governance import (
    ADMIT,
    REMOVE,
    ROLES,
    RULES,
    GroupState,
    Proposal,
    effective_action,
    rule_for,
    rule_text,
)
from tequio.node import (
    Node,
    TequioError,
    close,
    close_window_text,
    earliest_close,
    find_proposal,
    group_state,
    propose,
)
from tequio.node.cli import echo_json, json_option, open_node
from tequio.schemas import fingerprint, to_json

from .ballot_io import cast
from .decision import VotingMethod
from .methods import METHODS, TallyError
from .tally_cli import tally_command

__all__ = ["vote"]

_RANKED = {"irv", "schulze", "borda", "copeland", "ranked-pairs"}


def parse_choice(method: str, text: str) -> Any:
    """A ballot choice from the command line: JSON, or the short forms of each method."""
    t = text.strip()
    if t[:1] in '[{"':
        try:
            return json.loads(t)
        except json.JSONDecodeError as e:
            raise click.BadParameter(f"not JSON: {e.msg}", param_hint="CHOICE") from None
    if method in ("yes-no", "consent"):
        word, _, reason = t.partition(":")
        if word == "object" and reason.strip():
            return {"object": reason.strip()}
        return word
    if method in _RANKED:
        return [p.strip() for p in re.split(r"[>,]", t) if p.strip()]
    if method == "approval":
        return [p.strip() for p in t.split(",") if p.strip()]
    if method == "score":
        out: dict[str, int] = {}
        for part in t.split(","):
            name, eq, value = part.partition("=")
            if not eq or not re.fullmatch(r"-?\d+", value.strip()):
                raise click.BadParameter("score ballots look like A=3,B=5", param_hint="CHOICE")
            out[name.strip()] = int(value)
        return out
    return t


def _when(text: str | None, now: int) -> int | None:
    """``--closes``: an ISO date-time, or a duration from now such as 2h or 3d."""
    if text is None:
        return None
    m = re.fullmatch(r"\s*(\d+)\s*([mhdw])\s*", text.lower())
    if m:
        return (
            now
            + int(m.group(1)) * {"m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}[m.group(2)]
        )
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        raise click.BadParameter(
            "a duration (30m, 2h, 3d) or an ISO date-time", param_hint="--closes"
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return int(when.timestamp() * 1000)


def _closes(text: str | None, now: int) -> int | None:
    ms = _when(text, now)
    if ms is not None and not now < ms < 2**62:
        raise click.BadParameter(
            "a time in the future: a duration (30m, 2h, 3d) or an ISO date-time", param_hint="--closes"
        )
    return ms


def _action(node: Node, text: str) -> dict[str, Any]:
    """``--action admit=KEY[:NAME]``, ``remove=KEY``, ``roles=KEY:ROLE,ROLE``, ``rules=FILE``."""
    from tequio.node.cli import load_json, node_key

    kind, eq, arg = text.partition("=")
    if not eq or not arg:
        raise click.BadParameter(
            "admit=KEY[:NAME], remove=KEY, roles=KEY:ROLES or rules=FILE", param_hint="--action"
        )
    if kind == "admit":
        key, _, name = arg.partition(":")
        return {"action": ADMIT, "args": {"key": node_key(node, key), "name": name, "roles": []}}
    if kind == "remove":
        return {"action": REMOVE, "args": {"key": node_key(node, arg)}}
    if kind == "roles":
        key, _, roles = arg.partition(":")
        return {
            "action": ROLES,
            "args": {"key": node_key(node, key), "roles": sorted({r for r in roles.split(",") if r})},
        }
    if kind == "rules":
        data = load_json(Path(arg), "rules file")
        if not isinstance(data, dict):
            raise TequioError("the rules file holds a JSON object")
        return {"action": RULES, "args": data if data and set(data) <= {"set", "unset"} else {"set": data}}
    raise click.BadParameter(f"unknown action {kind!r}", param_hint="--action")


@click.group()
def vote() -> None:
    """Proposals, ballots and tallies that every node recomputes."""


vote.add_command(tally_command, "tally")


@vote.command("propose")
@click.argument("gid")
@click.option("--title", required=True, help="What is being decided.")
@click.option("--text", default="", help="The proposal in full.")
@click.option("--method", help=f"One of {', '.join(METHODS)} (with --action the group's rule decides it).")
@click.option("--option", "options", multiple=True, help="An option to choose among (repeatable).")
@click.option("--closes", help="When it may close: a duration (2h, 3d) or an ISO date-time.")
@click.option(
    "--action", help="What it does if it passes: admit=KEY[:NAME], remove=KEY, roles=KEY:R,R, rules=FILE."
)
@click.option("--quorum", metavar="N/D", help="Share of the electorate that must vote (without --action).")
@click.option("--threshold", metavar="N/D", help="yes-no: share of yes among yes+no (without --action).")
@click.option("--at-least", is_flag=True, help="yes-no: pass at the threshold, not only above it.")
@click.option("--hidden", is_flag=True, help="Ballots stay sealed until the close reveals them.")
@json_option
@click.pass_context
def propose_cmd(
    ctx: click.Context,
    gid: str,
    title: str,
    text: str,
    method: str | None,
    options: tuple[str, ...],
    closes: str | None,
    action: str | None,
    quorum: str | None,
    threshold: str | None,
    at_least: bool,
    hidden: bool,
    as_json: bool,
) -> None:
    """Open a proposal in the group GID."""
    from .tally_cli import _fraction

    with open_node(ctx) as node:
        scope, st = group_state(node, gid)
        closes_at = _closes(closes, node.clock())
        if action is not None:
            act = _action(node, action)
            actions = node.plugins.action_index()
            rule = rule_for(st, effective_action(st, act["action"], act["args"], actions), actions)
            if rule.get("by") != "decision":
                raise TequioError(
                    f"{act['action']} is not decided by vote in this group ({rule_text(rule)}):"
                    " use 'tequio group'"
                )
            if method and method != rule["method"]:
                raise TequioError(
                    f"the group's rule decides {act['action']} by {rule['method']}, not {method}"
                )
            pid = propose(node, scope, title, text, action=act, closes_at=closes_at, hidden=hidden)
        else:
            if not method:
                raise click.UsageError("give --method (or --action, whose rule names the method)")
            if method not in METHODS:
                raise click.BadParameter(f"one of {', '.join(METHODS)}", param_hint="--method")
            if method not in ("yes-no", "consent") and len(options) < 2:
                raise click.UsageError(f"{method} chooses among options: give at least two --option")
            params: dict[str, Any] = {}
            for key, value in (
                ("quorum", _fraction("--quorum", quorum)),
                ("threshold", _fraction("--threshold", threshold)),
            ):
                if value is not None:
                    params[key] = value
            if at_least:
                params["strict"] = False
            from .methods import tally as count

            try:  # a proposal nobody could vote on is refused before anything is signed
                count(method, [], options=list(options) or None, electorate=len(st.members), params=params)
            except TallyError as e:
                raise click.UsageError(f"{method}: {e}") from None
            pid = propose(
                node,
                scope,
                title,
                text,
                method=method,
                options=options,
                params=params,
                closes_at=closes_at,
                hidden=hidden,
            )
        opened = node.governance.state(scope)
        prop = opened.proposals.get(pid) if opened is not None else None
    if as_json:
        data: dict[str, Any] = {"id": pid.hex(), "scope": scope}
        if prop is not None:
            data |= {"rule": to_json(dict(prop.rule)), "earliest_close_ms": earliest_close(prop)}
        echo_json(data)
    else:
        click.echo(f"opened proposal {pid.hex()}  in {st.name}")
        if prop is not None:
            click.echo(f"  {close_window_text(prop)}")
        if hidden:
            click.echo("  ballots stay sealed until you close it (only this node can)")


@vote.command("cast")
@click.argument("proposal")
@click.argument("choice")
@json_option
@click.pass_context
def cast_cmd(ctx: click.Context, proposal: str, choice: str, as_json: bool) -> None:
    """Vote on PROPOSAL.

    CHOICE: yes, no, abstain, object:REASON, A>B>C (ranked), A,B (approval), A (plurality),
    A=3,B=5 (score), or JSON.
    """
    with open_node(ctx) as node:
        scope, _, prop = find_proposal(node, proposal)
        rec = cast(node, scope, prop, parse_choice(prop.method, choice))
    if as_json:
        echo_json({"id": rec.hex()})
    else:
        click.echo(f"cast ballot {rec.hex()[:16]} on {prop.title!r}{' (sealed)' if prop.seal_key else ''}")


@vote.command("close")
@click.argument("proposal")
@json_option
@click.pass_context
def close_cmd(ctx: click.Context, proposal: str, as_json: bool) -> None:
    """Close PROPOSAL, counting every ballot this node holds; every node recomputes the result."""
    with open_node(ctx) as node:
        scope, _, prop = find_proposal(node, proposal)
        cid, result = close(node, scope, prop.id)
        st = node.governance.state(scope)
        status = st.proposals[prop.id].status if st else "?"
    if as_json:
        echo_json({"close": cid.hex(), "status": status, "result": to_json(result)})
        return
    winners = ", ".join(result.get("winners") or []) or "-"
    click.echo(f"closed {prop.title!r}: {status}; winners: {winners}")


def proposal_json(node: Node, st: GroupState, p: Proposal) -> dict[str, Any]:
    """The view ``vote show --json`` prints: status, electorate, turnout, result and its explanation."""
    out: dict[str, Any] = {
        "id": p.id.hex(),
        "title": p.title,
        "text": p.text,
        "group": st.gid.hex(),
        "method": p.method,
        "options": list(p.options),
        "action": to_json(p.action) if p.action else None,
        "rule": to_json(p.rule),
        "hidden": p.seal_key is not None,
        "status": p.status,
        "proposer": p.author.hex(),
        "opened": p.ts,
        "closes_at": p.closes_at,
        "electorate": [
            {"key": k.hex(), "name": st.members[k].name if k in st.members else "", "voted": k in p.ballots}
            for k in p.electorate
        ],
        "turnout": {"voted": len(p.ballots), "electorate": len(p.electorate)},
        "excluded": [{"ballot": b.hex(), "why": why} for b, why in sorted(p.excluded.items())],
        "result": to_json(p.result) if p.result is not None else None,
    }
    if p.status == "open" and p.seal_key is None and p.method in METHODS and p.ballots:
        try:
            t = p.tally()
            ballots = [(v, p.ballots[v][2]) for v in sorted(p.ballots)]
            out["provisional"] = to_json(VotingMethod(p.method).result(ballots, t))
        except (TallyError, ValueError):
            pass
    return out


@vote.command("show")
@click.argument("proposal")
@json_option
@click.pass_context
def show_cmd(ctx: click.Context, proposal: str, as_json: bool) -> None:
    """Status, electorate, turnout and the result with its explanation."""
    with open_node(ctx, unlock=True) as node:
        _, st, prop = find_proposal(node, proposal)
        data = proposal_json(node, st, prop)
    if as_json:
        echo_json(data)
        return
    click.echo(f"{data['title']}  [{data['method']}{', hidden' if data['hidden'] else ''}]  {data['status']}")
    if data["text"]:
        click.echo(f"  {data['text']}")
    if prop.action:
        click.echo(f"  if it passes: {prop.action['action']}")
    click.echo(f"  rule: {rule_text(prop.rule)}")
    t = data["turnout"]
    click.echo(f"turnout {t['voted']} of {t['electorate']}:")
    for e in data["electorate"]:
        click.echo(f"  {'x' if e['voted'] else ' '} {fingerprint(bytes.fromhex(e['key']))}  {e['name']}")
    for ex in data["excluded"]:
        click.echo(f"  excluded ballot {ex['ballot'][:16]}: {ex['why']}")
    shown = data["result"] or data.get("provisional")
    if shown:
        label = "result" if data["result"] else "so far"
        winners = ", ".join(shown.get("winners") or []) or "-"
        click.echo(f"{label}: winners {winners}; passed {shown.get('passed')}")
        if shown.get("ranking"):
            click.echo(f"  ranking: {' > '.join(shown['ranking'])}")
        click.echo("  explanation: " + json.dumps(shown.get("explanation"), ensure_ascii=False))


@vote.command("list")
@click.argument("gid")
@json_option
@click.pass_context
def list_cmd(ctx: click.Context, gid: str, as_json: bool) -> None:
    """The group's proposals, open ones first."""
    with open_node(ctx, unlock=True) as node:
        _, st = group_state(node, gid)
        items: list[dict[str, Any]] = [
            {
                "id": p.id.hex(),
                "title": p.title,
                "method": p.method,
                "status": p.status,
                "voted": len(p.ballots),
                "electorate": len(p.electorate),
            }
            for p in sorted(st.proposals.values(), key=lambda p: (p.status != "open", p.ts, p.id))
        ]
    if as_json:
        echo_json(items)
        return
    for it in items:
        turnout = f"{it['voted']}/{it['electorate']}"
        click.echo(f"{it['id'][:16]}  {it['status']:<8} {it['method']:<12} {turnout}  {it['title']}")
    if not items:
        click.echo("no proposals", err=True)
