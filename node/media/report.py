"""What a working copy lost, kept on purpose, and could not lose, in words for the operator."""

from __future__ import annotations

from dataclasses import dataclass

from .files import OCTET_STREAM

__all__ = ["Stripped", "not_stripped", "result"]


@dataclass(frozen=True)
class Stripped:
    """What a working copy lost, kept on purpose, and could not lose, in words for the operator."""

    removed: list[str]
    kept: list[str]
    not_stripped: list[str]
    note: str

    @property
    def stripped(self) -> bool:
        """False when the format could not be stripped: the copy is the original, metadata and all."""
        return not self.not_stripped


def result(removed: list[str], kept: list[str], notes: list[str], what: str) -> Stripped:
    """The report of a stripped copy: each name once, in the order found, and a note in plain words."""
    uniq = list(dict.fromkeys(removed))
    kept = list(dict.fromkeys(kept))
    parts = [what]
    if not uniq:
        parts.append("No metadata was present.")
    if "orientation" in kept:
        parts.append(
            "The Orientation tag was kept (in a new, minimal EXIF block) so the picture shows upright."
        )
    if "gps" in kept:
        but = " but Orientation" if "orientation" in kept else ""
        parts.append(f"GPS tags were kept on request; no other EXIF tag{but} was kept.")
    return Stripped(uniq, kept, [], " ".join(parts + notes))


def not_stripped(mime: str, raw: bool = False) -> Stripped:
    """The report of an unchanged copy: what that kind of file may still say about the witness."""
    major = mime.split("/", 1)[0]
    office = ("msword", "officedocument", "opendocument", "ms-excel", "ms-powerpoint", "rtf", "epub")
    if raw:
        what = "camera raw: EXIF, maker notes and GPS were NOT removed"
    elif mime in ("image/heic", "image/heif", "image/avif"):
        what = "EXIF and XMP, including GPS and the device, were NOT removed (Pillow cannot open this format)"
    elif major == "video":
        what = "container metadata (creation time, device, possibly GPS) was NOT removed"
    elif major == "audio":
        what = "tags and container metadata (creation time, device, possibly GPS or names) were NOT removed"
    elif mime == "application/pdf":
        what = "document information and XMP (author, creator tool, dates) were NOT removed"
    elif any(o in mime for o in office):
        what = "document properties (author, last editor, dates, revisions) were NOT removed"
    elif major == "image":
        what = "embedded metadata (EXIF, XMP, comments, possibly GPS) was NOT removed"
    elif mime == OCTET_STREAM:
        what = "unrecognised content: any metadata inside it was NOT removed"
    else:
        what = "any metadata inside it was NOT removed"
    line = f"{mime}: {what}; Tequio cannot strip this format"
    return Stripped([], [], [line], line + ". The working copy is a byte-for-byte copy of the original.")
