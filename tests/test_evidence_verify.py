"""VERIFY.md and its script: the by-hand instructions work as written, the document carries the script
verbatim, and the script and ``tequio evidence check`` agree on every tampered package.

The script runs as a court's expert would run it: saved from VERIFY.md to a file, in a plain Python with
only PyNaCl, on the zip; the CLI runs in a subprocess. Both see the same packages, good and tampered.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import struct
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tequio.plugins.evidence.package import check_package, check_script, verify_md
from tequio.schemas import fingerprint, signed_bytes
from tests.conftest import TEQUIO
from tests.evidencekit import (
    ORG,
    OTHER_PHOTO,
    ROOT,
    Case,
    case,
    flip_in_place,
    members,
    package,
    pkg,
    rec_path,
    resign,
    sk,
)

__all__ = ["case", "package", "pkg"]

VERIFY_MD = verify_md()


def test_verify_md_embeds_the_check_script_verbatim() -> None:
    """The script in section 9 is check_script.py byte for byte (linted and type-checked as a module)."""
    shipped = Path(check_script.__file__).read_text(encoding="utf-8")
    assert script_of(VERIFY_MD) == shipped, (
        "VERIFY.md section 9 differs from plugins/evidence/package/check_script.py: run "
        "'python -m tests.test_evidence_verify' to embed it again"
    )


def embed_script() -> None:
    """Write check_script.py into VERIFY.md's section 9 (for whoever changes the script)."""
    doc = ROOT / "plugins" / "evidence" / "package" / "VERIFY.md"
    text = doc.read_text(encoding="utf-8")
    head, _ = text.split("## 9. All of it as one script", 1)[1].split("```python\n", 1)
    head = text.split("## 9. All of it as one script", 1)[0] + "## 9. All of it as one script" + head
    script = (ROOT / "plugins" / "evidence" / "package" / "check_script.py").read_text(encoding="utf-8")
    doc.write_text(head + "```python\n" + script + "```\n", encoding="utf-8")


# --------------------------------------------------------------------------------------------------
# VERIFY.md: the by-hand instructions work as written


def unpack_to(zip_path: Path, folder: Path) -> Path:
    with zipfile.ZipFile(zip_path) as zf:
        zf.extractall(folder)
    return folder


def script_of(verify_md: str) -> str:
    block = verify_md.split("## 9. All of it as one script", 1)[1]
    m = re.search(r"```python\n(.*?)```", block, re.S)
    assert m is not None
    return m.group(1)


