"""Configuration: every key documented with its default, written with comments, validated strictly."""

from __future__ import annotations

import tomllib

import pytest

from tequio.node import Node
from tequio.node.config import Config, config_table, load_config, render_config
from tequio.node.errors import ConfigError
from tests.conftest import ROOT


def test_operations_doc_lists_every_key_with_its_default() -> None:
    assert config_table() in (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")


def test_written_config_round_trips_with_comments(node: Node) -> None:
    text = (node.home / "tequio.toml").read_text(encoding="utf-8")
    assert "# Port of the local API on 127.0.0.1; 0 picks a free one.\nport = 7347" in text
    assert Config.model_validate(tomllib.loads(text)) == node.config
    assert load_config(node.home) == node.config


def test_non_ascii_names_survive(tmp_path) -> None:
    cfg = Config.model_validate({"node": {"name": 'Colectivo "Ñuu" — Oaxaca'}})
    (tmp_path / "tequio.toml").write_text(render_config(cfg), encoding="utf-8")
    assert load_config(tmp_path).node.name == 'Colectivo "Ñuu" — Oaxaca'


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "node: Field required"),
        ('[node]\nname = ""\n', "node.name: String should have at least 1 character"),
        (
            '[node]\nname = "x"\n[api]\nport = 70000\n',
            "api.port: Input should be less than or equal to 65535",
        ),
        ('[node]\nname = "x"\n[ingest]\nbatch_size = 0\n', "ingest.batch_size"),
        ('[node]\nname = "x"\n[log]\nlevel = "loud"\n', "log.level"),
        ('[node]\nname = "x"\n[nodes]\n', "nodes: Extra inputs are not permitted"),
        ("[node\n", "not valid TOML"),
    ],
)
def test_invalid_config_names_the_key(tmp_path, text: str, fragment: str) -> None:
    (tmp_path / "tequio.toml").write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as e:
        load_config(tmp_path)
    assert fragment in str(e.value) and "\n" not in str(e.value)


def test_missing_config(tmp_path) -> None:
    with pytest.raises(ConfigError, match="is missing"):
        load_config(tmp_path)
