"""The package layout and the direction of imports (DESIGN.md section 1)."""

from __future__ import annotations

import ast
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests.conftest import ROOT

#: What each package may import of ours: imports only point downward.
ALLOWED = {
    "schemas": set(),
    "federation": {"schemas"},
    "governance": {"schemas"},
    "node": {"schemas", "federation", "governance"},
    "plugins": {"schemas", "governance", "node"},
}


def _ours(module: str) -> str:
    """The package of ours a module name points into ("tequio.node.store" -> "node"), else its top."""
    parts = module.split(".")
    return parts[1] if parts[0] == "tequio" and len(parts) > 1 else parts[0]


def _imports(path: Path) -> set[str]:
    found = set()
    for n in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(n, ast.Import):
            found |= {_ours(a.name) for a in n.names}
        elif isinstance(n, ast.ImportFrom) and n.level == 0 and n.module:
            found.add(_ours(n.module))
    return found


def test_no_bare_top_level_imports() -> None:
    """Our folders are imported only as ``tequio.<package>``: a bare ``node`` may be another distribution."""
    listed = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "*.py"], cwd=ROOT, capture_output=True, text=True
    ).stdout.split()  # what the project holds, not build/ or .venv/ copies
    for path in (ROOT / p for p in listed):
        if path.parts[len(ROOT.parts)] in (
            "schemas",
            "federation",
            "governance",
            "node",
            "plugins",
            "tests",
            "bench",
            "examples",
        ):
            for n in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                names = [a.name for a in n.names] if isinstance(n, ast.Import) else []
                if isinstance(n, ast.ImportFrom) and n.level == 0 and n.module:
                    names = [n.module]
                bare = [m for m in names if m.split(".")[0] in ALLOWED]
                assert not bare, f"{path.relative_to(ROOT)} imports {bare}: use tequio.{bare[0]}"


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_imports_point_downward(package: str) -> None:
    ours = set(ALLOWED)
    for path in (ROOT / package).rglob("*.py"):
        upward = (_imports(path) & ours) - ALLOWED[package] - {package}
        assert not upward, f"{path.relative_to(ROOT)} imports {sorted(upward)}"


def test_packaging() -> None:
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())
    project = meta["project"]
    assert project["name"] == "tequio" and project["requires-python"] == ">=3.11"
    assert project["scripts"] == {"tequio": "tequio.node.cli:main"}
    assert project["entry-points"]["tequio"]["core"] == "tequio.plugins.core"
    setup = meta["tool"]["setuptools"]
    folders = sorted(
        "tequio." + ".".join(p.parent.relative_to(ROOT).parts)
        for package in ALLOWED
        for p in (ROOT / package).rglob("__init__.py")
    )
    assert sorted(setup["packages"]) == folders, "every package folder is listed under its tequio name"
    assert setup["package-dir"] == {f"tequio.{p}": p for p in ALLOWED}
    assert "test" in project["optional-dependencies"]
    for dep in project["dependencies"]:
        assert ">=" in dep, f"dependency without a lower bound: {dep}"
    for package in ALLOWED:
        assert (ROOT / package / "py.typed").exists()
    for d in ("examples", "tests", "bench", "docs"):
        assert (ROOT / d).is_dir()


def _tool(name: str) -> str:
    return str(Path(sys.executable).with_name(name))


def test_ruff_clean() -> None:
    for args in (["check", "."], ["format", "--check", "."]):
        r = subprocess.run([_tool("ruff"), *args], cwd=ROOT, capture_output=True, text=True)
        assert r.returncode == 0, r.stdout + r.stderr


def test_mypy_clean() -> None:
    from tests.typecheck import run_mypy

    r = run_mypy()
    assert r.returncode == 0, r.stdout + r.stderr


#: The public API a plugin may import, module by module (docs/plugins.md, "What plugins may import"):
#: a module's ``__all__``, or, where a module also holds the node's own machinery, the names listed.
PUBLIC_API: dict[str, set[str] | None] = {
    "tequio.node": None,
    "tequio.node.web": None,
    "tequio.node.media": None,
    "tequio.node.cli": {
        "echo_json",
        "echo_listing",
        "json_option",
        "lazy_command",
        "load_json",
        "node_key",
        "open_node",
        "progress_bar",
    },
    "tequio.node.api": {"NODE"},
    "tequio.governance": None,
    "tequio.schemas": None,
}
#: ``tequio demo`` tells the whole system's story through the other plugins' public functions.
MAY_IMPORT_PLUGINS = {"demo"}


def _public_names(module: str) -> set[str]:
    listed = PUBLIC_API[module]
    if listed is not None:
        return listed
    import importlib

    return set(importlib.import_module(module).__all__)


def _plugin_imports(path: Path, root: Path, top: str = "tequio") -> list[tuple[int, str, list[str]]]:
    """(line, absolute module, names imported from it) of each import of ours in a plugin file."""
    package = ".".join(p for p in (top, *path.parent.relative_to(root).parts) if p)  # what ``from .`` names
    found = []
    for n in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(n, ast.Import):
            found += [(n.lineno, a.name, []) for a in n.names if a.name.split(".")[0] == "tequio"]
        elif isinstance(n, ast.ImportFrom):
            base = n.module or ""
            if n.level:
                parts = package.split(".")
                parts = parts[: len(parts) - (n.level - 1)]
                base = ".".join([*parts, base] if base else parts)
            if base.split(".")[0] == "tequio":
                found.append((n.lineno, base, [a.name for a in n.names]))
    return found


