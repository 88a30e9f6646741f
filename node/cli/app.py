"""The ``tequio`` group and ``run``: every error one line on stderr and a non-zero exit (see ``__init__``)."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import click

from ..errors import PluginError, TequioError, disk_full_message, is_disk_full
from .context import ENV_HOME, CliState
from .interrupt import Interrupted, say
from .lazy import LazyCommand

__all__ = ["cli", "run"]

#: The home of the command being run, for messages printed after its context is gone (a full disk).
_home: Path | None = None


#: Built-in commands: name -> (module in tequio.node.cli, attribute, short help). Each module loads
#: only when its command runs, so ``tequio --help`` imports none of them (tests/test_cli_lazy.py keeps
#: the short help here equal to the command's own).
BUILTINS: dict[str, tuple[str, str, str]] = {
    "init": ("admin", "init", "Create a node: its key, API token, configuration and empty store."),
    "info": ("admin", "info", "Show this node's key, fingerprint, name, store and local API token."),
    "plugins": (
        "admin",
        "plugins",
        "List the loaded plugins, their hooks and kinds (and, on a node, records not yet projected).",
    ),
    "check": (
        "admin",
        "check",
        "Check the store: SQLite integrity, every feed chain and head, forks on record.",
    ),
    "publish": (
        "record_cmds",
        "publish",
        "Sign and store a record of KIND as the next in this node's feed; --attach refers to files.",
    ),
    "records": ("record_cmds", "records", "List, show, export and import records."),
    "blob": ("record_cmds", "blob", "Files that records refer to."),
    "invite": ("peers", "invite", "Print a signed, expiring invite for another organisation's node."),
    "peer": ("peers", "peer", "Trusted peers: add, list, block, unblock, remove; nodes seen on the LAN."),
    "sync": (
        "peers",
        "sync",
        "Run one sync round now with one peer (KEY) or every trusted peer, and say what moved.",
    ),
    "group": (
        "groups",
        "group",
        "Coalitions: create one, see it, and admit, remove, re-role members or change its rules.",
    ),
    "bundle": (
        "bundle_cmds",
        "bundle",
        "Carry records and blobs to a peer without a link: an encrypted file for a USB stick.",
    ),
    "serve": (
        "serve",
        "serve",
        "Serve the local API, the federation listener and gossip until Ctrl-C or SIGTERM.",
    ),
    "user": (
        "users",
        "user",
        "Accounts of the people (not nodes) who use the web pages: admin, member or reader.",
    ),
    "web": ("web", "web", "The node's web pages: their address and certificate, and who did what in them."),
}


class TequioGroup(click.Group):
    """Built-in commands plus those plugins register; both listed from stand-ins, loaded when run."""

    _plugin_commands: dict[str, click.Command] | None = None
    _owner: dict[str, str] | None = None
    _broken: dict[str, str] | None = None

    def _plugins(self) -> dict[str, click.Command]:
        if self._plugin_commands is None:
            from ..pluginhost import PluginHost  # pluggy and the plugins: only once asked for

            found: dict[str, click.Command] = {}
            owner: dict[str, str] = {}
            host = PluginHost(strict=False)
            self._broken = dict(host.broken)
            for plugin, cmd in host.commands():
                name = cmd.name or ""
                if name in self.commands or name in found:
                    raise PluginError(f"plugin {plugin!r} registers a command {name!r} that already exists")
                found[name] = cmd
                owner[name] = plugin
            self._plugin_commands, self._owner = found, owner
        return self._plugin_commands

    def list_commands(self, ctx: click.Context) -> list[str]:
        try:
            extra = list(self._plugins())
        except TequioError as e:
            extra = []  # the error surfaces again when the node or the command is used
            self._broken = {"plugins": str(e)}
        return sorted([*self.commands, *extra])

    def _entry(self, name: str) -> click.Command | None:
        """The command or its stand-in, importing nothing."""
        return self.commands.get(name) or self._plugins().get(name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The commands from their stand-ins, then any plugin that did not load and why."""
        rows = [(n, c) for n in self.list_commands(ctx) if (c := self._entry(n)) is not None and not c.hidden]
        if rows:
            limit = formatter.width - 6 - max(len(n) for n, _ in rows)
            with formatter.section("Commands"):
                formatter.write_dl([(n, c.get_short_help_str(limit)) for n, c in rows])
        if self._broken:
            with formatter.section("Plugins that did not load (their commands are missing)"):
                formatter.write_dl(sorted(self._broken.items()))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        cmd = self._entry(cmd_name)
        if not isinstance(cmd, LazyCommand):
            return cmd
        if cmd_name in self.commands:
            return cmd.load()  # a built-in: failing to import is a bug, reported as one
        try:
            return cmd.load()
        except Exception as e:
            plugin = (self._owner or {}).get(cmd_name, "?")
            raise PluginError(
                f"plugin {plugin!r}, command {cmd_name!r} ({cmd.target}) failed to load: "
                f"{type(e).__name__}: {e}"
            ) from None

    def invoke(self, ctx: click.Context) -> object:
        """Ctrl-C leaves as ``Interrupted``, which click passes through (it would print "Aborted!")."""
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            raise Interrupted() from None


