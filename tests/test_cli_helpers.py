"""The CLI helpers plugins share through ``tequio.node.cli``: one ``--json`` flag, strict JSON files."""

from __future__ import annotations

from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from tequio.node import TequioError
from tequio.node.cli import json_option, load_json


def test_json_option_is_the_one_json_flag() -> None:
    @click.command()
    @json_option
    def show(as_json: bool) -> None:
        click.echo("json" if as_json else "text")

    runner = CliRunner()
    assert runner.invoke(show, ["--json"]).output == "json\n"
    assert runner.invoke(show, []).output == "text\n"
    assert "--json" in runner.invoke(show, ["--help"]).output


def test_load_json_reads_a_file(tmp_path: Path) -> None:
    (f := tmp_path / "rules.json").write_text('{"publish": "member"}', encoding="utf-8")
    assert load_json(f, "rules file") == {"publish": "member"}


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ('{"publish": "member", "publish": "anyone"}', "publish"),  # which one would count?
        ('{"quorum": NaN}', "NaN"),
        ("{not json", "line 1"),
        (b"\xff\xfe{}", "UTF-8"),
    ],
    ids=["repeated-key", "nan", "broken", "not-utf8"],
)
def test_load_json_refuses_what_it_would_guess_at(tmp_path: Path, text: str | bytes, why: str) -> None:
    f = tmp_path / "rules.json"
    f.write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(TequioError, match=r"^rules file .*rules\.json is not JSON") as e:
        load_json(f, "rules file")
    assert why in str(e.value) and "\n" not in str(e.value)


def test_load_json_names_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(TequioError, match="cannot read rules file"):
        load_json(tmp_path / "absent.json", "rules file")
