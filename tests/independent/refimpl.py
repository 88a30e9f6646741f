"""Independent reference implementation of the Tequio record format, written from docs/protocol.md only.

Standard library plus `cryptography` (Ed25519 signing, and the final equation of verification). Section
numbers in comments refer to docs/protocol.md.
"""

from __future__ import annotations

import base64
import hashlib
import re
import struct

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

MAX_DEPTH = 32  # section 2 rule 7: a top-level array counts as one; 32 deep is accepted, 33 refused
MAX_PAYLOAD = 65_536  # section 3 / step 3
STREAM_VALUE_LIMIT = 1 << 20  # section 7: values up to 1,048,576 bytes are read; longer stops the stream
DOMAIN = b"tequio/record/v1\n"
FINGERPRINT_DOMAIN = b"tequio/fingerprint/v1\n"
HEX_RE = re.compile(r"(?:[0-9a-f]{2})*")  # section 1: lowercase, two characters per byte
INT_MIN, INT_MAX = -(2**63), 2**64 - 1
SEQ_MAX = TS_MAX = 2**63 - 1


class Malformed(ValueError):
    """Any decoding failure. For streams: `index` is where reading stopped, `values` what was cut before."""

    def __init__(self, message: str, index: int | None = None, values: list[bytes] | None = None):
        super().__init__(message)
        self.index = index
        self.values = values or []


class Rejected(Exception):
    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def H(data: bytes) -> bytes:  # the spec's name
    return hashlib.sha256(data).digest()


# ---------------------------------------------------------------- section 2: canonical msgpack


def _is_int(v) -> bool:
    return type(v) is int  # bool is a subclass of int in Python, but a different msgpack type


def encode(value) -> bytes:
    out = bytearray()
    _encode(value, out, 0)
    return bytes(out)


def _sized(out: bytearray, n: int, fix_base: int | None, fix_max: int, codes: tuple[int, int, int]) -> None:
    """Header for str/bin/array/map: fix form if any, else the 8/16/32-bit form (8 may be absent)."""
    c8, c16, c32 = codes
    if fix_base is not None and n <= fix_max:
        out.append(fix_base | n)
    elif c8 is not None and n <= 0xFF:
        out += bytes((c8, n))
    elif n <= 0xFFFF:
        out += bytes((c16,)) + struct.pack(">H", n)
    elif n <= 0xFFFFFFFF:
        out += bytes((c32,)) + struct.pack(">I", n)
    else:
        raise ValueError("length does not fit 32 bits")


def _encode(v, out: bytearray, depth: int) -> None:
    if v is None:
        out.append(0xC0)
    elif v is False:
        out.append(0xC2)
    elif v is True:
        out.append(0xC3)
    elif _is_int(v):
        if not INT_MIN <= v <= INT_MAX:
            raise ValueError(f"integer out of range: {v}")
        if 0 <= v <= 0x7F:
            out.append(v)
        elif -32 <= v < 0:
            out.append(v & 0xFF)  # negative fixint 0xe0..0xff
        elif v >= 0:  # never a signed type for a non-negative value
            for code, fmt, top in ((0xCC, ">B", 0xFF), (0xCD, ">H", 0xFFFF), (0xCE, ">I", 0xFFFFFFFF)):
                if v <= top:
                    out += bytes((code,)) + struct.pack(fmt, v)
                    return
            out += b"\xcf" + struct.pack(">Q", v)
        else:
            for code, fmt, bits in ((0xD0, ">b", 8), (0xD1, ">h", 16), (0xD2, ">i", 32)):
                if v >= -(2 ** (bits - 1)):
                    out += bytes((code,)) + struct.pack(fmt, v)
                    return
            out += b"\xd3" + struct.pack(">q", v)
    elif isinstance(v, str):
        raw = v.encode("utf-8")  # lone surrogates raise UnicodeEncodeError (a ValueError)
        _sized(out, len(raw), 0xA0, 31, (0xD9, 0xDA, 0xDB))
        out += raw
    elif isinstance(v, (bytes, bytearray, memoryview)):
        raw = bytes(v)
        _sized(out, len(raw), None, -1, (0xC4, 0xC5, 0xC6))
        out += raw
    elif isinstance(v, (list, tuple)):
        if depth + 1 > MAX_DEPTH:
            raise ValueError("nesting deeper than 32")
        _sized(out, len(v), 0x90, 15, (None, 0xDC, 0xDD))
        for item in v:
            _encode(item, out, depth + 1)
    elif isinstance(v, dict):
        if depth + 1 > MAX_DEPTH:
            raise ValueError("nesting deeper than 32")
        if not all(isinstance(k, str) for k in v):
            raise TypeError("map keys must be text")
        # Bytewise order of the UTF-8 keys; Python bytes comparison is "shortest first on a common prefix".
        entries = sorted((k.encode("utf-8"), k) for k in v)
        _sized(out, len(entries), 0x80, 15, (None, 0xDE, 0xDF))
        for raw, key in entries:
            _sized(out, len(raw), 0xA0, 31, (0xD9, 0xDA, 0xDB))
            out += raw
            _encode(v[key], out, depth + 1)
    else:
        raise TypeError(f"not a Tequio value: {type(v).__name__}")