@click.group(cls=TequioGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="tequio", prog_name="tequio", message="%(prog)s %(version)s")
@click.option(
    "--home",
    type=click.Path(file_okay=False, path_type=Path),
    help=f"Node directory [default: ${ENV_HOME}, else ~/.tequio].",
)
@click.pass_context
def cli(ctx: click.Context, home: Path | None) -> None:
    """Tequio: a node of a federated network of signed records for human-rights organisations."""
    if home is None:
        env = os.environ.get(ENV_HOME)
        home = Path(env) if env else Path.home() / ".tequio"
    ctx.obj = CliState(home=home.expanduser())
    global _home
    _home = ctx.obj.home
    level = os.environ.get("TEQUIO_LOG", "WARNING").upper()
    logging.basicConfig(
        level=getattr(logging, level, logging.WARNING), format="%(levelname)s %(name)s: %(message)s"
    )


def _register_builtins() -> None:
    for name, (module, attr, short_help) in BUILTINS.items():
        cli.add_command(LazyCommand(name, f"{__package__}.{module}:{attr}", short_help))


_register_builtins()


def run(argv: list[str] | None = None) -> int:
    """Run the command line ``argv`` (default: the process's) and return its exit code."""
    args = sys.argv[1:] if argv is None else argv
    # Whatever the operator's umask: every file and folder a command writes is this user's alone.
    os.umask(0o077)
    try:
        result = cli.main(args=argv, prog_name="tequio", standalone_mode=False)
        return result if isinstance(result, int) else 0
    except click.exceptions.Exit as e:
        return e.exit_code
    except click.UsageError as e:
        where = f" (see '{e.ctx.command_path} --help')" if e.ctx else ""
        _err(f"{e.format_message()}{where}")
        return 2
    except Interrupted as e:
        return say(e.line, args)
    except click.exceptions.Abort as e:
        if isinstance(e.__cause__, KeyboardInterrupt):
            return say(None, args)
        _err("aborted")
        return 1
    except click.ClickException as e:
        _err(e.format_message())
        return e.exit_code or 1
    except Exception as e:
        return _failed(e)
    except KeyboardInterrupt:
        return say(None, args)


def _failed(e: Exception) -> int:
    """Exit code and one line for an error that is not about usage or Ctrl-C."""
    home = _home if _home is not None else Path(os.environ.get(ENV_HOME) or Path.home() / ".tequio")
    if is_disk_full(e, home if home.is_dir() else None):
        _err(disk_full_message(home))
        return 1
    if isinstance(e, TequioError):
        _err(str(e))
        return 1
    if isinstance(e, OSError):
        if isinstance(e, BrokenPipeError):
            return 0  # the reader went away (e.g. `| head`): not an error of ours
        _err(f"{e.strerror or e}{f': {e.filename}' if e.filename else ''}")
        return 1
    if os.environ.get("TEQUIO_DEBUG"):
        raise e
    _err(f"internal error: {type(e).__name__}: {e} (a bug; TEQUIO_DEBUG=1 shows the traceback)")
    return 70


def _err(message: str) -> None:
    click.echo(f"error: {' '.join(message.split())}", err=True)
