"""Casting a ballot: a ``vote.ballot`` record in the group, sealed when the vote is hidden (G17)."""

from __future__ import annotations

from typing import Any

from nacl.public import PublicKey, SealedBox

from tequio.governance import BALLOT, Proposal
from tequio.node import Node, TequioError
from tequio.schemas import encode, normalize

from .decision import VotingMethod
from .methods import METHODS

__all__ = ["cast"]


def cast(node: Node, scope: str, prop: Proposal, choice: Any) -> bytes:
    """Publish this node's ballot; a later one supersedes it. Returns the ballot's record id."""
    if prop.status != "open":
        raise TequioError(f"the proposal is {prop.status}: ballots after the close are not counted")
    if node.key not in prop.electorate:
        raise TequioError("this node is not in the proposal's electorate (members when it opened)")
    if prop.method not in METHODS:
        raise TequioError(f"the method {prop.method!r} takes no ballots here")
    t = prop.tally()
    why = VotingMethod(prop.method).check_choice(choice, t)
    if why is not None:
        raise TequioError(f"not a valid ballot for {prop.method}: {why}")
    body: dict[str, Any] = {"proposal": prop.id}
    if prop.seal_key is not None:
        body["sealed"] = SealedBox(PublicKey(prop.seal_key)).encrypt(encode(normalize(choice)))
    else:
        body["choice"] = choice
    rec = node.publish(BALLOT, body, scope=scope, refs=node.governance.heads(scope))
    return rec.id
