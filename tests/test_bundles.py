"""Bundles carried between two nodes that never connect; a damaged bundle imports nothing at all."""

from __future__ import annotations

import io
import json
import struct
from collections.abc import Callable
from pathlib import Path

import pytest

from tequio.federation.bundle_file import MAGIC, BundleError, read_bundle, write_bundle
from tequio.federation.wire import SigningKeyring
from tequio.node import Node
from tequio.node.bundle_io import export_bundle, import_bundle
from tequio.schemas import BlobRef, Payload, direct_scope, make_record
from tests.conftest import key
from tests.test_blobs import _file
from tests.test_ingest import StandInPolicy


@pytest.fixture
def two(make_node: Callable[..., Node], tmp_path: Path) -> tuple[Node, Node, Path, list[bytes], BlobRef]:
    a, b = make_node(name="A", seed=1), make_node(name="B", seed=2)
    ids = [a.publish("core.note", {"text": f"para llevar {i}"}).id for i in range(600)]
    h, size = a.blobs.put_file(_file(tmp_path, 2_300_000, "foto.jpg"))
    ref = BlobRef(h, size, "image/jpeg")
    ids.append(a.publish("core.note", {"text": "con foto"}, blobs=[ref]).id)
    out = tmp_path / "stick" / "para-B.tqb"
    out.parent.mkdir()
    assert export_bundle(a, b.key, out) == (601, 1)
    return a, b, out, ids, ref


def test_records_and_blobs_cross_on_a_stick(two: tuple[Node, Node, Path, list[bytes], BlobRef]) -> None:
    a, b, out, ids, ref = two
    assert b"para llevar" not in out.read_bytes()  # encrypted
    done = import_bundle(b, out)
    assert done.sender == a.key and done.report.accepted == 601 and done.blobs == 1
    assert {r.id for r in b.records(limit=None)} == set(ids)
    assert b.blobs.has(ref.hash) and b.store.check(signatures=True) == []
    again = import_bundle(b, out)
    assert (again.report.accepted, again.report.duplicates) == (0, 601)


def test_only_what_the_recipient_may_read(make_node: Callable[..., Node], tmp_path: Path) -> None:
    a, b, c = make_node(name="A", seed=1), make_node(name="B", seed=2), make_node(name="C", seed=3)
    to_b, to_c = direct_scope(b.key), direct_scope(c.key)
    a.access = StandInPolicy(readable=(to_b, to_c))
    a.publish("core.note", {"text": "para todos"})
    mine = [
        make_record(key(80), to_b, 1, None, 1, Payload("core.note", {"text": "para B"}).encode()),
        make_record(key(81), to_c, 1, None, 1, Payload("core.note", {"text": "para C"}).encode()),
    ]
    assert a.ingest([r.wire for r in mine]).accepted == 2
    out = tmp_path / "b.tqb"
    assert export_bundle(a, b.key, out) == (2, 0)  # the public note and B's direct record; not C's
    b.access = StandInPolicy(readable=(to_b,))
    assert import_bundle(b, out).report.accepted == 2
    assert {r.scope for r in b.records(limit=None)} == {"public", to_b}


def test_since_limits_to_recent_records(make_node: Callable[..., Node], tmp_path: Path) -> None:
    a, b = make_node(name="A", seed=1), make_node(name="B", seed=2)
    a.publish("core.note", {"text": "viejo"})
    cut = a.clock()
    a.publish("core.note", {"text": "nuevo"})
    out = tmp_path / "since.tqb"
    assert export_bundle(a, b.key, out, since=cut) == (1, 0)


def _tamper(data: bytes, where: str) -> bytes:
    (hlen,) = struct.unpack(">I", data[8:12])
    body = 12 + hlen + 24  # first chunk's length prefix
    d = bytearray(data)
    if where == "magic":
        d[0] ^= 1
    elif where == "header":
        d[12 + 4 + 6] ^= 1  # inside the sender's key (after 0x95 0x01 0xc4 0x20): the box no longer opens
    elif where == "sealed key":
        d[12 + hlen - 5] ^= 1
    elif where == "stream header":
        d[12 + hlen + 3] ^= 1
    elif where == "a chunk":
        d[body + 40] ^= 1
    elif where == "chunk length":
        d[body : body + 4] = struct.pack(">I", 10**9)
    elif where == "a missing chunk":
        (n,) = struct.unpack(">I", data[body : body + 4])
        del d[body : body + 4 + n]
    elif where == "the end":
        return data[:-10]
    elif where == "extra data":
        return data + data[body:]
    return bytes(d)


@pytest.mark.parametrize(
    ("where", "why"),
    [
        ("magic", "not a Tequio bundle"),
        ("header", "does not open"),
        ("sealed key", "does not open"),
        ("stream header", "altered"),
        ("a chunk", "altered"),
        ("chunk length", "impossible size"),
        ("a missing chunk", "altered"),
        ("the end", "truncated"),
        ("extra data", "after its end"),
    ],
)
def test_a_damaged_bundle_imports_nothing(
    two: tuple[Node, Node, Path, list[bytes], BlobRef], where: str, why: str
) -> None:
    _, b, out, _, ref = two
    out.write_bytes(_tamper(out.read_bytes(), where))
    with pytest.raises(BundleError, match=why):
        import_bundle(b, out)
    assert b.count() == 0 and not b.blobs.has(ref.hash)


def test_a_bundle_for_another_node_is_refused(
    two: tuple[Node, Node, Path, list[bytes], BlobRef], make_node: Callable[..., Node]
) -> None:
    _, _, out, _, _ = two
    stranger = make_node(name="C", seed=3)
    with pytest.raises(BundleError, match="for another node"):
        import_bundle(stranger, out)


