"""A node set up as the README recommends (key encrypted, passphrase in an environment variable)
sees its own groups, votes and notes; without the passphrase, reading commands say so in one line."""

from __future__ import annotations

import json
from collections.abc import Callable

from tests.conftest import CliResult

PASS = {"TEQUIO_PASS": "correct horse battery staple"}


def test_an_encrypted_node_reads_its_groups_votes_and_notes(cli: Callable[..., CliResult]) -> None:
    assert cli("init", "--name", "Casa de la Memoria", "--passphrase-env", "TEQUIO_PASS", env=PASS).code == 0
    made = cli("group", "create", "Red de Búsqueda", "--json", env=PASS)
    assert made.code == 0, made.err
    gid = json.loads(made.out)["gid"]
    assert (
        cli(
            "publish", "core.note", "--body", '{"text": "sólo para la red"}', "--scope", f"g:{gid}", env=PASS
        ).code
        == 0
    )

    listed = cli("group", "list", "--json", env=PASS)
    assert listed.code == 0, listed.err
    assert [g["gid"] for g in json.loads(listed.out)] == [gid]
    shown = cli("group", "show", gid, env=PASS)
    assert shown.code == 0 and "Red de Búsqueda" in shown.out, shown.err
    votes = cli("vote", "list", gid, env=PASS)
    assert votes.code == 0, votes.err
    records = cli("records", "list", env=PASS)
    assert "sólo para la red" in records.out and "not readable here" not in records.out, records.out


def test_without_the_passphrase_reading_commands_say_how_in_one_line(cli: Callable[..., CliResult]) -> None:
    assert cli("init", "--name", "Casa", "--passphrase-env", "TEQUIO_PASS", env=PASS).code == 0
    gid = json.loads(cli("group", "create", "Red", "--json", env=PASS).out)["gid"]
    assert (
        cli("publish", "core.note", "--body", '{"text": "secreto"}', "--scope", f"g:{gid}", env=PASS).code
        == 0
    )
    for args in (("group", "list"), ("group", "show", gid), ("vote", "list", gid)):
        r = cli(*args)
        assert r.code == 1, (args, r)
        assert r.err.strip().splitlines() == ["error: the node key is encrypted: set $TEQUIO_PASS"], (
            args,
            r.err,
        )
        assert "Traceback" not in r.err
    # A listing still shows what is public and marks the rest, never the plaintext.
    records = cli("records", "list")
    assert records.code == 0 and "secreto" not in records.out and "not readable here" in records.out


def test_public_blobs_are_readable_without_the_passphrase(cli, tmp_path) -> None:
    from PIL import Image

    assert cli("init", "--name", "Casa", "--passphrase-env", "TEQUIO_PASS", env=PASS).code == 0
    photo = tmp_path / "red.png"
    Image.new("RGB", (8, 8), "red").save(photo)
    made = cli(
        "publish", "core.note", "--body", '{"text": "foto"}', "--attach", str(photo), "--json", env=PASS
    )
    blob = json.loads(made.out)["attachments"][0]["hash"]
    got = cli("blob", "get", blob, "--out", str(tmp_path / "got.png"))  # no passphrase given
    assert got.code == 0, got.err
    assert (tmp_path / "got.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    missing = cli("blob", "get", blob, "--out", str(tmp_path / "nowhere" / "got.png"))
    assert missing.code == 1 and "the folder" in missing.err and ".part" not in missing.err, missing.err
