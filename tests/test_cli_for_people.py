"""Small things a person meets daily (issue 10 §1.8): strict --body JSON, `records show` for people,
a warning when the key is left unencrypted."""

from __future__ import annotations

import json

from PIL import Image


def test_body_with_a_key_twice_or_nested_too_deep_is_refused(cli) -> None:
    assert cli("init", "--name", "Casa").code == 0
    twice = cli("publish", "core.note", "--body", '{"text": "a", "text": "b"}')
    assert twice.code == 2 and "the key 'text' appears twice" in twice.err, twice
    deep = cli("publish", "core.note", "--body", "[" * 3000)
    assert deep.code == 2 and "nested more than" in deep.err and "internal error" not in deep.err, deep
    nan = cli("publish", "core.note", "--body", '{"text": NaN}')
    assert nan.code == 2 and "NaN" in nan.err, nan
    assert cli("records", "list", "--json").out.strip() == "[]"


def test_records_show_prints_dates_fingerprints_and_blobs(cli, tmp_path) -> None:
    assert cli("init", "--name", "Casa").code == 0
    photo = tmp_path / "red.png"
    Image.new("RGB", (8, 8), "red").save(photo)
    made = cli("publish", "core.note", "--body", '{"text": "foto"}', "--attach", str(photo), "--json")
    assert made.code == 0, made.err
    rid = json.loads(made.out)["id"]
    shown = cli("records", "show", rid)
    assert shown.code == 0, shown.err
    lines = dict(line.split(None, 1) for line in shown.out.splitlines() if line[:1].isalpha() and " " in line)
    assert lines["ts"].endswith("ms)") and " UTC " in lines["ts"], lines["ts"]
    assert "first record of its feed" in lines["prev"]
    assert "image/png" in lines["blobs"] and "bytes" in lines["blobs"]
    assert lines["redacted"] == "no"
    assert "(" in lines["author"] and "-" in lines["author"].split("(")[1]  # the fingerprint


def test_init_without_a_passphrase_warns(cli) -> None:
    plain = cli("init", "--name", "Casa")
    assert plain.code == 0 and "warning: the node key is stored unencrypted" in plain.err, plain
    other = cli(
        "init",
        "--name",
        "Otra",
        "--passphrase-env",
        "P",
        env={"P": "correct horse"},
        home_dir=cli.home.parent / "o",
    )
    assert other.code == 0 and "warning" not in other.err, other


def test_records_list_columns_hold_for_long_kinds(cli) -> None:
    assert cli("init", "--name", "Casa").code == 0
    assert cli("publish", "core.note", "--body", '{"text": "corta"}').code == 0
    made = cli("evidence", "incident", "create", "Marcha del 2 de octubre")
    assert made.code == 0, made.err
    listed = cli("records", "list").out.splitlines()
    assert len(listed) == 2 and "evidence.incident" in listed[1], listed
    starts = {len(line) - len(line.split(None, 5)[5]) for line in listed}
    assert len(starts) == 1, listed  # the summaries start in one column
