"""Every hook, tested through the plugin that docs/plugins.md documents; and a meta-test that keeps it so."""

from __future__ import annotations

import ast
import asyncio
import logging
import re
import types
from collections.abc import Callable
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer
from click.testing import CliRunner

from tequio.node import Node, PublishError, hookimpl
from tequio.node import hookspecs as hookspecs_module
from tequio.node.api import make_api_app
from tequio.node.cli.context import CliState
from tequio.node.errors import PluginError
from tequio.schemas import make_record
from tests.conftest import ROOT, key, note

DOCS = ROOT / "docs" / "plugins.md"


def docs_plugin() -> types.ModuleType:
    """The Python blocks of the hook reference in docs/plugins.md, loaded as one plugin module."""
    text = DOCS.read_text(encoding="utf-8")
    reference = text[text.index("## Hook reference") : text.index("## Testing a plugin")]
    blocks = re.findall(r"```python\n(.*?)```", reference, re.S)
    module = types.ModuleType("wordcount_docs")
    exec(compile("\n".join(blocks), str(DOCS), "exec"), module.__dict__)
    return module


@pytest.fixture
def wc() -> types.ModuleType:
    return docs_plugin()


@pytest.fixture
def wc_node(make_node: Callable[..., Node], wc: types.ModuleType) -> Node:
    return make_node(plugins=[wc])


def hook_names() -> list[str]:
    return sorted(n for n in dir(hookspecs_module) if hasattr(getattr(hookspecs_module, n), "tequio_spec"))


def test_every_hook_has_a_test_and_a_doc_entry() -> None:
    names = hook_names()
    assert len(names) >= 9
    docs = DOCS.read_text(encoding="utf-8")
    tests = set()
    for path in (ROOT / "tests").rglob("test_*.py"):
        for fn in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
                tests.add(fn.name)
    for name in names:
        assert f"test_hook_{name}" in tests, f"hook {name} has no test named test_hook_{name}"
        assert f"\n### {name}\n" in docs, f"hook {name} is not documented in docs/plugins.md"
        assert getattr(hookspecs_module, name).__doc__.strip().count("\n") == 0, f"{name}: one-line docstring"


def test_hook_register_kinds(wc_node: Node) -> None:
    n1 = wc_node.publish("core.note", {"text": "hola mundo"})
    counted = wc_node.publish("wordcount.count", {"word": "hola", "count": 1}, refs=[n1.id])
    assert counted.kind == "wordcount.count" and counted.payload.refs == (n1.id,)
    with pytest.raises(PublishError, match="count: Input should be greater than or equal to 0"):
        wc_node.publish("wordcount.count", {"word": "hola", "count": -1}, refs=[n1.id])
    # The check beyond the model runs in the pipeline, for received records too.
    with pytest.raises(PublishError, match=r"invalid-body: a wordcount\.count refers to exactly one note"):
        wc_node.publish("wordcount.count", {"word": "hola", "count": 1})
    assert [p["name"] for p in wc_node.plugins.describe() if "wordcount.count" in p["kinds"]] == [
        "wordcount_docs"
    ]


def test_two_plugins_defining_one_kind_is_an_error(
    make_node: Callable[..., Node], wc: types.ModuleType
) -> None:
    copy = docs_plugin()
    copy.__name__ = "wordcount_copy"
    with pytest.raises(
        PluginError,
        match=r"'wordcount\.count' is defined by both 'wordcount_(docs|copy)' and 'wordcount_(docs|copy)'",
    ):
        make_node(plugins=[wc, copy])
    with pytest.raises(PluginError, match="Plugin name already registered"):
        make_node(plugins=[wc, docs_plugin()])
    # Nothing was written: the same home can still be initialised.
    assert make_node(plugins=[wc]).name == "Casa"


def test_hook_register_migrations(wc_node: Node) -> None:
    assert wc_node.db["wordcount_words"].columns_dict == {"word": str, "notes": int}
    assert wc_node.db.execute(
        "SELECT version FROM _tequio_migrations WHERE component = 'wordcount'"
    ).fetchall() == [(1,)]


def test_hook_prepare_connection(wc_node: Node) -> None:
    assert wc_node.db.execute("SELECT word_count('tres palabras aquí')").fetchone()[0] == 3


