#!/usr/bin/env python3
"""Check a Tequio evidence package by hand: python3 check.py FILE.zip (needs Python 3.8+ and PyNaCl).

It reads the zip itself, never unpacking it, so that a name that climbs out of a folder or a zip whose
directory disagrees with its members is seen as it is. It ends with ALL CHECKS PASSED (exit status 0) or
the number of problems (exit status 1). Sections refer to VERIFY.md; laid out by hand, to be read there.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import struct
import sys
import zlib
from collections.abc import Callable, Iterator
from typing import Any

from nacl.bindings import crypto_box_open_afternm
from nacl.secret import SecretBox
from nacl.signing import VerifyKey

# fmt: off
FORMAT = "tequio-evidence-package/2"
FIXED = ("manifest.json", "manifest.sig", "keys.json", "custody.json", "VERIFY.md")
RECORD_NAME = re.compile(r"records/[0-9a-f]{64}\.(bin|json)")
FILE_NAME = re.compile(r"(originals|working)/([0-9a-f]{64})(\.[a-z0-9]{1,8})?")
LIMITS = {"manifest.json": 64 << 20, "keys.json": 16 << 20, "custody.json": 64 << 20, "manifest.sig": 1024,
          "VERIFY.md": 1 << 20}
MAX_RECORD_JSON, MAX_RECORD_WIRE, MAX_MEMBERS, MAX_INFLATED, MAX_RATIO = 16 << 20, 69632, 200000, 1 << 30, 256
CRC_WRONG = "the zip's CRC-32 for it does not match its content: the zip file was changed or damaged"

problems: list[tuple[str, str]] = []


def fail(part: str, what: str) -> None:
    problems.append((part, what))
    print("PROBLEM", part + ":", what)


def fingerprint(key: bytes) -> str:
    text = base64.b32encode(hashlib.sha256(b"tequio/fingerprint/v1\n" + key).digest()[:10]).decode()
    return "-".join(text[i : i + 4] for i in range(0, 16, 4))


def hex32(v: Any) -> bytes | None:
    return bytes.fromhex(v) if isinstance(v, str) and re.fullmatch("[0-9a-f]{64}", v) else None


def same(a: Any, b: Any) -> bool:
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


# --------------------------------------------------------------------------------------------------
# Section 3: the zip itself. Members follow each other from the first byte, each local header agrees
# with its central directory entry, the directory follows the last member, and the end record ends
# the file; media are stored, only small JSON members may be deflated, within bounds.

LOCAL, CENTRAL = struct.Struct("<4sBBHHHHLLLHH"), struct.Struct("<4sBBBBHHHHLLLHHHHHLL")
END, LOCATOR, END64 = struct.Struct("<4sHHHHLLH"), struct.Struct("<4sLQL"), struct.Struct("<4sQHHLLQQQQ")


class Member:
    def __init__(self, name: str, fields: tuple[Any, ...], sizes: list[int]) -> None:
        self.name, self.flags, self.method, self.crc = name, fields[5], fields[6], fields[9]
        self.size, self.csize, self.offset = sizes
        self.data = 0  # where its content starts, after its local header
        self.refused = False  # its entry breaks a rule that makes reading it unsafe or ambiguous


def read_at(f: Any, offset: int, n: int) -> bytes:
    f.seek(offset)
    return bytes(f.read(n))


def zip64(extra: bytes, values: list[int]) -> list[int]:
    """Replace the 32-bit fields that say 0xFFFFFFFF with the zip64 extra field's 8-byte values."""
    i = 0
    while i + 4 <= len(extra):
        tag, n = struct.unpack("<HH", extra[i : i + 4])
        field, j = extra[i + 4 : i + 4 + n], 0
        for k, v in enumerate(values):
            if tag == 1 and v == 0xFFFFFFFF and j + 8 <= len(field):
                values[k], j = struct.unpack("<Q", field[j : j + 8])[0], j + 8
        i += 4 + n
    return values


