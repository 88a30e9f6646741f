"""Builds the test vectors in ``schemas/vectors/``: ``python -m tequio.schemas.testvectors`` rewrites them.

Ed25519 signatures are deterministic, so the same seeds and fields always give the same bytes; the
test suite regenerates every vector and compares it with the committed file.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import msgpack
from nacl.bindings import crypto_scalarmult_ed25519_base_noclamp
from nacl.signing import SigningKey

from .canonical import encode
from .jsonform import to_json
from .keys import fingerprint
from .payload import BlobRef, Payload
from .record import MAX_PAYLOAD, Record, make_record, signed_bytes

VECTOR_DIR = Path(__file__).parent / "vectors"
TS = 1_767_225_600_000  # 2026-01-01T00:00:00Z


def seed(n: int) -> bytes:
    return hashlib.sha256(f"tequio test vector seed {n}".encode()).digest()


def _record_vector(
    name: str, description: str, key_seed: bytes, rec: Record, payload_map: Any
) -> dict[str, Any]:
    return {
        "name": name,
        "description": description,
        "seed": key_seed.hex(),
        "fields": {
            "version": 1,
            "author": rec.author.hex(),
            "scope": rec.scope,
            "seq": rec.seq,
            "prev": rec.prev.hex() if rec.prev else None,
            "ts": rec.ts,
            "payload": rec.payload.hex() if rec.payload is not None else None,
        },
        "payload_map": to_json(payload_map) if payload_map is not None else None,
        "payload_hash": rec.payload_hash.hex(),
        "signed_bytes": signed_bytes(
            rec.author, rec.scope, rec.seq, rec.prev, rec.ts, rec.payload_hash
        ).hex(),
        "id": rec.id.hex(),
        "sig": rec.sig.hex(),
        "wire": rec.wire.hex(),
    }


def record_vectors() -> list[dict[str, Any]]:
    k1, k2, k3 = SigningKey(seed(1)), SigningKey(seed(2)), SigningKey(seed(3))
    out = []

    note1 = Payload("core.note", {"text": "hello"})
    r1 = make_record(k1, "public", 1, None, TS, note1.encode())
    out.append(
        _record_vector(
            "first", "The first record of a public feed: seq 1, prev nil.", seed(1), r1, note1.to_map()
        )
    )

    note2 = Payload("core.note", {"text": "second"})
    r2 = make_record(k1, "public", 2, r1.id, TS + 1000, note2.encode())
    out.append(
        _record_vector(
            "second",
            "The second record of the same feed: prev is the first's id.",
            seed(1),
            r2,
            note2.to_map(),
        )
    )

    gid = bytes(range(16))
    opaque_g = hashlib.sha256(b"group ciphertext stand-in").digest() + b"\x00" * 8
    rg = make_record(k2, "g:" + gid.hex(), 1, None, TS, opaque_g)
    out.append(
        _record_vector(
            "group-scope", "A group-scope record; its payload is ciphertext, opaque here.", seed(2), rg, None
        )
    )

    to = bytes(k1.verify_key)
    opaque_d = hashlib.sha256(b"direct ciphertext stand-in").digest()
    rd = make_record(k2, "d:" + to.hex(), 1, None, TS, opaque_d)
    out.append(
        _record_vector(
            "direct-scope",
            "A direct record to the key of seed 1; its payload is ciphertext.",
            seed(2),
            rd,
            None,
        )
    )

    out.append(
        _record_vector(
            "redacted",
            "The second record with its payload redacted: same id and signature.",
            seed(1),
            r2.redacted(),
            None,
        )
    )

    text = "Defensoría: niñas, niños y adolescentes — ¡justicia! 🌱 Ñuu Savi · Привет · 日本語"
    note3 = Payload("core.note", {"text": text})
    r3 = make_record(k3, "public", 1, None, TS, note3.encode())
    out.append(
        _record_vector(
            "non-ascii",
            "Non-ASCII text: str is UTF-8, keys sorted by their UTF-8 bytes.",
            seed(3),
            r3,
            note3.to_map(),
        )
    )

    blob_hash = hashlib.sha256(b"a photo").digest()
    item = Payload(
        "evidence.item",
        {
            "title": "Detención en la plaza",
            "sha256": blob_hash,
            "meta": {"camera": {"make": "Fairphone", "iso": 200}, "tags": ["arrest", "plaza"], "ok": True},
            "none": None,
            "neg": -5,
            "big": 2**40,
            "Zeta": 1,
            "ñandú": 2,
        },
        refs=(r1.id,),
        blobs=(BlobRef(blob_hash, 1234567, "image/jpeg"),),
    )
    r4 = make_record(k3, "public", 2, r3.id, TS + 5, item.encode())
    out.append(
        _record_vector(
            "bytes-and-maps",
            "A body with bytes, nested maps, negative and large integers, "
            "a key sort that is not case-insensitive, refs and blobs.",
            seed(3),
            r4,
            item.to_map(),
        )
    )
    return out


def _sign_fields(key: SigningKey, fields: list[Any]) -> bytes:
    """Sign arbitrary envelope fields, skipping the checks make_record applies (to build bad vectors)."""
    _, author, scope, seq, prev, ts, payload_hash, payload = fields
    sig = key.sign(signed_bytes(author, scope, seq, prev, ts, payload_hash)).signature
    return msgpack.packb(
        [fields[0], author, scope, seq, prev, ts, payload_hash, sig, payload], use_bin_type=True
    )


def invalid_vectors() -> list[dict[str, Any]]:
    """Records each failing exactly one stateless check, with the reason code a reader must report."""
    k = SigningKey(seed(1))
    author = bytes(k.verify_key)
    good_payload = Payload("core.note", {"text": "x"}).encode()
    ph = hashlib.sha256(good_payload).digest()
    good = make_record(k, "public", 1, None, TS, good_payload)
    out: list[dict[str, Any]] = []

    def add(name: str, wire: bytes, reason: str, note: str) -> None:
        out.append({"name": name, "wire": wire.hex(), "reason": reason, "note": note})

    add("not-msgpack", b"\xc1", "malformed", "0xc1 is never used in msgpack")
    add("trailing-bytes", good.wire + b"\x00", "malformed", "one value, then a stray byte")
    add("not-array", encode({"v": 1}), "malformed", "a map, not an array")
    # ts 0 encoded as uint64 (0xcf + 8 zero bytes) instead of the one-byte fixint: not shortest form.
    w = bytearray(
        msgpack.packb([1, author, "public", 1, None, 0, ph, good.sig, good_payload], use_bin_type=True)
    )
    idx = w.index(b"\xc0\x00\xc4\x20") + 1  # prev nil, then ts 0, then bin8 of 32
    w[idx : idx + 1] = b"\xcf" + b"\x00" * 8
    add("long-int", bytes(w), "malformed", "ts 0 written as uint64: not the shortest form")
    add(
        "float-ts",
        msgpack.packb([1, author, "public", 1, None, 1.5, ph, good.sig, good_payload], use_bin_type=True),
        "malformed",
        "floats are not allowed",
    )
    add(
        "str-author",
        msgpack.packb(
            [1, author.hex(), "public", 1, None, TS, ph, good.sig, good_payload], use_bin_type=True
        ),
        "malformed",
        "author as str, not bin",
    )
    add(
        "eight-items",
        msgpack.packb([1, author, "public", 1, None, TS, ph, good.sig], use_bin_type=True),
        "malformed",
        "a version-1 record has 9 items",
    )
    add(
        "seq-zero",
        _sign_fields(k, [1, author, "public", 0, None, TS, ph, good_payload]),
        "malformed",
        "seq starts at 1",
    )
    add(
        "version-2",
        msgpack.packb([2, author, "public", 1, None, TS, ph, good.sig, good_payload], use_bin_type=True),
        "unsupported-version",
        "version 2 is not defined",
    )
    big = b"\x00" * (MAX_PAYLOAD + 1)
    add(
        "payload-too-large",
        _sign_fields(k, [1, author, "public", 1, None, TS, hashlib.sha256(big).digest(), big]),
        "too-large",
        "65,537 payload bytes, correctly hashed and signed",
    )
    add(
        "scope-uppercase",
        _sign_fields(k, [1, author, "g:" + "AB" * 16, 1, None, TS, ph, good_payload]),
        "bad-scope",
        "group ids are lowercase hex",
    )
    add(
        "scope-unknown",
        _sign_fields(k, [1, author, "private", 1, None, TS, ph, good_payload]),
        "bad-scope",
        "only public, g: and d: exist",
    )
    add(
        "payload-hash-mismatch",
        _sign_fields(k, [1, author, "public", 1, None, TS, ph, good_payload + b"\x00"]),
        "bad-payload-hash",
        "payload changed after hashing",
    )
    bad_sig = bytearray(good.sig)
    bad_sig[0] ^= 1
    add(
        "signature-flipped",
        msgpack.packb(
            [1, author, "public", 1, None, TS, ph, bytes(bad_sig), good_payload], use_bin_type=True
        ),
        "bad-signature",
        "one bit of the signature flipped",
    )
    other = bytes(SigningKey(seed(2)).verify_key)
    add(
        "wrong-author",
        msgpack.packb([1, other, "public", 1, None, TS, ph, good.sig, good_payload], use_bin_type=True),
        "bad-signature",
        "signed by seed 1, claims seed 2's key",
    )
    # Strict Ed25519 (docs/protocol.md section 3): cases lax verifiers accept.
    zero = bytes(32)
    ts = next(t for t in range(1000) if _k(zero, signed_bytes(zero, "public", 1, None, t, ph)) % 4 == 3)
    add(
        "small-order-author",
        msgpack.packb([1, zero, "public", 1, None, ts, ph, bytes(64), good_payload], use_bin_type=True),
        "bad-signature",
        "author and R are the order-4 point 0x00..00 and S is 0: the cofactorless equation holds "
        "(k = 3 mod 4), so verifiers without the small-order check accept it",
    )
    # Rule 3 alone: an ordinary R (so rule 2 passes) with the small-order author 0x00..00, S = r:
    # [S]B - [k]A = R exactly when k = 0 mod 4.
    r = int.from_bytes(hashlib.sha256(b"tequio rule 3 nonce").digest(), "little") % _L
    big_r = crypto_scalarmult_ed25519_base_noclamp(r.to_bytes(32, "little"))
    ts3 = next(
        t for t in range(1000) if _k(zero, signed_bytes(zero, "public", 1, None, t, ph), big_r) % 4 == 0
    )
    add(
        "small-order-author-only",
        msgpack.packb(
            [1, zero, "public", 1, None, ts3, ph, big_r + r.to_bytes(32, "little"), good_payload],
            use_bin_type=True,
        ),
        "bad-signature",
        "R is an ordinary point (rule 2 passes) but the author 0x00..00 has small order (rule 3): "
        "the equation holds, so verifiers without rule 3 accept it",
    )
    s_plus_l = (int.from_bytes(good.sig[32:], "little") + _L).to_bytes(32, "little")
    add(
        "s-not-reduced",
        msgpack.packb(
            [1, author, "public", 1, None, TS, ph, good.sig[:32] + s_plus_l, good_payload], use_bin_type=True
        ),
        "bad-signature",
        "the valid signature with S + L in place of S: S must be below L",
    )
    add(
        "seq1-with-prev",
        _sign_fields(k, [1, author, "public", 1, good.id, TS, ph, good_payload]),
        "bad-chain",
        "seq 1 must have prev nil",
    )
    add(
        "seq2-without-prev",
        _sign_fields(k, [1, author, "public", 2, None, TS, ph, good_payload]),
        "bad-chain",
        "seq 2 must name its predecessor",
    )
    add(
        "version-bool",
        msgpack.packb([True, author, "public", 1, None, TS, ph, good.sig, good_payload], use_bin_type=True),
        "malformed",
        "true is not an integer version",
    )
    add(
        "version-2-other-shape",
        msgpack.packb([2, "anything"], use_bin_type=True),
        "unsupported-version",
        "a version-2 record may have any shape",
    )
    add(
        "scope-bin",
        msgpack.packb([1, author, b"public", 1, None, TS, ph, good.sig, good_payload], use_bin_type=True),
        "malformed",
        "scope as bin, not str",
    )
    template = msgpack.packb(
        [1, author, "\x00\x00", 1, None, TS, ph, good.sig, good_payload], use_bin_type=True
    )
    assert template.count(b"\xa2\x00\x00") == 1
    add(
        "scope-bad-utf8",
        template.replace(b"\xa2\x00\x00", b"\xa2\xc3\x28"),
        "malformed",
        "scope is a 2-byte str holding C3 28, which is not UTF-8",
    )
    add(
        "prev-31-bytes",
        msgpack.packb(
            [1, author, "public", 2, b"\x01" * 31, TS, ph, good.sig, good_payload], use_bin_type=True
        ),
        "malformed",
        "prev is 32 bytes or nil",
    )
    add(
        "ts-negative",
        msgpack.packb([1, author, "public", 1, None, -1, ph, good.sig, good_payload], use_bin_type=True),
        "malformed",
        "ts is at least 0",
    )
    add(
        "seq-2-pow-63",
        msgpack.packb(
            [1, author, "public", 2**63, good.id, TS, ph, good.sig, good_payload], use_bin_type=True
        ),
        "malformed",
        "seq is at most 2^63-1",
    )
    add(
        "payload-str",
        msgpack.packb([1, author, "public", 1, None, TS, ph, good.sig, "text"], use_bin_type=True),
        "malformed",
        "payload is bin or nil",
    )
    add(
        "scope-direct-short",
        _sign_fields(k, [1, author, "d:" + "ab" * 31, 1, None, TS, ph, good_payload]),
        "bad-scope",
        "a direct scope has 64 hex characters",
    )
    return out


_L = 2**252 + 27742317777372353535851937790883648493


def _k(author: bytes, message: bytes, r: bytes = bytes(32)) -> int:
    """Ed25519's challenge scalar for R = ``r`` (used to find a message a lax verifier accepts)."""
    return int.from_bytes(hashlib.sha512(r + author + message).digest(), "little") % _L


