"""Hooks are called through pluggy (``pm.hook.NAME``), so that hook wrappers and call tracing see every
call, while the host still names the failing plugin and the hook, and isolates the hooks it isolates."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Generator
from typing import Any

import click
import pluggy
import pytest

from tequio.node import hookimpl
from tequio.node.errors import PluginError
from tequio.node.pluginhost import PluginHost

NONE = {"TEQUIO_PLUGINS": ""}


class Greets:
    @hookimpl
    def register_commands(self) -> list[click.Command]:
        return [click.Command("greet")]


class Wraps:
    """A plugin wrapping another's hook, as pluggy lets it (it sees the call and the results)."""

    def __init__(self) -> None:
        self.seen: list[list[Any]] = []

    @hookimpl(hookwrapper=True)
    def register_commands(self) -> Generator[None, pluggy.Result[list[Any]], None]:
        outcome = yield
        self.seen.append(outcome.get_result())


def test_a_hookwrapper_sees_the_call_and_the_results_keep_their_plugin() -> None:
    wraps = Wraps()
    host = PluginHost([Greets(), wraps], env=NONE)
    greets = next(p for p in host.pm.get_plugins() if isinstance(p, Greets))
    assert [(p, c.name) for p, c in host.commands()] == [(host.pm.get_name(greets), "greet")]
    assert len(wraps.seen) == 1 and [c.name for c in wraps.seen[0][0]] == ["greet"]


def test_a_wrapper_that_replaces_the_result_is_what_the_host_uses() -> None:
    class Replaces:
        @hookimpl(hookwrapper=True)
        def register_commands(self) -> Generator[None, pluggy.Result[list[Any]], None]:
            outcome = yield
            outcome.force_result([[click.Command("instead")]])

    host = PluginHost([Greets(), Replaces()], env=NONE)
    assert [(p, c.name) for p, c in host.commands()] == [("(hook wrapper)", "instead")]


def test_hookcall_monitoring_traces_the_hosts_calls() -> None:
    host = PluginHost([Greets()], env=NONE)
    traced: list[tuple[str, str]] = []
    host.pm.add_hookcall_monitoring(
        lambda name, impls, kwargs: traced.append(("before", name)),
        lambda outcome, name, impls, kwargs: traced.append(("after", name)),
    )
    host.commands()
    assert traced == [("before", "register_commands"), ("after", "register_commands")]


def test_a_failure_called_through_pluggy_names_the_plugin_and_the_hook() -> None:
    class Boom:
        @hookimpl
        def register_commands(self) -> list[click.Command]:
            raise RuntimeError("no such table")

    host = PluginHost([Boom()], env=NONE)
    name = host.pm.get_name(next(p for p in host.pm.get_plugins() if isinstance(p, Boom)))
    with pytest.raises(PluginError, match=rf"'{name}', hook register_commands: RuntimeError: no such table"):
        host.pm.hook.register_commands()
    with pytest.raises(PluginError, match="hook register_commands"):
        host.commands()


def test_one_plugin_failing_an_isolated_hook_leaves_the_others(caplog: pytest.LogCaptureFixture) -> None:
    heard: list[str] = []

    class Fails:
        @hookimpl
        def on_fork(self, proof: object) -> None:
            raise RuntimeError("fork bug")

        @hookimpl
        async def on_shutdown(self) -> None:
            raise RuntimeError("late shutdown bug")

    class Hears:
        @hookimpl
        def on_fork(self, proof: object) -> None:
            heard.append("fork")

        @hookimpl
        def on_shutdown(self) -> None:
            heard.append("shutdown")

    host = PluginHost([Hears(), Fails()], env=NONE)  # Fails registered last: pluggy calls it first
    with caplog.at_level(logging.ERROR):
        list(host.call_each("on_fork", node=None, proof="p"))
        for _, result in host.call_each("on_shutdown", node=None):
            if asyncio.iscoroutine(result):
                assert asyncio.run(result) is None  # its failure, too, is logged and not raised
    assert heard == ["fork", "shutdown"]
    assert "failed in on_fork" in caplog.text and "failed in on_shutdown" in caplog.text
    assert "late shutdown bug" in caplog.text


def test_a_firstresult_hook_stops_at_the_first_answer_and_names_who_gave_it() -> None:
    """A spec marked firstresult (a plugin may add its own hooks) is honoured: later plugins are not asked."""
    from tequio.node.hookspecs import hookspec

    asked: list[str] = []

    class Spec:
        @hookspec(firstresult=True)
        def pick_colour(self, item: str) -> str | None:  # type: ignore[empty-body]
            """The colour of an item, from the first plugin that knows."""

    class Knows:
        @hookimpl
        def pick_colour(self, item: str) -> str:
            asked.append("knows")
            return f"{item}:green"

    class Abstains:
        @hookimpl
        def pick_colour(self, item: str) -> None:
            asked.append("abstains")

    class NeverAsked:
        @hookimpl
        def pick_colour(self, item: str) -> str:
            asked.append("never")
            return "red"

    host = PluginHost([], env=NONE)
    host.pm.add_hookspecs(Spec)
    knows = Knows()
    for plugin in (NeverAsked(), knows, Abstains()):  # pluggy calls the last registered first
        host.pm.register(plugin)
    assert list(host.call_each("pick_colour", item="leaf")) == [(host.pm.get_name(knows), "leaf:green")]
    assert asked == ["abstains", "knows"]
