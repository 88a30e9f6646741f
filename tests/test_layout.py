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
