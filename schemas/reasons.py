"""The stable reason codes of the ingest pipeline, in the order its checks run (protocol.md section 5)."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["RETRYABLE", "Reason"]


class Reason(StrEnum):
    """Why a record was not accepted; the string values are part of the protocol."""

    MALFORMED = "malformed"
    UNSUPPORTED_VERSION = "unsupported-version"
    TOO_LARGE = "too-large"
    BAD_SCOPE = "bad-scope"
    BAD_PAYLOAD_HASH = "bad-payload-hash"
    BAD_SIGNATURE = "bad-signature"
    BAD_CHAIN = "bad-chain"
    DUPLICATE = "duplicate"
    GAP = "gap"
    FORK = "fork"
    NOT_PERMITTED = "not-permitted"
    UNDECRYPTABLE = "undecryptable"
    INVALID_BODY = "invalid-body"


#: Reasons that may succeed later without the record changing (its predecessor or key may still arrive).
RETRYABLE = frozenset({Reason.GAP, Reason.UNDECRYPTABLE})
