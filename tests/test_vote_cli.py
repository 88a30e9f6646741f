"""``tequio vote ...`` end to end: three nodes of one group on one machine, records carried by files."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tequio.node import Node
from tequio.node.groups import close, propose
from tequio.plugins.voting.ballot_io import cast
from tests.conftest import TEQUIO, CliResult
from tests.test_group_cli import HEX64, Home, members_of, parallel, refused

RESULT_KEYS = {"method", "winners", "ranking", "passed", "explanation"}  # docs/voting.md, Result.to_json()


@dataclass
class Trio:
    """Members A (the founder), B and C of one group, and D, a node outside it; proposals by A."""

    a: Home
    b: Home
    c: Home
    d: Home
    gid: str
    dir: Path
    pids: dict[str, str] = field(default_factory=dict)

    def gather(self, srcs: tuple[Home, ...], dst: Home) -> None:
        """Carry nodes' records of the group to ``dst``: export each, then one import (the full pipeline)."""
        outs = [self.dir / f"{s.path.name}.bin" for s in srcs]
        scope = f"g:{self.gid}"
        parallel(
            *[
                lambda s=s, o=o: s.ok("records", "export", "--scope", scope, "--out", str(o))
                for s, o in zip(srcs, outs, strict=True)
            ]
        )
        both = self.dir / "gathered.bin"
        both.write_bytes(b"".join(o.read_bytes() for o in outs))
        self._import(dst, both)

    def share(self) -> None:
        """Carry A's records of the group to B and C."""
        out = self.dir / "A.bin"
        self.a.ok("records", "export", "--scope", f"g:{self.gid}", "--out", str(out))
        parallel(lambda: self._import(self.b, out), lambda: self._import(self.c, out))

    @staticmethod
    def _import(h: Home, path: Path) -> None:
        report = h.json("records", "import", str(path))
        assert report["rejected"] == [] and report["accepted"] >= 1, report

    def cast_all(self, pid: str, b: str, c: str) -> None:
        """B and C (which hold A's records) cast their ballots, then A gets them."""
        parallel(lambda: self.b.ok("vote", "cast", pid, b), lambda: self.c.ok("vote", "cast", pid, c))
        self.gather((self.b, self.c), self.a)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Trio:
    """Made once, copied per test: A founds a group with B, C, opens three proposals, votes; B, C import."""
    root = tmp_path_factory.mktemp("trio")
    homes = [Home(f"Org {n}", root / n) for n in "ABCD"]
    made = parallel(*(lambda h=h: h.json("init", "--name", h.name) for h in homes))
    for h, info in zip(homes, made, strict=True):
        h.key = info["key"]
    a, b, c, d = homes
    args = ["--member", f"{b.key}=Colectivo B", "--member", f"{c.key}=Centro C"]
    gid = a.json("group", "create", "Red", *args)["gid"]
    trio = Trio(a, b, c, d, gid, root)

    def open_(title: str, *args: str) -> str:
        opened = a.json("vote", "propose", gid, "--title", title, *args)
        assert opened["scope"] == f"g:{gid}" and HEX64.fullmatch(opened["id"])
        pid: str = opened["id"]
        return pid

    ranked = ["--method", "schulze", "--option", "X", "--option", "Y", "--option", "Z"]
    trio.pids["ranked"] = open_("Sede", *ranked)
    trio.pids["admit"] = open_("Admitir a D", "--action", f"admit={d.key}:Casa D")
    hidden = ["--method", "plurality", "--option", "X", "--option", "Y", "--hidden"]
    trio.pids["hidden"] = open_("Secreta", *hidden)
    a.ok("vote", "cast", trio.pids["ranked"], "Y>X>Z")
    a.ok("vote", "cast", trio.pids["admit"], "yes")
    assert "(sealed)" in a.ok("vote", "cast", trio.pids["hidden"], "X")
    trio.share()
    return trio


@pytest.fixture
def trio(template: Trio, tmp_path: Path) -> Trio:
    copies = []
    for h in (template.a, template.b, template.c, template.d):
        shutil.copytree(h.path, tmp_path / h.path.name)
        copies.append(Home(h.name, tmp_path / h.path.name, h.key))
    return Trio(*copies, template.gid, tmp_path, dict(template.pids))


