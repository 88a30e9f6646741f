"""The store: migration sets per component, refusal of newer databases, WAL, chain checks."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import msgpack
import pytest
from sqlite_utils import Database

from tequio.node import MigrationSet, Node, hookimpl
from tequio.node.errors import DatabaseTooNew, TequioError
from tequio.node.migrations import MIGRATIONS_TABLE
from tequio.node.store import CORE_MIGRATIONS, DB_FILE, FEDERATION_MIGRATIONS
from tests.conftest import Feed, key


def test_wal_and_core_schema(node: Node) -> None:
    assert node.store.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    rows = node.store.conn.execute(
        f"SELECT component, max(version) FROM {MIGRATIONS_TABLE} GROUP BY 1"
    ).fetchall()
    versions = dict(rows)
    assert (
        versions["core"] == CORE_MIGRATIONS.version
        and versions["federation"] == FEDERATION_MIGRATIONS.version
    )
    # Every other set belongs to a loaded plugin (the built-in evidence plugin keeps an index).
    assert set(versions) - {"core", "federation"} == {ms.component for ms in node.plugins.migrations()}
    assert CORE_MIGRATIONS.version >= 2
    assert {"records", "feeds", "forks", "rejections"} <= set(node.store.db.table_names())


def test_refuses_a_database_from_a_newer_core(node: Node) -> None:
    home = node.home
    node.store.conn.execute(
        f"INSERT INTO {MIGRATIONS_TABLE} VALUES ('core', ?, 'm999_from_the_future', 0)",
        (CORE_MIGRATIONS.version + 1,),
    )
    node.close()
    v = CORE_MIGRATIONS.version
    with pytest.raises(
        DatabaseTooNew, match=rf"newer version of 'core' \(schema {v + 1}, this code knows {v}\)"
    ):
        Node.open(home)


def test_plugin_migration_sets_apply_once_and_in_order(make_node: Callable[..., Node]) -> None:
    ms = MigrationSet("birds")

    @ms
    def m001_create(db: Database) -> None:
        db["birds"].create({"id": int, "name": str}, pk="id")

    @ms
    def m002_add_column(db: Database) -> None:
        db["birds"].add_column("colour", str)

    class Birds:
        @hookimpl
        def register_migrations(self) -> list[MigrationSet]:
            return [ms]

    n = make_node(plugins=[Birds()])
    assert n.store.db["birds"].columns_dict == {"id": int, "name": str, "colour": str}
    home = n.home
    n.close()
    again = Node.open(home, plugins=[Birds()])  # nothing re-applied (would fail: table exists)
    versions = dict(
        again.store.conn.execute(f"SELECT component, max(version) FROM {MIGRATIONS_TABLE} GROUP BY 1")
    )
    assert versions == {
        "core": CORE_MIGRATIONS.version,
        "federation": FEDERATION_MIGRATIONS.version,
        "birds": 2,
        **{ms.component: ms.version for ms in again.plugins.migrations() if ms.component != "birds"},
    }
    again.close()

    older = MigrationSet("birds")
    older(m001_create)

    class OldBirds:
        @hookimpl
        def register_migrations(self) -> list[MigrationSet]:
            return [older]

    with pytest.raises(DatabaseTooNew, match="'birds'"):
        Node.open(home, plugins=[OldBirds()])


def test_a_failing_migration_changes_nothing(make_node: Callable[..., Node]) -> None:
    ms = MigrationSet("broken")

    @ms
    def m001_ok(db: Database) -> None:
        db["half"].create({"id": int})

    @ms
    def m002_fails(db: Database) -> None:
        db.execute("CREATE TABLE nonsense (")

    class Broken:
        @hookimpl
        def register_migrations(self) -> list[MigrationSet]:
            return [ms]

    n = make_node()
    home = n.home
    n.close()
    with pytest.raises(Exception, match=r"syntax error|incomplete input"):
        Node.open(home, plugins=[Broken()])
    db = Database(home / DB_FILE)
    assert "half" not in db.table_names()
    assert (
        db.execute(f"SELECT count(*) FROM {MIGRATIONS_TABLE} WHERE component = 'broken'").fetchone()[0] == 0
    )


def test_renamed_migration_is_refused(make_node: Callable[..., Node]) -> None:
    ms = MigrationSet("x")
    ms(lambda db: None)  # named "<lambda>"
    renamed = MigrationSet("x")

    def m001_other(db: Database) -> None:
        pass

    renamed(m001_other)

    class A:
        @hookimpl
        def register_migrations(self) -> list[MigrationSet]:
            return [ms]

    class B:
        @hookimpl
        def register_migrations(self) -> list[MigrationSet]:
            return [renamed]

    n = make_node(plugins=[A()])
    home = n.home
    n.close()
    with pytest.raises(TequioError, match="'<lambda>' in the store but 'm001_other' in the code"):
        Node.open(home, plugins=[B()])


def _rewrite(node: Node, seq: int, field: int, value: object) -> None:
    """Change one envelope field of a stored record behind the store's back."""
    (wire,) = node.store.conn.execute("SELECT wire FROM records WHERE seq = ?", (seq,)).fetchone()
    fields = msgpack.unpackb(wire)
    fields[field] = value
    node.store.conn.execute("UPDATE records SET wire = ? WHERE seq = ?", (msgpack.packb(fields), seq))


