"""Named migration sets: each component (the core, each plugin) owns an ordered list of schema steps.

A component's schema version is the number of its steps applied. A database that has applied more
steps than the running code knows was written by a newer version: the node refuses it rather than
run code against tables it does not understand.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from sqlite_utils import Database

from .errors import DatabaseTooNew, TequioError

__all__ = ["MIGRATIONS_TABLE", "MigrationSet", "apply_migrations", "pending"]

MIGRATIONS_TABLE = "_tequio_migrations"

Step = Callable[[Database], None]


@dataclass
class MigrationSet:
    """The schema steps of one component, applied in the order they were added.

    Use as a decorator: ``@migrations`` above ``def m001_create_items(db): ...``. Never reorder,
    rename or remove a released step; add a new one.
    """

    component: str
    steps: list[tuple[str, Step]] = field(default_factory=list)

    def __call__(self, fn: Step) -> Step:
        if any(name == fn.__name__ for name, _ in self.steps):
            raise ValueError(f"{self.component}: migration {fn.__name__} added twice")
        self.steps.append((fn.__name__, fn))
        return fn

    @property
    def version(self) -> int:
        return len(self.steps)


def _ensure_table(db: Database) -> None:
    db.execute(
        f"CREATE TABLE IF NOT EXISTS {MIGRATIONS_TABLE} ("
        "component TEXT NOT NULL, version INTEGER NOT NULL, name TEXT NOT NULL, applied INTEGER NOT NULL,"
        " PRIMARY KEY (component, version))"
    )


def _applied(db: Database) -> dict[str, list[tuple[int, str]]]:
    applied: dict[str, list[tuple[int, str]]] = {}
    if MIGRATIONS_TABLE not in db.table_names():
        return applied
    for component, version, name in db.execute(
        f"SELECT component, version, name FROM {MIGRATIONS_TABLE} ORDER BY component, version"
    ).fetchall():
        applied.setdefault(component, []).append((version, name))
    return applied


def pending(db: Database, sets: list[MigrationSet]) -> bool:
    """Whether any set has steps to apply; raises as ``apply_migrations`` would if the store is ahead."""
    applied = _applied(db)
    _check(applied, sets)
    return any(len(applied.get(s.component, [])) < s.version for s in sets)


def _check(applied: dict[str, list[tuple[int, str]]], sets: list[MigrationSet]) -> None:
    names = [s.component for s in sets]
    if len(set(names)) != len(names):
        raise TequioError(f"two migration sets share a component name: {sorted(names)}")
    for s in sets:
        done = applied.get(s.component, [])
        if len(done) > s.version:
            raise DatabaseTooNew(
                f"the store was written by a newer version of '{s.component}' (schema {len(done)}, "
                f"this code knows {s.version}); upgrade Tequio or restore a backup"
            )
        for (version, name), (expected, _) in zip(done, s.steps, strict=False):
            if name != expected:
                raise TequioError(
                    f"'{s.component}' migration {version} is {name!r} in the store"
                    f" but {expected!r} in the code"
                )


def apply_migrations(db: Database, sets: list[MigrationSet], now_ms: int) -> list[str]:
    """Bring every set up to date inside the caller's write transaction; return the steps applied.

    Raises DatabaseTooNew before changing anything if any component is ahead of the code.
    """
    _ensure_table(db)
    applied = _applied(db)
    _check(applied, sets)
    ran = []
    for s in sets:
        for version in range(len(applied.get(s.component, [])) + 1, s.version + 1):
            name, step = s.steps[version - 1]
            step(db)
            db.execute(
                f"INSERT INTO {MIGRATIONS_TABLE} (component, version, name, applied) VALUES (?, ?, ?, ?)",
                [s.component, version, name, now_ms],
            )
            ran.append(f"{s.component}:{name}")
    return ran
