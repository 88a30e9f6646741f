"""The evidence plugin's public functions: what other plugins (intake), the demo and tests may call.

Everything an organisation does with evidence, as functions of a ``Node``: take files in, share and
transfer them, review, clear, redact, acknowledge, take files out, export and check court packages.
Items are named by their original's SHA-256 (``sha``) in these calls; ``item_id`` gives the one id
every node shows for an item.
"""

from __future__ import annotations

from .custody import (
    add_to_incident,
    chain,
    create_incident,
    current_working,
    extract,
    find_incident,
    fixity,
    incident_items,
    incidents,
)
from .export import export
from .index import EvidenceError, indexed, item_id, items, my_intake, my_items, org, resolve, role_refs
from .intake import Intake, intake
from .package import CheckReport, check_package
from .review import Verification, review, verification
from .sharing import (
    ack,
    check_may_leave,
    clear,
    is_cleared,
    redact,
    safety_flags,
    share,
    working_not_stripped,
)

__all__ = [
    "CheckReport",
    "EvidenceError",
    "Intake",
    "Verification",
    "ack",
    "add_to_incident",
    "chain",
    "check_may_leave",
    "check_package",
    "clear",
    "create_incident",
    "current_working",
    "export",
    "extract",
    "find_incident",
    "fixity",
    "incident_items",
    "incidents",
    "indexed",
    "intake",
    "is_cleared",
    "item_id",
    "items",
    "my_intake",
    "my_items",
    "org",
    "redact",
    "resolve",
    "review",
    "role_refs",
    "safety_flags",
    "share",
    "verification",
    "working_not_stripped",
]