def read_zip(path: str, zipname: str, fail: Callable[[str, str], None] = fail) -> dict[str, Member] | None:
    """The members by name, after checking the zip's structure; None when it cannot be read at all."""
    with open(path, "rb") as f:
        end_at = f.seek(0, 2) - END.size
        if end_at < 0:
            fail(zipname, "is not a readable zip file (too short)")
            return None
        sig, disk, cd_disk, n_disk, count, cd_size, cd_offset, comment = END.unpack(read_at(f, end_at, 22))
        if sig != b"PK\x05\x06" or comment:
            fail(zipname, "is not a readable zip file (cut short or damaged?): it does not end with a zip "
                 "end record, or a comment or other bytes follow it")
            return None
        if 0xFFFF in (count, n_disk) or 0xFFFFFFFF in (cd_size, cd_offset):
            lsig, _, end64_at, _ = LOCATOR.unpack(read_at(f, end_at - LOCATOR.size, LOCATOR.size))
            raw = read_at(f, end64_at, END64.size) + bytes(END64.size)  # padded: a short read fails below
            _, size64, _, _, disk, cd_disk, n_disk, count, cd_size, cd_offset = END64.unpack(raw[:56])
            if (lsig, raw[:4], size64, end64_at + 56) != (b"PK\x06\x07", b"PK\x06\x06", 44, end_at - 20):
                fail(zipname, "its zip64 end records are missing, damaged, or not where the end record says")
                return None
            end_at = end64_at
        if disk or cd_disk or n_disk != count:
            fail(zipname, "is a multi-disk zip or its end record counts disagree")
        if cd_offset + cd_size != end_at:
            fail(zipname, "its central directory does not end where the end record begins")
        if count > MAX_MEMBERS:
            fail(zipname, f"has {count} members; a package has at most {MAX_MEMBERS}")
            return None
        directory, i = read_at(f, cd_offset, cd_size), 0
        members: dict[str, Member] = {}
        for _ in range(count):
            c = CENTRAL.unpack(directory[i : i + 46]) if i + 46 <= len(directory) else None
            if c is None or c[0] != b"PK\x01\x02":
                fail(zipname, "its central directory is damaged (cut short, or an entry's signature wrong)")
                return None
            raw_name = directory[i + 46 : i + 46 + c[12]]
            extra = directory[i + 46 + c[12] : i + 46 + c[12] + c[13]]
            i += 46 + c[12] + c[13] + c[14]
            name = raw_name.decode("utf-8" if c[5] & 0x800 else "cp437", "replace")
            m = Member(name, c, zip64(extra, [c[11], c[10], c[18]]))
            if m.name in members:
                fail(m.name, "appears more than once in the zip: which copy counts is ambiguous")
                m.refused = members[m.name].refused = True
            members[m.name] = m
            member_rules(m, c, fail)
            local_agrees(f, m, c, raw_name, fail)
        if i != len(directory):
            fail(zipname, "its central directory holds more than its entries")
        at = 0
        for m in sorted(members.values(), key=lambda m: m.offset):
            if m.offset != at:
                fail(m.name, f"starts at byte {m.offset}, not right after the member before it (byte {at})")
            at = max(at, m.data + m.csize)
        if at != cd_offset:
            fail(zipname, f"holds bytes {at} to {cd_offset} that belong to no member")
        inflated = sum(m.size for m in members.values() if m.method == 8)
        if inflated > MAX_INFLATED:
            fail(zipname, f"its deflated members would inflate to {inflated} bytes; at most {MAX_INFLATED}")
        return members


