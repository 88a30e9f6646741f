"""One pluggy manager per node: built-in and third-party plugins load through the same entry points.

``TEQUIO_PLUGINS`` (comma-separated entry-point names) restricts what loads; unset loads all,
empty loads none. Plugin objects passed in code (tests, embedders) are registered after those.
"""

from __future__ import annotations

import contextvars
import functools
import importlib.metadata
import inspect
import logging
import os
import sqlite3
from collections.abc import Callable, Iterator, Mapping, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

import click
import pluggy

from . import hookspecs
from .errors import PluginError

if TYPE_CHECKING:  # the governance core, pydantic and sqlite-utils stay off the path of `tequio --help`
    from pydantic import BaseModel

    from tequio.governance import Action, DecisionMethod

    from .kinds import Kind
    from .migrations import MigrationSet

__all__ = ["ENTRY_POINT_GROUP", "ENV_PLUGINS", "PluginHost"]

ENTRY_POINT_GROUP = "tequio"
ENV_PLUGINS = "TEQUIO_PLUGINS"
log = logging.getLogger(__name__)

#: Hooks where one plugin's failure is logged and the others still run (the node is going down, or a
#: fork was already recorded): the rest raise a PluginError naming the plugin and the hook.
ISOLATED_HOOKS = frozenset({"on_fork", "on_shutdown"})

#: (plugin, result) of each implementation during one ``call_each``, so results keep their plugin's name.
_calls: contextvars.ContextVar[list[tuple[str, Any]] | None] = contextvars.ContextVar(
    "tequio_hook_calls", default=None
)


