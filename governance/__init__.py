"""Governance: groups, roles, rules, group keys and encryption, deterministic state, decisions.

Near-pure functions over records: nothing here touches a store, a clock or the network; the node
(``node.governance``) feeds the records in and acts on the state that comes out.
"""

from typing import TYPE_CHECKING, Any

from .authority import action_index, allowed, effective_action, rule_for
from .crypto import (
    CryptoError,
    Envelope,
    decode_key_box,
    decrypt_blob,
    encode_key_box,
    encrypt_blob,
    group_id,
    is_envelope,
    key_commitment,
    open_direct,
    open_group,
    open_sealed,
    parse_envelope,
    seal_direct,
    seal_group,
    seal_to,
    x25519_base,
    x25519_public,
)
from .fold import (
    BALLOT,
    FOLDED_KINDS,
    GOV_KINDS,
    KIND_ACT,
    KIND_CLOSE,
    KIND_GROUP,
    KIND_KEYS,
    KIND_PROPOSAL,
    fold,
)
from .hidden import open_hidden
from .methods import CORE_METHODS, DecisionMethod, MethodError, Tally, TrivialMethod
from .rules import (
    ADMIT,
    CLOSE_GROUP,
    CORE_ACTIONS,
    DEFAULT_MIN_OPEN_MS,
    DEFAULT_RULES,
    ENTRENCHED,
    KEYS,
    PROPOSE,
    PUBLISH,
    REMOVE,
    ROLES,
    RULES,
    Action,
    RuleError,
    check_rule,
    check_rules,
    duration_text,
    rule_text,
)
from .state import GovRecord, GroupState, Member, Proposal

if TYPE_CHECKING:
    from .models import BallotBody

__all__ = [
    "ADMIT",
    "BALLOT",
    "CLOSE_GROUP",
    "CORE_ACTIONS",
    "CORE_METHODS",
    "DEFAULT_MIN_OPEN_MS",
    "DEFAULT_RULES",
    "ENTRENCHED",
    "FOLDED_KINDS",
    "GOV_KINDS",
    "KEYS",
    "KIND_ACT",
    "KIND_CLOSE",
    "KIND_GROUP",
    "KIND_KEYS",
    "KIND_PROPOSAL",
    "PROPOSE",
    "PUBLISH",
    "REMOVE",
    "ROLES",
    "RULES",
    "Action",
    "BallotBody",
    "CryptoError",
    "DecisionMethod",
    "Envelope",
    "GovRecord",
    "GroupState",
    "Member",
    "MethodError",
    "Proposal",
    "RuleError",
    "Tally",
    "TrivialMethod",
    "action_index",
    "allowed",
    "check_rule",
    "check_rules",
    "decode_key_box",
    "decrypt_blob",
    "duration_text",
    "effective_action",
    "encode_key_box",
    "encrypt_blob",
    "fold",
    "group_id",
    "is_envelope",
    "key_commitment",
    "open_direct",
    "open_group",
    "open_hidden",
    "open_sealed",
    "parse_envelope",
    "rule_for",
    "rule_text",
    "seal_direct",
    "seal_group",
    "seal_to",
    "x25519_base",
    "x25519_public",
]


def __getattr__(name: str) -> Any:
    """The body models load on first use: the fold itself needs no pydantic."""
    if name == "BallotBody":
        from .models import BallotBody

        return BallotBody
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
