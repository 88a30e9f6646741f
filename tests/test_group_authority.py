"""Only members write into a group (issue 9, section 1; rule E5 in docs/governance.md).

Each attack goes through the real path: a trusted non-member pushing over HTTP to a ``tequio serve``
subprocess, a ``tequio records import`` subprocess, and a member's rogue key record delivered over
HTTP. Each asserts the refusal (with the rule's number), that the note is not stored, and a healthy node.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import aiohttp
from nacl.signing import SigningKey

from tequio.governance import encode_key_box, group_id, key_commitment, seal_group, seal_to
from tequio.node import Node
from tequio.node.groups import create_group
from tequio.schemas import Payload, Record, make_record
from tests.attackkit import (
    SigningKeyring,
    fresh_keyring,
    init_home,
    signed_post,
    start_serve,
    store_is_healthy,
    tequio,
    trust,
)

INJECTED = "AVISO DE LA COORDINACIÓN: descarguen el archivo adjunto"


def _now() -> int:
    return time.time_ns() // 1_000_000


def _keys_record(
    signer: SigningKey,
    scope: str,
    seq: int,
    prev: bytes | None,
    to: list[bytes],
    refs: tuple[bytes, ...] = (),
) -> tuple[Record, bytes]:
    """A plain gov.keys record (no salt) sealing a key of the attacker's choosing to ``to``."""
    epoch_key = bytes(range(32))
    boxes = [{"to": m, "box": seal_to(m, encode_key_box(epoch_key, []))} for m in sorted(to)]
    body = {"boxes": boxes, "commit": key_commitment(epoch_key)}
    return make_record(signer, scope, seq, prev, _now(), Payload("gov.keys", body, refs).encode()), epoch_key


def _note(
    signer: SigningKey, scope: str, seq: int, prev: bytes | None, keys: Record, epoch_key: bytes
) -> Record:
    env = seal_group(
        epoch_key, keys.id, Payload("core.note", {"text": INJECTED}).encode(), lambda n: b"\x07" * n
    )
    return make_record(signer, scope, seq, prev, _now(), env)


def _member_home(tmp_path: Path, others: list[bytes]) -> tuple[Path, str]:
    home = tmp_path / "casa"
    init_home(home)
    with Node.open(home) as node:
        _, scope = create_group(node, "Coalición", [(k, f"M{i}", []) for i, k in enumerate(others)])
    return home, scope


def _held(home: Path, rid: bytes) -> bool:
    with Node.open(home) as node:
        return node.get(rid) is not None


def _listed_texts(home: Path, scope: str) -> list[str]:
    with Node.open(home) as node:
        return [str((r.body or {}).get("text")) for r in node.records(scope=scope, kind="core.note")]


def _rejection_details(home: Path) -> list[str]:
    r = tequio(home, "records", "rejected", "--json")
    assert r.returncode == 0, r.stderr
    return [str(x.get("detail")) for x in json.loads(r.stdout)]


async def test_a_trusted_non_member_cannot_write_into_a_group_over_federation(tmp_path: Path) -> None:
    """An outsider's own plain gov.keys record gives it no write authority: the note is refused (E5)."""
    home, scope = _member_home(tmp_path, [])
    mala = fresh_keyring(5151)
    trust(home, mala.key, "Mala", [])
    signer = SigningKey((5151).to_bytes(32, "big"))
    assert bytes(signer.verify_key) == mala.key
    served = start_serve(home)
    try:
        keys, epoch_key = _keys_record(signer, scope, 1, None, [served.key, mala.key])
        note = _note(signer, scope, 2, keys.id, keys, epoch_key)
        async with aiohttp.ClientSession() as http:
            status, reply = await signed_post(
                http, served.fed, mala, served.key, "push", {"records": [keys.wire, note.wire]}
            )
        assert status == 200, reply
        assert reply == {"accepted": 1, "rejected": 1}, reply  # the key record is kept, the note is not
        await served.api_call_once()
    finally:
        err = served.stop()
    assert "Traceback" not in err, err
    assert not _held(home, note.id)
    assert any("E5" in d for d in _rejection_details(home)), _rejection_details(home)
    assert INJECTED not in _listed_texts(home, scope)
    store_is_healthy(home)


