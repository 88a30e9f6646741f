"""What the node says to people in the page's language: rules in plain words, actions, the node's messages.

The node's own errors are English sentences (the CLI prints them); here each known one is matched by
a pattern and shown from the catalog with its details filled in. One the table does not know is
shown as it is, after a translated lead, so nothing is hidden from the person.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from .i18n import N_, _, gettext, ngettext

__all__ = ["ACTION_NAMES", "action_name", "message", "rule_words", "status_name"]

ACTION_NAMES: dict[str, str] = {
    "group.admit": N_("admit a member"),
    "group.remove": N_("remove a member"),
    "group.roles": N_("change a member's roles"),
    "group.rules": N_("change the rules"),
    "group.rules.entrenched": N_("change entrenched rules"),
    "group.close": N_("dissolve the coalition"),
    "group.publish": N_("publish records in the coalition"),
    "group.keys": N_("rotate the coalition's key"),
    "group.propose": N_("open a proposal"),
    "evidence.verify": N_("count as a verifying organisation"),
    "evidence.clear": N_("clear flagged evidence for sharing"),
}

METHOD_NAMES: dict[str, str] = {
    "yes-no": N_("a yes/no vote"),
    "consent": N_("consent (passes unless someone objects)"),
    "approval": N_("approval voting"),
    "plurality": N_("plurality"),
    "score": N_("score voting"),
    "irv": N_("instant-runoff"),
    "schulze": N_("Schulze (ranked)"),
    "borda": N_("Borda count"),
    "copeland": N_("Copeland (ranked)"),
    "ranked-pairs": N_("ranked pairs"),
    "any-member": N_("any member decides"),
    "role-holder": N_("a role holder decides"),
}

ROLE_NAMES = (N_("reader"), N_("member"), N_("admin"))
PEER_STATES = (N_("trusted"), N_("slowed"), N_("quarantined"), N_("blocked"))

STATUS_NAMES: dict[str, str] = {
    "open": N_("open"),
    "passed": N_("passed"),
    "rejected": N_("rejected"),
    "decided": N_("decided"),
    "unreviewed": N_("unreviewed"),
    "in-progress": N_("in progress"),
    "verified": N_("verified"),
    "disputed": N_("disputed"),
    "false": N_("false"),
    "inconclusive": N_("inconclusive"),
}


def action_name(action: str) -> str:
    return gettext(ACTION_NAMES[action]) if action in ACTION_NAMES else action


def method_name(method: str) -> str:
    return gettext(METHOD_NAMES[method]) if method in METHOD_NAMES else method


def status_name(status: str) -> str:
    m = re.fullmatch(r"(\d+) of (\d+) verified", status)
    if m:
        return _("%(n)s of %(m)s verified", n=m.group(1), m=m.group(2))
    return gettext(STATUS_NAMES[status]) if status in STATUS_NAMES else status


def _fraction(f: Any) -> str:
    if isinstance(f, list) and len(f) == 2 and all(isinstance(x, int) for x in f):
        words = {
            (1, 2): N_("half"),
            (2, 3): N_("two thirds"),
            (3, 4): N_("three quarters"),
            (4, 5): N_("four fifths"),
            (1, 1): N_("all"),
        }
        if (f[0], f[1]) in words:
            return gettext(words[(f[0], f[1])])
        return f"{f[0]}/{f[1]}"
    return "?"


def rule_words(rule: Mapping[str, Any]) -> str:
    """A rule in plain language: "a vote of the members (a yes/no vote): at least two thirds yes, ..."."""
    by = rule.get("by")
    if by == "member":
        text = _("any member may do it")
    elif by == "nobody":
        text = _("nobody may do it")
    elif by == "role":
        text = _("a member with the role %(role)s may do it", role=rule.get("role", "?"))
    elif by == "decision":
        parts = []
        if "threshold" in rule:
            if rule.get("strict"):
                parts.append(_("more than %(share)s yes", share=_fraction(rule["threshold"])))
            else:
                parts.append(_("at least %(share)s yes", share=_fraction(rule["threshold"])))
        if "quorum" in rule and rule["quorum"] != [0, 1]:
            parts.append(_("%(share)s of the members voting", share=_fraction(rule["quorum"])))
        if rule.get("role"):
            parts.append(_("decided by the role %(role)s", role=rule["role"]))
        ms = rule.get("min_open_ms") or 0
        if ms:
            days, rest = divmod(int(ms), 86_400_000)
            if days and not rest:
                parts.append(
                    ngettext("open at least %(num)d day", "open at least %(num)d days", days) % {"num": days}
                )
            else:
                hours = max(1, int(ms) // 3_600_000)
                parts.append(
                    ngettext("open at least %(num)d hour", "open at least %(num)d hours", hours)
                    % {"num": hours}
                )
        text = _("a vote of the members, by %(method)s", method=method_name(str(rule.get("method"))))
        if parts:
            text += ": " + ", ".join(parts)
    else:
        text = _("an unknown rule")
    if rule.get("entrenched"):
        text += " " + _("(entrenched: changing it needs a larger majority)")
    return text


# (pattern, msgid with %(name)s for each group): the node's messages people meet in the pages.
_MESSAGES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(p), m)
    for p, m in (
        (r"that node is already a member", N_("that organisation is already a member")),
        (r"that node is not a member", N_("that organisation is not a member")),
        (r"this node is not a member of that group", N_("this node is not a member of that coalition")),
        (
            r"nobody may (?P<action>\S+) in this group",
            N_("nobody may do that in this coalition (%(action)s)"),
        ),
        (
            r"(?P<action>\S+) needs the role (?P<role>\S+), which this node does not hold",
            N_("%(action)s needs the role %(role)s, which this organisation does not hold"),
        ),
        (
            r"every node would ignore that(?: proposal| close)?: (?P<why>.*)",
            N_("every node would ignore that: %(why)s"),
        ),
        (
            r"the proposal is (?P<status>\w+): ballots after the close are not counted",
            N_("the proposal is already closed (%(status)s): ballots after the close are not counted"),
        ),
        (
            r"this node is not in the proposal's electorate.*",
            N_("this organisation was not a member when the proposal opened, so it cannot vote on it"),
        ),
        (
            r"not a valid ballot for (?P<method>\S+): (?P<why>.*)",
            N_("not a valid ballot (%(method)s): %(why)s"),
        ),
        (r"the proposal is already (?P<status>\w+)", N_("the proposal is already %(status)s")),
        (
            r"only the node that opened a hidden vote can close it.*",
            N_("only the organisation that opened a secret vote can close it"),
        ),
        (
            r"the ballots cannot be counted by (?P<method>\S+): (?P<why>.*)",
            N_("the ballots cannot be counted (%(method)s): %(why)s"),
        ),
        (
            r"this item cannot leave this node: (?P<flags>.*?)\. A member with the .*",
            N_("this item cannot leave this node: %(flags)s. It must be cleared first."),
        ),
        (r"faces of people at risk are visible", N_("faces of people at risk are visible")),
        (r"consent is '(?P<consent>\w+)', not 'yes'", N_("consent is “%(consent)s”, not “yes”")),
        (
            r"only the organisation that took the item in can (?P<what>\w+).*",
            N_("only the organisation that took the item in can do that"),
        ),
        (
            r"the item is shared in several groups.*",
            N_("the item is shared in several coalitions: choose one"),
        ),
        (
            r"this node holds no copy of that item it can review",
            N_("this node holds no copy of that item it can review"),
        ),
        (r"rules: (?P<why>.*)", N_("the rules are not valid: %(why)s")),
        (r"roles: (?P<why>.*)", N_("the roles are not valid: %(why)s")),
        (
            r"a member is a 32-byte node key \(64 hex\)",
            N_("a member is a node key of 64 hexadecimal characters"),
        ),
        (r"(?P<key>[0-9a-f]{64}) is not a valid node key", N_("%(key)s is not a valid node key")),
        (r"no known peer matches (?P<what>.*)", N_("no known peer matches %(what)s")),
        (r"invite expired.*", N_("the invite has expired: ask for a new one")),
        (r".*not an invite.*|.*invite code.*", N_("that is not a valid invite code")),
        (r"this is this node's own invite", N_("this is this node's own invite")),
    )
]


# The rules of docs/governance.md by number: a reason the fold or ingest gives ("G7: the key is not
# sealed to exactly the members") is shown with its rule's name in the page's language, then its detail.
RULE_NAMES: dict[str, str] = {
    "G1": N_("waiting for earlier records"),
    "G2": N_("order"),
    "G3": N_("how a coalition starts"),
    "G4": N_("authority when the record was written"),
    "G5": N_("authority now"),
    "G6": N_("before the start or after the end"),
    "G7": N_("keys go to exactly the members"),
    "G8": N_("acts"),
    "G9": N_("proposals"),
    "G10": N_("ballots"),
    "G11": N_("who closes, and when"),
    "G12": N_("the tally"),
    "G13": N_("effect"),
    "G14": N_("entrenched rules"),
    "G15": N_("key epochs"),
    "G16": N_("concurrent conflicts"),
    "G17": N_("secret ballots"),
    "E5": N_("only members write in a coalition"),
    "E6": N_("a removed member's later records"),
}
_RULE = re.compile(r"(?P<code>[GE]\d{1,2}): (?P<detail>.+)")


def _ruled(piece: str) -> str | None:
    m = _RULE.fullmatch(piece)
    if m is None or m.group("code") not in RULE_NAMES:
        return None
    code = m.group("code")
    return _(
        "rule %(code)s (%(name)s): %(detail)s",
        code=code,
        name=gettext(RULE_NAMES[code]),
        detail=m.group("detail"),
    )


def _known(piece: str) -> str | None:
    for pattern, msgid in _MESSAGES:
        m = pattern.fullmatch(piece)
        if m:
            values = {
                k: "; ".join(_known(x) or x for x in v.split("; ")) if k in ("why", "flags") else v
                for k, v in m.groupdict().items()
            }
            return gettext(msgid) % values if values else gettext(msgid)
    return _ruled(piece)


def message(text: str) -> str:
    """A message the node produced, in the page's language (a known one), else after a translated lead."""
    t = " ".join(str(text).split())
    whole = _known(t)
    if whole is not None:
        return whole
    pieces = t.split("; ")
    known = [_known(p) for p in pieces]
    if all(k is None for k in known):
        return _("The node says: %(text)s", text=t)
    return "; ".join(k if k is not None else p for k, p in zip(known, pieces, strict=True))
