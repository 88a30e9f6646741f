"""Wire and storage formats: canonical encoding, the signed record envelope, payloads, scopes, streams.

This package imports nothing else of Tequio's; every other package builds on it.
"""

from .canonical import CanonicalError, decode, encode, normalize
from .forks import ForkProof, fork_between
from .jsonform import from_json, to_json
from .keys import fingerprint, parse_key
from .payload import BlobRef, Payload, PayloadError, is_valid_kind, parse_payload
from .reasons import RETRYABLE, Reason
from .record import DOMAIN, MAX_PAYLOAD, VERSION, Record, RecordError, make_record, parse_wire, signed_bytes
from .scopes import PUBLIC, direct_scope, group_scope, is_valid_scope, scope_target
from .stream import FrameReader, StreamError, write_stream
from .strictjson import StrictJSONError, loads_strict
from .text import TextError, check_display_text, safe_text

__all__ = [
    "DOMAIN",
    "MAX_PAYLOAD",
    "PUBLIC",
    "RETRYABLE",
    "VERSION",
    "BlobRef",
    "CanonicalError",
    "ForkProof",
    "FrameReader",
    "Payload",
    "PayloadError",
    "Reason",
    "Record",
    "RecordError",
    "StreamError",
    "StrictJSONError",
    "TextError",
    "check_display_text",
    "decode",
    "direct_scope",
    "encode",
    "fingerprint",
    "fork_between",
    "from_json",
    "group_scope",
    "is_valid_kind",
    "is_valid_scope",
    "loads_strict",
    "make_record",
    "normalize",
    "parse_key",
    "parse_payload",
    "parse_wire",
    "safe_text",
    "scope_target",
    "signed_bytes",
    "to_json",
    "write_stream",
]