def member_rules(m: Member, c: tuple[Any, ...], fail: Callable[[str, str], None]) -> None:
    """A member's name fits the layout; it is a plain file, stored or deflated within bounds. One that
    breaks a rule here is not read at all."""
    comment, disk, internal, external = c[14], c[15], c[16], c[17]
    media = m.name.startswith(("originals/", "working/")) or m.name.endswith(".bin")
    limit = LIMITS.get(m.name, MAX_RECORD_JSON)
    for broken, what in (
        (not (m.name in FIXED or RECORD_NAME.fullmatch(m.name) or FILE_NAME.fullmatch(m.name)),
         "does not fit the package layout (section 1): it is not read"),
        (bool(comment or disk or internal not in (0, 1)), "its central directory entry has a comment, a disk "
         "number or attributes a package never has"),
        ((external >> 16) & 0o170000 not in (0, 0o100000) or bool(external & 0x10),
         "is not a plain file in the zip (a link or a folder)"),
        (bool(m.flags & ~0x800), f"has zip flags {m.flags:#x} (encrypted, or sizes after the data)"),
        (m.method not in (0, 8) or (media and m.method != 0),
         f"uses compression method {m.method}; files and records are stored, JSON at most deflated"),
        (m.method == 0 and m.csize != m.size, f"is stored, yet its sizes differ ({m.csize}, {m.size} bytes)"),
        (m.method == 8 and (m.size > limit or m.size > MAX_RATIO * m.csize + 4096),
         f"would inflate from {m.csize} to {m.size} bytes: beyond what a package holds"),
    ):
        if broken:
            fail(m.name, what)
            m.refused = True


def local_agrees(f: Any, m: Member, c: tuple[Any, ...], raw_name: bytes, fail: Callable[..., None]) -> None:
    """The member's local header says what its central directory entry says."""
    raw = read_at(f, m.offset, LOCAL.size)
    if len(raw) < LOCAL.size:
        fail(m.name, "its local header lies beyond the end of the zip")
        m.refused = True
        return
    sig, version, _, flags, method, t, d, crc, csize, size, nlen, xlen = LOCAL.unpack(raw)
    name, extra = f.read(nlen), f.read(xlen)
    m.data = m.offset + LOCAL.size + nlen + xlen
    wrong = [what for what, a, b in (
        ("signature", sig, b"PK\x03\x04"), ("version", version, c[3]), ("flags", flags, m.flags),
        ("method", method, m.method), ("time", (t, d), (c[7], c[8])), ("CRC-32", crc, m.crc),
        ("sizes", zip64(extra, [size, csize]), [m.size, m.csize]), ("name", name, raw_name),
    ) if a != b]
    if wrong:
        fail(m.name, f"its local header and the central directory disagree ({', '.join(wrong)}): "
             "the zip was changed")
    # Only a CRC-32, a time or a version that disagree leave it clear which bytes the member holds.
    m.refused = m.refused or bool(set(wrong) - {"CRC-32", "time", "version"})


def chunks(path: str, m: Member) -> Iterator[bytes]:
    """A member's content in pieces of at most 1 MiB, inflated if deflated, never more than its size."""
    if m.refused:
        raise ValueError("it is not read: its entry in the zip breaks the rules above")
    with open(path, "rb") as f:
        f.seek(m.data)
        left, out = m.csize, 0
        inflate = zlib.decompressobj(-15) if m.method == 8 else None
        while left:
            piece = f.read(min(left, 1 << 20))
            if not piece:
                raise ValueError("cut short")
            left -= len(piece)
            if inflate is not None:
                piece = inflate.decompress(piece, m.size - out + 1)
                if inflate.unconsumed_tail:
                    raise ValueError("inflates to more than its size")
            out += len(piece)
            yield piece
        if inflate is not None and not inflate.eof:
            raise ValueError("its compressed data does not end")