def test_a_ranked_vote_from_proposal_to_decision(trio: Trio) -> None:
    """A Schulze vote of three members: provisional result while open, then the decided, explained result."""
    a, gid, pid = trio.a, trio.gid, trio.pids["ranked"]
    trio.cast_all(pid, "Y>X>Z", "X>Z>Y")

    shown = a.json("vote", "show", pid[:12])
    assert shown["status"] == "open" and shown["result"] is None and shown["method"] == "schulze"
    assert shown["turnout"] == {"voted": 3, "electorate": 3} and all(e["voted"] for e in shown["electorate"])
    assert shown["options"] == ["X", "Y", "Z"] and shown["hidden"] is False and shown["proposer"] == a.key
    provisional = shown["provisional"]
    assert provisional["winners"] == ["Y"] and provisional["ranking"] == ["Y", "X", "Z"]

    closed = a.json("vote", "close", pid)
    assert closed["status"] == "decided" and closed["result"]["winners"] == ["Y"]
    shown = a.json("vote", "show", pid)
    assert shown["status"] == "decided" and "provisional" not in shown
    result = shown["result"]
    assert set(result) == RESULT_KEYS and result == provisional == closed["result"]
    assert result["method"] == "schulze" and result["passed"] is None
    assert result["winners"] == ["Y"] and result["ranking"] == ["Y", "X", "Z"]
    ex = result["explanation"]
    assert ex["pairwise"] == {"X": {"Y": 1, "Z": 3}, "Y": {"X": 2, "Z": 2}, "Z": {"X": 0, "Y": 1}}
    assert ex["strongest_paths"] == {"X": {"Y": 0, "Z": 3}, "Y": {"X": 2, "Z": 2}, "Z": {"X": 0, "Y": 0}}
    assert ex["ballots"] == 3 and ex["electorate"] == 3 and ex["tie_seed"] == pid and ex["ties"] == []

    listed = {p["id"]: p for p in a.json("vote", "list", gid)}
    assert set(listed) == set(trio.pids.values())
    assert listed[pid] == {
        "id": pid,
        "title": "Sede",
        "method": "schulze",
        "status": "decided",
        "voted": 3,
        "electorate": 3,
    }
    assert listed[trio.pids["admit"]]["status"] == "open" and listed[trio.pids["admit"]]["voted"] == 1


def test_admission_by_vote_under_the_default_rule(trio: Trio) -> None:
    """--action admit: the group's rule sets the method (yes-no); two yes of three pass and admit D."""
    a, d, gid, pid = trio.a, trio.d, trio.gid, trio.pids["admit"]
    msg = refused(
        a.run("vote", "propose", gid, "--title", "D", "--method", "plurality", "--action", f"admit={d.key}:D")
    )
    assert "the group's rule decides group.admit by yes-no, not plurality" in msg
    trio.cast_all(pid, "yes", "no")

    closed = a.json("vote", "close", pid)
    assert closed["status"] == "passed"
    result = closed["result"]
    assert result["method"] == "yes-no" and result["passed"] is True and result["winners"] == ["yes"]
    ex = result["explanation"]
    assert (ex["yes"], ex["no"], ex["abstain"], ex["cast"], ex["electorate"]) == (2, 1, 0, 3, 3)
    assert ex["threshold"]["comparison"] == "at least" and ex["threshold"]["met"] is True
    st = a.json("group", "show", gid)
    assert members_of(st)[d.key] == ("Casa D", []) and len(st["members"]) == 4 and st["epoch"] == 2
    (p,) = [p for p in st["proposals"] if p["id"] == pid]
    assert p["status"] == "passed" and p["method"] == "yes-no" and p["action"]["action"] == "group.admit"


def test_a_hidden_vote_stays_sealed_until_its_proposer_closes_it(trio: Trio) -> None:
    """--hidden: ballots hold only "sealed", only the proposer can close, and the close counts them right."""
    a, b, pid = trio.a, trio.b, trio.pids["hidden"]
    parallel(lambda: b.ok("vote", "cast", pid, "Y"), lambda: trio.c.ok("vote", "cast", pid, "Y"))

    listed = b.json("records", "list", "--kind", "vote.ballot", "--limit", "0")
    ballots = [r for r in listed if r["body"]["proposal"] == {"$bin": pid}]
    assert sorted(r["author"] for r in ballots) == sorted([a.key, b.key])
    for r in ballots:
        assert set(r["body"]) == {"proposal", "sealed"} and r["body"]["proposal"] == {"$bin": pid}
    assert "only the node that opened a hidden vote can close it" in refused(b.run("vote", "close", pid))

    trio.gather((b, trio.c), a)
    closed = a.json("vote", "close", pid)
    assert closed["status"] == "decided"
    result = closed["result"]
    assert result["method"] == "plurality" and result["winners"] == ["Y"] and result["ranking"] == ["Y", "X"]
    assert result["explanation"]["totals"] == {"X": 1, "Y": 2} and result["explanation"]["ballots"] == 3