def payload_vectors() -> list[dict[str, Any]]:
    """Plaintext payloads a reader must refuse (reported as ``malformed`` once the payload is readable)."""
    out = []

    def add(name: str, data: bytes, note: str) -> None:
        out.append({"name": name, "payload": data.hex(), "reason": "malformed", "note": note})

    add("keys-unsorted", b"\x82\xa4kind\xa9core.note\xa4body\x80", "map keys not in byte order")
    add("unknown-key", encode({"kind": "core.note", "body": {}, "extra": 1}), "only kind, body, refs, blobs")
    add("bad-kind", encode({"kind": "Note", "body": {}}), "kinds are <plugin>.<name>, lowercase")
    add("body-not-map", encode({"kind": "core.note", "body": "hi"}), "body is a map")
    add(
        "empty-refs",
        encode({"kind": "core.note", "body": {}, "refs": []}),
        "omit refs rather than send it empty",
    )
    add("duplicate-key", b"\x83\xa4body\x80\xa4kind\xa9core.note\xa4kind\xa9core.note", "a key twice")
    add("kind-one-segment", encode({"kind": "core", "body": {}}), "a kind has at least two segments")
    add(
        "kind-digit-first",
        encode({"kind": "1core.note", "body": {}}),
        "the first segment starts with a letter",
    )
    add("kind-too-long", encode({"kind": "a." + "b" * 63, "body": {}}), "at most 64 characters")
    add(
        "blob-extra-key",
        encode(
            {
                "kind": "core.note",
                "body": {},
                "blobs": [{"hash": bytes(32), "size": 1, "mime": "a/b", "name": "x"}],
            }
        ),
        "a blob is exactly hash, size and mime",
    )
    add("refs-257", encode({"kind": "core.note", "body": {}, "refs": [bytes(32)] * 257}), "at most 256 refs")
    deep: Any = {}
    for _ in range(31):
        deep = {"d": deep}
    add(
        "too-deep",
        msgpack.packb({"body": deep, "kind": "core.note"}, use_bin_type=True),
        "33 nested maps (the payload map, body, 31 more): one deeper than 32",
    )
    return out