def test_blobs_nobody_refers_to_are_not_kept(make_node: Callable[..., Node], tmp_path: Path) -> None:
    a, b = make_node(name="A", seed=1), make_node(name="B", seed=2)
    junk = _file(tmp_path, 100_000, "junk.bin")
    h, size = a.blobs.put_file(junk)
    buf = io.BytesIO()
    write_bundle(buf, SigningKeyring(a._signing_key()), b.key, [], [(h, size, a.blobs.path(h))], 1)
    out = tmp_path / "junk.tqb"
    out.write_bytes(buf.getvalue())
    assert import_bundle(b, out).blobs == 0 and not b.blobs.has(h)
    read = read_bundle(io.BytesIO(buf.getvalue()), SigningKeyring(b._signing_key()), tmp_path)
    assert read.blobs[0][:2] == (h, size)  # it was there, and intact; it was refused on purpose


def test_cli_export_and_import(cli, tmp_path: Path) -> None:
    b_home = tmp_path / "b"
    assert cli("init", "--name", "Org A").code == 0
    assert cli("init", "--name", "Org B", home_dir=b_home).code == 0
    for i in range(3):
        cli("publish", "core.note", "--body", json.dumps({"text": f"nota {i}"}))
    b_key = json.loads(cli("info", "--json", home_dir=b_home).out)["key"]
    out = tmp_path / "usb" / "bundle.tqb"
    out.parent.mkdir()
    r = cli("bundle", "export", "--for", b_key, "--out", str(out), "--json")
    assert r.code == 0, r.err
    assert json.loads(r.out)["records"] == 3
    r = cli("bundle", "import", str(out), "--json", home_dir=b_home)
    assert r.code == 0 and json.loads(r.out)["accepted"] == 3
    data = bytearray(out.read_bytes())
    data[-20] ^= 1
    out.write_bytes(bytes(data))
    c_home = tmp_path / "c"
    cli("init", "--name", "Org C", home_dir=c_home)
    r = cli("bundle", "import", str(out), home_dir=c_home)
    assert r.code == 1 and "nothing was imported" in r.err and "for another node" in r.err
    r = cli("bundle", "import", str(out), home_dir=b_home)
    assert r.code == 1 and "altered" in r.err and "nothing was imported" in r.err
    bad_since = cli("bundle", "export", "--for", b_key, "--out", str(out), "--since", "ayer")
    assert bad_since.code == 2 and "a duration back from now" in bad_since.err
    assert out.read_bytes()[: len(MAGIC)] == MAGIC  # the failed export left the earlier file alone
    unmounted = cli("bundle", "export", "--for", b_key, "--out", str(tmp_path / "no-stick" / "b.tqb"))
    assert unmounted.code == 1 and "does not exist" in unmounted.err and ".part" not in unmounted.err


def test_cli_parts_any_order_ack_and_since_last(cli, tmp_path: Path) -> None:
    """A split export imports in any order, says what is missing, and its ack shrinks the next one."""
    b_home, c_home = tmp_path / "b", tmp_path / "c"
    cli("init", "--name", "Org A")
    cli("init", "--name", "Org B", home_dir=b_home)
    cli("init", "--name", "Org C", home_dir=c_home)
    for i in range(20):  # about 180 KB of records: more than one part of 128K
        r = cli("publish", "core.note", "--body", json.dumps({"text": f"nota {i} " + "x" * 9_000}))
        assert r.code == 0, r.err
    b_key = json.loads(cli("info", "--json", home_dir=b_home).out)["key"]
    out = tmp_path / "usb" / "b.tqb"
    out.parent.mkdir()
    r = cli("bundle", "export", "--for", b_key, "--out", str(out), "--max-size", "128K", "--json")
    assert r.code == 0, r.err
    parts = [Path(p) for p in json.loads(r.out)["parts"]]
    assert len(parts) >= 2 and all(p.stat().st_size <= 140 * 1024 for p in parts)
    r = cli("bundle", "import", str(parts[-1]), home_dir=b_home)
    assert r.code == 0, r.err
    assert "missing part" in r.out
    damaged = tmp_path / "trunc.tqb"
    damaged.write_bytes(parts[0].read_bytes()[:-30])
    r = cli("bundle", "import", str(damaged), home_dir=b_home)
    assert r.code == 1 and "truncated" in r.err and "nothing was imported" in r.err
    ack = tmp_path / "ack.tqb"
    r = cli("bundle", "import", *map(str, reversed(parts)), "--ack-out", str(ack), home_dir=b_home)
    assert r.code == 0, r.err
    assert "all parts are in" in r.out and ack.exists()
    # The ack goes back to A; the next --since-last export carries nothing already acknowledged.
    r = cli("bundle", "import", str(ack))
    assert r.code == 0 and "arrived" in r.out, r.err
    again = tmp_path / "usb" / "again.tqb"
    r = cli("bundle", "export", "--for", b_key, "--out", str(again), "--since-last", "--json")
    assert r.code == 0 and json.loads(r.out)["records"] == 0, r.out + r.err
    # An ack from a key A never exported to is refused, and changes nothing.
    a_key = json.loads(cli("info", "--json").out)["key"]
    c_out = tmp_path / "c.tqb"
    cli("bundle", "export", "--for", a_key, "--out", str(c_out), "--since-last", home_dir=c_home)
    forged = tmp_path / "forged-ack.tqb"
    r = cli("bundle", "import", str(c_out), "--ack-out", str(forged))  # A imports C's, acks to C
    assert r.code == 0, r.err
    r = cli("bundle", "import", str(forged), home_dir=b_home)  # B is not the ack's recipient
    assert r.code == 1 and "for another node" in r.err
