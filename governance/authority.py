"""Who may do what under a group's current rules: the checks the fold applies and nodes ask ahead of it.

One implementation for both, so a command's refusal and every node's verdict cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from .rules import CORE_ACTIONS, ENTRENCHED, RULES, Action
from .state import GroupState

__all__ = ["action_index", "allowed", "effective_action", "rule_for"]


def action_index(extra: Iterable[Action] = ()) -> dict[str, Action]:
    """The core actions and those plugins declare, by name."""
    return {a.name: a for a in (*CORE_ACTIONS, *extra)}


def rule_for(state: GroupState, action: str, actions: Mapping[str, Action]) -> dict[str, Any]:
    """The rule in force for ``action``: the group's, else the declared default, else nobody."""
    rule = state.rules.get(action)
    if rule:
        return rule
    declared = actions.get(action)
    return dict(declared.default) if declared is not None else {"by": "nobody"}


def allowed(state: GroupState, author: bytes, action: str, actions: Mapping[str, Action]) -> str | None:
    """None if ``author`` may do ``action`` alone under ``state``'s rules, else why not."""
    if not state.is_member(author):
        return "not a member"
    rule = rule_for(state, action, actions)
    by = rule.get("by")
    if by == "member":
        return None
    if by == "role":
        return None if state.has_role(author, rule["role"]) else f"needs the role {rule['role']}"
    if by == "decision":
        return "needs a decision (open a proposal)"
    return "nobody may"


def effective_action(
    state: GroupState, action: str, args: Mapping[str, Any], actions: Mapping[str, Action]
) -> str:
    """G14. A rule change touching an entrenched rule is judged as ``group.rules.entrenched``."""
    if action != RULES:
        return action
    sets = args.get("set")
    sets = sets if type(sets) is dict else {}
    unset = args.get("unset")
    unset = [a for a in unset if type(a) is str] if type(unset) is list else []
    for a in [*sets, *unset]:
        old = rule_for(state, a, actions)
        # Unsetting restores the default, which may itself be entrenched.
        new = sets[a] if a in sets else rule_for(GroupState(state.gid, rules={}), a, actions)
        if old.get("entrenched") or (isinstance(new, dict) and new.get("entrenched")):
            return ENTRENCHED
    return RULES
