"""``tequio group ...`` end to end: real CLI subprocesses on real homes, and real ``tequio serve`` nodes."""

from __future__ import annotations

import json
import os
import queue
import re
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tequio.node import Node
from tequio.node.groups import act, create_group
from tests.conftest import TEQUIO, CliResult, wait_until

HEX32 = re.compile(r"[0-9a-f]{32}")
HEX64 = re.compile(r"[0-9a-f]{64}")
ADMIT_BY_MEMBER = {"by": "member"}
DEFAULT_ADMIT = {
    "by": "decision",
    "method": "yes-no",
    "quorum": [2, 3],
    "threshold": [2, 3],
    "strict": False,
    "min_open_ms": 86_400_000,
}
BY_MEMBER = {a: {"by": "member"} for a in ("group.admit", "group.remove", "group.roles", "group.rules")}


@dataclass
class Home:
    """One node's home directory, driven only through the ``tequio`` console script."""

    name: str
    path: Path
    key: str = ""
    proc: subprocess.Popen[str] | None = field(default=None, repr=False)
    fed: str = ""

    def run(self, *args: str, timeout: float = 60) -> CliResult:
        env = {k: v for k, v in os.environ.items() if not k.startswith("TEQUIO_")}
        p = subprocess.run(
            [TEQUIO, "--home", str(self.path), *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=timeout,
        )
        assert "Traceback" not in p.stdout + p.stderr and "internal error" not in p.stderr, p.stderr
        return CliResult(p.returncode, p.stdout, p.stderr)

    def ok(self, *args: str) -> str:
        r = self.run(*args)
        assert r.code == 0, (args, r.code, r.out, r.err)
        return r.out

    def json(self, *args: str) -> Any:
        return json.loads(self.ok(*args, "--json"))

    def show(self, gid: str) -> dict[str, Any]:
        data: dict[str, Any] = self.json("group", "show", gid)
        return data


def refused(r: CliResult, code: int = 1) -> str:
    """The one line of an error, after checking the exit code and that nothing else was printed."""
    assert r.code == code, (r.code, r.out, r.err)
    assert "Traceback" not in r.out + r.err and "internal error" not in r.err, r.err
    lines = r.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), r.err
    return lines[0]


