"""``tequio --help`` lists every command, plugins' included, without importing their modules."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path

import click

from tequio.node.cli.app import BUILTINS, cli
from tequio.node.cli.lazy import LazyCommand

HEAVY = ("aiohttp", "sqlite_utils", "numpy", "pandas", "tequio.node.node", "tequio.federation")
PROBE = """
import json, sys
from tequio.node.cli import run
code = run(sys.argv[1:])
print(json.dumps(sorted(sys.modules)))
"""


def _modules_after(*argv: str) -> tuple[list[str], str]:
    done = subprocess.run([sys.executable, "-c", PROBE, *argv], capture_output=True, text=True, check=True)
    *help_lines, last = done.stdout.rstrip("\n").split("\n")
    return json.loads(last), "\n".join(help_lines)


def test_help_lists_plugin_commands_without_importing_heavy_modules_or_plugin_internals() -> None:
    modules, text = _modules_after("--help")
    for name in ("vote", "evidence", "handbook", "bots", "demo", "hello", "records", "serve"):
        assert f"  {name} " in text, name
    assert "Proposals, ballots and tallies" in text  # a plugin's short help, from its stand-in
    loaded_heavy = [m for m in modules if m.split(".")[0] in HEAVY or m.startswith(HEAVY)]
    assert loaded_heavy == []
    internals = [m for m in modules if m.startswith("tequio.plugins.") and m.count(".") > 2]
    assert internals == [], "plugin __init__ modules load only their hooks, not the plugin"
    modules_of_builtins = {f"tequio.node.cli.{module}" for module, _, _ in BUILTINS.values()}
    builtins = sorted(modules_of_builtins & set(modules))
    assert builtins == []


def test_running_a_command_loads_it() -> None:
    modules, _ = _modules_after("vote", "--help")
    assert "tequio.plugins.voting.cli" in modules


def test_builtin_short_help_matches_the_command_it_stands_for() -> None:
    for name, (module, attr, short_help) in BUILTINS.items():
        real = getattr(importlib.import_module(f"tequio.node.cli.{module}"), attr)
        assert isinstance(real, click.Command) and real.name == name
        assert real.get_short_help_str(limit=500) == short_help, name


def test_plugin_short_help_matches_the_command_it_stands_for() -> None:
    from tequio.node.pluginhost import PluginHost

    for plugin, cmd in PluginHost(strict=False).commands():
        if isinstance(cmd, LazyCommand):
            real = cmd.load()
            assert real.name == cmd.name, plugin
            assert real.get_short_help_str(limit=500) == cmd.short_help, plugin


def test_a_lazy_command_whose_module_is_missing_names_the_plugin(capsys) -> None:  # type: ignore[no-untyped-def]
    from tequio.node.cli.app import run

    cli._plugins()  # the real ones, then one broken stand-in among them
    assert cli._plugin_commands is not None and cli._owner is not None
    cli._plugin_commands["ghost"] = LazyCommand("ghost", "tequio.plugins.no_such_module:ghost", "Nothing.")
    cli._owner["ghost"] = "ghostly"
    try:
        assert run(["ghost"]) == 1
    finally:
        del cli._plugin_commands["ghost"], cli._owner["ghost"]
    err = capsys.readouterr().err
    assert "plugin 'ghostly', command 'ghost'" in err and "ModuleNotFoundError" in err
    assert "Traceback" not in err


OPEN_PROBE = """
import atexit, json, sys
atexit.register(lambda: print(json.dumps(sorted(sys.modules))))
from tequio.node.cli import main
main(sys.argv[1:])
"""


def test_a_command_that_opens_a_node_leaves_the_sync_machinery_and_numpy_out(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """``info`` and ``records list`` open the store: sqlite-utils, but not numpy (which sqlite-utils
    imports whenever it is installed), asyncio's sync, the blob fetcher or aiohttp."""
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("TEQUIO_")} | {
        "TEQUIO_HOME": str(tmp_path)
    }
    tequio = str(Path(sys.executable).with_name("tequio"))
    subprocess.run([tequio, "init", "--name", "Probe"], env=env, check=True, capture_output=True)
    for argv in (["info"], ["records", "list"]):
        done = subprocess.run(
            [sys.executable, "-c", OPEN_PROBE, *argv], env=env, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
        modules = json.loads(done.stdout.rstrip("\n").split("\n")[-1])
        assert "sqlite_utils" in modules and "tequio.node.node" in modules, "the probe saw the node open"
        heavy = [m for m in modules if m.split(".")[0] in ("numpy", "pandas", "aiohttp", "zeroconf")]
        assert heavy == [], argv
        assert "tequio.federation.sync" not in modules and "tequio.federation.blobfetch" not in modules
    import numpy  # noqa: F401  # installed here (the bots extra): the probe's absence means something
