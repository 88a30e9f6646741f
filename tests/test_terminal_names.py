"""No name can forge what an operator reads (issue 9 §7): refused at entry, escaped when printed."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tequio.federation.invites import check_identity
from tequio.federation.messages import MessageError
from tequio.node import Node
from tequio.node.names import _book
from tequio.schemas import check_display_text, fingerprint, safe_text

HOSTILE = "Org Amiga\n\x1b[32mKBQK-X4OW-CGJE-STVC  trusted     Fiscalía (verified)\x1b[0m\x1b[8m"

Cli = Callable[..., Any]


def test_init_refuses_the_hostile_name(cli: Cli) -> None:
    r = cli("init", "--name", HOSTILE)
    assert r.code != 0
    assert "--name" in r.err and "\\x1b" in r.err
    assert cli("info").code != 0  # no node was created


@pytest.mark.parametrize("bad", ["a\u202eb", "a\u2066b", "a\x7fb", "a\x85b", "a\u200fb", "a\tb"])
def test_every_forging_character_is_refused_and_escaped(bad: str) -> None:
    with pytest.raises(ValueError, match="title"):
        check_display_text(bad, "title")
    shown = safe_text(bad)
    assert shown.isprintable() and shown.startswith("a\\") and shown.endswith("b")
    assert check_display_text("Fiscalía — Oaxaca (ñ)", "title") == "Fiscalía — Oaxaca (ñ)"


def test_handshake_refuses_a_hostile_name() -> None:
    with pytest.raises(MessageError, match="handshake: name"):
        check_identity(HOSTILE, [], "handshake")


def test_a_stored_hostile_peer_name_prints_on_one_line(cli: Cli, tmp_path: Path) -> None:
    assert cli("init", "--name", "Aquí").code == 0
    other = tmp_path / "other"
    assert cli("--home", str(other), "init", "--name", "Otra").code == 0
    other_key = bytes.fromhex(json.loads(cli("--home", str(other), "info", "--json").out)["key"])
    # A name stored before this rule (the peer book itself does not judge names).
    with Node.open(cli.home) as node:  # type: ignore[attr-defined]
        _book(node).trust(other_key, HOSTILE, ["127.0.0.1:9"])
    r = cli("peer", "list")
    assert r.code == 0, r.err
    assert "\x1b" not in r.out and "\u202e" not in r.out
    # One line for the peer (its name cannot break it), then the indented "to send" summary.
    lines = [line for line in r.out.splitlines() if not line.startswith(" ")]
    assert len(lines) == 1
    assert lines[0].startswith(fingerprint(other_key) + "  trusted")
    assert "KBQK-X4OW-CGJE-STVC" not in lines[0][:19]
    assert "\\x1b" in lines[0] and "\\x0a" in lines[0]
    assert "KBQK-X4OW-CGJE-STVC" not in r.out.split("\\x0a")[0]


def test_group_create_and_evidence_add_refuse(cli: Cli, tmp_path: Path) -> None:
    assert cli("init", "--name", "Aquí").code == 0
    r = cli("group", "create", "Red\x1b[8m")
    assert r.code != 0 and "group name" in r.err
    assert cli("group", "list").out == ""
    photo = tmp_path / "a.txt"
    photo.write_text("hola")
    r = cli("evidence", "add", str(photo), "--title", "Foto\u202egpj.exe")
    assert r.code != 0 and "--title" in r.err and "\\u202e" in r.err
