"""A plugin author's mistakes are named (plugin and hook), never reported as a bug of Tequio, and one
broken plugin does not take the others' commands out of `tequio --help`."""

from __future__ import annotations

import os
import subprocess
import types
from pathlib import Path

import pytest

from tequio.node import hookimpl
from tequio.node.errors import PluginError
from tequio.node.pluginhost import PluginHost
from tests.conftest import TEQUIO


def _plugin(name: str, **hooks: object) -> types.ModuleType:
    mod = types.ModuleType(name)
    for hook, fn in hooks.items():
        fn.__name__ = hook  # type: ignore[attr-defined]
        setattr(mod, hook, hookimpl(fn))  # type: ignore[arg-type]
    return mod


def test_a_misspelled_hook_is_refused_at_load_naming_plugin_and_hook() -> None:
    with pytest.raises(PluginError, match=r"'typo'.*register_commandz"):
        PluginHost([_plugin("typo", register_commandz=lambda: [])], env={"TEQUIO_PLUGINS": ""})


def test_a_hook_returning_nonsense_names_the_plugin_and_the_hook() -> None:
    with pytest.raises(PluginError, match=r"'five'.*register_kinds"):
        PluginHost([_plugin("five", register_kinds=lambda: 5)], env={"TEQUIO_PLUGINS": ""})

    def boom() -> list[object]:
        raise RuntimeError("no such table")

    with pytest.raises(PluginError, match=r"'boom', hook register_kinds: RuntimeError: no such table"):
        PluginHost([_plugin("boom", register_kinds=boom)], env={"TEQUIO_PLUGINS": ""})


def _site(tmp_path: Path) -> Path:
    """Two installed plugins on PYTHONPATH: one whose module is missing, one with a misspelled hook."""
    site = tmp_path / "site"
    for name, target in (("broken", "no_such_module_for_tequio"), ("misspelled", "misspelled_plugin")):
        info = site / f"tequio_{name}-0.1.dist-info"
        info.mkdir(parents=True)
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: tequio-{name}\nVersion: 0.1\n")
        (info / "entry_points.txt").write_text(f"[tequio]\n{name} = {target}\n")
    (site / "misspelled_plugin.py").write_text(
        "from tequio.node import hookimpl\n\n\n@hookimpl\ndef register_commandz():\n    return []\n"
    )
    return site


def test_help_names_a_broken_plugin_and_keeps_the_others_commands(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TEQUIO_")}
    env["PYTHONPATH"] = str(_site(tmp_path))
    env["TEQUIO_HOME"] = str(tmp_path / "home")
    out = subprocess.run([TEQUIO, "--help"], capture_output=True, text=True, env=env, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "Plugins that did not load" in out.stdout
    assert "broken" in out.stdout and "no_such_module_for_tequio" in out.stdout
    assert "misspelled" in out.stdout and "register_commandz" in out.stdout
    for command in ("vote", "evidence", "group", "records"):
        assert f"\n  {command} " in out.stdout, command
    # Using a node with it installed is refused in one line that names it and says how to leave it out.
    clean = {k: v for k, v in env.items() if k != "PYTHONPATH"}
    assert subprocess.run([TEQUIO, "init", "--name", "Casa"], capture_output=True, env=clean).returncode == 0
    info = subprocess.run([TEQUIO, "info"], capture_output=True, text=True, env=env, timeout=60)
    assert info.returncode == 1 and "internal error" not in info.stderr, info.stderr
    assert "broken" in info.stderr and "TEQUIO_PLUGINS" in info.stderr, info.stderr