def decode(data: bytes):
    """Strict decode: one value, no trailing bytes, and re-encoding must reproduce the input exactly."""
    data = bytes(data)
    value, end = _decode(data, 0, 0)
    if end != len(data):
        raise Malformed(f"{len(data) - end} trailing bytes")
    try:
        again = encode(value)
    except (TypeError, ValueError) as e:  # cannot happen for values _decode builds; kept for safety
        raise Malformed(f"not encodable: {e}") from None
    if again != data:
        raise Malformed("not canonical (re-encoding differs)")
    return value


def _take(data: bytes, pos: int, n: int) -> tuple[bytes, int]:
    if n > len(data) - pos:
        raise Malformed("truncated")
    return data[pos : pos + n], pos + n


def _uint(data: bytes, pos: int, size: int) -> tuple[int, int]:
    raw, pos = _take(data, pos, size)
    return int.from_bytes(raw, "big"), pos


def _decode(data: bytes, pos: int, depth: int):
    if pos >= len(data):
        raise Malformed("truncated")
    b = data[pos]
    pos += 1
    if b <= 0x7F:
        return b, pos
    if b >= 0xE0:
        return b - 0x100, pos
    if 0xA0 <= b <= 0xBF or 0xD9 <= b <= 0xDB:
        n, pos = (b & 0x1F, pos) if b <= 0xBF else _uint(data, pos, 1 << (b - 0xD9))
        raw, pos = _take(data, pos, n)
        try:
            return raw.decode("utf-8"), pos
        except UnicodeDecodeError:
            raise Malformed("invalid UTF-8 in str") from None
    if 0xC4 <= b <= 0xC6:
        n, pos = _uint(data, pos, 1 << (b - 0xC4))
        return _take(data, pos, n)
    if 0xCC <= b <= 0xCF:
        return _uint(data, pos, 1 << (b - 0xCC))
    if 0xD0 <= b <= 0xD3:
        raw, pos = _take(data, pos, 1 << (b - 0xD0))
        return int.from_bytes(raw, "big", signed=True), pos
    if b in (0xC0, 0xC2, 0xC3):
        return {0xC0: None, 0xC2: False, 0xC3: True}[b], pos
    is_array = 0x90 <= b <= 0x9F or b in (0xDC, 0xDD)
    is_map = 0x80 <= b <= 0x8F or b in (0xDE, 0xDF)
    if not (is_array or is_map):
        # 0xc1 (never used), ext 0xc7-0xc9 / 0xd4-0xd8, float 0xca-0xcb: not Tequio values.
        raise Malformed(f"type byte 0x{b:02x} is not allowed")
    if depth + 1 > MAX_DEPTH:
        raise Malformed("nesting deeper than 32")
    if b <= 0x9F:
        n = b & 0x0F
    else:
        n, pos = _uint(data, pos, 2 if b in (0xDC, 0xDE) else 4)
    if n * (2 if is_map else 1) > len(data) - pos:  # every item needs at least one byte
        raise Malformed("truncated")
    if is_array:
        items = []
        for _ in range(n):
            item, pos = _decode(data, pos, depth + 1)
            items.append(item)
        return items, pos
    result = {}
    for _ in range(n):
        key, pos = _decode(data, pos, depth + 1)
        if not isinstance(key, str):
            raise Malformed("map key is not text")
        result[key], pos = _decode(data, pos, depth + 1)  # duplicates collapse; the re-encode check sees it
    return result, pos


# ---------------------------------------------------------------- section 3: records


SCOPE_RE = re.compile(r"public|g:[0-9a-f]{32}|d:[0-9a-f]{64}")


def public_key(seed: bytes) -> bytes:
    return Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes_raw()


def signed_bytes(
    author: bytes, scope: str, seq: int, prev: bytes | None, ts: int, payload_hash: bytes
) -> bytes:
    return DOMAIN + encode([1, author, scope, seq, prev, ts, payload_hash])


