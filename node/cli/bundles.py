"""``tequio bundle export|import``: records and blobs for one peer, as one encrypted file."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import click

from tequio.federation.bundles import BundleError
from tequio.schemas import fingerprint

from ..errors import TequioError
from .context import counted, echo_json, open_node
from .peers import _book, _resolve, parse_duration


def _parse_since(text: str, now: int) -> int:
    """``7d`` (a duration back from now) or an ISO date/time (UTC unless it says otherwise) to ms."""
    if re.fullmatch(r"\s*\d+\s*[smhdw]\s*", text.lower()):
        return now - parse_duration(text)
    try:
        when = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise click.BadParameter("a duration back from now (7d, 12h) or a date (2026-11-01)") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return int(when.timestamp() * 1000)


@click.group()
def bundle() -> None:
    """Carry records and blobs to a peer without a link: an encrypted file for a USB stick."""


@bundle.command("export")
@click.option(
    "--for", "recipient", required=True, metavar="KEY", help="The peer (key, prefix or fingerprint)."
)
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path), help="File to write.")
@click.option("--since", help="Only records received since then: 7d, 12h, or a date like 2026-11-01.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def bundle_export(ctx: click.Context, recipient: str, out: Path, since: str | None, as_json: bool) -> None:
    """Write everything the peer may read, encrypted so that only that peer can open it."""
    from ..bundles import export_bundle

    with open_node(ctx) as node:
        since_ms = _parse_since(since, node.clock()) if since else 0
        if re.fullmatch(r"[0-9a-fA-F]{64}", recipient.strip()):
            key = bytes.fromhex(recipient.strip())  # any node's key: it need not be a peer yet
        else:
            key = _resolve(_book(node), recipient).key
        records, blobs = export_bundle(node, key, out, since_ms)
    if as_json:
        echo_json({"out": str(out), "for": key.hex(), "records": records, "blobs": blobs})
    else:
        click.echo(
            f"wrote {counted(records, 'record')} and {counted(blobs, 'blob')} for {fingerprint(key)} to {out}"
        )


@bundle.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def bundle_import(ctx: click.Context, file: Path, as_json: bool) -> None:
    """Check a bundle to its end, then run its records through the ingest pipeline."""
    from ..bundles import import_bundle

    with open_node(ctx) as node:
        try:
            done = import_bundle(node, file)
        except BundleError as e:
            raise TequioError(f"{e}; nothing was imported") from None
    report = done.report
    if as_json:
        echo_json({"from": done.sender.hex(), **report.to_json(), "blobs": done.blobs})
    else:
        click.echo(
            f"from {fingerprint(done.sender)}: accepted {report.accepted}, duplicates {report.duplicates},"
            f" rejected {len(report.rejected)}, blobs {done.blobs}"
        )
    if report.rejected:
        n = len(report.rejected)
        raise TequioError(f"{counted(n, 'record')} in the bundle {'was' if n == 1 else 'were'} rejected")


COMMANDS = [bundle]
