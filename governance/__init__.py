"""Governance: groups, roles, rules, group keys, deterministic state and decisions.

Near-pure functions over records; never imports ``node`` or ``plugins``.
"""