def parallel(*calls: Callable[[], Any]) -> list[Any]:
    """Run independent CLI calls two at a time (the machine has two cores)."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        return [f.result() for f in [pool.submit(c) for c in calls]]


def write_json(path: Path, data: Any) -> Path:
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return path


def members_of(st: dict[str, Any]) -> dict[str, tuple[str, list[str]]]:
    return {m["key"]: (m["name"], m["roles"]) for m in st["members"]}


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Home]:
    """Four initialised homes, made once; each test works on its own copy."""
    root = tmp_path_factory.mktemp("template")
    homes = {n: Home(f"Org {n}", root / n) for n in "ABCD"}
    made = parallel(*(lambda h=h: h.json("init", "--name", h.name) for h in homes.values()))
    for h, info in zip(homes.values(), made, strict=True):
        assert info["name"] == h.name and HEX64.fullmatch(info["key"])
        h.key = info["key"]
    return homes


@pytest.fixture
def homes(template: dict[str, Home], tmp_path: Path) -> dict[str, Home]:
    out = {}
    for n, h in template.items():
        shutil.copytree(h.path, tmp_path / n)
        out[n] = Home(h.name, tmp_path / n, h.key)
    return out


def _create(a: Home, name: str, *members: Home, rules: Path | None = None) -> str:
    args = ["group", "create", name, *[x for m in members for x in ("--member", f"{m.key}={m.name}")]]
    created = a.json(*args, *(["--rules", str(rules)] if rules else []))
    gid: str = created["gid"]
    return gid


def test_create_list_show_and_publish_a_group_note(homes: dict[str, Home]) -> None:
    """A founded group is listed and shown (by a prefix), and a note in its scope is readable here."""
    a, b, c = homes["A"], homes["B"], homes["C"]
    created = a.json(
        "group",
        "create",
        "Red de Búsqueda",
        "--member",
        f"{b.key}=Colectivo B",
        "--member",
        f"{c.key}=Centro C",
    )
    assert set(created) == {"gid", "scope"} and HEX32.fullmatch(created["gid"])
    gid = created["gid"]
    assert created["scope"] == f"g:{gid}"
    listed = a.json("group", "list")
    assert listed == [
        {
            "gid": gid,
            "scope": f"g:{gid}",
            "name": "Red de Búsqueda",
            "members": 3,
            "member": True,
            "epoch": 1,
            "open_proposals": 0,
        }
    ]
    st = a.show(gid[:6])
    assert st["gid"] == gid and st["name"] == "Red de Búsqueda" and st["creator"] == a.key
    assert members_of(st) == {a.key: ("Org A", []), b.key: ("Colectivo B", []), c.key: ("Centro C", [])}
    assert st["epoch"] == 1 and st["proposals"] == [] and st["ignored"] == [] and st["member"] is True
    assert st["rules"]["group.admit"] == DEFAULT_ADMIT and st["rules"]["group.publish"] == {"by": "member"}

    note = a.json("publish", "core.note", "--body", '{"text": "solo para la red"}', "--scope", f"g:{gid}")
    records = a.json("records", "list")
    (mine,) = [r for r in records if r["id"] == note["id"]]
    assert mine["scope"] == f"g:{gid}" and mine["kind"] == "core.note" and mine["author"] == a.key
    assert mine["body"] == {"text": "solo para la red"}
    assert {r["kind"] for r in records if r["scope"] == f"g:{gid}"} == {"gov.keys", "gov.group", "core.note"}
    shown = a.json("records", "show", note["id"])
    assert shown["body"] == {"text": "solo para la red"} and shown["scope"] == f"g:{gid}"


def test_admit_under_the_default_rules_opens_a_proposal(homes: dict[str, Home]) -> None:
    """With the default rules, admitting is not done but proposed, and the command says so."""
    a, b, d = homes["A"], homes["B"], homes["D"]
    gid = _create(a, "Red", b)
    out = a.ok("group", "admit", gid, d.key, "--name", "Dee")
    m = re.search(r"opened proposal ([0-9a-f]{64})", out)
    assert m, out
    assert "the rules ask for a decision by yes-no (quorum 2/3, at least 2/3 yes, open at least 1 day)" in out
    when = r"\d{4}-\d\d-\d\d \d\d:\d\d UTC"
    assert re.search(rf"it can close at {when} at the earliest, or once every member", out), out
    st = a.show(gid)
    assert d.key not in members_of(st) and st["epoch"] == 1
    (p,) = st["proposals"]
    assert p["id"] == m.group(1) and p["status"] == "open" and p["method"] == "yes-no"
    assert p["action"]["action"] == "group.admit" and p["action"]["args"]["key"] == {"$bin": d.key}
    assert p["electorate"] == 2 and p["ballots"] == 0


def test_acts_under_member_rules_are_done_at_once(homes: dict[str, Home], tmp_path: Path) -> None:
    """admit, remove, roles and both forms of rules take effect at once when any member may act."""
    a, b, d = homes["A"], homes["B"], homes["D"]
    gid = _create(a, "Red", b, rules=write_json(tmp_path / "rules.json", BY_MEMBER))
    out = a.ok("group", "admit", gid, d.key, "--name", "Dee", "--role", "editor")
    assert re.fullmatch(r"admit \S+: done \([0-9a-f]{16}\)\n", out), out
    st = a.show(gid)
    assert members_of(st) == {a.key: ("Org A", []), b.key: ("Org B", []), d.key: ("Dee", ["editor"])}
    assert st["epoch"] == 2 and st["proposals"] == []

    removed = a.json("group", "remove", gid, b.key)
    assert removed["proposal"] is False and HEX64.fullmatch(removed["record"])
    st = a.show(gid)
    assert set(members_of(st)) == {a.key, d.key} and st["epoch"] == 3

    a.ok("group", "roles", gid, d.key, "editor", "coordinator")
    change = {"set": {"group.remove": {"by": "nobody"}}, "unset": ["group.roles"]}
    a.ok("group", "rules", gid, str(write_json(tmp_path / "change.json", change)))
    st = a.show(gid)
    assert members_of(st)[d.key] == ("Dee", ["coordinator", "editor"]) and st["epoch"] == 3
    rules = st["rules"]
    assert rules["group.remove"] == {"by": "nobody"}
    assert rules["group.roles"] == DEFAULT_ADMIT  # back to the default, which reads like admit's
    assert rules["group.admit"] == ADMIT_BY_MEMBER

    plain = {"group.propose": {"by": "role", "role": "coordinator"}}
    a.ok("group", "rules", gid, str(write_json(tmp_path / "plain.json", plain)))
    st = a.show(gid)
    assert st["rules"]["group.propose"] == {"by": "role", "role": "coordinator"}
    assert st["rules"]["group.remove"] == {"by": "nobody"} and st["epoch"] == 3 and st["ignored"] == []


def test_an_any_member_proposal_closed_as_passed_admits(homes: dict[str, Home], tmp_path: Path) -> None:
    """Under an any-member rule the closer decides: --passed admits, and a second close is refused."""
    a, b, d = homes["A"], homes["B"], homes["D"]
    rules = {"group.admit": {"by": "decision", "method": "any-member"}}
    gid = _create(a, "Red", b, rules=write_json(tmp_path / "rules.json", rules))
    opened = a.json("group", "admit", gid, d.key, "--name", "Dee")
    assert opened["proposal"] is True
    pid = opened["record"]
    msg = refused(a.run("group", "close", pid))
    assert "--passed or --rejected" in msg
    closed = a.json("group", "close", pid[:12], "--passed")
    assert closed["status"] == "passed" and closed["result"] == {
        "decided_by": {"$bin": a.key},
        "passed": True,
    }
    st = a.show(gid)
    assert members_of(st)[d.key] == ("Dee", []) and st["epoch"] == 2
    assert [(p["id"], p["status"]) for p in st["proposals"]] == [(pid, "passed")]
    assert "already passed" in refused(a.run("group", "close", pid, "--rejected"))


# --- two (three) real nodes ---------------------------------------------------------------------


SERVE_ARGS = (
    "--fed-host",
    "127.0.0.1",
    "--fed-port",
    "0",
    "--api-port",
    "0",
    "--web-port",
    "0",
    "--no-discovery",
)


def _serve(h: Home, logs: Path) -> queue.Queue[str]:
    """Start ``tequio serve`` on 127.0.0.1 with ports picked at run time; its stdout lines go to a queue."""
    cfg = h.path / "tequio.toml"
    cfg.write_text(cfg.read_text().replace("interval_ms = 5000", "interval_ms = 400"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("TEQUIO_")}
    err = open(logs / f"{h.path.name}.serve.err", "w")  # noqa: SIM115 (closed with the process)
    h.proc = subprocess.Popen(
        [TEQUIO, "--home", str(h.path), "serve", *SERVE_ARGS],
        env=env,
        stdout=subprocess.PIPE,
        stderr=err,
        text=True,
    )
    err.close()
    lines: queue.Queue[str] = queue.Queue()
    stdout = h.proc.stdout
    assert stdout is not None
    threading.Thread(target=lambda: [lines.put(line) for line in stdout], daemon=True).start()
    return lines


def _address(h: Home, lines: queue.Queue[str], logs: Path) -> None:
    """Wait (30 s at most) for the federation address a serve prints."""
    assert h.proc is not None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=0.5)
        except queue.Empty:
            assert h.proc.poll() is None, (logs / f"{h.path.name}.serve.err").read_text()
            continue
        if m := re.search(r"federation http://(127\.0\.0\.1:\d+)/fed/v1/", line):
            h.fed = m.group(1)
            return
    raise AssertionError(f"{h.name}: serve printed no federation address")


def _connect(inviter: Home, joiner: Home) -> None:
    code = inviter.ok("invite", "--ttl", "10m").strip()
    joiner.ok("peer", "add", code)


@pytest.fixture
def served(homes: dict[str, Home], tmp_path: Path) -> Iterator[dict[str, Home]]:
    """A, B and C each running ``tequio serve``; stopped (and killed if need be) at teardown."""
    running = [homes[n] for n in "ABC"]
    try:
        started = [(h, _serve(h, tmp_path)) for h in running]
        for h, lines in started:
            _address(h, lines, tmp_path)
        yield homes
    finally:
        for h in running:
            if h.proc is not None and h.proc.poll() is None:
                h.proc.send_signal(signal.SIGTERM)
        for h in running:
            if h.proc is not None:
                try:
                    h.proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    h.proc.kill()
                    h.proc.wait(timeout=20)


def test_a_group_reaches_its_members_and_no_one_else(served: dict[str, Home]) -> None:
    """Over gossip, member B gets the group and reads its note; C, trusted by A but no member, sees none."""
    a, b, c = served["A"], served["B"], served["C"]
    _connect(a, b)
    _connect(a, c)
    gid = _create(a, "Red", b)
    note = a.json("publish", "core.note", "--body", '{"text": "para la red"}', "--scope", f"g:{gid}")["id"]
    public = a.json("publish", "core.note", "--body", '{"text": "para todos"}')["id"]  # after the group's

    seen: dict[str, list[dict[str, Any]]] = {}

    def holds(h: Home, rid: str) -> bool:
        seen[h.name] = h.json("records", "list", "--limit", "0")
        return any(r["id"] == rid for r in seen[h.name])

    wait_until("B to hold and read the group's note", lambda: holds(b, note))
    (got,) = [r for r in seen[b.name] if r["id"] == note]
    assert got["body"] == {"text": "para la red"} and got["author"] == a.key and got["scope"] == f"g:{gid}"
    (listed,) = b.json("group", "list")
    assert (listed["gid"], listed["name"], listed["members"], listed["member"]) == (gid, "Red", 2, True)

    # C syncs with A: it gets A's public note, written after the group records, and nothing of the group.
    wait_until("C to hold A's public note", lambda: holds(c, public))
    assert {r["scope"] for r in seen[c.name]} == {"public"}
    assert c.json("group", "list") == []


# --- bad input ------------------------------------------------------------------------------------


@dataclass
class Bad:
    home: Home
    keys: dict[str, str]
    gid: str  # default rules; members A, B
    member_gid: str  # any member may admit, remove, re-role, change rules; members A, B
    any_member_pid: str  # an open proposal under an any-member rule
    clean_gid: str  # any member may act, as member_gid, but untouched by the cases below
    ambiguous: str  # a one-character prefix of two groups' ids
    unknown: str  # an id that is no group's prefix
    files: dict[str, Path]


@pytest.fixture(scope="module")
def bad(template: dict[str, Home], tmp_path_factory: pytest.TempPathFactory) -> Bad:
    """A copy of A with groups made in process (set-up only: every check below runs the CLI)."""
    root = tmp_path_factory.mktemp("bad")
    shutil.copytree(template["A"].path, root / "A")
    a = Home("Org A", root / "A", template["A"].key)
    keys = {n: h.key for n, h in template.items()}
    b = bytes.fromhex(keys["B"])
    node = Node.open(a.path)
    try:
        gid = create_group(node, "Red", [(b, "Org B", [])])[0].hex()
        member_gid = create_group(node, "Abierta", [(b, "Org B", [])], BY_MEMBER)[0].hex()
        clean_gid = create_group(node, "Limpia", [(b, "Org B", [])], BY_MEMBER)[0].hex()
        any_gid, scope = create_group(
            node, "Consenso", [(b, "Org B", [])], {"group.admit": {"by": "decision", "method": "any-member"}}
        )
        out = act(node, scope, "group.admit", {"key": bytes.fromhex(keys["D"]), "name": "D", "roles": []})
        assert out.proposal
        firsts = {gid[0], member_gid[0], clean_gid[0], any_gid.hex()[0]}
        ambiguous = ""
        while not ambiguous:  # at most 17 groups in all, by pigeonhole
            g = create_group(node, "Eco", [])[0].hex()
            ambiguous = g[0] if g[0] in firsts else ""
            firsts.add(g[0])
        gids = [s[2:] for s, _ in node.governance.groups()]
    finally:
        node.close()
    unknown = next(p for p in (f"{i:x}" * 8 for i in range(16)) if not any(g.startswith(p) for g in gids))
    files = {
        "not-json": write_json(root / "not-json.json", "{nope"),
        "king": write_json(root / "king.json", {"group.admit": {"by": "king"}}),
    }
    return Bad(a, keys, gid, member_gid, out.record.hex(), clean_gid, ambiguous, unknown, files)


BAD_CASES: list[Any] = [
    pytest.param(lambda x: ["group", "show", x.unknown], 1, "in no group", id="show-unknown-gid"),
    pytest.param(lambda x: ["group", "show", x.ambiguous], 1, "matches several groups", id="show-ambiguous"),
    pytest.param(
        lambda x: ["group", "create", "X", "--member", "zzzz"], 1, "neither a node key", id="member-not-hex"
    ),
    pytest.param(
        lambda x: ["group", "create", "X", "--member", "1234abcd99"], 1, "no known peer", id="member-unknown"
    ),
    pytest.param(
        lambda x: ["group", "create", "X", "--member", "ff" * 32],
        1,
        f"{'ff' * 32} is not a valid node key",
        id="member-not-a-curve-point",
    ),
    pytest.param(
        lambda x: ["group", "create", "X", "--rules", str(x.files["king"])],
        1,
        "group.admit: a rule's 'by' is member, role, nobody or decision",
        id="create-rules-king",
    ),
    pytest.param(
        lambda x: ["group", "rules", x.gid, str(x.files["not-json"])], 1, "is not JSON", id="rules-not-json"
    ),
    pytest.param(
        lambda x: ["group", "rules", x.member_gid, str(x.files["king"])],
        1,
        "group.admit: a rule's 'by' is member, role, nobody or decision",
        id="rules-king",
    ),
    pytest.param(
        lambda x: ["group", "rules", x.gid, str(x.files["not-json"]) + ".missing"],
        2,
        "does not exist",
        id="rules-file-missing",
    ),
    pytest.param(
        lambda x: ["group", "admit", x.gid, x.keys["B"]], 1, "already a member", id="admit-member-by-decision"
    ),
    pytest.param(
        lambda x: ["group", "admit", x.member_gid, x.keys["B"]],
        1,
        "already a member",
        id="admit-member-by-act",
    ),
    pytest.param(
        lambda x: ["group", "remove", x.gid, x.keys["D"]],
        1,
        "not a member",
        id="remove-non-member-by-decision",
    ),
    pytest.param(
        lambda x: ["group", "remove", x.member_gid, x.keys["C"]],
        1,
        "not a member",
        id="remove-non-member-by-act",
    ),
    pytest.param(lambda x: ["group", "close", "0" * 64], 1, "no proposal", id="close-unknown"),
    pytest.param(
        lambda x: ["group", "close", x.any_member_pid],
        1,
        "--passed or --rejected",
        id="close-without-verdict",
    ),
]


@pytest.mark.parametrize(("args", "code", "message"), BAD_CASES)
def test_bad_input_is_one_line_with_the_right_code(
    bad: Bad, args: Callable[[Bad], list[str]], code: int, message: str
) -> None:
    """Each operator or usage error is one clear line on stderr with exit 1 or 2, never an internal error."""
    assert message in refused(bad.home.run(*args(bad)), code)


def test_a_refused_act_leaves_no_record(bad: Bad) -> None:
    """A refused rules change or removal writes nothing: the group holds no ignored record afterwards."""
    a = bad.home
    assert "'by'" in refused(a.run("group", "rules", bad.clean_gid, str(bad.files["king"])))
    assert "not a member" in refused(a.run("group", "remove", bad.clean_gid, bad.keys["C"]))
    st = a.show(bad.clean_gid)
    assert st["ignored"] == [] and [h["what"] for h in st["history"]] == ["founded with 2 members"]
