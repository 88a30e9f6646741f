"""Metadata stripping for files a node shares: what could locate a witness or name their device goes.

``strip(src, dest)`` writes ``dest`` without EXIF (maker notes and thumbnails with it), GPS, XMP,
IPTC, comments and C2PA manifests: at the byte level for JPEG, PNG and WebP (the compressed image data
is copied, never decoded), by a lossless re-encode of every page for TIFF. Every other format is
copied unchanged and the result says plainly what was not removed (``Stripped.stripped`` is False).
One module per format (``jpeg``, ``png``, ``webp``, ``tiff``); this one only dispatches. Used by
``tequio publish --attach`` and by the evidence plugin for its working copies.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, BinaryIO

from .files import (
    CHUNK,
    OCTET_STREAM,
    PIL_ERRORS,
    FileDigest,
    MediaError,
    PathLike,
    commit,
    copy_rest,
    hash_file,
    open_regular,
    regular,
    sniff,
    temp_in,
)
from .jpeg import strip_jpeg
from .location import read_location
from .png import strip_png
from .report import Stripped, not_stripped
from .tiff import strip_tiff
from .webp import strip_webp

__all__ = [
    "CHUNK",
    "OCTET_STREAM",
    "PIL_ERRORS",
    "FileDigest",
    "MediaError",
    "PathLike",
    "Stripped",
    "StrippedCopy",
    "can_strip",
    "hash_file",
    "not_stripped",
    "open_regular",
    "read_location",
    "regular",
    "sniff",
    "strip",
    "strip_stream",
    "stripped_copy",
]

_STRIPPERS: dict[str, Callable[[BinaryIO, IO[bytes], bool], Stripped | None]] = {
    "image/jpeg": strip_jpeg,
    "image/png": strip_png,
    "image/apng": strip_png,
    "image/webp": strip_webp,
    "image/tiff": strip_tiff,
}


def can_strip(mime: str) -> bool:
    """Whether files of this (sniffed) type have their metadata removed; camera raw TIFF still has not."""
    return mime in _STRIPPERS


def strip(src: PathLike, dest: PathLike, mime: str | None = None, *, keep_location: bool = False) -> Stripped:
    """Write ``dest``: ``src`` without the metadata that could identify or locate the witness.

    ``mime`` is the sniffed type (sniffed here when not given). With ``keep_location`` the GPS tags
    that give position, altitude, GPS time and datum (only those) are kept. ``dest`` appears complete
    (fsynced, renamed into place) or not at all, and never replaces ``src``.
    """
    source = regular(src)
    target = Path(dest)
    if target.exists() and os.path.samefile(target, source):
        raise MediaError(f"{target}: the stripped copy must not overwrite the original")
    if mime is None:
        mime = hash_file(source).mime
    stripper = _STRIPPERS.get(mime)
    with open_regular(source) as fin, temp_in(target.parent) as (tmp, fout):
        result = stripper(fin, fout, keep_location) if stripper else None
        if result is None:
            fin.seek(0)
            fout.seek(0)
            fout.truncate()
            copy_rest(fin, fout)
            result = not_stripped(mime, raw=stripper is not None)
        commit(fout, tmp, target)
    return result


def strip_stream(fin: BinaryIO, fout: IO[bytes], mime: str, *, keep_location: bool = False) -> Stripped:
    """Like ``strip`` between two open, seekable streams (e.g. ``io.BytesIO``), so a caller that must
    never write a plaintext file (the intake plugin, stripping a sealed upload) strips in memory.
    ``fout`` is left holding the whole copy: stripped, or the original unchanged when it cannot be."""
    stripper = _STRIPPERS.get(mime)
    start_in, start_out = fin.tell(), fout.tell()
    result = stripper(fin, fout, keep_location) if stripper else None
    if result is None:
        fin.seek(start_in)
        fout.seek(start_out)
        fout.truncate()
        copy_rest(fin, fout)
        result = not_stripped(mime, raw=stripper is not None)
    return result


@dataclass(frozen=True)
class StrippedCopy:
    """A stripped copy on disk: where it is, its bytes' digest, and what stripping did."""

    path: Path
    digest: FileDigest
    report: Stripped


@contextlib.contextmanager
def stripped_copy(
    src: PathLike, work_dir: Path, mime: str | None = None, *, keep_location: bool = False
) -> Iterator[StrippedCopy]:
    """A stripped copy of ``src`` in ``work_dir`` (a private folder) while the block runs, then removed."""
    work_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = work_dir / f"stripped-{secrets.token_hex(8)}"  # random: the name says nothing of the file
    try:
        report = strip(src, path, mime, keep_location=keep_location)
        yield StrippedCopy(path, hash_file(path), report)
    finally:
        path.unlink(missing_ok=True)
