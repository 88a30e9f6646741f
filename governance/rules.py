"""Rules: which action may be done by whom — a role, any member, nobody, or a decision.

A rule is a small canonical map so that it can be signed inside records and compared byte for byte:

    {"by": "member"}
    {"by": "role", "role": "coordinator"}
    {"by": "nobody"}
    {"by": "decision", "method": "yes-no", "quorum": [2, 3], "threshold": [2, 3], "strict": False,
     "min_open_ms": 86400000}

Any rule may add ``"entrenched": True`` (changing it needs the ``group.rules.entrenched`` rule
instead of ``group.rules``) and ``"params"`` (a map a plugin reads, e.g. how many organisations
must verify evidence). Fractions are integer pairs; nothing here uses floats.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "ADMIT",
    "CLOSE_GROUP",
    "CORE_ACTIONS",
    "DEFAULT_MIN_OPEN_MS",
    "DEFAULT_RULES",
    "ENTRENCHED",
    "KEYS",
    "PROPOSE",
    "PUBLISH",
    "REMOVE",
    "ROLES",
    "RULES",
    "Action",
    "RuleError",
    "check_roles",
    "check_rule",
    "check_rules",
    "duration_text",
    "rule_text",
]

ADMIT = "group.admit"
REMOVE = "group.remove"
ROLES = "group.roles"
RULES = "group.rules"
ENTRENCHED = "group.rules.entrenched"
CLOSE_GROUP = "group.close"
PUBLISH = "group.publish"
KEYS = "group.keys"
PROPOSE = "group.propose"

_ACTION = re.compile(r"[a-z][a-z0-9_-]*(\.[a-z0-9_-]+)+")
_ROLE = re.compile(r"[a-z][a-z0-9_-]{0,31}")
MAX_ROLES = 16


class RuleError(ValueError):
    """A rule or rule set that is not well formed."""


@dataclass(frozen=True)
class Action:
    """An action a rule can govern. ``kinds``: record kinds whose publication in a group needs it."""

    name: str
    default: Mapping[str, Any]
    description: str = ""
    kinds: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        if not _ACTION.fullmatch(self.name):
            raise RuleError(f"action {self.name!r} is not '<plugin>.<name>'")
        check_rule(dict(self.default))


def _fraction(value: Any, what: str) -> None:
    if (
        type(value) is not list
        or len(value) != 2
        or any(type(v) is not int for v in value)
        or not 0 <= value[0] <= value[1]
        or value[1] < 1
    ):
        raise RuleError(f"{what} must be [numerator, denominator] with 0 <= n <= d and d >= 1")


def check_rule(rule: Any) -> None:
    """Raise RuleError unless ``rule`` is a well-formed rule map."""
    if type(rule) is not dict:
        raise RuleError("a rule is a map")
    by = rule.get("by")
    common = {"by", "entrenched", "params"}
    if by == "member" or by == "nobody":
        allowed = common
    elif by == "role":
        allowed = common | {"role"}
        if type(rule.get("role")) is not str or not _ROLE.fullmatch(rule["role"]):
            raise RuleError("a role rule names a role: lowercase letters, digits, - and _")
    elif by == "decision":
        allowed = common | {"method", "quorum", "threshold", "strict", "min_open_ms", "role"}
        if type(rule.get("method")) is not str or not re.fullmatch(r"[a-z][a-z0-9-]{0,31}", rule["method"]):
            raise RuleError("a decision rule names its method, e.g. yes-no")
        _fraction(rule.get("quorum", [0, 1]), "quorum")
        _fraction(rule.get("threshold", [1, 2]), "threshold")
        if type(rule.get("strict", False)) is not bool:
            raise RuleError("strict is true (strictly above the threshold) or false (at least)")
        if type(rule.get("min_open_ms", 0)) is not int or rule.get("min_open_ms", 0) < 0:
            raise RuleError("min_open_ms is a non-negative integer of milliseconds")
        if "role" in rule and (type(rule["role"]) is not str or not _ROLE.fullmatch(rule["role"])):
            raise RuleError("a decision's role (for the role-holder method) is a role name")
    else:
        raise RuleError("a rule's 'by' is member, role, nobody or decision")
    if not rule.keys() <= allowed:
        raise RuleError(f"unknown keys in a {by} rule: {', '.join(sorted(rule.keys() - allowed))}")
    if type(rule.get("entrenched", False)) is not bool:
        raise RuleError("entrenched is true or false")
    if "params" in rule and type(rule["params"]) is not dict:
        raise RuleError("params is a map")


def check_rules(rules: Any) -> None:
    """A rule set: a map of action name to rule."""
    if type(rules) is not dict:
        raise RuleError("rules are a map of action to rule")
    for action, rule in rules.items():
        if not _ACTION.fullmatch(action):
            raise RuleError(f"{action!r} is not an action name")
        try:
            check_rule(rule)
        except RuleError as e:
            raise RuleError(f"{action}: {e}") from None


def check_roles(roles: Any) -> None:
    if (
        type(roles) is not list
        or len(roles) > MAX_ROLES
        or any(type(r) is not str or not _ROLE.fullmatch(r) for r in roles)
        or len(set(roles)) != len(roles)
    ):
        raise RuleError(f"roles are a list of at most {MAX_ROLES} distinct role names")


def duration_text(ms: int) -> str:
    """A duration in the largest whole units people read: "1 day", "2 h 30 min", "45 s"."""
    secs = ms // 1000
    days, rest = divmod(secs, 86_400)
    hours, rest = divmod(rest, 3_600)
    mins, secs = divmod(rest, 60)
    parts = [f"{days} day" + ("s" if days != 1 else "")] if days else []
    parts += [f"{hours} h"] if hours else []
    parts += [f"{mins} min"] if mins else []
    parts += [f"{secs} s"] if secs and not days and not hours else []
    return " ".join(parts) or f"{ms} ms"


def rule_text(rule: Mapping[str, Any]) -> str:
    """The rule in words, for people."""
    by = rule.get("by")
    if by == "member":
        text = "any member"
    elif by == "nobody":
        text = "nobody"
    elif by == "role":
        text = f"a member with the role {rule['role']}"
    else:
        parts = []
        if "quorum" in rule:
            parts.append(f"quorum {rule['quorum'][0]}/{rule['quorum'][1]}")
        if "threshold" in rule:
            cmp = "more than" if rule.get("strict") else "at least"
            parts.append(f"{cmp} {rule['threshold'][0]}/{rule['threshold'][1]} yes")
        if rule.get("role"):
            parts.append(f"decided by the role {rule['role']}")
        if rule.get("min_open_ms"):
            parts.append(f"open at least {duration_text(int(rule['min_open_ms']))}")
        text = f"a decision by {rule['method']}" + (f" ({', '.join(parts)})" if parts else "")
    return text + (" [entrenched]" if rule.get("entrenched") else "")


#: How long a proposal under a default rule stays open before it may close without every elector's
#: ballot: a day, so that a member who is offline or on a slow link is asked before it is decided.
DEFAULT_MIN_OPEN_MS = 24 * 60 * 60 * 1000


def _decision(threshold: list[int], quorum: list[int], entrenched: bool = False) -> dict[str, Any]:
    rule: dict[str, Any] = {
        "by": "decision",
        "method": "yes-no",
        "quorum": quorum,
        "threshold": threshold,
        "strict": False,
        "min_open_ms": DEFAULT_MIN_OPEN_MS,
    }
    if entrenched:
        rule["entrenched"] = True
    return rule


#: The core actions and their default rules: membership and roles by a two-thirds decision,
#: rule changes by three quarters, entrenched rules and dissolving the group by four fifths. Every
#: quorum is at least two thirds, so that while a group has two members or more no single member
#: decides alone (ceil(2n/3) >= 2 for n >= 2), and every default decision stays open a day unless
#: every elector has voted.
CORE_ACTIONS: tuple[Action, ...] = (
    Action(ADMIT, _decision([2, 3], [2, 3]), "admit a member"),
    Action(REMOVE, _decision([2, 3], [2, 3]), "remove a member"),
    Action(ROLES, _decision([2, 3], [2, 3]), "set a member's roles"),
    Action(RULES, _decision([3, 4], [2, 3], entrenched=True), "change rules that are not entrenched"),
    Action(ENTRENCHED, _decision([4, 5], [3, 4], entrenched=True), "change entrenched rules"),
    Action(CLOSE_GROUP, _decision([4, 5], [3, 4], entrenched=True), "dissolve the group"),
    Action(PUBLISH, {"by": "member"}, "publish records in the group"),
    Action(KEYS, {"by": "member"}, "rotate the group key"),
    Action(PROPOSE, {"by": "member"}, "open a proposal"),
)
DEFAULT_RULES: dict[str, dict[str, Any]] = {a.name: dict(a.default) for a in CORE_ACTIONS}
