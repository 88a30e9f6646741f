"""``tequio bundle export|import``: records and blobs for one peer, as one encrypted file."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import click

from tequio.federation.bundle_file import BundleError
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


_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def parse_size(text: str) -> int:
    """``4G``, ``700M``, ``64K`` or a number of bytes (units of 1024)."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(?:i?B)?\s*", text.upper())
    if not m:
        raise click.BadParameter("a size such as 4G, 700M or 64K")
    return int(float(m.group(1)) * _UNITS[m.group(2)])


@click.group()
def bundle() -> None:
    """Carry records and blobs to a peer without a link: an encrypted file for a USB stick."""


@bundle.command("export")
@click.option(
    "--for", "recipient", required=True, metavar="KEY", help="The peer (key, prefix or fingerprint)."
)
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path), help="File to write.")
@click.option("--since", help="Only records received since then: 7d, 12h, or a date like 2026-11-01.")
@click.option("--since-last", is_flag=True, help="Only what the peer has not acknowledged.")
@click.option("--max-size", help="Split into parts of at most this size (4G, 700M), one per stick.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def bundle_export(
    ctx: click.Context,
    recipient: str,
    out: Path,
    since: str | None,
    since_last: bool,
    max_size: str | None,
    as_json: bool,
) -> None:
    """Write everything the peer may read, encrypted so that only that peer can open it."""
    from ..bundle_io import export_bundle, export_parts

    limit = parse_size(max_size) if max_size else None
    if limit is not None and limit < 64 * 1024:
        raise click.BadParameter("a part must hold at least 64K", param_hint="--max-size")

    with open_node(ctx) as node:
        since_ms = _parse_since(since, node.clock()) if since else 0
        if re.fullmatch(r"[0-9a-fA-F]{64}", recipient.strip()):
            key = bytes.fromhex(recipient.strip())  # any node's key: it need not be a peer yet
        else:
            key = _resolve(_book(node), recipient).key
        if limit is None and not since_last:
            records, blobs = export_bundle(node, key, out, since_ms)
            files = [out]
        else:
            records, blobs, files = export_parts(node, key, out, limit or 1 << 50, since_last, since_ms)
    if as_json:
        echo_json(
            {
                "out": str(out),
                "parts": [str(f) for f in files],
                "for": key.hex(),
                "records": records,
                "blobs": blobs,
            }
        )
    else:
        where = str(out) if len(files) == 1 else f"{len(files)} parts: " + ", ".join(f.name for f in files)
        what = f"{counted(records, 'record')} and {counted(blobs, 'blob')}"
        click.echo(f"wrote {what} for {fingerprint(key)} to {where}")


@bundle.command("import")
@click.argument(
    "files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option(
    "--ack-out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write an acknowledgement to carry back to the sender (what arrived).",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def bundle_import(ctx: click.Context, files: tuple[Path, ...], ack_out: Path | None, as_json: bool) -> None:
    """Check each bundle or part to its end, then run its records through the ingest pipeline.

    Parts of a split export import in any order; each says which parts are still missing. A
    damaged part imports nothing, and the others still import.
    """
    from ..bundle_io import BundleImport, import_bundle, write_ack_file

    results: list[dict[str, object]] = []
    failures: list[str] = []
    rejected = 0
    acks: dict[bytes, list] = {}
    with open_node(ctx) as node:
        for file in files:
            try:
                done: BundleImport = import_bundle(node, file)
            except BundleError as e:
                tail = "nothing was imported" if len(files) == 1 else "nothing from it was imported"
                failures.append(f"{file.name}: {e}; {tail}")
                results.append({"file": str(file), "error": str(e)})
                continue
            results.append(_describe(file, done))
            rejected += len(done.report.rejected)
            if done.ack is not None:
                acks.setdefault(done.sender, []).append(done.ack)
        if ack_out is not None:
            if len(acks) > 1:
                raise TequioError("--ack-out: these parts come from several senders; import them separately")
            for sender, items in acks.items():
                write_ack_file(node, sender, items, ack_out)
    if as_json:
        echo_json(results[0] if len(results) == 1 and "error" not in results[0] else {"files": results})
    else:
        for r in results:
            if "error" not in r:
                click.echo(str(r["line"]))
        if ack_out is not None and acks:
            click.echo(f"acknowledgement written to {ack_out}: carry it back to the sender")
    if failures:
        raise TequioError("; ".join(failures))
    if rejected:
        raise TequioError(
            f"{counted(rejected, 'record')} in the bundle {'was' if rejected == 1 else 'were'} rejected"
        )


def _describe(file: Path, done: object) -> dict[str, object]:
    """One imported file as JSON fields and a line for the operator."""
    from ..bundle_io import BundleImport

    assert isinstance(done, BundleImport)
    who = fingerprint(done.sender)
    if done.acked is not None:
        n_rec, n_blob = done.acked
        line = f"acknowledgement from {who}: {counted(n_rec, 'record')} and {counted(n_blob, 'blob')} arrived"
        return {
            "file": str(file),
            "from": done.sender.hex(),
            "acknowledged": n_rec,
            "blobs": n_blob,
            "line": line,
        }
    report = done.report
    out: dict[str, object] = {
        "file": str(file),
        "from": done.sender.hex(),
        **report.to_json(),
        "blobs": done.blobs,
    }
    line = (
        f"from {who}: accepted {report.accepted}, duplicates {report.duplicates},"
        f" rejected {len(report.rejected)}, blobs {done.blobs}"
    )
    if done.export_id is not None:
        known = done.missing is not None
        missing = done.missing if done.missing is not None else done.seen_gaps
        out.update(
            part=done.part + 1,
            missing_parts=[m + 1 for m in missing],
            last_part_seen=known,
            held=done.held,
        )
        line += f"; part {done.part + 1}"
        if missing:
            names = ", ".join(str(m + 1) for m in missing)
            line += f"; missing part{'s' if len(missing) > 1 else ''} {names}"
        if not known:
            line += ("; and" if missing else ";") + " later parts (the last part has not been seen)"
        elif not missing:
            line += "; all parts are in"
        if done.held:
            line += f"; {counted(done.held, 'record')} wait for a missing part"
    out["line"] = line
    return out


COMMANDS = [bundle]
