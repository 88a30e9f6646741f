"""The node key: file mode, passphrase sealing, clear errors, and no secret in any output."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from tequio.node import Node
from tequio.node.errors import NodeExists, PassphraseRequired, TequioError, WrongPassphrase
from tequio.node.identity import KEY_FILE, load_identity, read_public_key
from tests.conftest import seeded_rng


def _seed_hex(home: Path, passphrase: str | None = None) -> str:
    ident = load_identity(home, passphrase)
    return bytes(ident.signing_key).hex()


def test_key_file_is_0600_and_home_0700(node: Node) -> None:
    assert stat.S_IMODE((node.home / KEY_FILE).stat().st_mode) == 0o600
    assert stat.S_IMODE((node.home / "api.token").stat().st_mode) == 0o600
    assert stat.S_IMODE(node.home.stat().st_mode) == 0o700


def test_plain_key_round_trips_and_public_key_is_readable_without_it(node: Node) -> None:
    assert read_public_key(node.home) == node.key
    assert load_identity(node.home).public == node.key


def test_passphrase_seals_the_seed(make_node: Callable[..., Node]) -> None:
    n = make_node(passphrase="correct horse battery")
    text = (n.home / KEY_FILE).read_text()
    seed = _seed_hex(n.home, "correct horse battery")
    assert seed not in text  # the seed is not in the file in any readable form
    doc = json.loads(text)
    assert doc["sealed"]["kdf"] == "argon2id13" and "seed" not in doc
    n.close()
    with pytest.raises(WrongPassphrase, match="wrong passphrase"):
        Node.open(n.home, passphrase="wrong horse battery")
    with pytest.raises(PassphraseRequired):
        Node.open(n.home)
    reopened = Node.open(n.home, passphrase="correct horse battery")
    assert reopened.key == n.key
    reopened.close()


def test_locked_node_reads_but_cannot_sign(make_node: Callable[..., Node]) -> None:
    n = make_node(passphrase="correct horse battery")
    n.publish("core.note", {"text": "before"})
    n.close()
    locked = Node.open(n.home, unlock=False)
    try:
        assert locked.count() == 1 and locked.key == n.key
        with pytest.raises(PassphraseRequired):
            locked.publish("core.note", {"text": "after"})
    finally:
        locked.close()


def test_passphrase_from_the_named_environment_variable(make_node: Callable[..., Node]) -> None:
    n = make_node(passphrase="from the environment", passphrase_env="MY_TEQUIO_PASS")
    n.close()
    opened = Node.open(n.home, env={"MY_TEQUIO_PASS": "from the environment"})
    opened.close()
    with pytest.raises(PassphraseRequired, match=r"\$MY_TEQUIO_PASS"):
        Node.open(n.home, env={})


def test_short_passphrase_refused(tmp_path: Path) -> None:
    with pytest.raises(TequioError, match="at least 8"):
        Node.create(tmp_path / "h", name="x", passphrase="short", rng=seeded_rng(1))


def test_never_overwrites_a_node(node: Node) -> None:
    with pytest.raises(NodeExists):
        Node.create(node.home, name="again")


def test_group_readable_key_is_refused(node: Node) -> None:
    os.chmod(node.home / KEY_FILE, 0o644)
    with pytest.raises(TequioError, match="chmod 600"):
        load_identity(node.home)


def test_damaged_key_files_give_clear_errors(node: Node) -> None:
    path = node.home / KEY_FILE
    doc = json.loads(path.read_text())
    path.write_text("not json")
    with pytest.raises(TequioError, match="not a Tequio node key file"):
        load_identity(node.home)
    doc["public"] = "00" * 32  # does not match the seed
    path.write_text(json.dumps(doc))
    with pytest.raises(TequioError, match="does not match"):
        load_identity(node.home)
    doc["seed"] = "zz"
    path.write_text(json.dumps(doc))
    with pytest.raises(TequioError, match="damaged"):
        load_identity(node.home)


def test_deterministic_rng_gives_deterministic_keys(make_node: Callable[..., Node]) -> None:
    a, b, c = make_node(seed=7), make_node(seed=7), make_node(seed=8)
    assert a.key == b.key != c.key


def test_repr_hides_the_secret(node: Node) -> None:
    ident = load_identity(node.home)
    seed = bytes(ident.signing_key).hex()
    assert seed not in repr(ident) and seed not in str(ident)
    assert node.key.hex() in repr(ident)


def test_cli_never_prints_the_secret(cli, tmp_path: Path) -> None:
    env = {"P": "a long passphrase"}
    outputs = [cli("init", "--name", "Casa", "--passphrase-env", "P", "--kdf", "interactive", env=env)]
    seed = _seed_hex(cli.home, "a long passphrase")
    for args in (
        ["info"],
        ["info", "--json"],
        ["publish", "core.note", "--body", '{"text": "x"}'],
        ["records", "list", "--json"],
        ["plugins", "--json"],
        ["check"],
    ):
        outputs.append(cli(*args, env=env))
    assert all(o.code == 0 for o in outputs), [o.err for o in outputs]
    for o in outputs:
        assert seed not in o.out and seed not in o.err
        assert "a long passphrase" not in o.out + o.err


def test_cli_passphrase_errors_are_one_line(cli) -> None:
    env = {"P": "a long passphrase"}
    assert cli("init", "--name", "Casa", "--passphrase-env", "P", "--kdf", "interactive", env=env).code == 0
    missing = cli("publish", "core.note", "--body", '{"text": "x"}')
    assert missing.code == 1 and missing.err.strip() == "error: the node key is encrypted: set $P"
    wrong = cli("publish", "core.note", "--body", '{"text": "x"}', env={"P": "not the passphrase"})
    assert wrong.code == 1 and wrong.err.strip() == "error: wrong passphrase for the node key"
    # Reading does not need the passphrase.
    assert cli("records", "list").code == 0
    unset = cli("--home", str(cli.home) + "2", "init", "--name", "X", "--passphrase-env", "NOPE")
    assert unset.code == 1 and "$NOPE is not set" in unset.err and len(unset.err.splitlines()) == 1


def test_an_existing_home_is_narrowed_to_0700(tmp_path: Path) -> None:
    # Issue 9 section 9: a 0755 home let another user read the store; the node now makes it private.
    home = tmp_path / "mine"
    home.mkdir(mode=0o755)
    os.chmod(home, 0o755)
    Node.create(home, name="x", rng=seeded_rng(3)).close()
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    assert stat.S_IMODE((home / KEY_FILE).stat().st_mode) == 0o600
