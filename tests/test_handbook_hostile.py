"""A hostile handbook folder: symbolic links that lead out of the imported tree (to a file, to a
folder, to an image, to /etc/passwd) are skipped with their reason, and nothing they point at is read
or published. Run through the real CLI, as a person would import a folder they were handed."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from tequio.plugins.handbook.source import OUTSIDE
from tests.conftest import CliResult
from tests.test_handbook_cli import _tequio
from tests.test_handbook_kit import png, write

MARK = "zorrolinkado"  # a word that only the files outside the tree contain


def _j(r: CliResult) -> object:
    assert r.code == 0, r.err
    return json.loads(r.out)


@pytest.fixture()
def outside(tmp_path: Path) -> Path:
    """Files a hostile tree points at: a page that would import fine, a folder of them, an image."""
    page = f"---\ntitle: Secreto {MARK}\nlanguage: es\n---\nClave {MARK} del nodo.\n"
    return write(
        tmp_path / "outside",
        {
            "secret.md": page,
            "s_secret.md": page,
            "dir/Leak.md": page,
            "dir/s_leak.md": page,
            "dir/.category.yml": f"index: 1\ntitle: {MARK}\n",
            "secret.png": png(seed=99),
        },
    )


@pytest.fixture()
def cli(tmp_path: Path) -> Callable[..., CliResult]:
    home = tmp_path / "home"

    def run(*args: str) -> CliResult:
        return _tequio(home, *args)

    assert run("init", "--name", "Casa").code == 0
    return run


def _book(cli: Callable[..., CliResult]) -> str:
    key = _j(cli("info", "--json"))["key"]  # type: ignore[index]
    out = _j(cli("handbook", "create", "Manual", "--languages", "es,en", "--editor", key, "--json"))
    return out["book"]  # type: ignore[index]


def _nothing_leaked(cli: Callable[..., CliResult], book: str, out: dict) -> None:
    for lang in ("es", "en"):
        hits = _j(cli("handbook", "search", MARK, "--book", book, "--lang", lang, "--json"))
        assert hits == [], hits
        toc = _j(cli("handbook", "list", book, "--lang", lang, "--json"))
        assert MARK not in json.dumps(toc)
    assert "root:" not in json.dumps(out)


def _skipped(out: dict) -> dict[str, str]:
    return {s["path"]: s["why"] for s in out["skipped"]}


def test_dfak_links_out_of_the_tree_are_skipped_with_their_reason(
    cli: Callable[..., CliResult], outside: Path, tmp_path: Path
) -> None:
    root = write(
        tmp_path / "dfak",
        {
            "_pages/es/README.md": "---\ntitle: Inicio\n---\nHola. ![](leak.png) ![](ok.png)\n",
            "images/ok.png": png(seed=1),
        },
    )
    (root / "_pages/es/x.md").symlink_to(outside / "secret.md")
    (root / "_pages/es/passwd.md").symlink_to("/etc/passwd")
    (root / "_pages/en").symlink_to(outside / "dir", target_is_directory=True)
    (root / "images/leak.png").symlink_to(outside / "secret.png")
    # A link that stays inside the tree is still followed.
    (root / "_pages/es/Otra.md").symlink_to(root / "_pages/es/README.md")
    book = _book(cli)
    out = _j(cli("handbook", "import", str(root), "--book", book, "--format", "dfak", "--json"))
    assert isinstance(out, dict)
    skipped = _skipped(out)
    for rel in ("_pages/es/x.md", "_pages/es/passwd.md", "_pages/en", "images/leak.png"):
        assert skipped.get(rel) == OUTSIDE, (rel, skipped)
    assert out["languages"] == {"es": 2} and out["images"] == 1
    _nothing_leaked(cli, book, out)


def test_umbrella_links_out_of_the_tree_are_skipped(
    cli: Callable[..., CliResult], outside: Path, tmp_path: Path
) -> None:
    root = write(
        tmp_path / "umb",
        {
            "en/info/.category.yml": "index: 1\ntitle: Info\n",
            "en/info/pw/beginner/s_pw.md": "---\nindex: 1\ntitle: Passwords\n---\nUse a manager.\n",
        },
    )
    (root / "en/info/pw/beginner/s_x.md").symlink_to(outside / "s_secret.md")
    (root / "en/leak").symlink_to(outside / "dir", target_is_directory=True)
    (root / "es").symlink_to(outside / "dir", target_is_directory=True)
    book = _book(cli)
    out = _j(cli("handbook", "import", str(root), "--book", book, "--format", "umbrella", "--json"))
    assert isinstance(out, dict)
    skipped = _skipped(out)
    for rel in ("en/info/pw/beginner/s_x.md", "en/leak", "es"):
        assert skipped.get(rel) == OUTSIDE, (rel, skipped)
    assert out["languages"] == {"en": 2}
    _nothing_leaked(cli, book, out)


def test_suffix_links_out_of_the_tree_are_skipped(
    cli: Callable[..., CliResult], outside: Path, tmp_path: Path
) -> None:
    root = write(tmp_path / "hugo", {"index.md": "---\ntitle: Home\n---\nSee ![](pic.png).\n"})
    (root / "page.es.md").symlink_to(outside / "secret.md")
    (root / "passwd.md").symlink_to("/etc/passwd")
    (root / "docs").symlink_to(outside / "dir", target_is_directory=True)
    (root / "pic.png").symlink_to(outside / "secret.png")
    (root / "loop").symlink_to(root, target_is_directory=True)  # inside, but a loop: read once
    book = _book(cli)
    out = _j(cli("handbook", "import", str(root), "--book", book, "--format", "suffix", "--json"))
    assert isinstance(out, dict)
    skipped = _skipped(out)
    for rel in ("page.es.md", "passwd.md", "docs", "pic.png"):
        assert skipped.get(rel) == OUTSIDE, (rel, skipped)
    assert out["images"] == 0
    assert sum(out["languages"].values()) == 1, out
    _nothing_leaked(cli, book, out)


def test_the_tree_itself_may_be_a_link(cli: Callable[..., CliResult], tmp_path: Path) -> None:
    """Only links out of the tree are refused: a folder reached through a link imports normally."""
    real = write(tmp_path / "real", {"index.md": "---\ntitle: Home\n---\nHola.\n"})
    os.symlink(real, tmp_path / "via")
    book = _book(cli)
    out = _j(cli("handbook", "import", str(tmp_path / "via"), "--book", book, "--json"))
    assert isinstance(out, dict) and sum(out["languages"].values()) == 1 and out["skipped"] == []