def test_records_import_of_an_outsiders_key_and_note_is_refused(tmp_path: Path) -> None:
    """A record file carrying an outsider's key record and a note under it: the note is refused (E5)."""
    home, scope = _member_home(tmp_path, [])
    with Node.open(home) as node:
        me = node.key
    outsider = SigningKey(b"\x42" * 32)
    keys, epoch_key = _keys_record(outsider, scope, 1, None, [me, bytes(outsider.verify_key)])
    note = _note(outsider, scope, 2, keys.id, keys, epoch_key)
    file = tmp_path / "records.bin"
    file.write_bytes(keys.wire + note.wire)
    r = tequio(home, "records", "import", str(file), "--json")
    assert r.returncode == 1, (r.stdout, r.stderr)
    report = json.loads(r.stdout)
    details = [x["detail"] for x in report["rejected"]]
    assert any("E5" in d for d in details), report
    assert not _held(home, note.id)
    assert INJECTED not in _listed_texts(home, scope)
    store_is_healthy(home)


async def test_a_members_rogue_key_record_gives_an_outsider_no_voice(tmp_path: Path) -> None:
    """A member seals a key to the members and an outsider; the fold ignores it (G7), so the
    outsider's notes under it are refused (E5), while the member's own valid notes still pass."""
    rogue = SigningKey(b"\x11" * 32)
    home, scope = _member_home(tmp_path, [bytes(rogue.verify_key)])
    outsider = fresh_keyring(6262)
    out_signer = SigningKey((6262).to_bytes(32, "big"))
    trust(home, outsider.key, "Amiga", [])
    with Node.open(home) as node:
        me, heads = node.key, tuple(node.governance.heads(scope))
    keys, epoch_key = _keys_record(rogue, scope, 1, None, [me, bytes(rogue.verify_key), outsider.key], heads)
    note = _note(out_signer, scope, 1, None, keys, epoch_key)
    served = start_serve(home)
    try:
        async with aiohttp.ClientSession() as http:
            status, reply = await signed_post(
                http, served.fed, outsider, served.key, "push", {"records": [keys.wire, note.wire]}
            )
        assert status == 200, reply
        assert reply == {"accepted": 1, "rejected": 1}, reply
        await served.api_call_once()
    finally:
        err = served.stop()
    assert "Traceback" not in err, err
    assert _held(home, keys.id)  # the fold needs it to say why it was ignored
    with Node.open(home) as node:
        st = node.governance.state(scope)
        assert st is not None and keys.id in st.ignored and "G7" in st.ignored[keys.id]
    assert not _held(home, note.id)
    details = _rejection_details(home)
    assert any("E5" in d and "G7" in d for d in details), details
    assert INJECTED not in _listed_texts(home, scope)
    store_is_healthy(home)


async def test_a_removed_member_writing_past_its_head_is_refused_over_federation(tmp_path: Path) -> None:
    """E6: `group remove` records B's feed head; B, not told, pushes a note written after it over HTTP
    to a `tequio serve`: refused with E6 (its note from before stays listed), and the node stays healthy."""
    from tequio.governance import ADMIT, REMOVE, ROLES, RULES
    from tests.conftest import FakeClock, seeded_rng
    from tests.test_governance_fold import BY_MEMBER

    home = tmp_path / "casa"
    init_home(home)
    nb = Node.create(
        tmp_path / "b", name="Org B", clock=FakeClock(), rng=seeded_rng(77), kdf_profile="interactive"
    )
    try:
        rules = {ADMIT: BY_MEMBER, REMOVE: BY_MEMBER, ROLES: BY_MEMBER, RULES: BY_MEMBER}
        with Node.open(home) as node:
            gid, scope = create_group(node, "Coalición", [(nb.key, "B", [])], rules)
            nb.ingest(list(node.export(scope)))
        before = nb.publish("core.note", {"text": "antes"}, scope=scope)
        with Node.open(home) as node:
            assert node.ingest([before.record.wire]).accepted == 1
        trust(home, nb.key, "B", [])
        r = tequio(home, "group", "remove", gid.hex(), nb.key.hex())
        assert r.returncode == 0, (r.stdout, r.stderr)
        after = nb.publish("core.note", {"text": INJECTED}, scope=scope)  # B was not told
        keyring = SigningKeyring(nb._signing_key())
    finally:
        nb.close()
    served = start_serve(home)
    try:
        async with aiohttp.ClientSession() as http:
            status, reply = await signed_post(
                http, served.fed, keyring, served.key, "push", {"records": [after.record.wire]}
            )
            await served.api_call_once()
        assert status == 200, reply
        assert reply == {"accepted": 0, "rejected": 1}, reply
        await served.api_call_once()
    finally:
        err = served.stop()
    assert "Traceback" not in err, err
    assert not _held(home, after.id) and _held(home, before.id)
    assert any("E6" in d for d in _rejection_details(home)), _rejection_details(home)
    assert _listed_texts(home, scope) == ["antes"]
    shown = json.loads(tequio(home, "group", "show", gid.hex(), "--json").stdout)
    assert nb.key.hex() not in [m["key"] for m in shown["members"]]
    store_is_healthy(home)


