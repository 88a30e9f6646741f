"""Commands about records: publish, and list / show / export / import / rejected."""

from __future__ import annotations

import contextlib
import json
import mimetypes
import os
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import click

from tequio.schemas import (
    BlobRef,
    FrameReader,
    StreamError,
    StrictJSONError,
    fingerprint,
    from_json,
    is_valid_scope,
    loads_strict,
    parse_key,
    safe_text,
)

from ..errors import TequioError
from ..recordview import StoredRecord
from ..reports import IngestReport
from .context import counted, echo_json, echo_listing, json_option, open_node, progress_bar
from .interrupt import Interrupted, ignore_further, import_line

#: Largest stream file whose records are counted after Ctrl-C (a read of the whole file).
COUNT_LIMIT = 512 * 1024 * 1024

if TYPE_CHECKING:  # Pillow loads only when a command attaches a file
    from .. import media


def _parse_body(text: str) -> dict[str, Any]:
    try:
        value = loads_strict(text)
    except StrictJSONError as e:
        raise click.BadParameter(str(e), param_hint="--body") from None
    if not isinstance(value, dict):
        raise click.BadParameter("must be a JSON object", param_hint="--body")
    try:
        return from_json(value)
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="--body") from None


def _check_scope(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is not None and not is_valid_scope(value):
        raise click.BadParameter("use public, g:<32 hex> or d:<64 hex>")
    return value


def _check_author(ctx: click.Context, param: click.Parameter, value: str | None) -> bytes | None:
    if value is None:
        return None
    try:
        return parse_key(value)
    except ValueError as e:
        raise click.BadParameter(str(e)) from None


@click.command()
@click.argument("kind")
@click.option("--body", required=True, help='The body as a JSON object; bytes as {"$bin": "<hex>"}.')
@click.option("--scope", default="public", show_default=True, callback=_check_scope, help="Who may read it.")
@click.option(
    "--attach",
    "attach",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A file to store and refer to from the record (repeatable); its metadata (GPS, device) is removed.",
)
@click.option(
    "--keep-metadata",
    is_flag=True,
    help="Attach the files as they are, GPS and device included (and formats that cannot be stripped).",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def publish(
    ctx: click.Context,
    kind: str,
    body: str,
    scope: str,
    attach: tuple[Path, ...],
    keep_metadata: bool,
    as_json: bool,
) -> None:
    """Sign and store a record of KIND as the next in this node's feed; --attach refers to files.

    Attached files are stripped first, as evidence working copies are (tequio.node.media): what is
    stored and sent to peers is the stripped copy. A format that cannot be stripped is refused
    unless --keep-metadata says to attach it as it is.
    """
    parsed = _parse_body(body)
    with open_node(ctx) as node, contextlib.ExitStack() as stack:
        # Every file is checked (and stripped) before any is stored: a refusal leaves nothing behind.
        prepared = [_prepare(stack, node.home, path, keep_metadata) for path in attach]
        blobs = []
        keys = None
        for att in prepared:
            with progress_bar(f"storing {att.name}", att.path.stat().st_size) as _:
                ref, keys = node.attach(att.path, scope, att.mime)
            blobs.append(ref)
            att.ref = ref
        stored = node.publish(kind, parsed, scope=scope, blobs=blobs, keys=keys)
    if as_json:
        out: dict[str, Any] = {"id": stored.id.hex()}
        if prepared:
            out["attachments"] = [a.to_json() for a in prepared]
        echo_json(out)
    else:
        click.echo(f"published {stored.id.hex()}  ({kind}, {scope}, seq {stored.seq})")
        for a in prepared:
            assert a.ref is not None
            click.echo(f"  attached {a.ref.hash.hex()}  {a.ref.size} bytes  {a.ref.mime}")
            if a.report is None:
                click.echo("    as it is: its metadata was NOT removed (--keep-metadata)")
            else:
                click.echo(f"    removed: {', '.join(a.report.removed) or 'no metadata was present'}")


@dataclass
class _Attachment:
    """A file to attach: the copy to store (stripped unless --keep-metadata) and what stripping did."""

    name: str
    path: Path
    mime: str
    report: media.Stripped | None
    ref: BlobRef | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"file": self.name, "mime": self.mime, "stripped": self.report is not None}
        if self.ref is not None:
            out |= {"hash": self.ref.hash.hex(), "size": self.ref.size}
        if self.report is not None:
            out |= {"removed": self.report.removed, "kept": self.report.kept}
        return out


def _prepare(stack: contextlib.ExitStack, home: Path, path: Path, keep_metadata: bool) -> _Attachment:
    """Strip ``path`` into the node's private work folder (removed when the command ends), or refuse."""
    from .. import media

    try:
        sniffed = media.hash_file(path).mime
        if keep_metadata:
            guessed = mimetypes.guess_type(path.name)[0] or media.OCTET_STREAM
            return _Attachment(path.name, path, sniffed if sniffed != media.OCTET_STREAM else guessed, None)
        copy = stack.enter_context(media.stripped_copy(path, home / "blobs" / "partial", sniffed))
    except media.MediaError as e:
        where = "" if path.name in str(e) else f"{path.name}: "
        raise TequioError(f"{where}{e}; nothing was published") from None
    if not copy.report.stripped:
        raise TequioError(
            f"{path.name} cannot be stripped ({copy.report.not_stripped[0]}); nothing was published."
            " Attach it as it is, location and device included, with --keep-metadata"
        )
    return _Attachment(path.name, copy.path, copy.digest.mime, copy.report)


@click.group()
def blob() -> None:
    """Files that records refer to."""


@blob.command("get")
@click.argument("hash_hex", metavar="HASH")
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path), help="File to write.")
@click.pass_context
def blob_get(ctx: click.Context, hash_hex: str, out: Path) -> None:
    """Write a held blob to --out, decrypted if it belongs to a group or direct record."""
    try:
        h = bytes.fromhex(hash_hex.strip().lower())
        if len(h) != 32:
            raise ValueError
    except ValueError:
        raise click.BadParameter("a blob hash is 64 hex characters", param_hint="HASH") from None
    if not out.parent.is_dir():
        raise TequioError(f"--out {out}: the folder {out.parent} does not exist")
    with open_node(ctx, unlock="if-available") as node:  # a public blob needs no passphrase
        tmp = out.with_name(out.name + ".part")
        n = 0
        try:
            with tmp.open("wb") as f:
                for chunk in node.open_blob(h):
                    f.write(chunk)
                    n += len(chunk)
            os.replace(tmp, out)
        finally:
            tmp.unlink(missing_ok=True)
    click.echo(f"wrote {n} bytes to {out}")


