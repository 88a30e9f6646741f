"""``tequio handbook`` end to end in subprocesses: the JSON shapes the issue gives, and wrong input
answered in one line with a non-zero exit, never a traceback."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import TEQUIO, CliResult
from tests.test_handbook_kit import DFAK, suffix_tree, write


def _j(r: CliResult) -> object:
    assert r.code == 0, r.err
    return json.loads(r.out)


def _tequio(home: Path, *args: str) -> CliResult:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TEQUIO_")}
    env["TEQUIO_HOME"] = str(home)
    p = subprocess.run([TEQUIO, *args], capture_output=True, env=env, timeout=300)
    return CliResult(p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace"))


@pytest.fixture(scope="module")
def editor(tmp_path_factory: pytest.TempPathFactory) -> tuple[Callable[..., CliResult], str, str]:
    """One editor's node for the module: its commands run in subprocesses like a person's."""
    home = tmp_path_factory.mktemp("cli") / "home"

    def cli(*args: str) -> CliResult:
        return _tequio(home, *args)

    assert cli("init", "--name", "Casa").code == 0
    key = _j(cli("info", "--json"))["key"]  # type: ignore[index]
    book = _j(cli("handbook", "create", "Manual", "--languages", "es,en", "--editor", key, "--json"))
    assert set(book) == {"book"}  # type: ignore[arg-type]
    return cli, key, book["book"]  # type: ignore[index]


def test_the_json_shapes(editor: tuple[Callable[..., CliResult], str, str], tmp_path: Path) -> None:
    cli, key, book = editor
    out = _j(cli("handbook", "import", str(suffix_tree(tmp_path / "s")), "--book", book, "--json"))
    assert isinstance(out, dict)
    assert {"pages", "languages", "images", "checklists", "forms", "skipped"} <= set(out)
    assert out["languages"] == {"en": 3, "es": 2} and all(set(s) == {"path", "why"} for s in out["skipped"])
    books = _j(cli("handbook", "list", "--json"))
    assert isinstance(books, list) and books[0]["book"] == book and books[0]["following"]
    toc = _j(cli("handbook", "list", book, "--lang", "en", "--json"))
    assert isinstance(toc, list) and len(toc) == 3
    page = next(e["page"] for e in toc if e["key"] == "devices/phones")
    shown = _j(cli("handbook", "show", page, "--lang", "en", "--json"))
    assert isinstance(shown, dict)
    assert {
        "page",
        "lang",
        "title",
        "revision",
        "text",
        "translates",
        "stale",
        "signed_by",
        "trusted",
    } <= set(shown)
    assert shown["trusted"] is True and shown["signed_by"] == key and shown["title"] == "Phones"
    hits = _j(cli("handbook", "search", "telefonos", "--book", book, "--lang", "es", "--json"))
    assert isinstance(hits, list) and hits and set(hits[0]) == {"page", "title", "snippet", "score"}
    hist = _j(cli("handbook", "history", page, "--json"))
    assert isinstance(hist, list) and {r["lang"] for r in hist} == {"es", "en"}
    assert ", trusted: H9" in cli("handbook", "show", "devices/phones", "--lang", "en").out
    out_pdf = tmp_path / "m.html"
    exp = _j(
        cli("handbook", "export", book, "--lang", "es", "--format", "html", "--out", str(out_pdf), "--json")
    )
    assert isinstance(exp, dict) and exp["code"].startswith("TQH-")
    chk = _j(cli("handbook", "check-print", exp["code"], "--json"))
    assert isinstance(chk, dict) and chk["status"] == "current"
    zim = _j(
        cli(
            "handbook",
            "export",
            book,
            "--lang",
            "es",
            "--format",
            "zim",
            "--out",
            str(tmp_path / "m.zim"),
            "--json",
        )
    )
    assert isinstance(zim, dict) and zim["pages"] == 3  # libzim's progress does not spoil the JSON
    st = _j(cli("handbook", "follow", book, "--quota", "50MB", "--json"))
    assert isinstance(st, dict) and st["quota"] == 50 * 1024 * 1024
    ed = _j(cli("handbook", "editors", book, "--json"))
    assert isinstance(ed, dict) and ed["rights"]["edit"][0]["key"] == key


def test_dfak_import_through_the_cli(cli: Callable[..., CliResult]) -> None:
    assert cli("init", "--name", "Casa").code == 0
    key = _j(cli("info", "--json"))["key"]  # type: ignore[index]
    book = _j(
        cli("handbook", "create", "DFAK", "--languages", "en,es,fr,de,ru,nl", "--editor", key, "--json")
    )
    out = _j(cli("handbook", "import", str(DFAK), "--book", book["book"], "--json"))  # type: ignore[index]
    assert out["languages"] == {"en": 9, "es": 9, "fr": 8, "de": 8, "ru": 8, "nl": 3}  # type: ignore[index]
    again = _j(cli("handbook", "import", str(DFAK), "--book", book["book"], "--json"))  # type: ignore[index]
    assert again["published"] == 0  # type: ignore[index]


@pytest.mark.parametrize(
    "args, message",
    [
        (["handbook", "create", "X", "--languages", "es"], "either --editors-group"),
        (["handbook", "create", "X", "--languages", "es", "--editor", "zz"], "64 hex"),
        (["handbook", "create", "X", "--languages", "es,es", "--editor", "ab" * 32], "distinct language"),
        (
            ["handbook", "create", "X", "--languages", "es", "--source", "fr", "--editor", "ab" * 32],
            "source language",
        ),
        (["handbook", "show", "nothing-here", "--lang", "es"], "no page"),
        (["handbook", "list", "deadbeefdeadbeef"], "no book"),
        (["handbook", "check-print", "not-a-code"], "not a revision code"),
        (["handbook", "check-print", "TQH-AAAA-BBBB-CCCC"], None),
        (["handbook", "follow", "x" * 64, "--quota", "lots"], "size such as"),
        (["handbook", "export", "deadbeefdeadbeef", "--lang", "es", "--format", "doc", "--out", "x"], "doc"),
        (["handbook", "diff", "zz", "yy"], "not a hex id"),
    ],
)
def test_wrong_input_is_one_clear_line(
    editor: tuple[Callable[..., CliResult], str, str], args: list[str], message: str | None
) -> None:
    cli, _, _ = editor
    r = cli(*args)
    if message is None:
        assert r.code == 0 and "unknown" in r.out
        return
    assert r.code != 0 and "Traceback" not in r.err and message in r.err
    assert len([line for line in r.err.splitlines() if line.strip()]) <= 2


def test_hostile_names_never_reach_the_terminal_raw(
    editor: tuple[Callable[..., CliResult], str, str], tmp_path: Path
) -> None:
    cli, _, book = editor
    evil = '---\ntitle: "Evil\\e]0;pwned\\a\\e[2J"\n---\nok\n'
    root = write(tmp_path / "evil", {"evil.md": evil})
    r = cli("handbook", "import", str(root), "--book", book)
    assert r.code == 0
    listing = cli("handbook", "list", book, "--lang", "es")
    assert "\x1b" not in listing.out and "\x07" not in listing.out and "Evil" in listing.out


def test_search_needs_a_followed_book_and_sane_queries(
    editor: tuple[Callable[..., CliResult], str, str],
) -> None:
    cli, key, _ = editor
    book = _j(cli("handbook", "create", "Otro", "--languages", "es", "--editor", key, "--json"))["book"]  # type: ignore[index]
    assert "no words" in cli("handbook", "search", "!!!", "--book", book, "--lang", "es").err
    assert "at most 500" in cli("handbook", "search", "a" * 600, "--book", book, "--lang", "es").err
    assert cli("handbook", "unfollow", book).code == 0
    r = cli("handbook", "search", "hola", "--book", book, "--lang", "es")
    assert r.code == 1 and "does not follow" in r.err