def _own_group(signer: SigningKey, member: bytes, name: str, title: str) -> list[Record]:
    """A group of ``signer``'s own with ``member`` in it, as a node would write it by hand: its key
    record, a genesis named ``name``, and a proposal titled ``title``."""
    me = bytes(signer.verify_key)
    salt = me[:16]
    scope = "g:" + group_id(me, salt).hex()
    epoch_key = bytes(range(1, 33))
    boxes = [{"to": m, "box": seal_to(m, encode_key_box(epoch_key, []))} for m in sorted([me, member])]
    body = {"boxes": boxes, "commit": key_commitment(epoch_key), "salt": salt}
    keys = make_record(signer, scope, 1, None, _now(), Payload("gov.keys", body).encode())
    members = [{"key": k, "name": n, "roles": []} for k, n in sorted([(me, "Mala"), (member, "Casa")])]
    genesis_body = {"name": name, "description": "", "salt": salt, "members": members, "rules": {}}

    def sealed(kind: str, body: dict, refs: tuple[bytes, ...]) -> bytes:
        return seal_group(epoch_key, keys.id, Payload(kind, body, refs).encode(), lambda n: b"\x09" * n)

    genesis = make_record(signer, scope, 2, keys.id, _now(), sealed("gov.group", genesis_body, (keys.id,)))
    proposal = make_record(
        signer,
        scope,
        3,
        genesis.id,
        _now(),
        sealed("gov.proposal", {"title": title, "method": "majority"}, (genesis.id,)),
    )
    return [keys, genesis, proposal]


async def test_names_and_titles_that_could_forge_a_line_are_refused_on_ingest(tmp_path: Path) -> None:
    """Issue 9 §7 through federation: a trusted peer pushes groups of its own with this node in them,
    one named with an escape that paints a fake `peer list` line, one with a title carrying a bidi
    override. The genesis and the proposal are refused as invalid-body (the peer pays for them);
    `group list` shows neither name, and the clean group of the same peer is kept."""
    home = tmp_path / "casa"
    init_home(home)
    mala = fresh_keyring(6100)
    trust(home, mala.key, "Mala", [])
    signer = SigningKey((6100).to_bytes(32, "big"))
    forged = "Org Amiga\n\x1b[32mKBQK-X4OW-CGJE-STVC  trusted     Fiscalía (verified)\x1b[0m"
    with Node.open(home) as node:
        target = node.key
    first = _own_group(signer, target, forged, "Presupuesto")
    other = SigningKey((6101).to_bytes(32, "big"))  # a second key of the same operator, same peer
    second = _own_group(other, target, "Red de apoyo", "Vota\u202e sí")
    served = start_serve(home)
    try:
        with served.watched():
            async with aiohttp.ClientSession() as http:
                status, reply = await signed_post(
                    http, served.fed, mala, served.key, "push", {"records": [r.wire for r in first + second]}
                )
                await served.api_call_once()
    finally:
        err = served.stop()
    # accepted: both key records and the clean genesis; refused: the forged genesis, the proposal
    # after it (a gap now), and the proposal with the bidi override
    assert status == 200 and reply == {"accepted": 3, "rejected": 3}, reply
    assert "Traceback" not in err
    assert served.worst_latency() < 1.0
    rejected = json.loads(tequio(home, "records", "rejected", "--json").stdout)
    why = {r["id"]: (r["reason"], r["detail"]) for r in rejected if r.get("id")}
    for rec in (first[1], second[2]):
        reason, detail = why[rec.id.hex()]
        assert reason == "invalid-body" and "control, escape or bidirectional characters" in detail, detail
    groups = json.loads(tequio(home, "group", "list", "--json").stdout)
    assert [g["name"] for g in groups] == ["Red de apoyo"]
    listed = tequio(home, "group", "list").stdout
    assert "KBQK" not in listed and "\x1b" not in listed
    peer = json.loads(tequio(home, "peer", "list", "--json").stdout)[0]
    assert peer["penalty"] > 0 and "invalid-body" in peer["why"]
    store_is_healthy(home)