def run_script(zip_path: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """The script saved from VERIFY.md, run on the zip in a Python that has PyNaCl but not Tequio's path."""
    script = tmp_path / "check.py"
    script.write_text(script_of(VERIFY_MD))
    return subprocess.run(
        [sys.executable, "-I", str(script), str(zip_path)], capture_output=True, text=True, timeout=120
    )


def test_the_verify_script_passes_a_good_package(package: Path, tmp_path: Path) -> None:
    p = run_script(package, tmp_path)
    assert p.returncode == 0, p.stdout + p.stderr
    assert p.stdout.rstrip().endswith("ALL CHECKS PASSED")
    assert ORG in p.stdout and "a selection" in p.stdout


def test_the_pynacl_snippet_verifies_the_manifest(package: Path, tmp_path: Path) -> None:
    folder = unpack_to(package, tmp_path / "P")
    snippet = re.search(r"With PyNaCl:\n\n```python\n(.*?)```", VERIFY_MD, re.S)
    assert snippet is not None
    p = subprocess.run([sys.executable, "-c", snippet.group(1)], cwd=folder, capture_output=True, text=True)
    assert p.returncode == 0 and "verifies" in p.stdout, p.stderr


def shell_blocks() -> list[str]:
    return re.findall(r"```sh\n(.*?)```", VERIFY_MD, re.S)


def need(*tools: str) -> None:
    """VERIFY.md tells a court's expert to use these standard tools; the machine image has them, so
    their absence is a broken environment to report, not a reason to leave the instructions untested."""
    missing = [t for t in tools if shutil.which(t) is None]
    assert not missing, f"VERIFY.md's commands need {', '.join(missing)} (apt-get install jq xxd openssl)"


def test_the_sha256sum_commands(package: Path, tmp_path: Path) -> None:
    need("jq", "sha256sum")
    folder = unpack_to(package, tmp_path / "P")
    with_jq, with_python = shell_blocks()[1:3]
    for block in (with_jq, with_python):
        p = subprocess.run(
            ["bash", "-c", block],
            env={"P": str(folder), "PATH": "/usr/bin:/bin"},
            capture_output=True,
            text=True,
        )
        assert p.returncode == 0, p.stderr
        assert p.stdout.count(": OK") == len(json.loads((folder / "manifest.json").read_text())["files"])
    f = next((folder / "working").iterdir())
    f.write_bytes(f.read_bytes() + b"\0")
    p = subprocess.run(
        ["bash", "-c", with_jq],
        env={"P": str(folder), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
    )
    assert p.returncode != 0 and "FAILED" in p.stdout


def test_the_openssl_commands(package: Path, tmp_path: Path) -> None:
    need("openssl", "xxd", "jq")
    folder = unpack_to(package, tmp_path / "P")
    work = tmp_path / "work"
    work.mkdir()
    block = shell_blocks()[0]
    env = {"P": str(folder), "PATH": "/usr/bin:/bin"}
    p = subprocess.run(["bash", "-c", block], cwd=work, env=env, capture_output=True, text=True)
    assert p.returncode == 0 and "Signature Verified Successfully" in p.stdout, p.stdout + p.stderr
    m = folder / "manifest.json"
    m.write_text(m.read_text().replace("Detención", "Detencion"))
    p = subprocess.run(["bash", "-c", block], cwd=work, env=env, capture_output=True, text=True)
    assert p.returncode != 0


def test_the_fingerprint_command(case: Case) -> None:
    need("xxd", "base32", "sha256sum")
    block = shell_blocks()[3]
    key = bytes(case.org.verify_key)
    p = subprocess.run(
        ["bash", "-c", block], env={"K": key.hex(), "PATH": "/usr/bin:/bin"}, capture_output=True, text=True
    )
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == fingerprint(key).replace("-", "")


def test_verify_md_documents_the_signed_bytes(case: Case) -> None:
    """The byte layout VERIFY.md gives for a record's signed part is the one schemas signs."""
    for rec in [*case.item_feed.records, *case.group_feed.records]:
        scope = rec.scope.encode()
        head = bytes([0xA6]) if rec.scope == "public" else bytes([0xD9, len(scope)])
        seq = bytes([rec.seq]) if rec.seq < 128 else b""
        ts = b"\xcf" + rec.ts.to_bytes(8, "big") if rec.ts >= 1 << 32 else b""
        prev = b"\xc0" if rec.prev is None else b"\xc4\x20" + rec.prev
        by_hand = (
            b"tequio/record/v1\n\x97\x01\xc4\x20"
            + rec.author
            + head
            + scope
            + seq
            + prev
            + ts
            + b"\xc4\x20"
            + rec.payload_hash
        )
        assert by_hand == signed_bytes(rec.author, rec.scope, rec.seq, rec.prev, rec.ts, rec.payload_hash)
        assert hashlib.sha256(by_hand).digest() == rec.id


def test_docs_describe_court_packages() -> None:
    doc = (ROOT / "docs" / "evidence.md").read_text()
    section = doc.split("## Court packages", 1)[1]
    for word in (
        "manifest.sig",
        "keys.json",
        "epoch key",
        "VERIFY.md",
        "partial",
        "redacted",
        "check_package",
    ):
        assert word in section, word


# --------------------------------------------------------------------------------------------------
# The script and the CLI agree on every package: good, and each way of tampering with one


def _cd_entry(raw: bytes, name: str) -> int:
    """Offset of ``name``'s central directory entry in the zip's bytes."""
    at = raw.find(b"PK\x01\x02")
    while raw[at + 46 : at + 46 + struct.unpack("<H", raw[at + 28 : at + 30])[0]] != name.encode():
        at = raw.find(b"PK\x01\x02", at + 4)
        assert at > 0, name
    return at


def _flip_cd(field: int, name: str = "custody.json", bit: int = 0x01) -> Callable[[Case, Path], None]:
    def change(case: Case, pkg: Path) -> None:
        raw = bytearray(pkg.read_bytes())
        raw[_cd_entry(bytes(raw), name) + field] ^= bit
        pkg.write_bytes(bytes(raw))

    return change


def _resigned(
    mutate: Callable[[Case, Path, dict[str, Any], dict[str, bytes | None]], None], forger: bool = False
):  # type: ignore[no-untyped-def]
    def change(case: Case, pkg: Path) -> None:
        key = sk(9) if forger else case.org

        def inner(m: dict[str, Any], c: dict[str, bytes | None]) -> None:
            mutate(case, pkg, m, c)
            if forger:
                m["exporter"] = bytes(key.verify_key).hex()
                keys = json.loads(c.get("keys.json") or members(pkg)["keys.json"])
                keys[bytes(key.verify_key).hex()] = {
                    "fingerprint": fingerprint(bytes(key.verify_key)),
                    "name": None,
                }
                c["keys.json"] = _dumps(keys)

        resign(pkg, key, inner)

    return change


def _dumps(value: Any) -> bytes:
    return (json.dumps(value, sort_keys=True, ensure_ascii=False, indent=2) + "\n").encode()


def _json(pkg: Path, name: str) -> Any:
    return json.loads(members(pkg)[name])


def _fiscalia(case: Case, pkg: Path, m: dict[str, Any], c: dict[str, bytes | None]) -> None:
    """The case from the field: a transfer added to the custody log, the organisation renamed."""
    custody = _json(pkg, "custody.json")
    last = custody[-1]
    transfer = {**last["body"], "event": "transfer", "detail": {"scope": "d:" + "cd" * 32}}
    custody.append(
        {**last, "record": "ab" * 32, "kind": "evidence.custody", "ts": last["ts"] + 1, "body": transfer}
    )
    c["custody.json"] = _dumps(custody)
    keys = _json(pkg, "keys.json")
    keys[bytes(case.org.verify_key).hex()]["name"] = "Fiscalía General"
    c["keys.json"] = _dumps(keys)


def _rename(case: Case, pkg: Path, m: dict[str, Any], c: dict[str, bytes | None]) -> None:
    keys = _json(pkg, "keys.json")
    keys[bytes(case.partner.verify_key).hex()]["name"] = "Fiscalía General"
    c["keys.json"] = _dumps(keys)


def _no_exporter_key(case: Case, pkg: Path, m: dict[str, Any], c: dict[str, bytes | None]) -> None:
    keys = _json(pkg, "keys.json")
    del keys[bytes(case.org.verify_key).hex()]
    c["keys.json"] = _dumps(keys)


def _stranger_key(case: Case, pkg: Path, m: dict[str, Any], c: dict[str, bytes | None]) -> None:
    keys = _json(pkg, "keys.json")
    stranger = bytes(sk(8).verify_key)
    keys[stranger.hex()] = {"fingerprint": fingerprint(stranger), "name": None}
    c["keys.json"] = _dumps(keys)


def _custody_drop(case: Case, pkg: Path, m: dict[str, Any], c: dict[str, bytes | None]) -> None:
    c["custody.json"] = _dumps(_json(pkg, "custody.json")[:-1])


def _custody_swap(case: Case, pkg: Path, m: dict[str, Any], c: dict[str, bytes | None]) -> None:
    custody = _json(pkg, "custody.json")
    custody[0], custody[1] = custody[1], custody[0]
    c["custody.json"] = _dumps(custody)


def _escape(case: Case, pkg: Path, m: dict[str, Any], c: dict[str, bytes | None]) -> None:
    """The working copy stored outside the package's folders (unzip would write it to /tmp)."""
    old = m["items"][0]["working"]["path"]
    new = "../../../tmp/" + old.split("/")[-1]
    m["items"][0]["working"]["path"] = new
    c[new] = members(pkg)[old]
    c[old] = None


def _view(case: Case, pkg: Path, m: dict[str, Any], c: dict[str, bytes | None]) -> None:
    name = rec_path(case.item_feed.records[0], "json")
    view = _json(pkg, name)
    view["payload"]["body"]["consent"] = "no"
    c[name] = _dumps(view)


def _drop_record(case: Case, pkg: Path, m: dict[str, Any], c: dict[str, bytes | None]) -> None:
    gone = case.item_feed.records[1]
    m["records"] = [e for e in m["records"] if e["id"] != gone.id.hex()]
    c[rec_path(gone)] = None
    c[rec_path(gone, "json")] = None


def _other_original(case: Case, pkg: Path, m: dict[str, Any], c: dict[str, bytes | None]) -> None:
    old = m["items"][0]["original"]["path"]
    data = OTHER_PHOTO.read_bytes()
    sha = hashlib.sha256(data).hexdigest()
    new = f"originals/{sha}.jpg"
    m["items"][0]["original"].update(path=new, sha256=sha, size=len(data))
    c[old] = None
    c[new] = data


def _nothing(case: Case, pkg: Path, m: dict[str, Any], c: dict[str, bytes | None]) -> None:
    pass


def _recompress(name_of: Callable[[dict[str, bytes]], str], data: bytes | None = None):  # type: ignore[no-untyped-def]
    """Store a member deflated (and, given ``data``, with that content), the zip otherwise consistent."""

    def change(case: Case, pkg: Path) -> None:
        with zipfile.ZipFile(pkg) as zf:
            old = [(i, zf.read(i)) for i in zf.infolist()]
        name = name_of({i.filename: d for i, d in old})
        tmp = pkg.with_suffix(".new")
        with zipfile.ZipFile(tmp, "w") as zf:
            for info, content in old:
                if info.filename == name:
                    info.compress_type = zipfile.ZIP_DEFLATED
                    content = data if data is not None else content
                zf.writestr(info, content)
        tmp.replace(pkg)

    return change


def _bytes_at(where: str) -> Callable[[Case, Path], None]:
    def change(case: Case, pkg: Path) -> None:
        raw = pkg.read_bytes()
        if where == "end":
            pkg.write_bytes(raw + b"\0" * 64)
        elif where == "start":
            pkg.write_bytes(b"\0" * 64 + raw)
        else:  # a zip comment, which zipfile reads happily
            with zipfile.ZipFile(pkg, "a") as zf:
                zf.comment = b"signed by the prosecutor"

    return change


def _twice(case: Case, pkg: Path) -> None:
    with zipfile.ZipFile(pkg, "a") as zf, pytest.warns(UserWarning):
        zf.writestr("keys.json", b"{}")


TAMPERED: dict[str, tuple[Callable[[Case, Path], None], str]] = {
    "a good package": (lambda case, pkg: None, ""),
    "re-signed by its own exporter, unchanged": (_resigned(_nothing), ""),
    "a byte of the original flipped": (
        lambda case, pkg: flip_in_place(pkg, next(n for n in members(pkg) if n.startswith("originals/"))),
        "SHA-256",
    ),
    "the central directory's CRC-32 of a member": (_flip_cd(16), "CRC-32"),
    "the central directory's time of a member": (_flip_cd(12), "disagree"),
    "the central directory's size of a member": (_flip_cd(24), "disagree"),
    "the central directory's flags of a member": (_flip_cd(8, bit=0x08), "flags"),
    "the central directory's file type of a member": (_flip_cd(41, bit=0x20), "not a plain file"),
    "the central directory's name of a member": (_flip_cd(46 + 2, bit=0x20), "does not fit"),
    "a transfer added, the organisation renamed, re-signed by another key": (
        _resigned(_fiscalia, forger=True),
        "re-signed by another key",
    ),
    "a partner renamed in keys.json, re-signed": (_resigned(_rename), "no record signed by that key"),
    "the exporter missing from keys.json, re-signed": (_resigned(_no_exporter_key), "has no entry for"),
    "a stranger's key added to keys.json, re-signed": (_resigned(_stranger_key), "signed no record"),
    "a custody event dropped, re-signed": (_resigned(_custody_drop), "lacks 1 event"),
    "two custody events swapped, re-signed": (_resigned(_custody_swap), "order"),
    "re-signed by another key, nothing else changed": (_resigned(_nothing, forger=True), "another key"),
    "the working copy stored as ../../../tmp/…, re-signed": (_resigned(_escape), "does not fit"),
    "a record's JSON view changed, re-signed": (_resigned(_view), "does not show the signed record"),
    "a record dropped from its chain, re-signed": (_resigned(_drop_record), "broken between seq 1 and 3"),
    "another photo as the original, re-signed": (_resigned(_other_original), "signed record"),
    "the original deflated": (
        _recompress(lambda m: next(n for n in m if n.startswith("originals/"))),
        "compression method 8",
    ),
    "custody.json replaced by 60 MiB of deflated zeros": (
        _recompress(lambda m: "custody.json", bytes(60 << 20)),
        "would inflate",
    ),
    "bytes after the end of the zip": (_bytes_at("end"), "does not end with a zip end record"),
    "bytes before the first member": (_bytes_at("start"), "central directory"),
    "a zip comment": (_bytes_at("comment"), "does not end with a zip end record"),
    "a member twice": (_twice, "more than once"),
}


@pytest.mark.parametrize("what", sorted(TAMPERED))
def test_the_script_and_the_cli_agree(what: str, case: Case, pkg: Path, tmp_path: Path) -> None:
    change, named = TAMPERED[what]
    change(case, pkg)
    cli = subprocess.run([TEQUIO, "evidence", "check", "--json", str(pkg)], capture_output=True, text=True)
    assert "Traceback" not in cli.stderr, cli.stderr
    report = json.loads(cli.stdout)
    script = run_script(pkg, tmp_path)
    assert "Traceback" not in script.stderr and "unexpected error" not in script.stdout, (
        script.stdout + script.stderr
    )
    assert script.returncode == cli.returncode == (0 if not named else 1), (
        what,
        script.stdout,
        report["problems"],
    )
    assert report["ok"] is (not named)
    if named:
        assert any(named in p["what"] for p in report["problems"]), report["problems"]
        assert script.stdout.rstrip().endswith("PROBLEM(S)")
    else:
        assert script.stdout.rstrip().endswith("ALL CHECKS PASSED")


def test_the_cli_names_the_exporter_and_every_signer(case: Case, package: Path) -> None:
    """In text and in JSON: the exporter's fingerprint and name, and each key that signed a record."""
    text = subprocess.run([TEQUIO, "evidence", "check", str(package)], capture_output=True, text=True)
    assert text.returncode == 0, text.stderr
    org, partner = fingerprint(bytes(case.org.verify_key)), fingerprint(bytes(case.partner.verify_key))
    assert f"Exported and signed by {org}  {ORG}" in text.stdout
    assert re.search(rf"^  {org} +5 record\(s\)  {ORG}  \[exporter\]$", text.stdout, re.M), text.stdout
    assert re.search(rf"^  {partner} +2 record\(s\)  Red Norte$", text.stdout, re.M), text.stdout
    data = json.loads(
        subprocess.run(
            [TEQUIO, "evidence", "check", "--json", str(package)], capture_output=True, text=True
        ).stdout
    )
    assert data["exporter"] == {"key": bytes(case.org.verify_key).hex(), "fingerprint": org, "name": ORG}
    assert {s["fingerprint"]: (s["name"], s["records"]) for s in data["signers"]} == {
        org: (ORG, 5),
        partner: ("Red Norte", 2),
    }


def test_the_issue_case_is_refused_and_names_the_forger(case: Case, pkg: Path) -> None:
    """The package from the field: 'OK' before; now the forger's key is named and each change refused."""
    _resigned(_fiscalia, forger=True)(case, pkg)
    report = check_package(pkg)
    forger = fingerprint(bytes(sk(9).verify_key))
    assert not report.ok and report.exporter == bytes(sk(9).verify_key) and report.exporter_name is None
    whats = [str(p) for p in report.problems]
    assert any("custody.json: event" in w and "an event was added or changed" in w for w in whats), whats
    assert any("Fiscalía General" in w and "no record signed by that key" in w for w in whats), whats
    assert any("re-signed by another key" in w for w in whats), whats
    assert f"Exported and signed by {forger}  (no name stated by its own records)" in report.summary()


def test_a_zip_bomb_is_refused_before_it_is_inflated(case: Case, pkg: Path) -> None:
    """A member that would inflate past its bound is refused from the sizes the zip declares: the
    checker never reads it (no SHA-256 of it is reported), so the work does not grow with the bomb."""
    _recompress(lambda m: "custody.json", bytes(60 << 20))(case, pkg)
    assert pkg.stat().st_size < 1 << 20
    report = check_package(pkg)
    whats = [p.what for p in report.problems if p.part == "custody.json"]
    assert any("would inflate from" in w for w in whats), whats
    assert not any("SHA-256 is" in w for w in whats)


if __name__ == "__main__":
    embed_script()


def test_every_flipped_byte_that_unzip_notices_in_the_directory_is_reported(
    package: Path, tmp_path: Path
) -> None:
    """Each byte of the last central directory entry and of the end record, flipped in turn: whenever
    ``unzip -t`` complains, the check refuses the package too (it used to pass some: name lengths,
    disk numbers, the directory's offset)."""
    assert shutil.which("unzip"), "unzip is needed (apt-get install unzip)"
    data = package.read_bytes()
    end = data.rfind(b"PK\x05\x06")
    last = data.rfind(b"PK\x01\x02", 0, end)
    missed = []
    flipped = tmp_path / "flipped.zip"
    for at in range(last, len(data)):
        for bit in (0x01, 0x80):
            raw = bytearray(data)
            raw[at] ^= bit
            flipped.write_bytes(bytes(raw))
            if subprocess.run(["unzip", "-tq", str(flipped)], capture_output=True).returncode == 0:
                continue
            if check_package(flipped).ok:
                missed.append((at - last, bit))
    assert not missed, f"passed though unzip complains (offset in the last entry, bit): {missed}"