@click.group()
def records() -> None:
    """List, show, export and import records."""


def _summary(rec: StoredRecord) -> str:
    if rec.redacted:
        return "(redacted)"
    if rec.body is None:
        return "(not readable here)"
    text = json.dumps(rec.body, ensure_ascii=False, default=lambda b: f"<{len(b)} bytes>")
    return text if len(text) <= 60 else text[:59] + "…"


@records.command("list")
@click.option("--scope", callback=_check_scope, help="Only this scope.")
@click.option("--kind", help="Only this kind.")
@click.option("--author", callback=_check_author, metavar="HEX", help="Only this author's key.")
@click.option(
    "--limit", type=click.IntRange(min=0), default=100, show_default=True, help="At most this many (0: all)."
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def list_(
    ctx: click.Context, scope: str | None, kind: str | None, author: bytes | None, limit: int, as_json: bool
) -> None:
    """List stored records, oldest first."""
    with open_node(ctx, unlock="if-available") as node:
        found = node.records(scope=scope, kind=kind, author=author, limit=limit or None)
        if as_json:
            echo_json([r.to_json() for r in found])
            return

        # The kind column is as wide as the longest kind listed, so long plugin kinds keep it aligned.
        width = max((len(safe_text(r.kind or "-")) for r in found), default=0)
        for r in found:
            click.echo(
                f"{r.id.hex()[:16]}  {fingerprint(r.author)}  {r.scope[:10]:<10} {r.seq:>5}  "
                f"{safe_text(r.kind or '-'):<{width}}  {safe_text(_summary(r))}"
            )
        if not found:
            click.echo("no records", err=True)


@records.command("show")
@click.argument("record_id", metavar="ID")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def show(ctx: click.Context, record_id: str, as_json: bool) -> None:
    """Show one record by id (or a unique prefix of 8+ hex characters)."""
    with open_node(ctx, unlock="if-available") as node:
        rec = node.resolve(record_id)
        ignored = node.governance.hidden().get(rec.id)  # issue 9 §1, E6: lost authority after the fact
    data = rec.to_json()
    if ignored is not None:
        data["ignored"] = ignored
    if as_json:
        echo_json(data)
        return
    body = data.pop("body")
    for k, v in _for_people(data):
        click.echo(f"{k:<13} {safe_text(v)}")
    click.echo("body")
    click.echo(json.dumps(body, ensure_ascii=False, indent=2))


def _when(ms: int) -> str:
    at = datetime.fromtimestamp(ms / 1000, tz=UTC)
    return f"{at:%Y-%m-%d %H:%M:%S} UTC  ({ms} ms)"


def _size(n: int) -> str:
    if n < 1024:
        return f"{n:,} bytes"
    exp = min(3, (n.bit_length() - 1) // 10)  # 1 KiB, 2 MiB, 3 GiB and beyond
    return f"{n / 1024**exp:.1f} {('KiB', 'MiB', 'GiB')[exp - 1]}"


def _for_people(data: dict[str, Any]) -> list[tuple[str, str]]:
    """`records show` without --json: times as dates, the author's fingerprint, one blob a line."""
    rows: list[tuple[str, str]] = []
    for k, v in data.items():
        if k in ("ts", "received") and isinstance(v, int):
            rows.append((k, _when(v)))
        elif k == "author" and isinstance(v, str):
            rows.append((k, f"{v}  ({fingerprint(bytes.fromhex(v))})"))
        elif k == "prev":
            rows.append((k, v if v else "- (first record of its feed)"))
        elif k == "redacted":
            rows.append((k, "yes" if v else "no"))
        elif isinstance(v, list):
            if not v:
                rows.append((k, "-"))
            for i, item in enumerate(v):
                if isinstance(item, dict) and {"hash", "size", "mime"} <= item.keys():
                    item = f"{item['hash']}  {_size(int(item['size']))}  {item['mime']}"
                rows.append((k if i == 0 else "", str(item)))
        else:
            rows.append((k, "-" if v is None else str(v)))
    return rows


@records.command("export")
@click.option("--scope", callback=_check_scope, help="Only this scope.")
@click.option(
    "--out", type=click.Path(dir_okay=False, path_type=Path), help="File to write [default: stdout]."
)
@click.pass_context
def export(ctx: click.Context, scope: str | None, out: Path | None) -> None:
    """Write records as a stream of wire records, concatenated, in an order that imports cleanly."""
    if out is None and sys.stdout.isatty():
        raise TequioError("the export is binary: give --out FILE or redirect stdout to a file")
    with open_node(ctx, unlock=False) as node:
        total = node.count()
        target: BinaryIO = open(out, "wb") if out else sys.stdout.buffer  # noqa: SIM115
        n = 0
        try:
            with progress_bar("exporting", total, unit="records") as advance:
                for wire in node.export(scope):
                    target.write(wire)
                    n += 1
                    if n % 1000 == 0:
                        advance(n)
        finally:
            if out:
                target.close()
            else:
                target.flush()
    if out:
        click.echo(f"exported {counted(n, 'record')} to {out}", err=True)


@records.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, allow_dash=True, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def import_(ctx: click.Context, file: Path, as_json: bool) -> None:
    """Import a stream of wire records (- for stdin) through the full ingest pipeline.

    Exits with 1 if any record was rejected; the report says which and why.
    """
    stdin = str(file) == "-"
    report = IngestReport()
    try:
        with open_node(ctx, unlock=False) as node:
            source = open(file, "rb") if not stdin else sys.stdin.buffer  # noqa: SIM115
            size = None if stdin else os.fstat(source.fileno()).st_size
            try:
                with progress_bar("importing", size) as advance:
                    node.import_stream(source, f"import:{'stdin' if stdin else file.name}", advance, report)
            finally:
                if not stdin:
                    source.close()
    except KeyboardInterrupt:
        ignore_further()  # closing the node above already ran; now count without a second Ctrl-C
        stored = report.accepted + report.duplicates
        raise Interrupted(import_line(stored, None if stdin else _frames_in(file))) from None
    n = report.rejected_total
    if as_json:
        echo_json(report.to_json())
    else:
        click.echo(f"accepted {report.accepted}, duplicates {report.duplicates}, rejected {n}")
        if n:
            counts = ", ".join(f"{k} {v}" for k, v in sorted(report.counts().items()))
            click.echo(f"  by reason: {counts}")
        for r in report.rejected[:20]:
            click.echo(f"  #{r.index}: {r.reason}: {safe_text(r.detail)}")
        if n > 20:
            click.echo(f"  … and {n - 20} more")
    if n:
        raise TequioError(f"{n} of {report.accepted + report.duplicates + n} records were rejected")


def _frames_in(path: Path) -> int | None:
    """How many records a stream file holds, for the interrupted line; None if too big to count now."""
    try:
        if path.stat().st_size > COUNT_LIMIT:
            return None
        with path.open("rb") as f:
            return sum(1 for _ in FrameReader(f))
    except (OSError, StreamError):
        return None


@records.command("rejected")
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True, help="At most this many.")
@click.option(
    "--counts", is_flag=True, help="Counts by source and reason, including repeats no longer detailed."
)
@json_option
@click.pass_context
def rejected(ctx: click.Context, limit: int, counts: bool, as_json: bool) -> None:
    """Show the most recent rejections, newest first, with their reasons and sources."""
    if counts:
        _rejection_counts(ctx, limit, as_json)
        return
    with open_node(ctx, unlock=False) as node:
        rows = node.store.rejections(limit)
    items = [
        {
            "at": at,
            "source": src,
            "reason": reason,
            "detail": detail,
            "id": rid.hex() if rid else None,
            "author": author.hex() if author else None,
            "scope": scope,
            "seq": seq,
        }
        for at, src, reason, detail, rid, author, scope, seq in rows
    ]
    echo_listing(
        items,
        as_json,
        lambda it: f"{it['at']}  {safe_text(it['source'])}  {it['reason']}: {safe_text(it['detail'])}",
        "no rejections",
    )


def _rejection_counts(ctx: click.Context, limit: int, as_json: bool) -> None:
    """The bounded log keeps details of only some repeats; the counts say how often each happened."""
    with open_node(ctx, unlock=False) as node:
        rows = node.store.rejection_counts(limit)
    items = [
        {"source": src, "reason": reason, "count": n, "first_at": first, "last_at": last}
        for src, reason, n, first, last in rows
    ]
    echo_listing(
        items,
        as_json,
        lambda it: f"{it['count']:>9,}  {it['reason']:<24}  {safe_text(it['source'])}",
        "no rejections",
    )


COMMANDS = [publish, records, blob]