def _guarded(plugin: str, hook: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` as pluggy will call it: its errors name the plugin and the hook (or, for an isolated
    hook, are logged), and its result is noted for ``call_each``."""

    async def _await_isolated(result: Any) -> Any:
        try:
            return await result
        except Exception:
            log.exception("plugin %s failed in %s", plugin, hook)
            return None

    @functools.wraps(fn)
    def call(*args: Any) -> Any:
        try:
            result = fn(*args)
        except PluginError:
            raise
        except Exception as e:
            if hook in ISOLATED_HOOKS:
                log.exception("plugin %s failed in %s", plugin, hook)
                result = None
            else:
                raise PluginError(f"plugin {plugin!r}, hook {hook}: {type(e).__name__}: {e}") from e
        if hook in ISOLATED_HOOKS and inspect.isawaitable(result):
            result = _await_isolated(result)
        if (seen := _calls.get()) is not None:
            seen.append((plugin, result))
        return result

    call.__tequio_guarded__ = True  # type: ignore[attr-defined]
    return call


class _Manager(pluggy.PluginManager):
    """A pluggy manager whose plain implementations are guarded as they register (wrappers are not:
    they see the whole call, as pluggy means them to)."""

    def register(self, plugin: object, name: str | None = None) -> str | None:
        registered = super().register(plugin, name)
        plugin_name = self.get_name(plugin) or repr(plugin)
        for caller in self.get_hookcallers(plugin) or []:
            for impl in caller.get_hookimpls():
                plain = impl.plugin is plugin and not (impl.hookwrapper or impl.wrapper)
                if plain and not getattr(impl.function, "__tequio_guarded__", False):
                    impl.function = _guarded(plugin_name, caller.name, impl.function)  # type: ignore[misc]
        return registered


class PluginHost:
    """The plugins of one node and what they registered."""

    def __init__(
        self, extra: Sequence[object] = (), env: Mapping[str, str] | None = None, strict: bool = True
    ) -> None:
        """``strict=False`` (for ``tequio --help``) sets a plugin that fails to load aside in
        ``broken`` instead of failing, so that the others keep their commands."""
        self.pm: pluggy.PluginManager = _Manager(ENTRY_POINT_GROUP)
        self.pm.add_hookspecs(hookspecs)
        self.dists: dict[str, tuple[str, str]] = {}  # plugin name -> (distribution, version)
        self.broken: dict[str, str] = {}  # plugin name -> why it did not load (strict=False only)
        self._strict = strict
        from . import govplugin

        self.pm.register(govplugin, name=govplugin.NAME)
        self._load_entry_points(os.environ if env is None else env)
        for plugin in extra:
            try:
                self.pm.register(plugin)
            except ValueError as e:
                raise PluginError(f"cannot register plugin {plugin!r}: {str(e).splitlines()[0]}") from None
        self._check_hook_names()
        if strict:
            _ = self.kinds  # a plugin's bad kind stops the node at open, naming the plugin
        self._methods: dict[str, DecisionMethod] | None = None
        self._actions: list[Action] | None = None

    def _load_entry_points(self, env: Mapping[str, str]) -> None:
        eps = sorted(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name)
        selected = env.get(ENV_PLUGINS)
        allowed = None if selected is None else {n.strip() for n in selected.split(",") if n.strip()}
        if allowed is not None and (unknown := allowed - {e.name for e in eps}):
            raise PluginError(
                f"{ENV_PLUGINS} names plugins that are not installed: {', '.join(sorted(unknown))}"
            )
        for ep in eps:
            if allowed is not None and ep.name not in allowed:
                continue
            if self.pm.has_plugin(ep.name):
                raise PluginError(f"two installed packages both provide a plugin named {ep.name!r}")
            try:
                plugin = ep.load()
                self.pm.register(plugin, name=ep.name)
            except Exception as e:
                why = f"plugin {ep.name!r} ({ep.value}) failed to load: {type(e).__name__}: {e}"
                if self._strict:
                    raise PluginError(f"{why}; leave it out with {ENV_PLUGINS}") from None
                self.broken[ep.name] = why
                continue
            if ep.dist is not None:
                self.dists[ep.name] = (ep.dist.name, ep.dist.version)

    def _check_hook_names(self) -> None:
        """A misspelled hook (``register_commandz``) is refused at load, naming the plugin and the hook:
        pluggy's check_pending finds them; this only words its error and sets the plugin aside."""
        while True:
            try:
                self.pm.check_pending()
                return
            except pluggy.PluginValidationError as e:
                plugin = e.plugin
                name = self.pm.get_name(plugin) or repr(plugin)
                callers = self.pm.get_hookcallers(plugin) or []
                hooks = ", ".join(sorted(h.name for h in callers if not h.has_spec()))
                why = f"plugin {name!r} implements hooks that do not exist: {hooks} (see docs/plugins.md)"
                if self._strict:
                    raise PluginError(why) from None
                self.broken[name] = why
                self.pm.unregister(plugin)

    def impls(self, hook: str) -> Iterator[tuple[str, Callable[..., Any], list[str]]]:
        """(plugin name, function, argument names) of each implementation, in pluggy's call order."""
        for impl in reversed(getattr(self.pm.hook, hook).get_hookimpls()):
            yield impl.plugin_name, impl.function, list(impl.argnames)

    def call_each(self, hook: str, **kwargs: Any) -> Iterator[tuple[str, Any]]:
        """Call the hook through pluggy (so wrappers, ``firstresult`` and tracing see it) and yield
        (plugin name, result) for each non-None result, in pluggy's order."""
        token = _calls.set([])
        try:
            results = getattr(self.pm.hook, hook)(**kwargs)
            seen = _calls.get() or []
        finally:
            _calls.reset(token)
        if not isinstance(results, list):  # a firstresult hook
            results = [] if results is None else [results]
        unclaimed = [(name, r) for name, r in seen if r is not None]
        for result in results:
            match = next((i for i, (_, r) in enumerate(unclaimed) if r is result), None)
            name = unclaimed.pop(match)[0] if match is not None else "(hook wrapper)"
            yield name, result

    @cached_property
    def kinds(self) -> dict[str, Kind]:
        """Every kind plugins registered, by name (collected on first use)."""
        return self._collect_kinds()

    @property
    def kind_owner(self) -> dict[str, str]:
        """The plugin that registered each kind."""
        _ = self.kinds
        return self._kind_owner

    def _collect_kinds(self) -> dict[str, Kind]:
        from .kinds import Kind

        kinds: dict[str, Kind] = {}
        owner: dict[str, str] = {}
        for plugin, result in self.call_each("register_kinds"):
            if result is not None and not isinstance(result, list | tuple):
                raise PluginError(
                    f"plugin {plugin!r}, hook register_kinds: must return a list of Kind objects"
                )
            for kind in result or []:
                if not isinstance(kind, Kind):
                    raise PluginError(f"plugin {plugin!r}: register_kinds must return Kind objects")
                if kind.name in kinds:
                    raise PluginError(
                        f"kind {kind.name!r} is defined by both {owner[kind.name]!r} and {plugin!r}"
                    )
                kinds[kind.name] = kind
                owner[kind.name] = plugin
        self._kind_owner = owner
        return kinds

    def decision_methods(self) -> dict[str, DecisionMethod]:
        """Decision methods registered by plugins (the core's trivial ones are added by the fold)."""
        if self._methods is None:
            from tequio.governance import CORE_METHODS

            methods: dict[str, DecisionMethod] = {}
            for plugin, result in self.call_each("register_decision_methods"):
                for name, method in (result or {}).items():
                    if name in methods or name in CORE_METHODS:
                        raise PluginError(f"plugin {plugin!r}: the decision method {name!r} already exists")
                    methods[name] = method
            self._methods = methods
        return self._methods

    def actions(self) -> list[Action]:
        """Governance actions plugins declare."""
        if self._actions is None:
            from tequio.governance import CORE_ACTIONS, Action

            found: dict[str, Action] = {a.name: a for a in CORE_ACTIONS}
            out: list[Action] = []
            for plugin, result in self.call_each("register_actions"):
                for action in result or []:
                    if not isinstance(action, Action):
                        raise PluginError(f"plugin {plugin!r}: register_actions must return Action objects")
                    if action.name in found:
                        raise PluginError(f"plugin {plugin!r}: the action {action.name!r} already exists")
                    found[action.name] = action
                    out.append(action)
            self._actions = out
        return self._actions

    def action_index(self) -> dict[str, Action]:
        """Core and plugin actions by name, as the fold sees them."""
        from tequio.governance import CORE_ACTIONS

        return {a.name: a for a in (*CORE_ACTIONS, *self.actions())}

    def action_for_kind(self, kind: str) -> str | None:
        """The action whose rule governs publishing ``kind`` in a group, if a plugin declared one."""
        for action in self.actions():
            if kind in action.kinds:
                return action.name
        return None

    def migrations(self) -> list[MigrationSet]:
        from .migrations import MigrationSet

        sets: list[MigrationSet] = []
        for plugin, result in self.call_each("register_migrations"):
            for ms in result or []:
                if not isinstance(ms, MigrationSet):
                    raise PluginError(
                        f"plugin {plugin!r}: register_migrations must return MigrationSet objects"
                    )
                if ms.component in ("core", "federation"):
                    raise PluginError(
                        f"plugin {plugin!r}: the migration set name {ms.component!r} is reserved"
                    )
                sets.append(ms)
        return sets

    def config_sections(self) -> dict[str, type[BaseModel]]:
        """The tequio.toml sections plugins declared (register_config), checked for clashes."""
        from pydantic import BaseModel

        from .config import Config

        out: dict[str, type[BaseModel]] = {}
        for plugin, result in self.call_each("register_config"):
            if result is None:
                continue
            if not isinstance(result, dict):
                raise PluginError(f"plugin {plugin!r}, hook register_config: must return a dict of models")
            for name, model in result.items():
                if not (isinstance(model, type) and issubclass(model, BaseModel)):
                    raise PluginError(
                        f"plugin {plugin!r}, hook register_config: [{name}] is not a pydantic model"
                    )
                if name in Config.model_fields or name in out:
                    raise PluginError(f"plugin {plugin!r}, hook register_config: section [{name}] is taken")
                out[name] = model
        return out

    def commands(self) -> list[tuple[str, click.Command]]:
        out = []
        for plugin, result in self.call_each("register_commands"):
            if result is not None and not isinstance(result, list | tuple):
                raise PluginError(
                    f"plugin {plugin!r}, hook register_commands: must return a list of commands"
                )
            for cmd in result or []:
                if not isinstance(cmd, click.Command):
                    raise PluginError(f"plugin {plugin!r}: register_commands must return click commands")
                out.append((plugin, cmd))
        return out

    def prepare_connection(self, conn: sqlite3.Connection) -> None:
        self.pm.hook.prepare_connection(conn=conn)

    def describe(self) -> list[dict[str, Any]]:
        """What ``tequio plugins --json`` prints: each plugin, its package, hooks and kinds."""
        out = []
        for name, plugin in sorted(self.pm.list_name_plugin(), key=lambda np: np[0]):
            if plugin is None:
                continue
            hooks = sorted(h.name for h in self.pm.get_hookcallers(plugin) or [])
            dist, version = self.dists.get(name, (None, None))
            out.append(
                {
                    "name": name,
                    "module": getattr(plugin, "__name__", type(plugin).__name__),
                    "package": dist,
                    "version": version,
                    "hooks": hooks,
                    "kinds": sorted(k for k, p in self.kind_owner.items() if p == name),
                }
            )
        return out
