"""The example third-party plugin, installed with pip as the README says, loads through entry points."""

from __future__ import annotations

import importlib.metadata
import json

import pytest


def _installed() -> importlib.metadata.EntryPoint:
    eps = [e for e in importlib.metadata.entry_points(group="tequio") if e.name == "hello"]
    if not eps:
        pytest.fail(
            "examples/hello_plugin is not installed: run the README's test command, which installs it"
        )
    return eps[0]


def test_installed_as_a_distribution_through_the_entry_point_group() -> None:
    ep = _installed()
    assert ep.value == "tequio_hello" and ep.dist is not None and ep.dist.name == "tequio-hello"


def test_its_kind_and_command_work_end_to_end(cli) -> None:
    _installed()
    assert cli("init", "--name", "Casa").code == 0
    listed = {p["name"]: p for p in json.loads(cli("plugins", "--json").out)}
    assert listed["hello"]["kinds"] == ["hello.greeting"] and listed["hello"]["package"] == "tequio-hello"
    assert set(listed["hello"]["hooks"]) == {"register_commands", "register_kinds"}
    r = cli("hello", "Casa Sur", "--text", "saludos", "--json")
    assert r.code == 0, r.err
    rid = json.loads(r.out)["id"]
    shown = json.loads(cli("records", "show", rid, "--json").out)
    assert shown["kind"] == "hello.greeting" and shown["body"] == {"text": "saludos", "to": "Casa Sur"}
    bad = cli("publish", "hello.greeting", "--body", '{"to": ""}')
    assert bad.code == 1 and "hello.greeting: to: String should have at least 1 character" in bad.err


def test_tequio_plugins_restricts_what_loads(cli) -> None:
    _installed()
    assert cli("init", "--name", "Casa").code == 0
    only_core = {"TEQUIO_PLUGINS": "core"}
    # gov (the governance record kinds) always loads: access to group records depends on it.
    assert [p["name"] for p in json.loads(cli("plugins", "--json", env=only_core).out)] == ["core", "gov"]
    r = cli("hello", "x", env=only_core)
    assert r.code == 2 and "No such command 'hello'" in r.err
    # A node without the plugin still accepts its records: stored and relayed, not validated.
    rid = json.loads(cli("hello", "Casa Sur", "--json").out)["id"]
    out = cli.home.parent / "hello.bin"
    assert cli("records", "export", "--out", str(out)).code == 0
    other = cli.home.parent / "core-only"
    assert cli("init", "--name", "Sin hello", env=only_core, home_dir=other).code == 0
    imported = cli("records", "import", str(out), "--json", env=only_core, home_dir=other)
    assert json.loads(imported.out) == {"accepted": 1, "duplicates": 0, "rejected": []}
    kept = json.loads(cli("records", "show", rid, "--json", env=only_core, home_dir=other).out)
    assert kept["kind"] == "hello.greeting"
    none = cli("plugins", "--json", env={"TEQUIO_PLUGINS": ""})
    assert [p["name"] for p in json.loads(none.out)] == ["gov"]
    typo = cli("info", env={"TEQUIO_PLUGINS": "core,helo"})
    assert typo.code == 1 and "not installed: helo" in typo.err