def make_wire(
    seed: bytes,
    scope: str,
    seq: int,
    prev: bytes | None,
    ts: int,
    payload: bytes | None,
    payload_hash: bytes | None = None,
) -> bytes:
    """Sign and encode a record. `payload_hash` defaults to H(payload); required when payload is None."""
    if payload_hash is None:
        if payload is None:
            raise ValueError("a redacted record needs the payload_hash of the original payload")
        payload_hash = H(payload)
    key = Ed25519PrivateKey.from_private_bytes(seed)
    author = key.public_key().public_bytes_raw()
    sig = key.sign(signed_bytes(author, scope, seq, prev, ts, payload_hash))
    return encode([1, author, scope, seq, prev, ts, payload_hash, sig, payload])


# ---------------------------------------------------------------- section 3: verifying the signature

P = 2**255 - 19
L = 2**252 + 27742317777372353535851937790883648493
D = -121665 * pow(121666, -1, P) % P  # the Edwards curve -x^2 + y^2 = 1 + d x^2 y^2
SMALL_ORDER = frozenset(
    bytes.fromhex(h)
    for h in (  # rule 2, compared with the top bit of byte 31 cleared
        "0000000000000000000000000000000000000000000000000000000000000000",
        "0100000000000000000000000000000000000000000000000000000000000000",
        "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
        "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
        "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
        "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
        "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    )
)


def _y(encoding: bytes) -> int:
    return int.from_bytes(encoding, "little") & ((1 << 255) - 1)  # the 255 low bits


def has_small_order(encoding: bytes) -> bool:
    return encoding[:31] + bytes((encoding[31] & 0x7F,)) in SMALL_ORDER


def decodes_to_point(encoding: bytes) -> bool:
    """RFC 8032 5.1.3 for a canonical y: some x with x^2 = (y^2 - 1) / (d y^2 + 1) has the encoded sign."""
    y = _y(encoding)
    x2 = (y * y - 1) * pow(D * y * y + 1, -1, P) % P  # d y^2 + 1 is never 0: d is not a square mod p
    if x2 == 0:
        return encoding[31] >> 7 == 0  # x = 0 has no odd ("negative") form
    return pow(x2, (P - 1) // 2, P) == 1  # Euler's criterion: x2 is a square


def signature_refusal(author: bytes, sig: bytes, message: bytes) -> str | None:
    """Section 3, rules 1-5: None if `sig` verifies, else the rule that refuses it.

    Rules 1-4 are checked here because OpenSSL (behind `cryptography`) does not apply all of them: it
    accepts the vector `small-order-author`. Once they pass, OpenSSL's cofactorless check is rule 5.
    """
    if int.from_bytes(sig[32:], "little") >= L:
        return "rule 1: S >= L"
    if has_small_order(sig[:32]):
        return "rule 2: R has small order"
    if _y(author) >= P:
        return "rule 3: A is not canonical"
    if has_small_order(author):
        return "rule 3: A has small order"
    if not decodes_to_point(author):
        return "rule 4: A is not a curve point"
    try:
        Ed25519PublicKey.from_public_bytes(author).verify(sig, message)
    except InvalidSignature:
        return "rule 5: [S]B - [k]A does not encode to R"
    return None


# ---------------------------------------------------------------- section 5: steps 1-7


def _is_bin(v, size: int | None = None) -> bool:
    return isinstance(v, bytes) and (size is None or len(v) == size)


def check_wire(wire: bytes) -> dict:
    """Steps 1-7 of section 5: the envelope fields and `id`, or raise Rejected with the first failing code."""
    try:
        rec = decode(wire)
    except Malformed as e:
        raise Rejected("malformed", str(e)) from None
    if type(rec) is not list or not rec or not _is_int(rec[0]):  # step 1
        raise Rejected("malformed", "not an array whose first item is an integer")
    if rec[0] != 1:  # step 2
        raise Rejected("unsupported-version", f"version {rec[0]}")
    if len(rec) != 9:  # step 1 (cont.)
        raise Rejected("malformed", f"{len(rec)} items, not 9")
    _, author, scope, seq, prev, ts, payload_hash, sig, payload = rec
    shape = [
        (_is_bin(author, 32), "author is not 32 bytes"),
        (isinstance(scope, str), "scope is not str"),
        (_is_int(seq) and 1 <= seq <= SEQ_MAX, "seq out of 1..2^63-1"),
        (prev is None or _is_bin(prev, 32), "prev is neither nil nor 32 bytes"),
        (_is_int(ts) and 0 <= ts <= TS_MAX, "ts out of 0..2^63-1"),
        (_is_bin(payload_hash, 32), "payload_hash is not 32 bytes"),
        (_is_bin(sig, 64), "sig is not 64 bytes"),
        (payload is None or _is_bin(payload), "payload is neither nil nor bin"),
    ]
    for ok, why in shape:
        if not ok:
            raise Rejected("malformed", why)
    if payload is not None and len(payload) > MAX_PAYLOAD:  # step 3
        raise Rejected("too-large", f"payload of {len(payload)} bytes")
    if not SCOPE_RE.fullmatch(scope):  # step 4
        raise Rejected("bad-scope", repr(scope))
    if payload is not None and H(payload) != payload_hash:  # step 5
        raise Rejected("bad-payload-hash", "H(payload) != payload_hash")
    to_sign = signed_bytes(author, scope, seq, prev, ts, payload_hash)
    refusal = signature_refusal(author, sig, to_sign)  # step 6
    if refusal:
        raise Rejected("bad-signature", refusal)
    if (prev is None) != (seq == 1):  # step 7
        raise Rejected("bad-chain", f"seq {seq} with prev {'nil' if prev is None else 'set'}")
    return {
        "author": author,
        "scope": scope,
        "seq": seq,
        "prev": prev,
        "ts": ts,
        "payload_hash": payload_hash,
        "sig": sig,
        "payload": payload,
        "id": H(to_sign),
    }


# ---------------------------------------------------------------- section 4: payloads

# `<plugin>.<name>`: the first segment starts with a letter, later ones may start with a digit, `_` or `-`;
# at most 64 characters (code points) in all, checked apart. fullmatch, so no "$" that would allow "\n".
KIND_RE = re.compile(r"[a-z][a-z0-9_-]*(\.[a-z0-9_-]+)+")
BLOB_KEYS = {"hash", "mime", "size"}


def payload_bytes(kind: str, body: dict, refs=(), blobs=()) -> bytes:
    """Encode a payload map (refs/blobs omitted when empty) and validate it with parse_payload."""
    value = {"kind": kind, "body": body}
    if refs:
        value["refs"] = list(refs)
    if blobs:
        value["blobs"] = [dict(b) for b in blobs]
    data = encode(value)
    parse_payload(data)
    return data


def parse_payload(data: bytes) -> dict:
    try:
        p = decode(data)
    except Malformed as e:
        raise Rejected("malformed", str(e)) from None

    def bad(why: str):
        raise Rejected("malformed", why)

    if not isinstance(p, dict):
        bad("payload is not a map")
    if not {"kind", "body"} <= p.keys() <= {"kind", "body", "refs", "blobs"}:
        bad(f"keys {sorted(p)}")
    kind = p["kind"]
    if not isinstance(kind, str) or len(kind) > 64 or not KIND_RE.fullmatch(kind):
        bad(f"kind {kind!r}")
    if not isinstance(p["body"], dict):
        bad("body is not a map")
    if "refs" in p:
        refs = p["refs"]
        if not isinstance(refs, list) or not 1 <= len(refs) <= 256:
            bad("refs must be a non-empty array of at most 256")
        if not all(_is_bin(r, 32) for r in refs):
            bad("a ref is not 32 bytes")
    if "blobs" in p:
        blobs = p["blobs"]
        if not isinstance(blobs, list) or not 1 <= len(blobs) <= 64:
            bad("blobs must be a non-empty array of at most 64")
        for blob in blobs:
            if not isinstance(blob, dict) or blob.keys() != BLOB_KEYS:
                bad("a blob is not {hash, mime, size}")
            if not _is_bin(blob["hash"], 32):
                bad("blob hash is not 32 bytes")
            if not isinstance(blob["mime"], str) or not 1 <= len(blob["mime"]) <= 255:
                bad("blob mime is not 1..255 characters")
            if not _is_int(blob["size"]) or blob["size"] < 0:
                bad("blob size is not an int >= 0")
    return p


def check_body(kind: str, body: dict) -> None:
    """Step 13 for the kinds section 4 defines; unknown kinds pass (stored and relayed unchanged)."""
    if kind == "core.note":
        text = body.get("text")
        if not isinstance(text, str) or not 1 <= len(text) <= 10_000:
            raise Rejected("invalid-body", "core.note text must be 1..10,000 characters")


# ---------------------------------------------------------------- section 7: streams


def _value_length(data: bytes, start: int, limit: int) -> int:
    """Length of the msgpack value at `start` (any msgpack, not only canonical), walked without recursion."""
    pos, pending = start, 1
    while pending:
        if pos - start + pending > limit:  # each pending item needs at least one more byte
            raise Malformed("value longer than the limit")
        if pos >= len(data):
            raise Malformed("stream ends inside a value")
        b = data[pos]
        pos += 1
        pending -= 1
        skip = 0
        if b <= 0x7F or b >= 0xE0 or b in (0xC0, 0xC2, 0xC3):
            pass
        elif b <= 0x8F:
            pending += 2 * (b & 0x0F)
        elif b <= 0x9F:
            pending += b & 0x0F
        elif b <= 0xBF:
            skip = b & 0x1F
        elif b == 0xC1:
            raise Malformed("0xc1 is not msgpack")
        else:
            # (bytes of length field, bytes of fixed data, multiplier of length: payload bytes / items)
            size_of, fixed, kind = {
                0xC4: (1, 0, "raw"),
                0xC5: (2, 0, "raw"),
                0xC6: (4, 0, "raw"),
                0xC7: (1, 1, "raw"),
                0xC8: (2, 1, "raw"),
                0xC9: (4, 1, "raw"),
                0xCA: (0, 4, None),
                0xCB: (0, 8, None),
                0xCC: (0, 1, None),
                0xCD: (0, 2, None),
                0xCE: (0, 4, None),
                0xCF: (0, 8, None),
                0xD0: (0, 1, None),
                0xD1: (0, 2, None),
                0xD2: (0, 4, None),
                0xD3: (0, 8, None),
                0xD4: (0, 2, None),
                0xD5: (0, 3, None),
                0xD6: (0, 5, None),
                0xD7: (0, 9, None),
                0xD8: (0, 17, None),
                0xD9: (1, 0, "raw"),
                0xDA: (2, 0, "raw"),
                0xDB: (4, 0, "raw"),
                0xDC: (2, 0, "items"),
                0xDD: (4, 0, "items"),
                0xDE: (2, 0, "pairs"),
                0xDF: (4, 0, "pairs"),
            }[b]
            if pos + size_of > len(data):
                raise Malformed("stream ends inside a value")
            n = int.from_bytes(data[pos : pos + size_of], "big")
            pos += size_of
            skip = fixed + (n if kind == "raw" else 0)
            pending += {"items": n, "pairs": 2 * n}.get(kind, 0)
        if pos + skip - start > limit:
            raise Malformed("value longer than the limit")
        if pos + skip > len(data):
            raise Malformed("stream ends inside a value")
        pos += skip
    return pos - start


def split_stream(data: bytes, limit: int = STREAM_VALUE_LIMIT) -> list[bytes]:
    """Cut a stream into values (any msgpack, canonical or not). On a break raise Malformed, with `.values`
    the values cut before it and `.index` their number: where reading stopped."""
    data = bytes(data)
    values, pos = [], 0
    while pos < len(data):
        try:
            n = _value_length(data, pos, limit)
        except Malformed as e:
            raise Malformed(f"value {len(values)}: {e}", index=len(values), values=values) from None
        values.append(data[pos : pos + n])
        pos += n
    return values


def check_stream(data: bytes) -> list[str | None]:
    """The report of section 7: item i is value i's reason code from steps 1-7 (None if it passes them);
    a break in the stream adds a final "malformed" at the index where reading stopped."""
    try:
        values, broken = split_stream(data), False
    except Malformed as e:
        values, broken = e.values, True
    report: list[str | None] = []
    for value in values:
        try:
            check_wire(value)
            report.append(None)
        except Rejected as e:
            report.append(e.reason)
    return [*report, "malformed"] if broken else report


# ---------------------------------------------------------------- sections 8 and 9


def fingerprint(key: bytes) -> str:
    """Section 8, over the raw 32 bytes of a public key."""
    if len(key) != 32:
        raise ValueError("a public key is 32 bytes")
    text = base64.b32encode(H(FINGERPRINT_DOMAIN + key)[:10]).decode("ascii")  # 80 bits: 16 chars, no "="
    return "-".join(text[i : i + 4] for i in range(0, 16, 4))


def from_json_view(obj):
    """Section 9: {"$bin": hex} becomes bytes; JSON numbers must be integers."""
    if isinstance(obj, dict):
        if "$bin" in obj:
            hex_text = obj["$bin"]
            if len(obj) != 1 or not isinstance(hex_text, str) or not HEX_RE.fullmatch(hex_text):
                raise ValueError("bad $bin object")
            return bytes.fromhex(hex_text)
        return {k: from_json_view(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [from_json_view(v) for v in obj]
    if isinstance(obj, float):
        raise ValueError("JSON numbers must be integers")
    return obj
