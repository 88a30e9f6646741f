"""Interoperability with tests/independent/refimpl.py, written from docs/protocol.md alone."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from tequio.node import Node
from tests.independent import refimpl as R


def _refimpl_feed(seed: bytes, n: int, scope: str = "public") -> list[bytes]:
    wires, prev = [], None
    for i in range(1, n + 1):
        body = {"text": f"registro {i}: detención en la plaza — testigo ñ", "n": i}
        payload = R.payload_bytes("core.note", body, refs=[prev] if prev else ())
        wire = R.make_wire(seed, scope, i, prev, 1_767_225_600_000 + i, payload)
        prev = R.check_wire(wire)["id"]
        wires.append(wire)
    return wires


def test_records_made_by_the_independent_implementation_import_cleanly(node: Node) -> None:
    seeds = [hashlib.sha256(f"interop {i}".encode()).digest() for i in range(3)]
    wires = [w for s in seeds for w in _refimpl_feed(s, 20)]
    report = node.ingest(wires)
    assert (report.accepted, report.duplicates, report.rejected) == (60, 0, [])
    by_id = {r.id: r for r in node.records(limit=None)}
    for wire in wires:
        fields = R.check_wire(wire)
        stored = by_id[fields["id"]]
        assert stored.record.wire == wire and stored.kind == "core.note"
        assert stored.body == R.parse_payload(fields["payload"])["body"]
    assert node.store.check(signatures=True) == []


def test_redacted_and_restricted_records_from_the_independent_implementation(node: Node) -> None:
    seed = hashlib.sha256(b"interop redacted").digest()
    full = _refimpl_feed(seed, 2)
    second = R.check_wire(full[1])
    redacted = R.make_wire(
        seed, "public", 2, second["prev"], second["ts"], None, payload_hash=second["payload_hash"]
    )
    assert R.check_wire(redacted)["id"] == second["id"]
    report = node.ingest([full[0], redacted])
    assert report.accepted == 2 and node.get(second["id"]).redacted
    # A direct record to this node: valid envelope, payload unreadable until governance gives keys.
    direct = R.make_wire(seed, "d:" + node.key.hex(), 1, None, 5, b"\x01" * 40)
    assert [str(r.reason) for r in node.ingest([direct]).rejected] == ["undecryptable"]


def test_exported_records_verify_under_the_independent_implementation(node: Node, tmp_path: Path) -> None:
    texts = ["hola", "niñas y niños 🌱", "x" * 10_000, "línea\nnueva"]
    for t in texts:
        node.publish("core.note", {"text": t})
    stream = b"".join(node.export())
    values = R.split_stream(stream)
    assert len(values) == len(texts)
    prev = None
    for value, text in zip(values, texts, strict=True):
        fields = R.check_wire(value)
        assert fields["author"] == node.key and fields["prev"] == prev
        assert R.parse_payload(fields["payload"])["body"] == {"text": text}
        prev = fields["id"]
    assert R.check_stream(stream) == [None] * len(texts)
    assert R.fingerprint(node.key) == node.fingerprint


def test_cli_export_verifies_under_the_independent_implementation(cli, tmp_path: Path) -> None:
    assert cli("init", "--name", "Interop").code == 0
    for i in range(3):
        assert cli("publish", "core.note", "--body", json.dumps({"text": f"nota {i}"})).code == 0
    out = tmp_path / "export.bin"
    assert cli("records", "export", "--out", str(out)).code == 0
    assert R.check_stream(out.read_bytes()) == [None, None, None]
    # and the other way: a stream made by the independent implementation, through `records import`
    made = tmp_path / "made.bin"
    made.write_bytes(b"".join(_refimpl_feed(hashlib.sha256(b"cli interop").digest(), 5)))
    r = cli("records", "import", str(made), "--json")
    assert r.code == 0 and json.loads(r.out) == {"accepted": 5, "duplicates": 0, "rejected": []}