def fingerprint_vectors() -> list[dict[str, Any]]:
    out = []
    for n in (1, 2, 3):
        key = bytes(SigningKey(seed(n)).verify_key)
        out.append(
            {"seed_number": n, "seed": seed(n).hex(), "key": key.hex(), "fingerprint": fingerprint(key)}
        )
    return out


def stream_vectors() -> list[dict[str, Any]]:
    """Streams (section 7): the stateless verdict of each value cut out, and where reading breaks."""
    k = SigningKey(seed(1))
    r1 = make_record(k, "public", 1, None, TS, Payload("core.note", {"text": "hello"}).encode())
    r2 = make_record(k, "public", 2, r1.id, TS + 1000, Payload("core.note", {"text": "second"}).encode())
    long_int = bytes.fromhex(next(v["wire"] for v in invalid_vectors() if v["name"] == "long-int"))
    out: list[dict[str, Any]] = []

    def add(name: str, data: bytes, values: list[str | None], brk: int | None, note: str) -> None:
        out.append({"name": name, "stream": data.hex(), "values": values, "break": brk, "note": note})

    add("empty", b"", [], None, "no values, not an error")
    add("two", r1.wire + r2.wire, [None, None], None, "two records back to back")
    add(
        "non-canonical-in-the-middle",
        r1.wire + long_int + r2.wire,
        [None, "malformed", None],
        None,
        "a non-canonical value is still cut out whole; reading goes on",
    )
    add(
        "not-a-record",
        r1.wire + msgpack.packb(7) + r2.wire,
        [None, "malformed", None],
        None,
        "any msgpack value is a value, even one that is not an array",
    )
    add("garbage", r1.wire + b"\xc1" + r2.wire, [None], 1, "0xc1 is not msgpack: reading stops at index 1")
    add("truncated", r1.wire + r2.wire[:-5], [None], 1, "the stream ends inside the second value")
    add(
        "declared-too-long",
        r1.wire + b"\xc6\x7f\xff\xff\xff" + b"\x00" * 16,
        [None],
        1,
        "a bin32 declaring 2^31 - 1 bytes: longer than 1 MiB (and truncated)",
    )
    return out


def build() -> dict[str, list[dict[str, Any]]]:
    return {
        "records.json": record_vectors(),
        "invalid.json": invalid_vectors(),
        "payloads.json": payload_vectors(),
        "fingerprints.json": fingerprint_vectors(),
        "streams.json": stream_vectors(),
    }


def render(vectors: list[dict[str, Any]]) -> str:
    return json.dumps(vectors, indent=2, ensure_ascii=False) + "\n"


def main() -> None:
    for name, vectors in build().items():
        (VECTOR_DIR / name).write_text(render(vectors), encoding="utf-8")
        print(f"wrote {len(vectors)} vectors to {VECTOR_DIR / name}", file=sys.stderr)


if __name__ == "__main__":
    main()
