"""The governance record kinds, registered by the node itself (always on: access depends on them)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .hookspecs import hookimpl

if TYPE_CHECKING:
    from .kinds import Kind

#: The name this plugin is registered under; TEQUIO_PLUGINS cannot leave it out.
NAME = "gov"


@hookimpl
def register_kinds() -> list[Kind]:
    from tequio.governance import KIND_ACT, KIND_CLOSE, KIND_GROUP, KIND_KEYS, KIND_PROPOSAL
    from tequio.governance.models import ActBody, CloseBody, GroupBody, KeysBody, ProposalBody, WelcomeBody

    from .kinds import Kind

    return [
        Kind(KIND_GROUP, GroupBody, "The genesis of a group: name, members, rules."),
        Kind(KIND_KEYS, KeysBody, "An epoch key sealed to each member of a group."),
        Kind(KIND_ACT, ActBody, "An action a member may take alone (by role or membership)."),
        Kind(KIND_PROPOSAL, ProposalBody, "A question or action put to a group's decision."),
        Kind(KIND_CLOSE, CloseBody, "The close of a proposal: counted ballots and result."),
        Kind("gov.welcome", WelcomeBody, "Earlier epoch keys of a group, sent directly to a new member."),
    ]