def test_records_stored_while_a_plugin_was_not_loaded_are_projected_when_it_loads(
    make_node: Callable[..., Node], wc: types.ModuleType
) -> None:
    """Per-plugin projection marks: a sealed node reports the lag; opening it with the key projects
    what was missed, once."""
    n = make_node(plugins=[wc], passphrase="correct horse")
    n.publish("core.note", {"text": "agua"})
    home = n.home
    n.close()
    with Node.open(home, passphrase="correct horse", plugins=[]) as without:  # the plugin left out
        without.publish("core.note", {"text": "agua tierra"})
        without.publish("core.note", {"text": "tierra libertad"})
    with Node.open(home, unlock=False, plugins=[wc]) as sealed:  # no key: nothing projected blind
        assert sealed.projection_lag()["wordcount_docs"] == 2
        assert dict(sealed.db.execute("SELECT word, notes FROM wordcount_words")) == {"agua": 1}
    for _ in range(2):  # projected once, not again on the next open
        with Node.open(home, passphrase="correct horse", plugins=[wc]) as again:
            assert again.projection_lag()["wordcount_docs"] == 0
            words = dict(again.db.execute("SELECT word, notes FROM wordcount_words"))
            assert words == {"agua": 2, "tierra": 2, "libertad": 1}


def test_hook_on_records_stored(wc_node: Node) -> None:
    wc_node.publish("core.note", {"text": "Justicia para todas"})
    wc_node.publish("core.note", {"text": "justicia ya"})
    assert dict(wc_node.db.execute("SELECT word, notes FROM wordcount_words")) == {
        "justicia": 2,
        "para": 1,
        "todas": 1,
        "ya": 1,
    }


def test_failing_projection_keeps_records_and_other_projections(
    make_node: Callable[..., Node], wc: types.ModuleType, caplog: pytest.LogCaptureFixture
) -> None:
    class Broken:
        @hookimpl
        def on_records_stored(self, db, records):
            db.execute("CREATE TABLE broken_partial (x)")  # would survive without the savepoint
            raise RuntimeError("projection bug")

    n = make_node(plugins=[wc, Broken()])
    with caplog.at_level(logging.ERROR):
        stored = n.publish("core.note", {"text": "sigue"})
    assert n.get(stored.id) is not None
    assert "broken_partial" not in n.db.table_names()
    assert dict(n.db.execute("SELECT word, notes FROM wordcount_words")) == {"sigue": 1}
    assert "projection bug" in caplog.text


def test_hook_on_fork(wc_node: Node, wc: types.ModuleType, caplog: pytest.LogCaptureFixture) -> None:
    r1 = make_record(key(1), "public", 1, None, 1, note("uno"))
    twin = make_record(key(1), "public", 1, None, 2, note("otro uno"))
    wc_node.ingest([r1.wire])
    with caplog.at_level(logging.WARNING):
        wc_node.ingest([twin.wire])
    (proof,) = wc_node.state[wc.FORKS]
    assert (proof.held, proof.incoming) == (r1.wire, twin.wire)
    assert "two different records at seq 1" in caplog.text