TENNESSEE = [
    (["Memphis", "Nashville", "Chattanooga", "Knoxville"], 42),
    (["Nashville", "Chattanooga", "Knoxville", "Memphis"], 26),
    (["Chattanooga", "Knoxville", "Nashville", "Memphis"], 15),
    (["Knoxville", "Chattanooga", "Nashville", "Memphis"], 17),
]


def test_offline_tally_of_the_tennessee_example(tmp_path: Path) -> None:
    """`vote tally` needs no node: the classic example's winners by six methods, in the documented JSON."""
    ranked = tmp_path / "ranked.json"
    ranked.write_text(json.dumps([{"choice": c, "count": n} for c, n in TENNESSEE]))
    first = tmp_path / "first.json"
    first.write_text(json.dumps([{"choice": c[0], "count": n} for c, n in TENNESSEE]))
    nowhere = tmp_path / "no-such-home"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TEQUIO_")} | {"TEQUIO_HOME": str(nowhere)}

    def tally(method: str, path: Path) -> dict[str, Any]:
        args = [TEQUIO, "vote", "tally", "--method", method, "--ballots", str(path), "--json"]
        p = subprocess.run(args, capture_output=True, text=True, env=env, timeout=60)
        assert p.returncode == 0 and p.stderr == "", (method, p.returncode, p.stderr)
        out: dict[str, Any] = json.loads(p.stdout)
        return out

    methods = ["plurality", "irv", "borda", "copeland", "schulze", "ranked-pairs"]
    got = parallel(*(lambda m=m: tally(m, first if m == "plurality" else ranked) for m in methods))
    results = dict(zip(methods, got, strict=True))
    winners = {m: r["winners"] for m, r in results.items()}
    assert winners == {
        "plurality": ["Memphis"],
        "irv": ["Knoxville"],
        "borda": ["Nashville"],
        "copeland": ["Nashville"],
        "schulze": ["Nashville"],
        "ranked-pairs": ["Nashville"],
    }
    for m, r in results.items():
        assert set(r) == RESULT_KEYS and r["method"] == m and r["passed"] is None and len(r["ranking"]) == 4
        assert r["explanation"]["ballots"] == 100 and r["explanation"]["tie_seed"] == ""
    totals = {"Memphis": 42, "Nashville": 26, "Chattanooga": 15, "Knoxville": 17}
    assert results["plurality"]["explanation"]["totals"] == totals
    rounds = results["irv"]["explanation"]["rounds"]
    assert [r.get("eliminated") for r in rounds] == ["Chattanooga", "Nashville", None]
    assert rounds[-1]["counts"] == {"Knoxville": 58, "Memphis": 42}
    scores = {"Memphis": 126, "Nashville": 194, "Chattanooga": 173, "Knoxville": 107}
    assert results["borda"]["explanation"]["scores"] == scores
    assert results["copeland"]["explanation"]["scores"]["Nashville"] == 6
    assert results["schulze"]["ranking"] == ["Nashville", "Chattanooga", "Knoxville", "Memphis"]
    assert results["ranked-pairs"]["explanation"]["pairwise"]["Nashville"]["Memphis"] == 58
    assert not nowhere.exists()


# --- bad input ------------------------------------------------------------------------------------


@dataclass
class Bad:
    a: Home
    d_key: str
    gid: str
    ranked: str  # open, schulze over X and Y
    yes_no: str  # open
    closed: str  # plurality, decided


@pytest.fixture(scope="module")
def bad(template: Trio, tmp_path_factory: pytest.TempPathFactory) -> Bad:
    """A copy of A with proposals made in process (set-up only: every check below runs the CLI)."""
    root = tmp_path_factory.mktemp("bad")
    shutil.copytree(template.a.path, root / "A")
    a = Home("Org A", root / "A", template.a.key)
    scope = f"g:{template.gid}"
    node = Node.open(a.path)
    try:
        ranked = propose(node, scope, "Sede", method="schulze", options=["X", "Y"])
        yes_no = propose(node, scope, "¿Sí?", method="yes-no")
        done = propose(node, scope, "Hecho", method="plurality", options=["X", "Y"])
        st = node.governance.state(scope)
        assert st is not None
        cast(node, scope, st.proposals[done], "X")
        close(node, scope, done)
    finally:
        node.close()
    return Bad(a, template.d.key, template.gid, ranked.hex(), yes_no.hex(), done.hex())