def plugin_violations(plugin_dir: Path, root: Path = ROOT, top: str = "tequio") -> list[str]:
    """Why each import of one plugin folder reaches past the public API or into another plugin."""
    plugin = plugin_dir.name
    out = []
    for path in sorted(plugin_dir.rglob("*.py")):
        where = path.relative_to(root)
        for line, module, names in _plugin_imports(path, root, top):
            parts = module.split(".")
            if parts[:2] == ["tequio", "plugins"]:
                if len(parts) == 2:
                    out.append(f"{where}:{line} imports the plugins package {names}")
                elif parts[2] != plugin and plugin not in MAY_IMPORT_PLUGINS:
                    out.append(f"{where}:{line} imports another plugin: {module}")
                continue
            if module not in PUBLIC_API:
                out.append(f"{where}:{line} imports {module}, which is not public API")
                continue
            for name in names:
                full = f"{module}.{name}"
                if full in PUBLIC_API:
                    continue  # a public submodule (``from tequio.node import web``)
                if name not in _public_names(module):
                    out.append(f"{where}:{line} imports {full}, which is not public API")
    return out


def plugin_folders() -> list[Path]:
    """Every folder under plugins/ is a plugin (the built-in ones, and those merged later)."""
    return sorted(p for p in (ROOT / "plugins").iterdir() if p.is_dir() and not p.name.startswith(("_", ".")))


@pytest.mark.parametrize("plugin_dir", plugin_folders(), ids=lambda p: p.name)
def test_plugins_import_only_the_public_api(plugin_dir: Path) -> None:
    assert not (bad := plugin_violations(plugin_dir)), "\n".join(bad)


def test_the_example_plugin_uses_only_the_public_api() -> None:
    """examples/hello_plugin is what third-party authors copy: it is held to the built-in plugins' rule."""
    example = ROOT / "examples" / "hello_plugin" / "tequio_hello"
    assert _plugin_imports(example / "__init__.py", example.parent, ""), "the check sees its imports"
    assert not (bad := plugin_violations(example, example.parent, "")), "\n".join(bad)


def test_the_public_api_is_the_documented_one() -> None:
    docs = (ROOT / "docs" / "plugins.md").read_text(encoding="utf-8")
    for module, names in PUBLIC_API.items():
        assert f"`{module}`" in docs, f"docs/plugins.md does not list {module}"
        for name in sorted(names or ()):
            assert f"`{name}`" in docs, f"docs/plugins.md does not list {module}.{name}"
    assert "`demo`" in docs and "no plugin imports another" in docs


def test_the_plugin_import_check_can_fail(tmp_path: Path) -> None:
    """It sees absolute, relative and submodule imports past the API, and one plugin importing another."""
    fake = tmp_path / "plugins" / "zz_layout_probe"  # a plugin folder outside the repository
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text(
        "from tequio.node.groups import find_proposal\n"
        "from tequio.node import Node, store\n"
        "from ..voting import cli\n"
        "import tequio.plugins.evidence.api\n"
        "from tequio.node.cli import run\n"
        "from . import sibling\n"
        "from tequio.plugins.zz_layout_probe import sibling as s2\n"
    )
    bad = plugin_violations(fake, root=tmp_path)
    assert [b.split(" ", 1)[1] for b in bad] == [
        "imports tequio.node.groups, which is not public API",
        "imports tequio.node.store, which is not public API",
        "imports another plugin: tequio.plugins.voting",
        "imports another plugin: tequio.plugins.evidence.api",
        "imports tequio.node.cli.run, which is not public API",
    ]


#: Module names that once meant three things each (issue 10 §4): a module says what it holds instead
#: (``federation/bundle_file.py`` the file format, ``node/bundle_io.py`` a node's export and import,
#: ``node/cli/bundle_cmds.py`` the commands; ``node/recordview.py`` a record as the node holds it,
#: ``node/cli/record_cmds.py`` the commands, and each plugin's ``recordkinds.py`` its record kinds).
VAGUE_NAMES = {"records", "bundles"}


def _module_names(root: Path) -> dict[str, list[str]]:
    names: dict[str, list[str]] = {}
    for package in ALLOWED:
        for p in (root / package).rglob("*.py"):
            names.setdefault(p.stem, []).append(str(p.relative_to(root)))
    return names


def test_no_module_bears_a_name_that_meant_several_things() -> None:
    for name, paths in _module_names(ROOT).items():
        assert name not in VAGUE_NAMES, f"{sorted(paths)}: name it for what it holds"


def test_the_vague_name_check_can_fail(tmp_path: Path) -> None:
    (tmp_path / "node" / "cli").mkdir(parents=True)
    (tmp_path / "node" / "cli" / "records.py").write_text("")
    assert "records" in _module_names(tmp_path)
