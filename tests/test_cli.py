"""The ``tequio`` CLI end to end, in subprocesses, as an operator would run it."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
from pathlib import Path

import pytest

from tests.conftest import TEQUIO, CliResult, Feed, key


def one_line_error(r: CliResult, code: int = 1) -> str:
    assert r.code == code, (r.code, r.out, r.err)
    assert "Traceback" not in r.err + r.out
    lines = r.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), r.err
    return lines[0]


@pytest.fixture
def ready(cli) -> object:
    assert cli("init", "--name", "Casa de la Memoria").code == 0
    return cli


def test_init_info_publish_list_show(ready) -> None:
    cli = ready
    info = json.loads(cli("info", "--json").out)
    assert set(info) >= {"key", "fingerprint", "name", "records", "api_token", "api_port"}
    assert info["name"] == "Casa de la Memoria" and info["records"] == 0 and len(info["key"]) == 64
    assert len(info["api_token"]) == 64
    first = json.loads(cli("publish", "core.note", "--body", '{"text": "hola"}', "--json").out)
    second = json.loads(cli("publish", "core.note", "--body", '{"text": "niñas y niños 🌱"}', "--json").out)
    assert list(first) == ["id"] and len(first["id"]) == 64
    listed = json.loads(cli("records", "list", "--json").out)
    assert [r["id"] for r in listed] == [first["id"], second["id"]]
    assert listed[1]["body"] == {"text": "niñas y niños 🌱"} and listed[1]["prev"] == first["id"]
    assert listed[0]["author"] == info["key"] and listed[0]["kind"] == "core.note"
    shown = json.loads(cli("records", "show", second["id"][:10], "--json").out)
    assert shown == listed[1]
    human = cli("records", "show", second["id"])
    assert "niñas y niños" in human.out and second["id"] in human.out
    assert json.loads(cli("info", "--json").out)["records"] == 2


def test_list_filters(ready) -> None:
    cli = ready
    cli("publish", "core.note", "--body", '{"text": "a"}')
    me = json.loads(cli("info", "--json").out)["key"]
    other = Feed(key(9)).take(2)
    stream = cli.home.parent / "other.bin"
    stream.write_bytes(b"".join(r.wire for r in other))
    assert cli("records", "import", str(stream)).code == 0
    assert len(json.loads(cli("records", "list", "--json").out)) == 3
    assert len(json.loads(cli("records", "list", "--author", me, "--json").out)) == 1
    assert len(json.loads(cli("records", "list", "--author", other[0].author.hex(), "--json").out)) == 2
    assert len(json.loads(cli("records", "list", "--kind", "nothing.here", "--json").out)) == 0
    assert len(json.loads(cli("records", "list", "--scope", "public", "--limit", "2", "--json").out)) == 2


def test_export_import_round_trip_between_homes(ready, tmp_path: Path) -> None:
    cli = ready
    for i in range(5):
        cli("publish", "core.note", "--body", json.dumps({"text": f"nota {i}"}))
    out = tmp_path / "export.bin"
    exported = cli("records", "export", "--out", str(out))
    assert exported.code == 0 and "exported 5 records" in exported.err
    other = tmp_path / "other-home"
    assert cli("init", "--name", "Otra", home_dir=other).code == 0
    first = cli("records", "import", str(out), "--json", home_dir=other)
    assert first.code == 0 and json.loads(first.out) == {"accepted": 5, "duplicates": 0, "rejected": []}
    assert first.err == ""  # piped: no progress bar noise
    again = cli("records", "import", str(out), "--json", home_dir=other)
    assert json.loads(again.out) == {"accepted": 0, "duplicates": 5, "rejected": []}
    a = json.loads(cli("records", "list", "--json").out)
    b = json.loads(cli("records", "list", "--json", home_dir=other).out)
    assert [r["id"] for r in a] == [r["id"] for r in b]


def test_export_to_stdout_and_import_from_stdin(ready, tmp_path: Path) -> None:
    cli = ready
    cli("publish", "core.note", "--body", '{"text": "por tubería"}')
    out = tmp_path / "x.bin"
    assert cli("records", "export", "--out", str(out)).code == 0
    other = tmp_path / "stdin-home"
    cli("init", "--name", "Otra", home_dir=other)
    result = cli("records", "import", "-", "--json", input=out.read_bytes(), home_dir=other)
    assert json.loads(result.out)["accepted"] == 1
    # stdout export gives the same bytes as --out
    env = {k: v for k, v in os.environ.items() if not k.startswith("TEQUIO_")} | {
        "TEQUIO_HOME": str(cli.home)
    }
    piped = subprocess.run([TEQUIO, "records", "export"], capture_output=True, env=env)
    assert piped.returncode == 0 and piped.stdout == out.read_bytes()


def test_import_reports_rejections_with_index_and_exits_1(ready, tmp_path: Path) -> None:
    cli = ready
    good = Feed(key(3)).take(3)
    forged = bytearray(good[2].wire)
    forged[-1] ^= 1  # payload byte: breaks the payload hash
    data = good[0].wire + b"\x92\x01\x02" + good[1].wire + bytes(forged) + good[2].wire
    path = tmp_path / "mixed.bin"
    path.write_bytes(data)
    r = cli("records", "import", str(path), "--json")
    assert r.code == 1 and r.err.strip() == "error: 2 of 5 records were rejected"
    report = json.loads(r.out)
    assert report["accepted"] == 3
    assert [(x["index"], x["reason"]) for x in report["rejected"]] == [
        (1, "malformed"),
        (3, "bad-payload-hash"),
    ]
    logged = json.loads(cli("records", "rejected", "--json").out)
    assert {x["reason"] for x in logged} == {"malformed", "bad-payload-hash"}
    assert all(x["source"] == "import:mixed.bin" for x in logged)


def test_import_of_a_truncated_stream_keeps_what_came_before(ready, tmp_path: Path) -> None:
    cli = ready
    recs = Feed(key(4)).take(4)
    data = b"".join(r.wire for r in recs)
    path = tmp_path / "cut.bin"
    path.write_bytes(data[: len(data) - 10])
    r = cli("records", "import", str(path), "--json")
    report = json.loads(r.out)
    assert r.code == 1 and report["accepted"] == 3
    (rej,) = report["rejected"]
    assert rej["index"] == 3 and rej["reason"] == "malformed" and "ends inside a value" in rej["detail"]


def test_import_of_garbage(ready, tmp_path: Path) -> None:
    path = tmp_path / "garbage.bin"
    path.write_bytes(b"\xc1" + bytes(range(256)) * 4)
    r = ready("records", "import", str(path), "--json")
    # A stream that does not begin with a record is refused at once, before anything is logged.
    assert r.code == 1 and "not a Tequio record stream" in r.err


@pytest.mark.parametrize(
    ("args", "code", "fragment"),
    [
        (["publish", "core.note"], 2, "Missing option '--body'"),
        (["publish", "core.note", "--body", "{nope"], 2, "Invalid value for --body: not JSON"),
        (["publish", "core.note", "--body", "[1]"], 2, "must be a JSON object"),
        (["publish", "core.note", "--body", '{"text": 1.5}'], 2, "numbers must be integers"),
        (["publish", "core.note", "--body", '{"text": "x"}', "--scope", "secret"], 2, "use public, g:"),
        (["publish", "nope.kind", "--body", "{}"], 1, "no loaded plugin defines the kind 'nope.kind'"),
        (
            ["publish", "core.note", "--body", '{"text": ""}'],
            1,
            "core.note: text: String should have at least",
        ),
        (
            ["publish", "core.note", "--body", '{"text": "x"}', "--scope", "g:" + "0" * 32],
            1,
            "holds no group g:0000",
        ),
        (
            ["publish", "core.note", "--body", '{"text": "x"}', "--scope", "d:" + "0" * 64],
            1,
            "not a usable node key: these 32 bytes are not a point of Ed25519",
        ),
        (["records", "list", "--author", "xyz"], 2, "a node key is 64 hex characters"),
        (["records", "list", "--limit", "-1"], 2, "Invalid value for '--limit'"),
        (["records", "show", "zz" * 8], 1, "is not a record id"),
        (["records", "show", "ab"], 1, "at least 8 hex characters"),
        (["records", "show", "ab" * 32], 1, "no record with id"),
        (["records", "import", "/does/not/exist"], 2, "does not exist"),
        (["records", "bogus"], 2, "No such command 'bogus'"),
        (["init", "--name", "again"], 1, "there is already a node in"),
        (["--frobnicate"], 2, "No such option '--frobnicate'"),
    ],
)
def test_wrong_usage_is_one_clear_line(ready, args: list[str], code: int, fragment: str) -> None:
    line = one_line_error(ready(*args), code)
    assert fragment in line, line


def test_no_node_is_a_clear_error(cli, tmp_path: Path) -> None:
    line = one_line_error(cli("--home", str(tmp_path / "none"), "records", "list"))
    assert "run 'tequio init --name NAME' first" in line


def test_broken_config_is_a_clear_error(ready) -> None:
    (ready.home / "tequio.toml").write_text('[node]\nname = "x"\n[api]\nport = "lots"\n')
    line = one_line_error(ready("info"))
    assert "api.port" in line and "valid integer" in line
    (ready.home / "tequio.toml").write_text("[node\n")
    assert "not valid TOML" in one_line_error(ready("info"))
    (ready.home / "tequio.toml").write_text('[node]\nname = "x"\ntypo = 1\n')
    assert "node.typo" in one_line_error(ready("info"))


def test_check_finds_a_broken_store(ready) -> None:
    for i in range(3):
        ready("publish", "core.note", "--body", json.dumps({"text": str(i)}))
    ok = ready("check", "--signatures", "--json")
    assert ok.code == 0 and json.loads(ok.out)["ok"] is True
    db = sqlite3.connect(ready.home / "tequio.sqlite")
    db.execute("DELETE FROM records WHERE seq = 2")
    db.commit()
    db.close()
    bad = ready("check", "--json")
    assert bad.code == 1 and json.loads(bad.out)["ok"] is False
    assert "seq 3 follows seq 1" in bad.out


def test_plugins_json(cli) -> None:
    listed = json.loads(cli("plugins", "--json").out)
    core = next(p for p in listed if p["name"] == "core")
    assert (
        core["kinds"] == ["core.note"] and core["package"] == "tequio" and "register_kinds" in core["hooks"]
    )


def test_home_option_overrides_environment(cli, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    assert cli("--home", str(elsewhere), "init", "--name", "Lejos").code == 0
    assert json.loads(cli("--home", str(elsewhere), "info", "--json").out)["name"] == "Lejos"
    assert cli("info").code == 1  # $TEQUIO_HOME still has no node


def test_help_lists_commands(cli) -> None:
    r = cli("--help")
    assert r.code == 0
    for name in ("init", "info", "publish", "records", "plugins", "serve", "check"):
        assert name in r.out


def test_progress_shows_on_a_terminal_and_not_when_piped(ready, tmp_path: Path) -> None:
    """stderr on a real pseudo-terminal gets a progress bar; the JSON report on stdout is unaffected."""
    import pty

    stream = tmp_path / "big.bin"
    stream.write_bytes(b"".join(r.wire for r in Feed(key(8)).take(6000)))
    master, slave = pty.openpty()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TEQUIO_")}
    env |= {"TEQUIO_HOME": str(ready.home), "COLUMNS": "100", "TERM": "xterm"}
    proc = subprocess.Popen(
        [TEQUIO, "records", "import", str(stream), "--json"], env=env, stdout=subprocess.PIPE, stderr=slave
    )
    os.close(slave)
    out, _ = proc.communicate(timeout=120)
    seen = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO once the child side is closed
            break
        if not chunk:
            break
        seen += chunk
    os.close(master)
    assert proc.returncode == 0 and json.loads(out)["accepted"] == 6000
    assert b"importing" in seen and b"MB" in seen  # the bar's label and its byte counter


def test_version_and_counts_as_people_write_them(cli, tmp_path: Path) -> None:
    """`tequio --version` names the installed version; one record is "1 record", not "1 records"."""
    from importlib.metadata import version

    v = cli("--version")
    assert v.code == 0 and v.out.strip() == f"tequio {version('tequio')}", v
    assert cli("init", "--name", "Casa").code == 0
    assert cli("publish", "core.note", "--body", '{"text": "uno"}').code == 0
    out = tmp_path / "one.bin"
    exported = cli("records", "export", "--out", str(out))
    assert exported.code == 0 and "exported 1 record to" in exported.err, exported.err