def test_hook_register_config(make_node: Callable[..., Node], wc: types.ModuleType) -> None:
    """A declared section is validated at open and read back as its model; wrong values and undeclared
    sections are one error naming the key; without the section the model's defaults apply."""
    from tequio.node.errors import ConfigError

    n = make_node(plugins=[wc])
    home = n.home
    n.close()
    assert Node.open(home, plugins=[wc]).plugin_config("wordcount", wc.WordcountConfig).min_length == 1
    toml = home / "tequio.toml"
    base = toml.read_text(encoding="utf-8")
    toml.write_text(base + "\n[wordcount]\nmin_length = 4\n", encoding="utf-8")
    got = Node.open(home, plugins=[wc])
    assert got.plugin_config("wordcount", wc.WordcountConfig).min_length == 4
    got.close()
    toml.write_text(base + "\n[wordcount]\nmin_length = 0\n", encoding="utf-8")
    with pytest.raises(
        ConfigError, match=r"wordcount\.min_length: Input should be greater than or equal to 1"
    ):
        Node.open(home, plugins=[wc])
    toml.write_text(base + "\n[wordcount]\nmin_lenght = 4\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"wordcount\.min_lenght: Extra inputs are not permitted"):
        Node.open(home, plugins=[wc])
    # Without the plugin the section is unknown, as any other would be.
    toml.write_text(base + "\n[wordcount]\nmin_length = 4\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"wordcount: Extra inputs are not permitted"):
        Node.open(home)

    class Clash:
        @hookimpl
        def register_config(self) -> dict[str, type]:
            return {"api": wc.WordcountConfig}

    with pytest.raises(PluginError, match=r"section \[api\] is taken"):
        Node.open(home, plugins=[Clash()])


def test_hook_register_commands(wc_node: Node, wc: types.ModuleType) -> None:
    wc_node.publish("core.note", {"text": "agua agua tierra"})
    (cmd,) = wc.register_commands()
    result = CliRunner().invoke(cmd, ["--json"], obj=CliState(home=wc_node.home))
    assert result.exit_code == 0, result.output
    assert '"word": "agua"' in result.output and '"notes": 1' in result.output
    # Reopening the node in the command ran the plugin's migrations check without the plugin: the
    # command only reads, so the table it queries must exist from the first open.


async def test_hook_register_routes(wc_node: Node) -> None:
    wc_node.publish("core.note", {"text": "memoria verdad justicia"})
    async with TestClient(TestServer(make_api_app(wc_node))) as client:
        auth = {"Authorization": f"Bearer {wc_node.api_token}"}
        resp = await client.get("/api/v1/wordcount/top", headers=auth)
        assert resp.status == 200
        assert {w["word"] for w in (await resp.json())["words"]} == {"memoria", "verdad", "justicia"}
        assert (await client.get("/api/v1/wordcount/top")).status == 401  # behind the token like the core


async def test_hook_on_startup(wc_node: Node, wc: types.ModuleType) -> None:
    await wc_node.start()
    task = wc_node.state[wc.TASK]
    await asyncio.sleep(0)  # let the task take its first step
    assert wc_node.state[wc.TICKS] == 1 and not task.done()
    await wc_node.stop()


async def test_hook_on_shutdown(wc_node: Node, wc: types.ModuleType) -> None:
    class Fails:
        @hookimpl
        def on_shutdown(self):
            raise RuntimeError("shutdown bug")

    wc_node.plugins.pm.register(Fails())
    await wc_node.start()
    task = wc_node.state[wc.TASK]
    await wc_node.stop()  # Fails raises; wordcount still stops its task
    await asyncio.sleep(0)
    assert task.cancelled() and wc.TASK not in wc_node.state


async def test_startup_and_shutdown_run_with_the_local_api(wc_node: Node, wc: types.ModuleType) -> None:
    """The local API's cleanup context starts and stops plugin background work."""
    async with TestClient(TestServer(make_api_app(wc_node))):
        task = wc_node.state[wc.TASK]
        assert not task.done()
    await asyncio.sleep(0)
    assert task.cancelled()


def test_docs_example_is_the_whole_plugin(wc: types.ModuleType) -> None:
    implemented = {n for n in dir(wc) if hasattr(getattr(wc, n), "tequio_impl")}
    assert implemented == set(hook_names())


def test_hook_register_actions(make_node: Callable[..., Node], wc: types.ModuleType) -> None:
    from tequio.node.groups import create_group

    a = make_node(name="A", plugins=[wc])
    b = make_node(name="B", seed=2, plugins=[wc])
    assert "wordcount.publish" in [x.name for x in a.plugins.actions()]
    assert a.plugins.action_for_kind("wordcount.count") == "wordcount.publish"
    note_rec = a.publish("core.note", {"text": "hola"})
    _, open_scope = create_group(a, "Abierto", [(b.key, "B", [])])
    # The default rule (any member) lets A publish counts in the group.
    assert a.publish("wordcount.count", {"word": "hola", "count": 1}, scope=open_scope, refs=[note_rec.id])
    # A group whose rules give the action to a role refuses it to a member without that role.
    rules = {"wordcount.publish": {"by": "role", "role": "counter"}}
    _, ruled = create_group(a, "Con reglas", [(b.key, "B", [])], rules)
    with pytest.raises(PublishError, match=r"not-permitted: wordcount\.publish needs the role counter"):
        a.publish("wordcount.count", {"word": "hola", "count": 1}, scope=ruled, refs=[note_rec.id])
    a.publish("core.note", {"text": "notes still need only group.publish"}, scope=ruled)


def test_hook_register_decision_methods(make_node: Callable[..., Node], wc: types.ModuleType) -> None:
    from tequio.governance import GovRecord, Tally, fold, group_id

    node = make_node(plugins=[wc])
    methods = node.plugins.decision_methods()
    assert set(methods) >= {"unanimous"}
    # The registered method decides a proposal in the fold: two electors, one "no" -> rejected.
    ka, kb, salt = bytes(range(32)), bytes(range(1, 33)), b"s" * 16
    gid = group_id(ka, salt)
    boxes = [{"to": k, "box": b"x" * 48} for k in sorted([ka, kb])]
    keys = GovRecord(b"\x01" * 32, ka, 1, 1, "gov.keys", {"boxes": boxes, "commit": b"c" * 32, "salt": salt})
    members = [{"key": k, "name": "", "roles": []} for k in (ka, kb)]
    genesis = GovRecord(
        b"\x02" * 32, ka, 2, 2, "gov.group", {"name": "G", "salt": salt, "members": members}, (keys.id,)
    )
    prop = GovRecord(
        b"\x03" * 32, ka, 3, 3, "gov.proposal", {"title": "¿Sí?", "method": "unanimous"}, (genesis.id,)
    )
    ya = GovRecord(b"\x04" * 32, ka, 4, 4, "vote.ballot", {"proposal": prop.id, "choice": "yes"}, (prop.id,))
    nb = GovRecord(b"\x05" * 32, kb, 1, 4, "vote.ballot", {"proposal": prop.id, "choice": "no"}, (prop.id,))
    result = methods["unanimous"].result([(ka, "yes"), (kb, "no")], Tally((), 2, {}, {}, prop.id))
    close = GovRecord(
        b"\x06" * 32,
        ka,
        5,
        5,
        "gov.close",
        {"proposal": prop.id, "ballots": sorted([ya.id, nb.id]), "result": result, "passed": False},
        (ya.id, nb.id),
    )
    st = fold(gid, [close, nb, ya, prop, genesis, keys], methods)
    assert st.proposals[prop.id].status == "rejected" and st.ignored == {}
    assert fold(gid, [keys, genesis, prop, ya, nb, close]).proposals[prop.id].status == "open"  # no method


def test_hook_on_records_ignored(make_node: Callable[..., Node], wc: types.ModuleType) -> None:
    """E6: a removed member's note, projected before the removal arrived, is withdrawn once the removal
    does, once only (reopening the node does not withdraw it again)."""
    from tequio.governance import ADMIT, REMOVE, ROLES, RULES
    from tequio.node.groups import act, create_group
    from tests.test_governance_fold import BY_MEMBER

    na, nb = make_node("Org A", seed=31), make_node("Org B", seed=32)
    nc = make_node("Org C", seed=33, plugins=[wc])
    rules = {ADMIT: BY_MEMBER, REMOVE: BY_MEMBER, ROLES: BY_MEMBER, RULES: BY_MEMBER}
    _gid, scope = create_group(na, "Red", [(nb.key, "B", []), (nc.key, "C", [])], rules)
    nb.ingest(list(na.export(scope)))
    b1 = nb.publish("core.note", {"text": "antes juntas"}, scope=scope)
    na.ingest([b1.record.wire])
    before = list(na.export(scope))
    assert not act(na, scope, REMOVE, {"key": nb.key}).proposal
    nb.publish("core.note", {"text": "después juntas"}, scope=scope)  # B was not told
    nc.ingest(before)
    nc.ingest(list(nb.export(scope)))  # B's late note arrives before the removal: projected
    words = lambda n: dict(n.db.execute("SELECT word, notes FROM wordcount_words"))  # noqa: E731
    assert words(nc) == {"antes": 1, "juntas": 2, "después": 1}
    nc.ingest(list(na.export(scope)))  # the removal: the late note lost its authority
    assert words(nc) == {"antes": 1, "juntas": 1}
    home = nc.home
    nc.close()
    with Node.open(home, plugins=[wc]) as again:
        assert words(again) == {"antes": 1, "juntas": 1}


def documentation_gaps(docs: str) -> list[str]:
    """What docs/plugins.md gets wrong about the hook specifications: the path it names for them, a hook
    with no ``### name`` section, or a section whose example takes other arguments than the spec."""
    import inspect

    gaps = []
    named = re.findall(r"`([\w/]+/hookspecs\.py)`", docs)
    actual = Path(hookspecs_module.__file__).resolve().relative_to(ROOT).as_posix()
    if named != [actual] and actual not in named:
        gaps.append(f"docs name the hook specifications at {named}, they are at {actual}")
    for name in hook_names():
        start = docs.find(f"\n### {name}\n")
        if start < 0:
            gaps.append(f"{name}: no section")
            continue
        end = docs.find("\n### ", start + 1)
        section = docs[start : end if end > 0 else len(docs)]
        spec = list(inspect.signature(getattr(hookspecs_module, name)).parameters)
        m = re.search(rf"def {name}\(([^)]*)\)", section)
        if m is None:
            gaps.append(f"{name}: the section shows no implementation")
            continue
        shown = [a.split(":")[0].split("=")[0].strip() for a in m[1].split(",") if a.strip()]
        if shown != spec:
            gaps.append(f"{name}: the docs take ({', '.join(shown)}), the spec ({', '.join(spec)})")
    return gaps


def test_hookspecs_module_is_documented_by_path() -> None:
    """docs/plugins.md names node/hookspecs.py, has a section per hook, and shows its arguments."""
    assert documentation_gaps(DOCS.read_text(encoding="utf-8")) == []


def test_the_docs_check_fails_on_an_undocumented_hook_a_wrong_path_or_other_arguments() -> None:
    docs = DOCS.read_text(encoding="utf-8")
    assert documentation_gaps(docs.replace("\n### on_fork\n", "\n### on_forks\n")) == ["on_fork: no section"]
    moved = docs.replace("`node/hookspecs.py`", "`node/hooks.py`")
    assert any("they are at node/hookspecs.py" in g for g in documentation_gaps(moved))
    renamed = docs.replace("def on_records_stored(node, db, records)", "def on_records_stored(node, records)")
    assert renamed != docs
    assert documentation_gaps(renamed) == [
        "on_records_stored: the docs take (node, records), the spec (node, db, records)"
    ]
