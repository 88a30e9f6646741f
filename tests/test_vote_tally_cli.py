"""``tequio vote tally``: the offline count of a ballot file, in process and in a subprocess; every
error is one line on stderr with a non-zero exit, never a traceback."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from tequio.plugins.voting.methods import tally, tie_order
from tequio.plugins.voting.tally_cli import tally_command
from tests.conftest import ROOT

TENNESSEE: list[dict[str, Any]] = [
    {"choice": ["Memphis", "Nashville", "Chattanooga", "Knoxville"], "count": 42},
    {"choice": ["Nashville", "Chattanooga", "Knoxville", "Memphis"], "count": 26},
    {"choice": ["Chattanooga", "Knoxville", "Nashville", "Memphis"], "count": 15},
    {"choice": ["Knoxville", "Chattanooga", "Nashville", "Memphis"], "count": 17},
]


def write(tmp_path: Path, data: Any, name: str = "ballots.json") -> str:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return str(path)


def run(*args: str, input: str | None = None) -> Any:
    return CliRunner().invoke(tally_command, list(args), input=input)


def run_json(*args: str) -> dict[str, Any]:
    r = run(*args, "--json")
    assert r.exit_code == 0, r.output
    out: dict[str, Any] = json.loads(r.stdout)
    return out


def subprocess_tally(*args: str) -> subprocess.CompletedProcess[str]:
    code = "from plugins.voting.tally_cli import tally_command; tally_command()"
    return subprocess.run(
        [sys.executable, "-c", code, *args], cwd=ROOT, capture_output=True, text=True, timeout=60
    )


def test_ranked_methods_on_a_file(tmp_path: Path) -> None:
    path = write(tmp_path, TENNESSEE)
    expect = {
        "irv": "Knoxville",
        "schulze": "Nashville",
        "borda": "Nashville",
        "copeland": "Nashville",
        "ranked-pairs": "Nashville",
    }
    for method, winner in expect.items():
        out = run_json("--method", method, "--ballots", path)
        assert out["method"] == method and out["winners"] == [winner] and out["passed"] is None
        assert set(out) == {"method", "winners", "ranking", "passed", "explanation"}
    borda = run_json("--method", "borda", "--ballots", path)
    assert borda["explanation"]["scores"]["Chattanooga"] == 173
    # The same as the library, to the byte of its JSON.
    ballots = [(b["choice"], b["count"]) for b in TENNESSEE]
    assert borda == json.loads(json.dumps(tally("borda", ballots).to_json()))


def test_human_output(tmp_path: Path) -> None:
    r = run("--method", "schulze", "--ballots", write(tmp_path, TENNESSEE))
    assert r.exit_code == 0
    lines = r.stdout.splitlines()
    assert lines[:4] == [
        "method: schulze",
        "winner: Nashville",
        "ranking: Nashville > Chattanooga > Knoxville > Memphis",
        "summary: Nashville wins",
    ]
    assert "strongest paths (row over column):" in lines


def test_wrapped_file_options_and_stdin(tmp_path: Path) -> None:
    data = {"options": ["A", "B", "C"], "ballots": [{"choice": "A", "count": 2}, {"choice": "B"}]}
    out = run_json("--method", "plurality", "--ballots", write(tmp_path, data))
    assert out["explanation"]["totals"] == {"A": 2, "B": 1, "C": 0}
    # --options overrides the file's list.
    out = run_json("--method", "plurality", "--ballots", write(tmp_path, data), "--options", "A,B,C,D")
    assert out["explanation"]["options"] == ["A", "B", "C", "D"]
    r = run("--method", "plurality", "--ballots", "-", "--json", input=json.dumps(data["ballots"]))
    assert r.exit_code == 0 and json.loads(r.stdout)["winners"] == ["A"]


def test_tie_seed(tmp_path: Path) -> None:
    path = write(tmp_path, [{"choice": "A"}, {"choice": "B"}])
    winners = set()
    for seed in ("", "00", "01", "02", "03"):
        out = run_json("--method", "plurality", "--ballots", path, "--tie-seed", seed)
        assert out["winners"] == [tie_order("AB", bytes.fromhex(seed))[0]]
        assert out["explanation"]["tied"] == ["A", "B"] and out["explanation"]["tie_seed"] == seed
        winners.add(out["winners"][0])
    assert winners == {"A", "B"}


def test_yes_no_flags(tmp_path: Path) -> None:
    path = write(
        tmp_path, [{"choice": "yes", "count": 6}, {"choice": "no", "count": 3}, {"choice": "abstain"}]
    )
    base = ("--method", "yes-no", "--ballots", path, "--threshold", "2/3", "--electorate", "20")
    strict = run_json(*base)
    assert strict["passed"] is False and strict["winners"] == ["no"]
    assert strict["explanation"]["threshold"]["comparison"] == "strictly above"
    at_least = run_json(*base, "--at-least")
    assert at_least["passed"] is True
    assert at_least["explanation"]["quorum"] == {"fraction": [1, 2], "needed": 10, "reached": 10, "met": True}
    missed = run_json(*base, "--at-least", "--quorum", "3/5")
    assert missed["passed"] is False and missed["explanation"]["quorum"]["needed"] == 12
    r = run("--method", "yes-no", "--ballots", path, "--electorate", "20")
    assert r.exit_code == 0 and r.stdout.startswith("method: yes-no\npassed: yes\n")


def test_consent_reasons(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        [
            {"choice": "yes", "count": 5},
            {"choice": "object", "count": 1, "reason": "pone en riesgo a las testigos"},
            {"choice": "object"},
        ],
    )
    out = run_json("--method", "consent", "--ballots", path)
    assert out["passed"] is False
    assert out["explanation"]["objections"] == [
        {"reason": None, "count": 1},
        {"reason": "pone en riesgo a las testigos", "count": 1},
    ]


def test_score_range(tmp_path: Path) -> None:
    path = write(tmp_path, [{"choice": {"A": 9, "B": 10}}, {"choice": {"A": 10}, "count": 2}])
    out = run_json("--method", "score", "--ballots", path, "--max", "10")
    assert out["explanation"]["totals"] == {"A": 29, "B": 10}


BAD_FILES = [
    ("irv", "{not json", "not JSON: Expecting property name enclosed in double quotes at line 1 column 2"),
    ("irv", '{"votes": []}', 'the file is a list of ballots or an object {"ballots"'),
    ("irv", "42", "the file is a list of ballots"),
    ("irv", '[["A", "B"]]', 'ballot 0: expected {"choice": ..., "count": N}'),
    ("irv", '[{"choice": ["A"], "weight": 2}]', "ballot 0: unknown key 'weight'"),
    (
        "plurality",
        '{"options": ["A"], "ballots": [{"choice": "B"}]}',
        "ballot 0: 'B' is not one of the options",
    ),
    ("irv", '[{"choice": ["A"], "count": -2}]', "ballot 0: count must be at least 1, not -2"),
    ("irv", '[{"choice": ["A"], "count": 1.5}]', "ballot 0: count must be a whole number, not 1.5"),
    ("irv", '[{"choice": ["A"], "count": NaN}]', "NaN is not a number this file may hold"),
    (
        "irv",
        '[{"choice": ["A"]}, {"choice": ["B", "A", "B"]}]',
        "ballot 1: a ranked ballot names each option once",
    ),
    ("irv", '[{"choice": "A"}]', "ballot 0: a ranked ballot is a list of options, best first"),
    ("plurality", '[{"choice": ["A"]}]', "ballot 0: a plurality ballot is one option"),
    ("yes-no", '[{"choice": true}]', "ballot 0: a yes-no ballot is 'yes', 'no' or 'abstain', not True"),
    ("score", '[{"choice": {"A": 1, "A": 2}}]', "the key 'A' appears twice in one object"),
    (
        "plurality",
        '[{"choice": "A", "reason": "x"}]',
        "only a consent objection (choice 'object') carries a reason",
    ),
    ("consent", '[{"choice": "object", "reason": 3}]', "ballot 0: a reason is text"),
]


@pytest.mark.parametrize(("method", "text", "message"), BAD_FILES)
def test_bad_files(tmp_path: Path, method: str, text: str, message: str) -> None:
    path = write(tmp_path, text)
    args = ["--method", method, "--ballots", path]
    if method == "yes-no":
        args += ["--electorate", "5"]
    r = run(*args)
    assert r.exit_code == 1
    assert r.stdout == ""
    assert r.stderr.count("\n") == 1 and r.stderr.startswith(f"error: {path}: ")
    assert message in r.stderr, r.stderr


BAD_USAGE = [
    (["--method", "condorcet"], 2, "unknown method 'condorcet' (known: yes-no, consent,"),
    (["--method", "irv", "--tie-seed", "xyz"], 2, "--tie-seed must be hexadecimal, not 'xyz'"),
    (["--method", "yes-no", "--quorum", "half"], 2, "--quorum takes a fraction N/D of whole numbers"),
    (["--method", "yes-no", "--threshold", "3/2", "--electorate", "9"], 1, "threshold must be [numerator,"),
    (["--method", "irv", "--quorum", "1/2"], 2, "--quorum does not apply to irv"),
    (["--method", "plurality", "--at-least"], 2, "--at-least does not apply to plurality"),
    (["--method", "yes-no"], 1, "a quorum of 1/2 needs the electorate"),
    (["--method", "yes-no", "--electorate", "-1"], 1, "electorate must be a whole number of at least 0"),
    (["--method", "yes-no", "--electorate", "many"], 2, "'many' is not a valid integer"),
    (
        ["--method", "irv", "--ballots", "/nonexistent/b.json"],
        1,
        "cannot read /nonexistent/b.json: No such file",
    ),
    (["--ballots", "x.json"], 2, "Missing option '--method'"),
]


@pytest.mark.parametrize(("args", "code", "message"), BAD_USAGE)
def test_bad_usage(tmp_path: Path, args: list[str], code: int, message: str) -> None:
    if "--ballots" not in args:
        args = [*args, "--ballots", write(tmp_path, [{"choice": "yes"}])]
    r = run(*args)
    assert r.exit_code == code, r.output
    assert r.stderr.count("\n") == 1 and r.stderr.startswith("error: "), r.stderr
    assert message in r.stderr, r.stderr


def test_in_a_subprocess(tmp_path: Path) -> None:
    path = write(tmp_path, TENNESSEE)
    ok = subprocess_tally("--method", "irv", "--ballots", path, "--json")
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["winners"] == ["Knoxville"]
    assert ok.stderr == ""
    for args, code, message in [
        (["--method", "irv", "--ballots", write(tmp_path, "[1, 2", "bad.json")], 1, "not JSON"),
        (
            ["--method", "irv", "--ballots", write(tmp_path, '[{"choice": ["A", "A"]}]', "rep.json")],
            1,
            "repeats A",
        ),
        (
            ["--method", "borda", "--ballots", path, "--options", "Memphis,Nashville"],
            1,
            "'Chattanooga' is not one",
        ),
        (["--method", "nope", "--ballots", path], 2, "unknown method 'nope'"),
        (["--ballots", path], 2, "Missing option '--method'"),
    ]:
        r = subprocess_tally(*args)
        assert r.returncode == code, r.stderr
        assert r.stdout == ""
        assert r.stderr.count("\n") == 1 and r.stderr.startswith("error: ") and message in r.stderr, r.stderr
        assert "Traceback" not in r.stderr
    helped = subprocess_tally("--help")
    assert helped.returncode == 0 and "--tie-seed HEX" in helped.stdout


def test_the_text_output_is_tables_and_rounds_not_a_json_dump(tmp_path: Path) -> None:
    """Without --json, pairwise counts are a table (row over column) and IRV rounds one line each."""
    path = write(
        tmp_path,
        [
            {"choice": ["A", "B", "C"], "count": 4},
            {"choice": ["B", "A", "C"], "count": 3},
            {"choice": ["C", "B", "A"], "count": 2},
        ],
    )
    schulze = run("--method", "schulze", "--ballots", path)
    assert schulze.exit_code == 0, schulze.output
    lines = schulze.output.splitlines()
    assert "pairwise (row over column):" in lines
    at = lines.index("pairwise (row over column):")
    assert lines[at + 1].split() == ["A", "B", "C"]
    assert lines[at + 2].split() == ["A", "-", "4", "7"] and lines[at + 3].split() == ["B", "5", "-", "7"]
    assert "{" not in schulze.output and '"' not in schulze.output
    irv = run("--method", "irv", "--ballots", path)
    assert "  round 1: A 4, B 3, C 2; continuing ballots 9; exhausted 0; C out" in irv.output, irv.output