def _propose(x: Bad, *args: str) -> list[str]:
    return ["vote", "propose", x.gid, "--title", "T", *args]


BAD_CASES: list[Any] = [
    pytest.param(
        lambda x: ["vote", "cast", x.closed, "Y"], 1, "the proposal is decided", id="cast-on-closed"
    ),
    pytest.param(
        lambda x: ["vote", "cast", x.ranked, "W>X"],
        1,
        "'W' is not one of the options",
        id="cast-unknown-option",
    ),
    pytest.param(
        lambda x: ["vote", "cast", x.yes_no, "maybe"],
        1,
        "a yes-no ballot is 'yes', 'no' or 'abstain', not 'maybe'",
        id="cast-maybe",
    ),
    pytest.param(
        lambda x: _propose(x, "--method", "dictator"),
        2,
        "Invalid value for --method",
        id="propose-unknown-method",
    ),
    pytest.param(
        lambda x: _propose(x, "--method", "schulze", "--option", "X"),
        2,
        "give at least two --option",
        id="propose-one-option",
    ),
    pytest.param(
        lambda x: _propose(x, "--method", "yes-no", "--closes", "soonish"),
        2,
        "Invalid value for --closes",
        id="propose-closes-garbage",
    ),
    pytest.param(
        lambda x: _propose(x, "--action", "crown=someone"),
        2,
        "unknown action 'crown'",
        id="propose-bad-action",
    ),
    pytest.param(lambda x: ["vote", "show", "0" * 64], 1, "no proposal", id="show-unknown"),
]


@pytest.mark.parametrize(("args", "code", "message"), BAD_CASES)
def test_bad_input_is_one_line_with_the_right_code(
    bad: Bad, args: Callable[[Bad], list[str]], code: int, message: str
) -> None:
    """Each operator or usage error is one clear line on stderr with exit 1 or 2, never an internal error."""
    assert message in refused(bad.a.run(*args(bad)), code)


def refused_somehow(r: CliResult) -> str:
    """Refused with one line, as an operator error (1) or a usage error (2): either is right here."""
    return refused(r, r.code if r.code in (1, 2) else 1)


UNVOTABLE = [
    pytest.param(["--method", "plurality", "--option", "X", "--option", ""], id="empty-option"),
    pytest.param(["--method", "yes-no", "--option", "X", "--option", "Y"], id="options-for-yes-no"),
    pytest.param(["--method", "yes-no", "--threshold", "1/1"], id="strict-threshold-1/1"),
]


@pytest.mark.parametrize("args", UNVOTABLE)
def test_a_proposal_nobody_could_vote_on_is_refused(bad: Bad, args: list[str]) -> None:
    """vote propose refuses, in one line, a proposal whose every ballot would be invalid."""
    r = bad.a.run(*_propose(bad, *args))
    assert r.code != 0, r.out
    refused_somehow(r)


def test_closing_a_proposal_nobody_could_vote_on_is_a_clear_error(bad: Bad) -> None:
    """A proposal the CLI would refuse (yes-no with options), made in process: vote close says why, exit 1."""
    node = Node.open(bad.a.path)
    try:
        pid = propose(node, f"g:{bad.gid}", "Mal hecha", method="yes-no", options=["X", "Y"])
    finally:
        node.close()
    msg = refused(bad.a.run("vote", "close", pid.hex()))
    assert "cannot be counted" in msg and "options" in msg


def test_a_quorum_for_a_method_without_one_is_refused(bad: Bad) -> None:
    """--quorum on a method that takes none is refused, as 'vote tally' refuses it, not silently dropped."""
    args = ["--method", "schulze", "--option", "X", "--option", "Y", "--quorum", "1/2"]
    assert "quorum" in refused_somehow(bad.a.run(*_propose(bad, *args)))


def test_a_refused_proposal_leaves_no_record(bad: Bad) -> None:
    """Duplicate options are refused before anything is written: the group holds no ignored record."""
    dup = ["--method", "plurality", "--option", "X", "--option", "X"]
    assert "options repeat" in refused(bad.a.run(*_propose(bad, *dup)), 2)
    assert bad.a.json("group", "show", bad.gid)["ignored"] == []
