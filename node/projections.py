"""Per-plugin projection marks: what each plugin's ``on_records_stored`` has seen, by local position.

Records stored while a plugin was not loaded (left out with TEQUIO_PLUGINS, installed later) are
projected when a node opens with it, so that its tables never silently miss them."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .node import Node
    from .recordview import StoredRecord
    from .store import Store

__all__ = ["catch_up", "initialise", "lags", "set_mark", "to_withdraw", "withdraw", "withdraw_ignored"]

PREFIX = "projected:"
#: ``ignored:<plugin>:<record id hex>``: the plugin was told that record lost its authority (E6)
IGNORED = "ignored:"
READY = "projection-marks"
BATCH = 1000
log = logging.getLogger(__name__)


def _marks(store: Store) -> dict[str, int]:
    rows = store.conn.execute("SELECT key, value FROM meta WHERE key LIKE 'projected:%'").fetchall()
    return {k[len(PREFIX) :]: int(v) for k, v in rows}


def set_mark(store: Store, plugin: str, position: int) -> None:
    """Inside the caller's write transaction: ``plugin`` has projected everything up to ``position``."""
    store.conn.execute(
        "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value ="
        " max(CAST(value AS INTEGER), excluded.value)",
        (PREFIX + plugin, position),
    )


def initialise(store: Store, plugins: list[str]) -> None:
    """A store from before the marks: the plugins loaded now have seen everything (they were called
    as records arrived); a plugin first loaded later starts from the beginning."""
    if store.conn.execute("SELECT 1 FROM meta WHERE key = ?", (READY,)).fetchone():
        return
    with store.write():
        position = store.position()
        for name in plugins:
            set_mark(store, name, position)
        store.conn.execute("INSERT OR IGNORE INTO meta (key, value) VALUES (?, 1)", (READY,))


def lags(store: Store, plugins: list[str]) -> dict[str, int]:
    """How many stored records each plugin has not projected yet."""
    marks = _marks(store)
    return {
        name: store.conn.execute(
            "SELECT count(*) FROM records WHERE n > ?", (marks.get(name, 0),)
        ).fetchone()[0]
        for name in plugins
    }


def catch_up(
    node: Node,
    impls: list[tuple[str, Callable[..., Any], list[str]]],
    to_record: Callable[[tuple], StoredRecord],
) -> None:
    """Project, batch by batch, what each plugin missed. Writes only when something is missing: an
    up-to-date node opens with reads alone."""
    store = node.store
    marks = _marks(store)
    hidden = node.governance.hidden()  # E6: records that lost authority are never projected
    for name, fn, argnames in impls:
        after = marks.get(name, 0)
        while rows := store.query(after=after, limit=BATCH):
            records = [to_record(r) for r in rows if r[1] not in hidden]
            args = {"node": node, "db": store.db, "records": records}
            try:
                with store.write():
                    fn(*[args[a] for a in argnames])
                    set_mark(store, name, rows[-1][0])
            except Exception:
                log.exception("plugin %s failed to project %d missed records", name, len(records))
                break
            after = rows[-1][0]


Withdrawal = list[tuple[str, Callable[..., Any], list[str], list[tuple]]]


def to_withdraw(node: Node, impls: list[tuple[str, Callable[..., Any], list[str]]]) -> Withdrawal:
    """E6: for each plugin, the stored rows it projected that have since lost their authority and
    that it was not told of yet (reads only)."""
    hidden = node.governance.hidden()
    if not hidden:
        return []
    store = node.store
    marks = _marks(store)
    out: Withdrawal = []
    for name, fn, argnames in impls:
        told = {
            k[len(IGNORED) + len(name) + 1 :]
            for (k,) in store.conn.execute(
                "SELECT key FROM meta WHERE key >= ? AND key < ?", (f"{IGNORED}{name}:", f"{IGNORED}{name};")
            )
        }
        # Only what it projected: later ones are never projected (catch_up skips hidden records).
        rows = [r for rid in sorted(hidden) if rid.hex() not in told and (r := store.get(rid)) is not None]
        rows = [r for r in rows if r[0] <= marks.get(name, 0)]
        if rows:
            out.append((name, fn, argnames, rows))
    return out


def withdraw(node: Node, todo: Withdrawal, to_record: Callable[[tuple], StoredRecord]) -> None:
    """E6: hand each plugin, once, the records of ``to_withdraw`` (``on_records_ignored``), so that it
    takes them out of its tables. Inside the caller's write transaction; each plugin in its own
    savepoint, as for projections."""
    store = node.store
    for name, fn, argnames, rows in todo:
        args = {"node": node, "db": store.db, "records": [to_record(r) for r in rows]}
        try:
            with store.db.atomic():
                fn(*[args[a] for a in argnames])
                store.conn.executemany(
                    "INSERT OR IGNORE INTO meta (key, value) VALUES (?, 1)",
                    [(f"{IGNORED}{name}:{r[1].hex()}",) for r in rows],
                )
        except Exception:
            log.exception("plugin %s failed to withdraw %d ignored records", name, len(rows))


def withdraw_ignored(
    node: Node, to_record: Callable[[tuple], StoredRecord], transaction: bool = False
) -> None:
    """E6: ``withdraw`` what lost authority, for every ``on_records_ignored`` plugin; with
    ``transaction``, in a write transaction of its own, opened only when there is something to do."""
    todo = to_withdraw(node, list(node.plugins.impls("on_records_ignored")))
    if todo and transaction:
        with node.store.write():
            withdraw(node, todo, to_record)
    elif todo:
        withdraw(node, todo, to_record)