def test_check_finds_missing_records_and_stale_heads(node: Node) -> None:
    recs = Feed(key(1)).take(4)
    node.ingest([r.wire for r in recs])
    assert node.store.check(signatures=True) == []
    node.store.conn.execute("DELETE FROM records WHERE seq = 2")
    assert any("seq 3 follows seq 1" in p for p in node.store.check())
    node.store.conn.execute("DELETE FROM records WHERE seq > 2")
    assert any("head seq 4 is not its newest record (seq 1)" in p for p in node.store.check())
    node.store.conn.execute("DELETE FROM records")
    assert any("a head but no records" in p for p in node.store.check())


def test_check_finds_a_broken_link(node: Node) -> None:
    node.ingest([r.wire for r in Feed(key(1)).take(3)])
    _rewrite(node, 3, 4, b"\x00" * 32)  # prev of seq 3 no longer names seq 2
    assert any("seq 3 does not link to seq 2" in p for p in node.store.check())


def test_check_signatures_finds_tampered_rows(node: Node) -> None:
    node.ingest([Feed(key(1)).next().wire])
    _rewrite(node, 1, 5, 12345)  # ts: the chain is intact ...
    assert node.store.check() == []
    assert any("bad-signature" in p for p in node.store.check(signatures=True))  # ... the signature is not


def test_open_missing_node_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(TequioError, match=r"no Tequio node in .*tequio init"):
        Node.open(tmp_path / "nothing-here")


def test_m002_upgrades_a_store_written_by_m001(tmp_path: Path) -> None:
    """A store made by the first core migration alone gains change positions and an epoch."""
    from tequio.node.migrations import apply_migrations
    from tequio.node.store import Store

    node = Node.create(tmp_path / "h", name="x")
    node.close()
    (tmp_path / "h" / DB_FILE).unlink()
    first_only = MigrationSet("core", steps=CORE_MIGRATIONS.steps[:1])
    store = Store(tmp_path / "h" / DB_FILE)
    with store.write() as db:
        apply_migrations(db, [first_only], 0)
        recs = Feed(key(1)).take(3)
        db.execute(
            "INSERT INTO feeds (author, scope, seq, head) VALUES (?, 'public', 3, ?)",
            (recs[0].author, recs[2].id),
        )
        for r in recs:
            db.execute(
                "INSERT INTO records (id, feed, seq, kind, wire, received)"
                " VALUES (?, 1, ?, 'core.note', ?, 0)",
                (r.id, r.seq, r.wire),
            )
    store.close()
    upgraded = Node.open(tmp_path / "h")
    assert upgraded.store.changed_feeds(0) == [(recs[0].author, "public", 3, recs[2].id)]
    assert upgraded.store.changed_feeds(3) == []
    assert len(upgraded.store.epoch()) == 16 and upgraded.store.check(signatures=True) == []
    upgraded.close()