def no_twice(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    if len({k for k, _ in pairs}) != len(pairs):
        raise ValueError("a key appears twice")
    return dict(pairs)


def no_constant(name: str) -> Any:
    raise ValueError(name + " is not JSON")


def strict_json(data: bytes, part: str) -> Any:
    """JSON in UTF-8, with no key twice and no NaN; None (and a problem) otherwise."""
    try:
        return json.loads(data.decode("utf-8"), object_pairs_hook=no_twice, parse_constant=no_constant)
    except (ValueError, RecursionError) as e:
        fail(part, "is not valid JSON: " + str(e)[:200])
        return None


class Package:
    """What the checks share: the zip, its members, what verified."""

    def __init__(self, path: str) -> None:
        self.path, self.name = path, path.replace("\\", "/").rsplit("/", 1)[-1]
        self.members: dict[str, Member] = {}
        self.digests: dict[str, str] = {}  # members hashed in section 3
        self.records: dict[bytes, dict[str, Any]] = {}  # id -> envelope fields and opened payload

    def read(self, name: str, limit: int) -> bytes | None:
        """A small member whole (None, and a problem, if it cannot be)."""
        m = self.members.get(name)
        if m is None or m.size > limit:
            fail(name, "is missing from the zip" if m is None else f"is {m.size} bytes; at most {limit} here")
            return None
        try:
            data = b"".join(chunks(self.path, m))
        except (ValueError, zlib.error, OSError) as e:
            fail(name, f"cannot be read from the zip ({e})")
            return None
        if zlib.crc32(data) != m.crc:
            fail(name, CRC_WRONG)
        if name in self.digests and hashlib.sha256(data).hexdigest() != self.digests[name]:
            fail(name, "changed while it was being checked")
            return None
        return data

    def json(self, name: str, limit: int) -> Any:
        data = self.read(name, limit) if name in self.digests else None
        return strict_json(data, name) if data is not None else None

    def body(self, rid: bytes, kind: str) -> dict[str, Any]:
        """The body of a record that opened, if it is of ``kind``; {} otherwise."""
        payload = self.records.get(rid, {}).get("payload") or {}
        b = payload.get("body")
        return b if payload.get("kind") == kind and isinstance(b, dict) else {}

    def evidence(self) -> Iterator[tuple[bytes, dict[str, Any], dict[str, Any]]]:
        """(id, record, body) of every opened record of a kind evidence.…"""
        for rid, r in self.records.items():
            kind = str((r["payload"] or {}).get("kind"))
            if kind.startswith("evidence.") and self.body(rid, kind):
                yield rid, r, self.body(rid, kind)


# Section 5: MessagePack, as far as records use it; then sections 3 to 8, in order -----------------

SIZES = {0xC4: 1, 0xC5: 2, 0xC6: 4, 0xD9: 1, 0xDA: 2, 0xDB: 4, 0xDC: 2, 0xDD: 4, 0xDE: 2, 0xDF: 4,
         0xCC: 1, 0xCD: 2, 0xCE: 4, 0xCF: 8, 0xD0: 1, 0xD1: 2, 0xD2: 4, 0xD3: 8}


def unpack(b: bytes, i: int = 0) -> tuple[Any, int]:
    """Decode the MessagePack value at b[i]: return it and the index just after it."""
    t = b[i]
    i += 1
    if t <= 0x7F or t >= 0xE0:  # fixint
        return (t if t <= 0x7F else t - 256), i
    if t in (0xC0, 0xC2, 0xC3):  # nil, false, true
        return {0xC0: None, 0xC2: False, 0xC3: True}[t], i
    if 0x80 <= t <= 0xBF:  # fixmap, fixarray, fixstr
        n = t & (0x1F if t >= 0xA0 else 0x0F)
    elif t in SIZES:
        n = int.from_bytes(b[i : i + SIZES[t]], "big", signed=0xD0 <= t <= 0xD3)
        i += SIZES[t]
        if 0xCC <= t <= 0xD3:  # integers
            return n, i
    else:
        raise ValueError(f"MessagePack type {t:#04x} does not occur in records")
    if 0xA0 <= t <= 0xBF or 0xD9 <= t <= 0xDB:  # str
        return b[i : i + n].decode("utf-8"), i + n
    if 0xC4 <= t <= 0xC6:  # bin
        return bytes(b[i : i + n]), i + n
    out: Any = [] if (0x90 <= t <= 0x9F or t in (0xDC, 0xDD)) else {}
    for _ in range(n):
        v, i = unpack(b, i)
        if isinstance(out, list):
            out.append(v)
            continue
        out[v], i = unpack(b, i)
    return out, i


def pack(v: Any) -> bytes:
    """Canonical MessagePack of an envelope field: nil, a non-negative integer, text or bytes."""
    if v is None:
        return b"\xc0"
    if isinstance(v, (str, bytes)):
        data = v.encode("utf-8") if isinstance(v, str) else v
        if isinstance(v, str) and len(data) < 32:
            return bytes([0xA0 + len(data)]) + data
        tags = (0xD9, 0xDA, 0xDB) if isinstance(v, str) else (0xC4, 0xC5, 0xC6)
        for tag, size in zip(tags, (1, 2, 4)):
            if len(data) < 1 << (8 * size):
                return bytes([tag]) + len(data).to_bytes(size, "big") + data
    for tag, size in ((0, 0), (0xCC, 1), (0xCD, 2), (0xCE, 4), (0xCF, 8)):  # 0: a positive fixint
        if isinstance(v, int) and 0 <= v < (1 << (8 * size) if size else 128):
            return bytes([tag]) + v.to_bytes(size, "big") if size else bytes([v])
    raise ValueError("not an envelope field")


def as_json(v: Any) -> Any:
    """The JSON view of a decoded value: bytes become {"$bin": hex}."""
    if isinstance(v, (bytes, list)):
        return {"$bin": v.hex()} if isinstance(v, bytes) else [as_json(x) for x in v]
    return {k: as_json(x) for k, x in v.items()} if isinstance(v, dict) else v


def envelope_of(scope: str, payload: bytes | None) -> dict[str, Any] | None:
    """Section 6: the encrypted envelope of a direct or group record; None for a plain payload map
    (public records, and a group's gov.keys records)."""
    if payload is None or not scope.startswith(("d:", "g:")):
        return None
    try:
        value = unpack(payload)[0]
    except (ValueError, IndexError, UnicodeDecodeError, RecursionError):
        value = None  # a direct payload must be an envelope: {} fails to open, as it should
    if scope.startswith("g:") and not (isinstance(value, dict) and "box" in value):
        return None
    return value if isinstance(value, dict) else {}


def check_files(p: Package, manifest: dict[str, Any]) -> None:
    """Section 3: every member but the manifest and its signature is listed with its SHA-256."""
    listed = manifest["files"] if isinstance(manifest.get("files"), dict) else {}
    for name, want in sorted(listed.items()):
        m = p.members.get(name)
        if hex32(want) is None or name in ("manifest.json", "manifest.sig"):
            fail("manifest.json", f"files: the entry for {name!r} is not a SHA-256 in hex of another member")
            continue
        if m is None:
            fail(name, "is missing from the zip (the manifest lists it)")
            continue
        h, crc = hashlib.sha256(), 0
        try:
            for piece in chunks(p.path, m):
                h.update(piece)
                crc = zlib.crc32(piece, crc)
        except (ValueError, zlib.error, OSError) as e:
            fail(name, f"cannot be read from the zip ({e})")
            continue
        p.digests[name] = h.hexdigest()
        if crc != m.crc:
            fail(name, CRC_WRONG)
        if h.hexdigest() != want:
            fail(name, f"SHA-256 is {h.hexdigest()}, not {want} as the manifest says: it was changed")
    for name in sorted(set(p.members) - set(listed) - {"manifest.json", "manifest.sig"}):
        fail(name, "is in the zip but not listed in the manifest")


def check_records(p: Package, manifest: dict[str, Any]) -> None:
    """Sections 5 and 6: each record's form, signature, id, payload hash, key, and JSON view."""
    entries = manifest["records"] if isinstance(manifest.get("records"), list) else []
    for i, entry in enumerate(entries):
        e = entry if isinstance(entry, dict) else {}
        rid, key = hex32(e.get("id")), e.get("key")
        name = "records/" + (rid or b"").hex() + ".bin"
        if rid is None or rid in p.records or (key is not None and not hex32(key)) or e.get("path") != name:
            fail("manifest.json", f"records[{i}] is not an entry of path, id, author, scope, seq, kind, key, "
                 "or it is listed twice")
            continue
        wire = p.read(name, MAX_RECORD_WIRE) if name in p.digests else None
        try:
            fields, end = unpack(wire or b"\xc0")
            version, author, scope, seq, prev, ts, payload_hash, sig, payload = fields
            if end != len(wire or b"") or b"\x99" + b"".join(pack(v) for v in fields) != wire or version != 1:
                raise ValueError
            signed = b"tequio/record/v1\n" + b"\x97" + b"".join(pack(v) for v in fields[:7])
            VerifyKey(author).verify(signed, sig)
        except Exception:
            fail(name, "is missing, not a record in canonical form, or its signature does not verify")
            continue
        if hashlib.sha256(signed).digest() != rid or (payload is not None and
                                                       hashlib.sha256(payload).digest() != payload_hash):
            fail(name, "its id is not its name, or its payload does not have the signed hash")
            continue
        for what, value in (("author", author.hex()), ("scope", scope), ("seq", seq)):
            if e.get(what) != value:
                fail("manifest.json", f"the {what} of {name} is given as {e.get(what)}, not {value}")
        envelope, plaintext = envelope_of(scope, payload), payload
        if envelope is not None:
            try:
                k = bytes.fromhex(str(key))
                if scope.startswith("d:"):
                    plaintext = crypto_box_open_afternm(envelope["box"], envelope["nonce"], k)
                else:
                    plaintext = SecretBox(k).decrypt(envelope["box"], envelope["nonce"])
            except Exception:
                fail(name, "the payload does not open with the key the manifest gives for it")
                continue
        elif key is not None:
            fail("manifest.json", f"records[{i}] gives a key for a record that is not encrypted")
        opened = unpack(plaintext)[0] if plaintext is not None else None
        kind = opened.get("kind") if isinstance(opened, dict) else None
        if e.get("kind") != kind:
            fail("manifest.json", f"records[{i}]: kind {e.get('kind')!r} is not the record's")
        view = p.json("records/" + rid.hex() + ".json", MAX_RECORD_JSON)
        want = {"id": rid.hex(), "author": author.hex(), "scope": scope, "seq": seq, "ts": ts, "kind": kind,
                "prev": prev.hex() if prev is not None else None, "payload_hash": payload_hash.hex(),
                "sig": sig.hex(), "payload": as_json(opened) if opened is not None else None}
        if not isinstance(view, dict) or not same(view, want):
            fail("records/" + rid.hex() + ".json", "is missing or does not show the signed record")
        p.records[rid] = {"author": author, "scope": scope, "seq": seq, "prev": prev, "ts": ts, "name": name,
                          "payload": opened if isinstance(opened, dict) else None, "key": key,
                          "keys_record": (envelope or {}).get("key") if scope.startswith("g:") else None}
    print("checked", len(p.digests), "file hashes and", len(p.records), "records")


def check_chains(p: Package) -> None:
    """Section 7: consecutive records link, a chain from seq 1 is whole, no seq is signed twice; and
    section 6: a group record's key is the one its gov.keys record committed to."""
    feeds: dict[tuple[bytes, str], dict[int, bytes]] = {}
    for rid, r in p.records.items():
        feed = feeds.setdefault((r["author"], r["scope"]), {})
        if feed.get(r["seq"], rid) != rid:
            fail(r["name"], f"has seq {r['seq']} twice in its chain (a fork)")
        feed[r["seq"]] = rid
    for (author, scope), feed in sorted(feeds.items()):
        seqs, where = sorted(feed), f"the chain of {fingerprint(author)} in {scope}"
        for a, b in zip(seqs, seqs[1:]):
            if b == a + 1 and p.records[feed[b]]["prev"] != feed[a]:
                fail(p.records[feed[b]]["name"], f"seq {b} does not link to seq {a} in {where}")
            if b != a + 1 and seqs[0] == 1:
                fail(p.records[feed[b]]["name"], f"{where} is broken between seq {a} and {b}")
        whole = "complete" if seqs == list(range(1, seqs[-1] + 1)) else "a selection"
        print(f"chain   {fingerprint(author)} in {scope[:18]}…: seq {seqs[0]} to {seqs[-1]}, {whole}")
    for r in p.records.values():
        keys = p.body(r["keys_record"], "gov.keys") if isinstance(r["keys_record"], bytes) else {}
        commit = hashlib.sha256(b"tequio/epoch-key/v1\n" + bytes.fromhex(r["key"] or "")).digest()
        if keys and r["key"] and keys.get("commit") != commit:
            fail(r["name"], "its key is not the epoch key that its gov.keys record committed to")


def check_items(p: Package, manifest: dict[str, Any]) -> None:
    """Section 8: each item's files are those its signed records name, and a derivation links them."""
    items = manifest.get("items")
    for i, item in enumerate(items if isinstance(items, list) else [None]):
        rid = hex32(item.get("id")) if isinstance(item, dict) else None
        b = p.body(rid or b"", "evidence.item")
        if rid is None or not isinstance(item.get("original"), dict) or not b:
            fail("manifest.json", f"items[{i}] is not an item whose evidence.item record is in the package")
            continue
        record, original = p.records[rid], item["original"]
        if b.get("sha256") != hex32(original.get("sha256")) or b.get("title") != item.get("title"):
            fail(record["name"], "its body's sha256 or title is not the item's in the manifest")
        signed_working, newest = b.get("working"), 0  # the last redaction's copy, else the intake's
        for other, r in p.records.items():
            d = p.body(other, "evidence.derivation")
            mine = (r["author"], r["scope"]) == (record["author"], record["scope"])
            if mine and d.get("item") == rid and isinstance(d.get("working"), dict) and r["seq"] > newest:
                signed_working, newest = d["working"], r["seq"]
        for role, signed in (("original", b.get("original")), ("working", signed_working)):
            f = item.get(role)
            if f is None or not isinstance(f, dict):
                if signed is not None or f is not None:
                    fail("manifest.json", f"item {rid.hex()}: its {role} file is missing or malformed")
                continue
            path = str(f.get("path"))
            m = FILE_NAME.fullmatch(path)
            folder = "originals" if role == "original" else "working"
            elsewhere = m is not None and m.group(1) != folder and path != original.get("path")
            if not m or m.group(2) != f.get("sha256") or elsewhere:
                fail("manifest.json", f"item {rid.hex()}: the {role} file's path is not {folder}/<sha256>")
                continue
            member, facts = p.members.get(path), signed if isinstance(signed, dict) else {}
            if member is None or (p.digests.get(path), member.size) != (f.get("sha256"), f.get("size")) or (
                    as_json(facts.get("sha256")), facts.get("size"), facts.get("mime")) != (
                    {"$bin": f.get("sha256")}, f.get("size"), f.get("mime")):
                fail(path, f"item {rid.hex()[:16]}: is not the {role} file its signed records name")
        w = item.get("working")
        if isinstance(w, dict) and not any(
            d.get("item") == rid
            and d.get("from", d.get("sha256")) == d.get("sha256", d.get("from")) == b.get("sha256")
            and as_json(d.get("to")) == {"$bin": w.get("sha256")}
            for d in (p.body(other, "evidence.derivation") for other in p.records)
        ):
            fail(str(w.get("path")), f"item {rid.hex()[:16]}: no derivation links it to the original")
        print("item   ", rid.hex()[:16] + "…", json.dumps(item.get("title"), ensure_ascii=False))


def check_views(p: Package, manifest: dict[str, Any]) -> None:
    """Sections 4 and 8: keys.json and custody.json say only what the signed records say, and the
    exporter's own records export this package."""
    exporter = hex32(manifest.get("exporter"))
    stated: dict[bytes, list[str]] = {}  # the names each key's own evidence records state, oldest first
    for _, _, author, org in sorted((r["ts"], r["seq"], r["author"], b["org"]) for _, r, b in p.evidence()
                                    if isinstance(b.get("org"), str) and b["org"]):
        if org not in stated.setdefault(author, []):
            stated[author].append(org)
    signers = {r["author"] for r in p.records.values()} | ({exporter} if exporter else set())
    keys = p.json("keys.json", LIMITS["keys.json"])
    for key_hex, who in sorted(keys.items() if isinstance(keys, dict) else [(None, None)]):
        key = hex32(key_hex)
        if key is None or not isinstance(who, dict) or set(who) != {"fingerprint", "name"}:
            fail("keys.json", f"is missing, or its entry {key_hex!r} is not a key, a fingerprint and a name")
            continue
        if who["fingerprint"] != fingerprint(key):
            fail("keys.json", "wrong fingerprint for " + key_hex)
        name = json.dumps(who["name"], ensure_ascii=False)
        if who["name"] is not None and who["name"] not in stated.get(key, []):
            fail("keys.json", f"names {fingerprint(key)} {name}, but no record signed by that key states it")
        if key not in signers:
            fail("keys.json", f"lists {fingerprint(key)}, which signed no record in the package")
        print("key    ", fingerprint(key), name, "(exporter)" if key == exporter else "")
    for key in sorted(signers - {hex32(k) for k in (keys if isinstance(keys, dict) else {})}):
        fail("keys.json", f"has no entry for {fingerprint(key)}")
    want: list[dict[str, Any]] = []  # custody.json: evidence records about each item, by time, author…
    items = manifest["items"] if isinstance(manifest.get("items"), list) else []
    for item in items:
        sha = hex32((item.get("original") or {}).get("sha256")) if isinstance(item, dict) else None
        rows = [{"item": item["id"], "record": rid.hex(), "author": r["author"].hex(), "ts": r["ts"],
                 "scope": r["scope"], "seq": r["seq"], "kind": r["payload"]["kind"], "body": as_json(b)}
                for rid, r, b in p.evidence() if b.get("sha256") == sha]
        want += sorted(rows, key=lambda e: (e["ts"], e["author"], e["scope"], e["seq"]))
    custody = p.json("custody.json", LIMITS["custody.json"])
    if not isinstance(custody, list) or not same(custody, want):
        fail("custody.json", "is missing or does not show exactly the signed custody records, in order")
    export = ("export", manifest.get("package"))
    for item in items:
        rid = hex32(item.get("id")) if isinstance(item, dict) else None
        it = p.records.get(rid or b"")
        if it is not None and not any(
            r["author"] == exporter == it["author"] and r["scope"] == it["scope"] and b.get("item") == rid
            and (b.get("event"), (b.get("detail") or {}).get("package")) == export
            for _, r, b in p.evidence() if r["payload"]["kind"] == "evidence.custody"):
            fail("manifest.json", f"item {(rid or b'').hex()[:16]}: no export of the package by its exporter")


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python3 check.py FILE.zip")
        return 2
    p = Package(argv[1])
    try:
        members = read_zip(p.path, p.name)
        p.members = {n: m for n, m in (members or {}).items() if n in FIXED or RECORD_NAME.fullmatch(n)
                     or FILE_NAME.fullmatch(n)}
        if members is not None:  # section 2: the manifest's signature
            manifest_bytes = p.read("manifest.json", LIMITS["manifest.json"]) or b""
            manifest = strict_json(manifest_bytes, "manifest.json") if manifest_bytes else None
            signature = p.read("manifest.sig", LIMITS["manifest.sig"]) or b""
            if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
                fail("manifest.json", "is missing, not a JSON object, or not of the format " + FORMAT)
                manifest = None
            try:
                exporter = bytes.fromhex((manifest or {}).get("exporter", ""))
                signed = b"tequio/evidence-manifest/v1\n" + manifest_bytes
                VerifyKey(exporter).verify(signed, bytes.fromhex(signature.decode().strip()))
                print("ok      manifest.json is signed by", fingerprint(exporter), exporter.hex())
            except Exception:
                fail("manifest.sig", "does not verify under the exporter's key")
            for check in (check_files, check_records, lambda p, m: check_chains(p), check_items, check_views):
                if manifest is not None:
                    check(p, manifest)
    except Exception as e:  # a damaged package may break an assumption: it does not check
        fail(p.name, f"the check stopped on an unexpected error ({type(e).__name__}: {e})")
    print("ALL CHECKS PASSED" if not problems else f"{len(problems)} PROBLEM(S)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
