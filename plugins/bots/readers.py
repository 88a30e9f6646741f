"""Reading export files as streams of rows: hashed as they are read, gzip or plain, CSV or JSON lines.

Memory stays bounded by one row (a JSON line is capped), whatever the size of the file; every byte
of the file goes through SHA-256, so the hash recorded is the hash of the file as given.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from tequio.node import TequioError

__all__ = [
    "MAX_JSON_DOCUMENT",
    "MAX_LINE",
    "HashingFile",
    "InputError",
    "csv_rows",
    "json_records",
    "open_text",
]

MAX_LINE = 64 * 1024 * 1024  # one JSON line (an API page of tweets with its includes)
MAX_JSON_DOCUMENT = 512 * 1024 * 1024  # a file that is one JSON array, read whole
_DELIMITERS = (",", ";", "\t", "|")


class InputError(TequioError):
    """An export file that cannot be read at all (one clear line for the CLI)."""


class HashingFile(io.RawIOBase):
    """A binary file whose bytes are hashed and counted as they are read."""

    def __init__(self, path: Path, progress: Callable[[int], None] | None = None) -> None:
        self._f = open(path, "rb")  # noqa: SIM115 - closed by close()
        self.sha256 = hashlib.sha256()
        self.read_bytes = 0
        self._progress = progress

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        n = self._f.readinto(b)
        if n:
            self.sha256.update(memoryview(b)[:n])
            self.read_bytes += n
            if self._progress is not None:
                self._progress(self.read_bytes)
        return n or 0

    def finish(self) -> str:
        """Hash what the parser did not read (an early stop), then return the hex digest."""
        while chunk := self._f.read(1 << 20):
            self.sha256.update(chunk)
            self.read_bytes += len(chunk)
        return self.sha256.hexdigest()

    def close(self) -> None:
        self._f.close()
        super().close()


def open_text(raw: HashingFile) -> io.TextIOWrapper:
    """UTF-8 text (a byte-order mark skipped, bad bytes replaced) over plain or gzip bytes."""
    buffered = io.BufferedReader(raw, buffer_size=1 << 20)
    binary: Any = buffered
    if buffered.peek(2)[:2] == b"\x1f\x8b":
        binary = gzip.GzipFile(fileobj=buffered)
    return io.TextIOWrapper(binary, encoding="utf-8-sig", errors="replace", newline="")


def sniff_delimiter(header: str) -> str:
    counts = {d: header.count(d) for d in _DELIMITERS}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def csv_rows(
    text: io.TextIOWrapper, delimiter: str | None = None, skips: Callable[[int, str], None] | None = None
) -> tuple[list[str], Iterator[list[str]]]:
    """The header and an iterator of rows; a row the csv module cannot parse is reported and skipped."""
    first = text.readline(1 << 20)
    if not first.strip():
        raise InputError("the file is empty (no header row)")
    delim = delimiter or sniff_delimiter(first)
    header = next(csv.reader([first], delimiter=delim))
    header = [h.strip().lstrip("\ufeff") for h in header]

    def rows() -> Iterator[list[str]]:
        reader = csv.reader(text, delimiter=delim)
        while True:
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as e:
                if skips is not None:
                    skips(reader.line_num + 1, f"unreadable CSV ({str(e)[:60]})")
                continue
            if row:
                yield row

    return header, rows()


def _lines(text: io.TextIOWrapper, skips: Callable[[int, str], None] | None) -> Iterator[tuple[int, str]]:
    n = 0
    while True:
        line = text.readline(MAX_LINE)
        if not line:
            return
        n += 1
        if len(line) >= MAX_LINE and not line.endswith("\n"):
            while (rest := text.readline(MAX_LINE)) and not rest.endswith("\n"):
                pass  # drain the oversized line without holding it
            if skips is not None:
                skips(n, "line longer than 64 MiB")
            continue
        if line.strip():
            yield n, line


def json_records(
    text: io.TextIOWrapper, size: int, skips: Callable[[int, str], None] | None = None
) -> Iterator[tuple[int, Any]]:
    """JSON values from JSON lines, or from one JSON document (an array, or an object over many lines)."""
    lines = _lines(text, skips)
    first = next(lines, None)
    if first is None:
        return
    n, line = first
    try:
        value = json.loads(line)
    except (ValueError, RecursionError):
        value = None
        if line.lstrip()[:1] not in ("[", "{"):
            if skips is not None:
                skips(n, "not JSON")
        else:  # one document spread over lines
            if size > MAX_JSON_DOCUMENT:
                raise InputError(
                    f"a single JSON document over {MAX_JSON_DOCUMENT >> 20} MiB: convert it to JSON lines"
                ) from None
            doc = line + "".join(rest for _, rest in lines)
            try:
                whole = json.loads(doc)
            except (ValueError, RecursionError) as e:
                raise InputError(f"not JSON or JSON lines: {e}") from None
            del doc
            yield from _document(whole)
            return
    if value is not None:
        yield from _document(value, n)
    for n, line in lines:
        try:
            value = json.loads(line)
        except (ValueError, RecursionError):
            if skips is not None:
                skips(n, "not JSON")
            continue
        yield from _document(value, n)


def _document(value: Any, line: int = 0) -> Iterator[tuple[int, Any]]:
    if isinstance(value, list):
        for i, item in enumerate(value, 1):
            yield (line or i), item
    else:
        yield line, value
