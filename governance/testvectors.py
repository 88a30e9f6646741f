"""Builds ``governance/vectors/envelopes.json``: ``python -m tequio.governance.testvectors`` rewrites it.

Every value is deterministic given the seeds, nonces and ephemeral keys named in the vector
(libsodium's sealed box draws its ephemeral key at random; here it is given, and the box built
exactly as crypto_box_seal builds it), so the test suite regenerates the file and compares bytes.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import nacl.bindings as sodium
from nacl.encoding import RawEncoder
from nacl.hash import blake2b
from nacl.public import Box, PrivateKey, PublicKey
from nacl.signing import SigningKey

from tequio.schemas import Payload, make_record

from .crypto import encode_key_box, group_id, key_commitment, seal_direct, seal_group, x25519_public

VECTOR_FILE = Path(__file__).parent / "vectors" / "envelopes.json"
TS = 1_767_225_600_000


def _seed(n: int) -> bytes:
    return hashlib.sha256(f"tequio governance vector {n}".encode()).digest()


def _fixed(data: bytes) -> Any:
    return lambda n: data[:n]


def sealed_box(recipient: bytes, plaintext: bytes, ephemeral_secret: bytes) -> bytes:
    """crypto_box_seal with a given ephemeral key: epk || crypto_box(m, blake2b24(epk || rpk), esk, rpk)."""
    rpk = x25519_public(recipient)
    epk = bytes(PrivateKey(ephemeral_secret).public_key)
    nonce = blake2b(epk + rpk, digest_size=24, encoder=RawEncoder)
    return epk + Box(PrivateKey(ephemeral_secret), PublicKey(rpk)).encrypt(plaintext, nonce).ciphertext


def build() -> list[dict[str, Any]]:
    creator = SigningKey(_seed(1))
    member = SigningKey(_seed(2))
    ck, mk = bytes(creator.verify_key), bytes(member.verify_key)
    salt = _seed(3)[:16]
    gid = group_id(ck, salt)
    scope = "g:" + gid.hex()
    epoch_key = _seed(4)
    eph = _seed(5)
    box_plain = encode_key_box(epoch_key, [])
    boxes = sorted(
        [
            {"to": ck, "box": sealed_box(ck, box_plain, eph)},
            {"to": mk, "box": sealed_box(mk, box_plain, _seed(6))},
        ],
        key=lambda b: b["to"],
    )
    keys_payload = Payload(
        "gov.keys", {"boxes": boxes, "commit": key_commitment(epoch_key), "salt": salt}
    ).encode()
    keys_rec = make_record(creator, scope, 1, None, TS, keys_payload)
    note = Payload("core.note", {"text": "Sólo para la coalición"}).encode()
    nonce = _seed(7)[:24]
    envelope = seal_group(epoch_key, keys_rec.id, note, _fixed(nonce))
    note_rec = make_record(creator, scope, 2, keys_rec.id, TS + 1, envelope)
    dnonce = _seed(8)[:24]
    direct_plain = Payload("core.note", {"text": "para ti"}).encode()
    direct = seal_direct(bytes(creator.to_curve25519_private_key()), mk, direct_plain, _fixed(dnonce))
    direct_rec = make_record(creator, "d:" + mk.hex(), 1, None, TS + 2, direct)
    return [
        {
            "name": "group-id",
            "description": "gid = SHA-256('tequio/group/v1\\n' || creator key || salt)[:16]",
            "creator_seed": _seed(1).hex(),
            "creator": ck.hex(),
            "salt": salt.hex(),
            "gid": gid.hex(),
            "scope": scope,
        },
        {
            "name": "x25519",
            "description": "X25519 keys of the Ed25519 node keys (crypto_sign_ed25519_pk_to_curve25519 / sk)",
            "seed": _seed(2).hex(),
            "ed25519_public": mk.hex(),
            "x25519_public": x25519_public(mk).hex(),
            "x25519_secret": bytes(member.to_curve25519_private_key()).hex(),
        },
        {
            "name": "key-box",
            "description": "an epoch key sealed to a member: crypto_box_seal of canonical {'key': K}",
            "epoch_key": epoch_key.hex(),
            "commit": key_commitment(epoch_key).hex(),
            "recipient_seed": _seed(2).hex(),
            "ephemeral_secret": _seed(6).hex(),
            "plaintext": box_plain.hex(),
            "box": sealed_box(mk, box_plain, _seed(6)).hex(),
        },
        {
            "name": "first-keys",
            "description": "the group's first gov.keys record (plain payload), seq 1 of the creator's feed",
            "payload": keys_payload.hex(),
            "id": keys_rec.id.hex(),
            "wire": keys_rec.wire.hex(),
        },
        {
            "name": "group-envelope",
            "description": "a core.note in the group scope: crypto_secretbox (XSalsa20-Poly1305)"
            " under the epoch key",
            "epoch_key": epoch_key.hex(),
            "keys_record": keys_rec.id.hex(),
            "nonce": nonce.hex(),
            "plaintext": note.hex(),
            "envelope": envelope.hex(),
            "wire": note_rec.wire.hex(),
        },
        {
            "name": "direct-envelope",
            "description": "a core.note to one node: crypto_box between the author's"
            " and the recipient's X25519 keys",
            "author_seed": _seed(1).hex(),
            "recipient": mk.hex(),
            "nonce": dnonce.hex(),
            "plaintext": direct_plain.hex(),
            "envelope": direct.hex(),
            "wire": direct_rec.wire.hex(),
        },
        {
            "name": "blob",
            "description": "an encrypted blob: crypto_secretstream_xchacha20poly1305 under the epoch key,"
            " 64 KiB messages, the last tagged FINAL; stored bytes = header || messages",
            "epoch_key": epoch_key.hex(),
            "plaintext": b"foto".hex(),
            "stored": _secretstream(epoch_key, b"foto").hex(),
        },
    ]


def _secretstream(key: bytes, data: bytes) -> bytes:
    """A one-message stream. libsodium draws the header at random, so the committed sample is kept
    (``main``) and checked by decrypting it rather than by comparing bytes."""
    state = sodium.crypto_secretstream_xchacha20poly1305_state()
    header = sodium.crypto_secretstream_xchacha20poly1305_init_push(state, key)
    tag = sodium.crypto_secretstream_xchacha20poly1305_TAG_FINAL
    return header + sodium.crypto_secretstream_xchacha20poly1305_push(state, data, None, tag)


def render(vectors: list[dict[str, Any]]) -> str:
    return json.dumps(vectors, indent=2, ensure_ascii=False) + "\n"


def main() -> None:
    vectors = build()
    if VECTOR_FILE.exists():  # keep the committed blob sample: its header is random by construction
        old = {v["name"]: v for v in json.loads(VECTOR_FILE.read_text(encoding="utf-8"))}
        for v in vectors:
            if v["name"] == "blob" and "blob" in old:
                v["stored"] = old["blob"]["stored"]
    VECTOR_FILE.parent.mkdir(exist_ok=True)
    VECTOR_FILE.write_text(render(vectors), encoding="utf-8")


if __name__ == "__main__":
    main()
    print(f"wrote {VECTOR_FILE}")
