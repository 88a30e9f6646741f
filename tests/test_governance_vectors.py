"""The governance test vectors (governance/vectors/envelopes.json) are what the code produces and open."""

from __future__ import annotations

import json

import nacl.bindings as sodium
from nacl.public import PrivateKey, SealedBox
from nacl.secret import SecretBox
from nacl.signing import SigningKey

from tequio.governance import (
    decode_key_box,
    decrypt_blob,
    group_id,
    key_commitment,
    open_direct,
    parse_envelope,
)
from tequio.governance.testvectors import VECTOR_FILE, build, render
from tequio.schemas import decode, parse_payload, parse_wire


def _load() -> dict[str, dict]:
    return {v["name"]: v for v in json.loads(VECTOR_FILE.read_text(encoding="utf-8"))}


def test_committed_vectors_match_regenerated() -> None:
    committed = _load()
    fresh = build()
    # The blob sample's secretstream header is random by construction: checked by decrypting below.
    fresh = [v | {"stored": committed["blob"]["stored"]} if v["name"] == "blob" else v for v in fresh]
    assert VECTOR_FILE.read_text(encoding="utf-8") == render(fresh)


def test_vectors_open_with_plain_libsodium_calls() -> None:
    """Each vector checked with libsodium primitives directly, as another implementation would."""
    v = _load()
    g = v["group-id"]
    assert group_id(bytes.fromhex(g["creator"]), bytes.fromhex(g["salt"])).hex() == g["gid"]
    x = v["x25519"]
    sk = SigningKey(bytes.fromhex(x["seed"]))
    assert sodium.crypto_sign_ed25519_pk_to_curve25519(bytes(sk.verify_key)).hex() == x["x25519_public"]
    kb = v["key-box"]
    plain = SealedBox(PrivateKey(bytes.fromhex(x["x25519_secret"]))).decrypt(bytes.fromhex(kb["box"]))
    assert plain.hex() == kb["plaintext"] and decode_key_box(plain)[0].hex() == kb["epoch_key"]
    assert key_commitment(bytes.fromhex(kb["epoch_key"])).hex() == kb["commit"]
    keys = parse_wire(bytes.fromhex(v["first-keys"]["wire"]))
    assert keys.id.hex() == v["first-keys"]["id"] and parse_payload(keys.payload).kind == "gov.keys"
    ge = v["group-envelope"]
    rec = parse_wire(bytes.fromhex(ge["wire"]))
    env = decode(rec.payload)
    assert rec.payload.hex() == ge["envelope"] and env["key"].hex() == ge["keys_record"]
    opened = SecretBox(bytes.fromhex(ge["epoch_key"])).decrypt(env["box"], env["nonce"])
    assert opened.hex() == ge["plaintext"]
    assert parse_payload(opened).body == {"text": "Sólo para la coalición"}
    de = v["direct-envelope"]
    drec = parse_wire(bytes.fromhex(de["wire"]))
    assert drec.scope == "d:" + de["recipient"]
    out = open_direct(
        bytes.fromhex(x["x25519_secret"]), drec.author, parse_envelope(drec.payload, direct=True)
    )
    assert out.hex() == de["plaintext"]
    import io

    blob = v["blob"]
    stored = io.BytesIO(bytes.fromhex(blob["stored"]))
    assert b"".join(decrypt_blob(bytes.fromhex(blob["epoch_key"]), stored)).hex() == blob["plaintext"]
